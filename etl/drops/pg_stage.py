"""The stage on PostgreSQL: the drop's frames bulk-copied into UNLOGGED scratch tables.

The counterpart of :class:`etl.drops.stage.Stage` (same methods, so the loader is the same
code), for rows whose keys may already be stored (rows whose keys are new to their table go
straight in: ``etl.drops.pg_direct``): each frame goes, as Arrow record batches, through the ADBC PostgreSQL driver (binary
``COPY``, no Python tuples) into an ``UNLOGGED`` table of its own, on a connection of its own
(the staging thread's), committed at once. UNLOGGED: nothing there needs to survive a crash,
so it skips the write-ahead log. The load's transaction then reads it with set-based SQL. The
tables are named ``aidash_stage_<load>_<table>``, dropped when the load ends whatever the
outcome; those of a killed load are dropped by the next (:meth:`PgStage.remove_stale`, under
the writers' advisory lock).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from contextlib import suppress
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from etl.drops.stage import ScratchTables, _arrow_type, batch_reader

PREFIX = "aidash_stage_"
_PG_TYPES = {pa.int64(): "bigint", pa.int32(): "integer", pa.int16(): "smallint",
             pa.int8(): "smallint", pa.float64(): "double precision", pa.bool_(): "boolean",
             pa.string(): "text", pa.date32(): "date"}
# Stage columns holding ISO dates as text: typed as dates here (PostgreSQL does not cast text
# to date on insert; SQLite stores both alike).
DATE_COLUMNS = ("founded", "period_end")
# Stage columns of flags (0/1 in the frames): booleans, as their table columns are.
BOOL_COLUMNS = ("from_ytd",)


class PgStage(ScratchTables):
    """UNLOGGED scratch tables holding the drop's frames, one per table, for one load."""

    def __init__(self, conn: Any, uri: str) -> None:
        """:param conn: the load's :class:`models.dialect.PgConnection`.
        :param uri: the database's libpq URI, for the staging connections."""
        super().__init__()
        self.conn = conn
        self.uri = uri
        self.token = secrets.token_hex(4)

    def name(self, table: str) -> str:
        return f"{PREFIX}{self.token}_{table}"

    def put(self, name: str, frame: pd.DataFrame, columns: Mapping[str, str], *,
            order: np.ndarray | None = None,
            on_batch: Callable[[int], None] | None = None) -> str:
        """Copy ``frame``'s columns into the scratch table of ``name`` (see
        :meth:`etl.drops.stage.Stage.put`); the table's name, for SQL."""
        import adbc_driver_postgresql.dbapi as adbc

        source = frame[list(columns)]
        schema = pa.schema([(columns[c], pa.date32() if columns[c] in DATE_COLUMNS
                             else pa.bool_() if columns[c] in BOOL_COLUMNS
                             else _arrow_type(source[c])) for c in columns])
        failed: list[BaseException] = []
        reader = batch_reader(source, columns, schema, name=name, order=order,
                              cancelled=self._cancelled, on_batch=on_batch, failed=failed)
        table = self.name(name)
        ddl = ", ".join(f'"{f.name}" {_PG_TYPES.get(f.type, "text")}' for f in schema)
        self.tables.append(name)
        with adbc.connect(self.uri) as ingest, ingest.cursor() as cur:
            cur.execute(f'CREATE UNLOGGED TABLE "{table}" ({ddl})')
            try:
                cur.adbc_ingest(table, reader, mode="append")
            except Exception:
                if failed:
                    raise failed[0] from None
                raise
            # The merge's planner needs the table's size and value spread.
            cur.execute(f'ANALYZE "{table}"')
            ingest.commit()
        return f'"{table}"'

    def remove_stale(self) -> list[str]:
        """Drop the scratch tables that killed loads left (call it under the write lock)."""
        stale = [n for (n,) in self.conn.execute(
            "SELECT tablename FROM pg_tables WHERE tablename LIKE ?",
            (PREFIX.replace("_", r"\_") + "%",)).fetchall()
            if not n.startswith(PREFIX + self.token)]
        for name in stale:
            self.conn.execute(f'DROP TABLE IF EXISTS "{name}"')
        return stale

    def attach(self, name: str) -> None:
        """Nothing to attach: the table is in the database already."""
        if name not in self.tables:
            raise RuntimeError(f"the stage has no table {name}")
        if name not in self.attached:
            self.attached.append(name)

    def close(self) -> None:
        """Drop the scratch tables (after the load's transaction, which may have read them)."""
        if self.conn.in_transaction:
            self.conn.rollback()
        for name in self.tables:
            with suppress(Exception):
                self.conn.execute(f'DROP TABLE IF EXISTS "{self.name(name)}"')
        self.tables = []
        self.attached = []
