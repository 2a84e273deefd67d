"""Bulk writing for the loader: a staging database filled from Arrow, and index rebuilds.

Two things make a large load fast without giving up the single transaction:

* :class:`Stage`: the validated frames are written, as Arrow record batches, into scratch
  SQLite files by the ADBC SQLite driver (its bulk ingest binds rows in C, several times faster
  than ``executemany`` over Python tuples). The loading connection then ``ATTACH``es a file
  as ``stage_<table>`` and merges with set-based SQL (``INSERT … SELECT``), inside its own
  write transaction. The scratch files are only ever read by the load; they live beside the
  database (same disk) and are deleted when the load ends, whatever the outcome (those left
  by a killed load are removed by the next, :meth:`Stage.remove_stale`).
* :func:`indexes_rebuilt`: when a write at least doubles a table, its secondary indexes are
  dropped for the write and built again afterwards, inside the same transaction (one sort
  instead of millions of B-tree insertions; a rollback restores them as they were).
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path
from typing import Self

import numpy as np
import pandas as pd
import pyarrow as pa

from etl.drops.steps import Step, Steps
from models.dialect import PgConnection

# Rows per Arrow batch handed to the ingest: bounds the memory of a reordered copy and sets
# how often the progress bar advances.
BATCH = 200_000
# Below this many new rows a table's indexes are maintained row by row (rebuilding them
# costs a full sort of the table, which only pays off for large writes).
REBUILD_MIN_ROWS = 50_000
STAGE_ALIAS = "stage"
_SUFFIX = ".tmp"
# Stage column types of object columns, by pandas' inference (anything else is text).
_INFERRED = {"integer": pa.int64(), "floating": pa.float64(), "mixed-integer-float": pa.float64(),
             "boolean": pa.bool_()}


def _prefix(near: Path | None) -> str:
    return f".{near.name}.load-" if near else "aidash-load-"


def _arrow_type(series: pd.Series) -> pa.DataType:
    """The stage column type of a frame column, fixed for all its batches (a batch that
    happens to be all null must not make a column of type null)."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _arrow_type(pd.Series(dtype.categories))
    if dtype == object:
        return _INFERRED.get(pd.api.types.infer_dtype(series, skipna=True), pa.string())
    kind = pa.array(series.iloc[:0], from_pandas=True).type
    return pa.string() if pa.types.is_large_string(kind) or pa.types.is_null(kind) else kind


def _arrow_whole(series: pd.Series) -> pa.Array:
    """One frame column as one Arrow array, once for all its batches: a categorical as a
    dictionary array (its categories converted once, its codes shared), NaN → null."""
    array = pa.array(series, from_pandas=True)
    if isinstance(array, pa.ChunkedArray):  # pandas' Arrow-backed text
        array = array.combine_chunks()
    return array


def _arrow_part(array: pa.Array, kind: pa.DataType) -> pa.Array:
    """A batch of an :func:`_arrow_whole` column as a plain Arrow array of type ``kind``
    (a dictionary decoded)."""
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    return array.cast(kind)


def batch_reader(source: pd.DataFrame, columns: Mapping[str, str], schema: pa.Schema, *,
                 name: str, order: np.ndarray | None, cancelled: threading.Event,
                 on_batch: Callable[[int], None] | None,
                 failed: list[BaseException]) -> pa.RecordBatchReader:
    """``source``'s ``columns`` as Arrow record batches of ``schema``, for a driver to ingest.

    A categorical column is turned into Arrow once (a dictionary array: its categories, a
    million credit codes in a big drop, are converted once rather than once per batch), other
    columns batch by batch; each batch's rows are taken in order and only then decoded into
    plain Arrow text, so no reordered or decoded copy of the whole frame ever exists.
    An exception raised here is also put in ``failed``: drivers wrap it in their own, and
    the caller raises the original.

    :raises StageCancelled: ``cancelled`` was set meanwhile (checked before each batch).
    """
    def batches() -> Iterator[pa.RecordBatch]:
        try:
            # Only categoricals whole: other columns a batch at a time, so that no Arrow copy
            # of a whole text column (a million names) is held while the rest is checked.
            whole = {c: _arrow_whole(source[c]) for c in columns
                     if isinstance(source[c].dtype, pd.CategoricalDtype)}
            for i in range(0, len(source), BATCH):
                if cancelled.is_set():
                    raise StageCancelled(name)
                at = slice(i, i + BATCH) if order is None else order[i:i + BATCH]
                rows = None if order is None else pa.array(at)
                parts = [(whole[c].slice(i, BATCH) if rows is None else whole[c].take(rows))
                         if c in whole else _arrow_whole(source[c].iloc[at]) for c in columns]
                yield pa.RecordBatch.from_arrays(
                    [_arrow_part(p, schema.field(columns[c]).type)
                     for c, p in zip(columns, parts, strict=True)], schema=schema)
                if on_batch is not None:
                    on_batch(len(parts[0]) if parts else 0)
        except BaseException as exc:
            failed.append(exc)
            raise

    return pa.RecordBatchReader.from_batches(schema, batches())


