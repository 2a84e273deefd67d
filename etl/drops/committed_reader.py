"""Reading the committed state of a SQLite database as Arrow, by a process of its own.

The loader reads what was committed before its transaction (the register, a revised quarter's
other rows) while its own connection holds the write lock: through the ADBC SQLite driver, whose
columns come as Arrow without a Python object per value. The driver bundles its own SQLite
library, and two SQLite libraries in one process break each other's POSIX locks (closing a file
releases every lock the process holds on it), so the driver never opens the database in the
loading process: :func:`read_committed` runs ``python -m etl.drops.committed_reader`` (only
pyarrow and the driver are imported there), which writes the result to its stdout as an Arrow
IPC stream.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa


class CommittedRead:
    """A read of the committed state under way in a process of its own: the process starts
    at once (it runs while the loader goes on), :meth:`table` waits for its result."""

    def __init__(self, path: Path, query: str, *params: str) -> None:
        """``query`` (with text ``params``) on the database file ``path``, opened read-only."""
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (root, os.environ.get("PYTHONPATH")) if p)}
        self.child = subprocess.Popen(
            [sys.executable, "-m", "etl.drops.committed_reader",
             f"{path.resolve().as_uri()}?mode=ro", query, *params],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)

    def table(self) -> pa.Table | None:
        """The result, once the process has written it; None if it could not be read."""
        with self.child as child:
            assert child.stdout is not None
            try:
                table = pa.ipc.open_stream(child.stdout).read_all()
            except (pa.ArrowInvalid, OSError):
                table = None
        return table if self.child.returncode == 0 else None


def read_committed(path: Path, query: str, *params: str) -> pa.Table | None:
    """The result of ``query`` (with text ``params``) on the database file ``path``, opened
    read-only by another process; None if it could not be read."""
    return CommittedRead(path, query, *params).table()


def main(argv: list[str]) -> int:
    uri, query, *params = argv
    import adbc_driver_sqlite.dbapi as adbc

    with adbc.connect(uri) as reader, reader.cursor() as cur:
        # One batch for the whole result: the driver infers each column's type from its first
        # batch, and a column missing in its first rows would otherwise be typed wrongly.
        cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(2**30)})
        cur.execute(query, params or None)
        table = cur.fetch_arrow_table()
    with pa.ipc.new_stream(sys.stdout.buffer, table.schema) as out:
        out.write_table(table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
