"""A query's result written to stdout as an Arrow IPC stream, by the ADBC SQLite driver, in a
process of its own: ``python -m etl.drops.register_reader <database URI> <query>``.

:mod:`etl.drops.committed_register` reads the committed register this way while the load
holds its write lock. The driver bundles its own SQLite library, and two SQLite libraries in
one process break each other's POSIX locks (closing a file releases every lock the process
holds on it), so the driver never opens the database in the loading process. Only pyarrow and
the driver are imported here.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    uri, query = argv
    import adbc_driver_sqlite.dbapi as adbc
    import pyarrow as pa

    with adbc.connect(uri) as reader, reader.cursor() as cur:
        # One batch for the whole result: the driver infers each column's type from its first
        # batch, and a column missing in its first rows would otherwise be typed wrongly.
        cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(2**30)})
        cur.execute(query)
        table = cur.fetch_arrow_table()
    with pa.ipc.new_stream(sys.stdout.buffer, table.schema) as out:
        out.write_table(table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