class StageCancelled(Exception):
    """A :meth:`Stage.put` stopped because the load it served failed meanwhile."""


class ScratchTables(ABC):
    """What both stages share (:class:`Stage` here, ``etl.drops.pg_stage.PgStage``): the
    tables put and attached so far, the cancel flag a :meth:`put` in another thread reads,
    and the context manager that closes the stage however the load ends."""

    def __init__(self) -> None:
        self.tables: list[str] = []
        self.attached: list[str] = []
        self._cancelled = threading.Event()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def cancel(self) -> None:
        """Make a :meth:`put` running in another thread stop at its next batch."""
        self._cancelled.set()

    @property
    def cancelled(self) -> threading.Event:
        """Set by :meth:`cancel`: a writer in another thread reads it before each batch."""
        return self._cancelled

    @abstractmethod
    def close(self) -> None:
        """Drop the scratch tables (each stage its own way); called however the load ends."""


class Stage(ScratchTables):
    """Scratch SQLite files holding the drop's frames as tables, one file per table, for one
    load.

    Use as a context manager. :meth:`put` a frame, then :meth:`attach` its table to the
    loading connection (a connection that has read an attached file keeps it locked until its
    transaction ends, so a table cannot be added to once attached). Tables are independent:
    one can be put, from another thread, while the loading connection merges another.
    """

    def __init__(self, conn: sqlite3.Connection, near: Path | None) -> None:
        """:param near: the database file; the scratch files go in the same folder (None:
        the system's temp folder)."""
        super().__init__()
        self.conn = conn
        self.near = near
        # The load's marker: its tables' files are named after it.
        fd, name = tempfile.mkstemp(prefix=_prefix(near), suffix=_SUFFIX,
                                    dir=near.parent if near else None)
        os.close(fd)
        self.path = Path(name)

    def file(self, name: str) -> Path:
        """The scratch file of table ``name``."""
        return Path(f"{self.path}-{name}")

    @staticmethod
    def alias(name: str) -> str:
        return f"{STAGE_ALIAS}_{name}"

    def put(self, name: str, frame: pd.DataFrame, columns: Mapping[str, str], *,
            order: np.ndarray | None = None,
            on_batch: Callable[[int], None] | None = None) -> str:
        """Write ``frame``'s columns into the table ``name`` of the stage (its own file).

        :param columns: frame column → stage column name, in the stage table's order.
        :param order: row positions in the order to write them (rowid order is then this
            order); the frame is not copied whole to reorder it.
        :param on_batch: called with the number of rows after each batch.
        :returns: the qualified table name for SQL once attached (``stage_<name>.<name>``).
        :raises StageCancelled: :meth:`cancel` was called meanwhile.
        """
        if name in self.attached:
            raise RuntimeError(f"the stage table {name} is attached already: put it first")
        import adbc_driver_sqlite.dbapi as adbc

        source = frame[list(columns)]
        schema = pa.schema([(columns[c], _arrow_type(source[c])) for c in columns])

        failed: list[BaseException] = []
        reader = batch_reader(source, columns, schema, name=name, order=order,
                              cancelled=self._cancelled, on_batch=on_batch, failed=failed)
        self.tables.append(name)
        # A connection per table, made and closed by the thread that stages it.
        with (adbc.connect(str(self.file(name)), autocommit=True) as ingest,
              ingest.cursor() as cur):
            # Large pages: fewer to write here and to read back in the merge. A scratch file:
            # nothing here needs to survive a crash.
            cur.execute("PRAGMA page_size = 65536")
            cur.execute("PRAGMA journal_mode = OFF")
            cur.execute("PRAGMA synchronous = OFF")
            cur.execute("BEGIN")
            try:
                cur.adbc_ingest(name, reader, mode="create")
            except Exception:
                # The driver wraps an exception of the batches in its own: raise the original.
                if failed:
                    raise failed[0] from None
                raise
            cur.execute("COMMIT")
        return f"{self.alias(name)}.{name}"

    def remove_stale(self) -> list[Path]:
        """Delete the scratch files that loads killed before their end left beside the
        database. Call it holding the database's write lock: no other load is running then.

        :returns: the files removed.
        """
        if self.near is None:
            return []
        stale = [p for p in self.near.parent.glob(f"{_prefix(self.near)}*{_SUFFIX}*")
                 if not str(p).startswith(str(self.path))]
        for path in stale:
            with suppress(FileNotFoundError):
                path.unlink()
        return stale

    def attach(self, name: str) -> None:
        """Make the staged table ``name`` visible to the loading connection."""
        if name not in self.tables:
            raise RuntimeError(f"the stage has no table {name}")
        if name not in self.attached:
            self.conn.execute(f"ATTACH DATABASE ? AS {self.alias(name)}", (str(self.file(name)),))
            self.attached.append(name)

    def close(self) -> None:
        """Detach the files and delete them. SQLite detaches only outside a transaction: one
        still open here (the load failed before its own rollback) is rolled back first."""
        if self.attached and self.conn.in_transaction:
            self.conn.rollback()
        for name in self.attached:
            with suppress(sqlite3.Error):
                self.conn.execute(f"DETACH DATABASE {self.alias(name)}")
        self.attached = []
        for path in [*(self.file(n) for n in self.tables), self.path]:
            for suffix in ("", "-journal", "-wal", "-shm"):
                with suppress(FileNotFoundError):
                    os.remove(f"{path}{suffix}")


