"""Loading a quarterly drop: read, validate, then write all of it in one transaction, or nothing.

``load_drop`` is what ``aidash etl load`` and ``aidash init`` call. The steps:

1. **Read** (``etl.drops.read``): find the files, hash them (SHA-256), detect encodings, parse.
   A drop whose files all match, byte for byte, the files of a run that is still in force is a
   repeat: it is recorded as a ``noop`` run and nothing else happens (``etl.drops.run_record``).
2. **Validate** (``etl.drops.validate``) against the database, in the write transaction (so no other
   writer can change what was checked). Any problem: the transaction is rolled back, the
   report CSV is written, one ``rejected`` row goes into ``etl_runs`` and
   :class:`~models.errors.DropRejected` is raised (``etl.drops.report``). The data tables are
   not touched.
3. **Write** (``etl.drops.write``): the validated frames go, as Arrow columns, into scratch
   SQLite files beside the database (``etl.drops.stage.Stage``: the ADBC driver's bulk ingest,
   no Python tuples), in a second thread (``etl.drops.background``) while this one goes on (the register while revenue is validated, revenue
   while the register is merged); the load's connection attaches each file as
   ``stage_<table>``, and the set-based merges of ``etl.drops.merge`` then
   write what changed (see there: upserts with before-images, new versions of revised
   values, straight inserts and index rebuilds for drops of new keys). On PostgreSQL, rows
   whose keys are new to their table are COPY-ed straight in instead, on this connection
   (``etl.drops.pg_direct``; a first load's register in the second thread while revenue is
   validated). ``etl.drops.derive`` then
   recomputes the aggregates of the touched quarters, from the drop's own rows when they are
   the whole of their quarters. On SQLite, a register resent whole is first compared with
   the committed one, read in the thread while the drop is read and validated
   (``etl.drops.committed_register``): its rows equal to their stored rows are not staged.
   SQLite's row-by-row foreign key and CHECK constraint checks
   are off during the load: the validator checks every reference and value a drop brings
   first.
4. The ``etl_runs`` row is inserted at the start of the same transaction and finished at its
   end, so a load killed at any point (even SIGKILL) leaves no trace at all: SQLite's WAL
   discards the uncommitted frames on the next open, and there is never a stale ``running``
   row to clean up. Readers (WAL) see the database before or after the load, never half of it.

Each step is timed for an ``on_step`` hook (``etl.drops.steps``), which the scale benchmark
reads.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from sqlalchemy.engine import Engine

from etl.drops import before_load, merge, pg_direct
from etl.drops.background import Background, stage_specs
from etl.drops.committed_register import COMPARE_MIN_FIRMS, CommittedRegister
from etl.drops.files import REPORT_NAME, DropFile, discover, fingerprint, read_source
from etl.drops.headers import Table, load_column_map
from etl.drops.read import ReadResult, read_tables
from etl.drops.report import display_path, reject
from etl.drops.results import LoadResult
from etl.drops.run_record import find_repeat, now_text, record_repeat, record_run
from etl.drops.stage import Stage
from etl.drops.steps import Step, StepHook, Steps
from etl.drops.validate import ValidDrop, validate_drop
from etl.drops.write import RunRows, begin_run, drop_provenance, early_register, write_drop
from etl.runs import require_database
from etl.transaction import busy_writer, driver_connection, write_transaction
from models.db import sqlite_path
from models.dialect import is_postgres, libpq_uri
from models.errors import AidashError, DropRejected
from models.migrations import upgrade
from models.periods import parse_period

# Page cache of the loading connection (KiB): large enough to hold the indexes a big merge
# touches, so pages are written to the WAL once, at commit, rather than spilled repeatedly.
# AIDASH_LOAD_CACHE_KIB overrides it (a small machine; the crash test uses a small cache so
# that the WAL grows while the load is still running).
LOAD_CACHE_KIB = int(os.environ.get("AIDASH_LOAD_CACHE_KIB", "262144"))
# What a busy database means for a load.
BUSY_UNDONE, BUSY_RETRY = "nothing was loaded", "run the load again"


def folder_period(drop_dir: Path) -> str | None:
    """The quarter a drop folder is named for (``2025Q2``), if its name is one."""
    try:
        parsed = parse_period(drop_dir.name)
    except ValueError:
        return None
    return parsed.period if parsed.freq == "Q" else None


def _free_text(tables: Iterable[Table]) -> None:
    """Drop the parsed text of ``tables`` (their files keep their row counts)."""
    for table in tables:
        table.data = table.data.iloc[:0]
        table.rows = table.rows[:0]
    # pyarrow's allocator keeps freed blocks for reuse: give the text's back.
    pa.default_memory_pool().release_unused()


def _returning_allocator() -> None:
    """Have pyarrow allocate from jemalloc, which hands freed memory back to the system sooner
    than its default pool: the text of a big drop is parsed, converted and freed column by
    column, and at 1M firms this lowers the load's peak RSS by about 150 MB. (Buffers made
    before keep their own pool; a pyarrow built without jemalloc keeps its default.)"""
    with suppress(NotImplementedError, AttributeError):
        pa.set_memory_pool(pa.jemalloc_memory_pool())


@contextmanager
def _load_connection(engine: Engine) -> Iterator[sqlite3.Connection]:
    """The engine's sqlite3 connection, tuned for one big transaction, restored afterwards
    (on PostgreSQL, its :class:`models.dialect.PgConnection`, as it is)."""
    if is_postgres(engine):
        with driver_connection(engine) as conn:
            # The merges' temp tables in memory rather than spilled through the default 8 MB
            # (settable until the session first touches a temp table).
            with suppress(Exception):
                conn.execute(f"SET temp_buffers = '{LOAD_CACHE_KIB}kB'")
            # Hashes and sorts in memory: checking 8M revenue rows against 1M firms spilled
            # to disk in batches at the default 4 MB (9 s instead of 2 s).
            conn.execute(f"SET work_mem = '{LOAD_CACHE_KIB}kB'")
            try:
                yield conn
            finally:
                _end_load(conn)
                conn.execute("RESET work_mem")
        return
    with driver_connection(engine) as conn:
        old_cache = conn.execute("PRAGMA cache_size").fetchone()[0]
        old_fk = conn.execute("PRAGMA foreign_keys").fetchone()[0]
        conn.execute(f"PRAGMA cache_size = -{LOAD_CACHE_KIB}")
        # Sorts (index builds, GROUP BY) and temp tables spill to temp files rather than
        # holding everything in memory: at 1M firms a sort of the revenue rows alone is
        # hundreds of MB.
        conn.execute("PRAGMA temp_store = FILE")
        # Foreign keys are not checked row by row during the bulk merge: the validator has
        # already checked every reference a drop can make (credit codes against the register
        # and the drop, zones, districts and segments against their tables), and the other
        # references (run, source) are the load's own rows. Checking them again would cost
        # one index lookup per reference per row (9M rows at 1M firms).
        conn.execute("PRAGMA foreign_keys = OFF")
        # Nor the CHECK constraints (non-negative revenue, known provenance, status …): the
        # validator enforces each of them first, and evaluating them again costs more than
        # the insert itself (5 s of a 7 s insert of 8M revenue rows). `PRAGMA integrity_check`
        # still verifies them; the tests run it after bulk loads.
        conn.execute("PRAGMA ignore_check_constraints = ON")
        try:
            yield conn
        finally:
            _end_load(conn)
            conn.execute(f"PRAGMA cache_size = {old_cache}")
            conn.execute(f"PRAGMA foreign_keys = {int(old_fk)}")
            conn.execute("PRAGMA ignore_check_constraints = OFF")


def _end_load(conn: sqlite3.Connection) -> None:
    """What ends the load's connection on either backend: an open transaction rolled back and
    the merges' temp tables dropped (before each backend restores its own settings)."""
    if conn.in_transaction:
        conn.rollback()
    merge.drop_temp(conn)


