"""``aidash copy``: move a whole database from one backend to another (SQLite → PostgreSQL, or
back), every table, run and vintage included.

The source is read, never written (a read-only engine). The target must have no tables yet
(``--force`` drops them first); its schema is created as ``aidash init`` creates it, then every
table is copied in foreign-key order inside one transaction under the writers' lock, so a copy
that fails leaves the target as it was. On PostgreSQL the rows go in through ``COPY`` and the
id sequences are moved past the copied ids, so the next load numbers its runs and rows on
from there.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, insert, inspect, literal_column, select
from sqlalchemy.engine import Connection, make_url
from sqlmodel import SQLModel

from etl.transaction import write_transaction
from models.db import (
    create_db_and_tables,
    drop_db_and_tables,
    make_engine,
    resolve_url,
    sqlite_path,
)
from models.errors import AidashError

# Rows fetched from the source per round trip.
CHUNK = 50_000


@dataclass
class CopyResult:
    """What a copy moved."""

    source: str
    target: str
    rows: dict[str, int]
    seconds: float

    def summary_line(self) -> str:
        total = sum(self.rows.values())
        return (f"Copied {self.source} to {self.target}: {len(self.rows)} tables, "
                f"{total:,} rows in {self.seconds:.1f} s")


def _name(db: str) -> str:
    """The database as messages name it: the SQLite file, or the URL without its password."""
    url = resolve_url(db)
    path = sqlite_path(url)
    return str(path) if path is not None else make_url(url).render_as_string(hide_password=True)


def _chunks(conn: Connection, table: Table) -> Iterator[list[tuple]]:
    # In the order the rows were written (SQLite's rowid, where the table has one): the
    # dashboard lists zones and metrics in that order.
    order: list[Any] = list(table.primary_key.columns)
    if conn.dialect.name == "sqlite" and table.dialect_options["sqlite"].get("with_rowid", True):
        order = [literal_column("rowid")]
    result = conn.execution_options(stream_results=True).execute(
        select(*table.columns).order_by(*order))
    while rows := result.fetchmany(CHUNK):
        yield [tuple(r) for r in rows]


def _write(conn: Connection, table: Table, rows: list[tuple]) -> None:
    columns = [c.name for c in table.columns]
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        names = ", ".join(f'"{c}"' for c in columns)
        with raw.cursor() as cur, cur.copy(  # type: ignore[union-attr]
                f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)
        return
    conn.execute(insert(table), [dict(zip(columns, r, strict=True)) for r in rows])


def _reset_sequences(conn: Connection) -> None:
    """Move each serial id's sequence past the largest id copied (PostgreSQL)."""
    for table in SQLModel.metadata.sorted_tables:
        if "id" in table.columns and table.columns["id"].primary_key:
            conn.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"coalesce((SELECT max(id) FROM {table.name}), 0) + 1, false)")


def copy_database(source: str, target: str, *, force: bool = False) -> CopyResult:
    """Copy every table of ``source`` into ``target`` (paths or SQLAlchemy URLs).

    :param force: drop the target's tables first when it has them.
    :raises AidashError: the source has no tables, is older than this version (run a load or
        a rollback on it first, which brings it up to date), or the target has tables and
        ``force`` is not set.
    """
    start = time.perf_counter()
    path = sqlite_path(resolve_url(source))
    if path is not None and not path.is_file():
        raise AidashError(f"database {path} does not exist; check --from")
    src = make_engine(source, read_only=True)
    dst = make_engine(target)
    try:
        src_tables = set(inspect(src).get_table_names())
        if "etl_runs" not in src_tables:
            raise AidashError(f"database {_name(source)} has no tables; build it with "
                              "`aidash init`, or check --from")
        if "superseded_by" in {c["name"] for c in inspect(src).get_columns("enterprise_revenue")}:
            raise AidashError(f"database {_name(source)} was built by an earlier version; run "
                              f"`aidash etl history --db {source}` and a load or rollback "
                              "first, or `aidash init --force`")
        if inspect(dst).has_table("etl_runs"):
            if not force:
                raise AidashError(f"database {_name(target)} already has the tables; pass --force "
                                  "to replace them with the copy")
            drop_db_and_tables(dst)
        create_db_and_tables(dst)
        counts: dict[str, int] = {}
        with src.connect() as read, dst.connect() as write, write_transaction(write):
            if write.dialect.name == "sqlite":
                write.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
            for table in SQLModel.metadata.sorted_tables:
                counts[table.name] = 0
                for rows in _chunks(read, table):
                    _write(write, table, rows)
                    counts[table.name] += len(rows)
            if write.dialect.name == "postgresql":
                _reset_sequences(write)
        if dst.dialect.name == "postgresql":
            with dst.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ANALYZE")
        return CopyResult(_name(source), _name(target), counts, time.perf_counter() - start)
    finally:
        src.dispose()
        dst.dispose()