def _row_estimate(conn: sqlite3.Connection, table: str) -> int:
    """The table's largest rowid: its row count, or more after deletions (O(log n)); on
    PostgreSQL the planner's estimate (``reltuples``, -1 before the first ANALYZE: then a count)."""
    if isinstance(conn, PgConnection):
        estimate = conn.execute("SELECT reltuples FROM pg_class WHERE oid = CAST(? AS regclass)",
                                (table,)).fetchone()[0]
        if estimate is None or estimate < 0:
            return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        return int(estimate)
    return int(conn.execute(f"SELECT coalesce(max(rowid), 0) FROM main.{table}").fetchone()[0])


def rebuilds(conn: sqlite3.Connection, table: str, new_rows: int) -> bool:
    """Whether writing ``new_rows`` rows into ``table`` is large enough to rebuild its indexes
    (it at least doubles the table)."""
    return new_rows >= max(REBUILD_MIN_ROWS, _row_estimate(conn, table))


def drop_indexes(conn: sqlite3.Connection, table: str,
                 keep: Sequence[str] = ()) -> list[tuple[str, str]]:
    """Drop ``table``'s secondary indexes (not its primary key's, nor those in ``keep``);
    return their DDL."""
    if isinstance(conn, PgConnection):
        ddl = [(n, s) for n, s in conn.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = ? "
            "AND i.schemaname = current_schema() AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
            "WHERE c.conname = i.indexname) ORDER BY i.indexname", (table,)).fetchall()
            if n not in keep]
        for name, _sql in ddl:
            conn.execute(f'DROP INDEX "{name}"')
        return [(str(n), str(s)) for n, s in ddl]
    ddl = [(n, s) for n, s in conn.execute(
        "SELECT name, sql FROM main.sqlite_master WHERE type = 'index' AND tbl_name = ? "
        "AND sql IS NOT NULL ORDER BY name", (table,)).fetchall() if n not in keep]
    for name, _sql in ddl:
        conn.execute(f'DROP INDEX main."{name}"')
    return [(str(n), str(s)) for n, s in ddl]


def create_indexes(conn: sqlite3.Connection, ddl: Sequence[tuple[str, str]]) -> None:
    """Build indexes again from the DDL :func:`drop_indexes` returned."""
    for _name, sql in ddl:
        conn.execute(sql)


def _drop_primary_key(conn: PgConnection, table: str) -> list[tuple[str, str]]:
    """On PostgreSQL, drop ``table``'s primary key; the DDL that adds it again."""
    row = conn.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                       "WHERE conrelid = CAST(? AS regclass) AND contype = 'p'",
                       (table,)).fetchone()
    if row is None:
        return []
    conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{row[0]}"')
    return [(str(row[0]), f'ALTER TABLE {table} ADD CONSTRAINT "{row[0]}" {row[1]}')]


@contextmanager
def indexes_rebuilt(conn: sqlite3.Connection, table: str, new_rows: int, *,
                    keep: Sequence[str] = (), steps: Steps | None = None,
                    primary_key: bool = False, in_thread: bool = False) -> Iterator[bool]:
    """Drop ``table``'s secondary indexes around a write of ``new_rows`` rows that at least
    doubles it, then build them again (inside the caller's transaction). Yields whether it did.

    :param keep: indexes the write does not touch (a partial index whose WHERE excludes
        every new row), left in place.
    :param steps: the load's steps, to time the rebuild as :attr:`Step.INDEX_REBUILD`
        (``in_thread``: run in the staging thread).
    :param primary_key: on PostgreSQL, the primary key's index too (a write with no conflict
        to resolve: one sort instead of a B-tree insertion per row, and the key is checked
        whole when it is added back). Its table is locked from readers until the commit
        (``ALTER TABLE``), as any dropped index locks it there.

    On an exception the indexes are not rebuilt: the caller's rollback restores them with
    everything else.
    """
    if not rebuilds(conn, table, new_rows):
        yield False
        return
    ddl = drop_indexes(conn, table, keep)
    if primary_key and isinstance(conn, PgConnection):
        ddl = _drop_primary_key(conn, table) + ddl
    yield True
    with (steps.timed(Step.INDEX_REBUILD, in_thread=in_thread) if steps is not None
          else nullcontext()):
        create_indexes(conn, ddl)
        if isinstance(conn, PgConnection):
            conn.execute(f"ANALYZE {table}")  # the planner's view of the table it doubled