def _data_version(conn: sqlite3.Connection) -> int:
    """SQLite's ``data_version``: it changes when another connection commits."""
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


def _read_committed(conn: sqlite3.Connection, background: Background,
                    files: list[DropFile]) -> CommittedRegister | None:
    """Start reading the committed register in the thread (see
    :mod:`etl.drops.committed_register`), if the drop has a register, the database is a
    SQLite file and its register is large enough to be worth it."""
    path = before_load.database_file(conn)
    if path is None or not any(f.kind == "enterprises" for f in files):
        return None
    if conn.execute("SELECT count(*) FROM enterprises").fetchone()[0] < COMPARE_MIN_FIRMS:
        return None
    committed = CommittedRegister(path, data_version=_data_version(conn))
    background.read_committed(committed)
    return committed


def _driver_errors(engine: Engine) -> tuple[type[Exception], ...]:
    if is_postgres(engine):
        import psycopg

        return (psycopg.Error,)
    return ()


def _stage(engine: Engine, conn: sqlite3.Connection) -> Stage:
    """The load's stage: scratch SQLite files beside the database, or UNLOGGED tables."""
    if is_postgres(engine):
        from etl.drops.pg_stage import PgStage

        return PgStage(conn, libpq_uri(engine.url))  # type: ignore[return-value]
    return Stage(conn, sqlite_path(str(engine.url)))


def load_drop(engine: Engine, drop_dir: Path, *, dry_run: bool = False,
              report_path: Path | None = None, progress: bool = False,
              today: date | None = None, on_step: StepHook | None = None,
              before_commit: Callable[[Any, int], None] | None = None) -> LoadResult:
    """Validate a quarterly drop and load all of it in one transaction, or none of it.

    :param engine: the database (built by ``aidash init``).
    :param drop_dir: the drop folder (see docs/drop-format.md).
    :param dry_run: validate and count what would change; write nothing, not even a run row
        (a rejection report is still written).
    :param report_path: where to write the rejection report (default
        ``<drop_dir>/rejections.csv``).
    :param progress: show a progress bar on stderr.
    :param today: the day periods and dates are checked against (default: today).
    :param on_step: called with a :class:`~etl.drops.steps.StepTiming` each time a step of
        :class:`~etl.drops.steps.Step` ends, from the thread that ran it (the staging
        thread's steps have ``in_thread`` set); for benchmarks.
    :param before_commit: called with the load's own driver connection (which sees what the
        load wrote) and its run id just before the commit, when there is one to make; what
        it starts may run on while the commit does (:class:`etl.forecast_ahead.ForecastsAhead`).
    :returns: counts, per-file details and the run id.
    :raises DatabaseMissing: the database has no tables.
    :raises DropRejected: any problem; the report lists every one, nothing was loaded.
    :raises DatabaseBusy: another writer held the database past the busy timeout; nothing was
        loaded.
    """
    start = time.perf_counter()
    started = now_text()
    today = today or date.today()
    _returning_allocator()
    drop_dir = Path(drop_dir)
    drop_name = drop_dir.resolve().name
    drop_label = display_path(drop_dir)
    report = Path(report_path) if report_path is not None else drop_dir / REPORT_NAME
    if not drop_dir.is_dir():
        raise AidashError(f"drop folder {drop_label} does not exist")
    require_database(engine)
    # A database built by an earlier version may have tables or indexes laid out differently.
    with busy_writer(engine, BUSY_UNDONE, BUSY_RETRY):
        upgrade(engine)
    column_map = load_column_map()

    with (busy_writer(engine, BUSY_UNDONE, BUSY_RETRY),
          Steps(progress, on_step) as steps, _load_connection(engine) as conn,
          _stage(engine, conn) as stage,
          Background(stage, steps) as background):
        files, problems = discover(drop_dir, ignore=(report,))
        source, source_problems = read_source(drop_dir)
        problems.extend(source_problems)
        steps.show("Hashing files", len(files))
        with steps.timed(Step.HASH):
            for f in files:
                problem = fingerprint(f)
                if problem is not None:
                    problems.append(problem)
                steps.advance()
        if not problems:
            with steps.timed(Step.REPEAT_CHECK):
                repeat = find_repeat(conn, files)
            if repeat is not None:
                return record_repeat(conn, files, repeat, drop_name=drop_name,
                                     drop_label=drop_label, started=started, start=start,
                                     dry_run=dry_run)
        # The register as committed, read in the thread from here on (SQLite, not a dry run):
        # the validated register's rows equal to it are not staged. Used only if no other
        # writer commits before this load holds the write lock.
        committed = (_read_committed(conn, background, files)
                     if not dry_run and not problems else None)
        steps.show("Reading files", len(files))
        with steps.timed(Step.READ):
            tables, table_problems = read_tables(files, column_map,
                                                 on_file=lambda _f: steps.advance())
        read = ReadResult(files, tables, problems + table_problems, source)

        # On PostgreSQL a load (not a dry run: it holds no write lock) COPYs rows whose keys
        # are new to their table straight into it.
        direct = is_postgres(engine) and not dry_run
        run: RunRows | None = None
        # A dry run only reads, and is rolled back: it takes no write lock.
        with write_transaction(conn, immediate=not dry_run):
            if not dry_run:
                stage.remove_stale()  # the write lock is ours: no other load is staging
            if committed is not None and _data_version(conn) != committed.data_version:
                committed = None  # another writer committed since it was read
            try:
                steps.show("Validating")

                def register_checked(frame: pd.DataFrame) -> None:
                    # A register without problems starts going into the stage while the rest
                    # of the drop is checked (wasted if the rest turns out to be rejected),
                    # and its parsed text is no longer needed: the checks left are of the
                    # other files. On PostgreSQL, a first load's register goes straight into
                    # its table instead, in the load's transaction (etl.drops.pg_direct).
                    nonlocal run
                    if direct and pg_direct.register_is_empty(conn):  # type: ignore[arg-type]
                        run = begin_run(conn, read, drop_name=drop_name, drop_label=drop_label,
                                        started=started, data_period=None)
                        background.run("enterprises", Step.MERGE, partial(
                            pg_direct.write_register, conn, stage, frame,  # type: ignore[arg-type]
                            run_id=run.run_id,
                            source_id=run.source_id, default_provenance=drop_provenance(read),
                            steps=steps))
                    else:
                        background.put("enterprises",
                                       *stage_specs(ValidDrop(enterprises=frame))["enterprises"],
                                       committed=committed)
                        if committed is not None:
                            background.run("register", Step.AGGREGATE,
                                           early_register, committed, frame,
                                           drop_provenance(read))
                    _free_text(t for t in tables if t.kind == "enterprises")

                with steps.timed(Step.VALIDATE):
                    valid = validate_drop(read, column_map, conn, today=today,
                                          folder_period=folder_period(drop_dir),
                                          on_register=register_checked)
                rows_read = sum(t.rows_read for t in tables)
                if not valid.ok:
                    background.cancel()  # a register being written stops at its next batch
                    conn.rollback()
                    reject(conn, valid, report, drop_name=drop_name, drop_label=drop_label,
                           started=started, rows_read=rows_read, dry_run=dry_run)
                # The parsed text is no longer needed (the validated frames hold the values).
                _free_text(tables)
                revenue_plan = None
                if run is not None and valid.revenue is not None and len(valid.revenue):
                    # While the register is still being written in the thread (the statements
                    # below wait for it): the order revenue will be written in, its text as
                    # bytes, and the credit codes its register check is to look up (none of
                    # the drop's register's, which is in the table before revenue).
                    revenue_plan = pg_direct.revenue_plan(
                        valid.revenue, pg_direct.codes_of(valid.enterprises)
                        if valid.enterprises is not None else None)
                if not dry_run:
                    # Another load may have committed these files between the first check
                    # and this write lock: check again under the lock.
                    with steps.timed(Step.REPEAT_CHECK):
                        repeat = find_repeat(conn, files)
                    if repeat is not None:
                        background.cancel()
                        conn.rollback()
                        return record_repeat(conn, files, repeat, drop_name=drop_name,
                                             drop_label=drop_label, started=started,
                                             start=start, dry_run=dry_run)
                result = write_drop(conn, stage, background, valid, read, drop_name=drop_name,
                                    drop_label=drop_label, started=started, steps=steps,
                                    run=run, direct=direct, revenue_plan=revenue_plan)
                result.dry_run = dry_run
                result.seconds = time.perf_counter() - start
                if dry_run:
                    conn.rollback()
                    result.run_id = None
                else:
                    conn.execute("UPDATE etl_runs SET finished_at = ? WHERE id = ?",
                                 (now_text(), result.run_id))
                    if before_commit is not None and result.run_id is not None:
                        before_commit(conn, result.run_id)
                    steps.show("Committing")
                    with steps.timed(Step.COMMIT):
                        conn.commit()
                result.seconds = time.perf_counter() - start
                return result
            except DropRejected:
                raise
            except Exception as exc:
                background.cancel()
                if conn.in_transaction:
                    conn.rollback()  # after a write of the thread's into it has ended
                # A write of the thread's that failed aborted the transaction: the main
                # thread's next statement failed for that reason only.
                error = background.failure() or exc
                if not dry_run:
                    # The history should show the attempt; failing to record it must not
                    # hide the error itself.
                    with suppress(sqlite3.Error, *_driver_errors(engine)):
                        record_run(conn, status="failed", drop_path=drop_label,
                                   data_period=None, started=started,
                                   message=f"{type(error).__name__}: {error}"[:2000])
                if error is not exc:
                    raise error from exc
                raise
