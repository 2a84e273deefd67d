"""Loading a quarterly drop: read, validate, then write all of it in one transaction, or nothing.

``load_drop`` is what ``aidash etl load`` and ``aidash init`` call. The steps:

1. **Read** (``etl.drops.read``): find the files, hash them (SHA-256), detect encodings, parse.
   A drop whose files all match, byte for byte, the files of a run that is still in force is a
   repeat: it is recorded as a ``noop`` run and nothing else happens.
2. **Validate** (``etl.drops.validate``) against the database, in the write transaction (so no other
   writer can change what was checked). Any problem: the transaction is rolled back, the
   report CSV is written, one ``rejected`` row goes into ``etl_runs`` and
   :class:`~models.errors.DropRejected` is raised. The data tables are not touched.
3. **Write**: the validated frames go, as Arrow columns, into scratch SQLite files beside
   the database (``etl.drops.stage.Stage``: the ADBC driver's bulk ingest, no Python tuples), in a
   second thread while this one goes on (the register while revenue is validated, revenue
   while the register is merged); the load's connection attaches each file as
   ``stage_<table>``, and the set-based merges of ``etl.drops.merge`` then
   write what changed (see there: upserts with before-images, new versions of revised
   values, straight inserts and index rebuilds for drops of new keys). ``etl.drops.derive`` then
   recomputes the aggregates of the touched quarters, from the drop's own rows when they are
   the whole of their quarters. SQLite's row-by-row foreign key and CHECK constraint checks
   are off during the load: the validator checks every reference and value a drop brings
   first.
4. The ``etl_runs`` row is inserted at the start of the same transaction and finished at its
   end, so a load killed at any point (even SIGKILL) leaves no trace at all: SQLite's WAL
   discards the uncommitted frames on the next open, and there is never a stale ``running``
   row to clean up. Readers (WAL) see the database before or after the load, never half of it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy.engine import Engine

from etl.drops import derive, merge
from etl.drops import stage as bulk
from etl.drops.collector import problems_as_list
from etl.drops.files import REPORT_NAME, DropFile, discover, fingerprint, read_source
from etl.drops.headers import Table, load_column_map
from etl.drops.read import ReadResult, read_tables
from etl.drops.validate import ValidDrop, validate_drop
from etl.runs import require_database
from models.db import sqlite_path, upgrade
from models.errors import AidashError, DropRejected, busy_as_error, is_busy
from models.periods import parse_period
from models.problems import REPORT_COLUMNS
from models.tables import CONFIDENCES

# Page cache of the loading connection (KiB): large enough to hold the indexes a big merge
# touches, so pages are written to the WAL once, at commit, rather than spilled repeatedly.
# AIDASH_LOAD_CACHE_KIB overrides it (a small machine; the crash test uses a small cache so
# that the WAL grows while the load is still running).
LOAD_CACHE_KIB = int(os.environ.get("AIDASH_LOAD_CACHE_KIB", "262144"))
SUMMARY_GROUPS = 8
SUMMARY_EXAMPLES = 5
DROP_SOURCE_PREFIX = "drop:"
# Leading characters that make Excel treat a cell of a CSV as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class FileResult:
    """One file (or sheet) of a load, as recorded in ``etl_run_files``."""

    file: str
    sheet: str | None
    kind: str
    encoding: str | None
    sha256: str
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    rejected: int = 0


@dataclass
class LoadResult:
    """What one ``load_drop`` did."""

    drop_name: str
    run_id: int | None
    changed: bool
    read: int = 0
    inserted: int = 0
    updated: int = 0
    rejected: int = 0
    seconds: float = 0.0
    files: list[FileResult] = field(default_factory=list)
    data_period: str | None = None
    dry_run: bool = False
    repeat_of: int | None = None
    derived_inserted: int = 0
    derived_updated: int = 0

    @property
    def file_count(self) -> int:
        return len({f.file for f in self.files})

    def summary_line(self) -> str:
        """The one line the CLI prints."""
        if self.repeat_of is not None:
            return f"{self.drop_name} already loaded as run {self.repeat_of}; nothing changed"
        files = f"{self.file_count} file{'s' if self.file_count != 1 else ''}"
        rows = f"{self.read:,} row{'s' if self.read != 1 else ''} read"
        if self.dry_run:
            return (f"Dry run of {self.drop_name}: {files}, {rows}, "
                    f"{self.inserted:,} would be inserted, {self.updated:,} updated, "
                    f"{self.rejected:,} rejected in {self.seconds:.1f} s (nothing written)")
        tail = f"run {self.run_id}" + ("" if self.changed else "; nothing changed")
        return (f"Loaded {self.drop_name}: {files}, {rows}, "
                f"{self.inserted:,} inserted, {self.updated:,} updated, {self.rejected:,} "
                f"rejected in {self.seconds:.1f} s ({tail})")


# ------------------------------------------------------------------------------- helpers


def _now() -> str:
    """UTC now in the text form SQLAlchemy's SQLite DateTime reads back."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def display_path(path: Path) -> str:
    """The path as given, made relative to the working directory when it lies below it."""
    if path.is_absolute():
        try:
            return str(path.relative_to(Path.cwd()))
        except ValueError:
            return str(path)
    return str(path)


def folder_period(drop_dir: Path) -> str | None:
    """The quarter a drop folder is named for (``2025Q2``), if its name is one."""
    try:
        parsed = parse_period(drop_dir.name)
    except ValueError:
        return None
    return parsed.period if parsed.freq == "Q" else None


def _excel_safe(value: object) -> object:
    """Report cells that Excel would evaluate get a leading apostrophe (plain numbers stay)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        try:
            float(value)
            return value
        except ValueError:
            return "'" + value
    return value


def write_report(path: Path, problems: pd.DataFrame) -> None:
    """The rejection report: one row per problem, UTF-8 with BOM so Excel opens it.

    It is written to a new file in the report's folder, then renamed over ``path``: a
    ``rejections.csv`` that is a link (left in a drop, perhaps to a file of the host) is
    replaced, never written through, and a reader never sees half a report.

    :raises OSError: the folder does not exist or cannot be written (nothing is left behind).
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(REPORT_COLUMNS)
            for rec in problems.itertuples(index=False, name=None):
                writer.writerow(["" if v is None or v is pd.NA or (isinstance(v, float)
                                                                  and np.isnan(v))
                                 else _excel_safe(v) for v in rec])
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


def rejection_summary(drop_name: str, problems: pd.DataFrame, report: str,
                      report_error: str | None = None) -> str:
    """A few lines: problems by file and reason, the first few, and what to do next.

    :param report_error: why the report could not be written to ``report``, if it could not.
    """
    n = len(problems)
    n_files = problems["file"].nunique()
    lines = [(f"Drop {drop_name} rejected: {n:,} problem{'s' if n != 1 else ''} in "
              f"{n_files} file{'s' if n_files != 1 else ''}.")]
    groups = problems.groupby(["file", "reason"], sort=False).size()
    for (file, reason), count in list(groups.items())[:SUMMARY_GROUPS]:
        lines.append(f"  {file}: {count:,} × {reason}")
    if len(groups) > SUMMARY_GROUPS:
        lines.append(f"  … and {len(groups) - SUMMARY_GROUPS:,} more kinds of problem")
    lines.append("First problems:")
    for p in problems_as_list(problems.head(SUMMARY_EXAMPLES)):
        where = p.file + (f" sheet {p.sheet}" if p.sheet else "") + (
            f" row {p.row}" if p.row is not None else "") + (
            f", column {p.column}" if p.column else "") + (
            f", value '{p.value}'" if p.value is not None else "")
        lines.append(f"  {where}: {p.reason}")
    if report_error is not None:
        lines.append(f"Nothing was loaded. The report could not be written to {report} "
                     f"({report_error}): fix the problems above, or pass --report a file in a "
                     "folder you can write to for the full list, and run the load again.")
    else:
        lines.append(f"Nothing was loaded. Fix the rows listed in {report} and run the load "
                     "again.")
    return "\n".join(lines)


class _Steps:
    """A rich progress bar on stderr when asked for, else nothing."""

    def __init__(self, enabled: bool) -> None:
        self.progress: Any = None
        self.task: Any = None
        if enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                     BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                     console=Console(stderr=True), transient=True)

    def __enter__(self) -> Self:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def step(self, description: str, total: int | None = None) -> None:
        """Start the next step (``total`` units, or an open-ended spinner)."""
        if self.progress is None:
            return
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task(description, total=total)

    def advance(self, n: int = 1) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.advance(self.task, n)


# ------------------------------------------------------------------------- runs and sources


def _insert_run(conn: sqlite3.Connection, *, status: str, drop_path: str,
                data_period: str | None, started: str, message: str | None = None,
                rows_read: int = 0, rows_rejected: int = 0) -> int:
    cur = conn.execute(
        """INSERT INTO etl_runs (kind, started_at, finished_at, status, drop_path, data_period,
               rows_read, rows_inserted, rows_updated, rows_rejected, message)
           VALUES ('drop', ?, ?, ?, ?, ?, ?, 0, 0, ?, ?)""",
        (started, None if status == "running" else _now(), status, drop_path, data_period,
         rows_read, rows_rejected, message))
    return int(cur.lastrowid or 0)


def _record_run(engine_conn: sqlite3.Connection, **kwargs: Any) -> int:
    """A run row in its own short transaction (rejected and failed attempts)."""
    engine_conn.execute("BEGIN IMMEDIATE")
    try:
        run_id = _insert_run(engine_conn, **kwargs)
        engine_conn.commit()
    except BaseException:
        engine_conn.rollback()
        raise
    return run_id


def _insert_run_files(conn: sqlite3.Connection, run_id: int, files: list[FileResult]) -> None:
    conn.executemany(
        """INSERT INTO etl_run_files (run_id, file_name, sheet, sha256, encoding, rows_read,
               rows_inserted, rows_updated, rows_rejected) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [(run_id, f.file, f.sheet, f.sha256, f.encoding, f.rows_read, f.inserted, f.updated,
          f.rejected) for f in files])


def find_repeat(conn: sqlite3.Connection, files: list[DropFile]) -> int | None:
    """The run that loaded exactly these files (names and SHA-256) and is still in force.

    A run is in force when it succeeded, was not rolled back, and no later run revised what it
    wrote; otherwise loading the same files again is a real change (back to those values).
    """
    if not files:
        return None
    wanted = sorted({(f.name, f.sha256) for f in files})
    candidates = [r for (r,) in conn.execute(
        """SELECT DISTINCT r.id FROM etl_runs r JOIN etl_run_files f ON f.run_id = r.id
           WHERE r.kind = 'drop' AND r.status = 'succeeded' AND f.sha256 = ?
           ORDER BY r.id DESC""", (files[0].sha256,))]
    for run_id in candidates:
        have = sorted(set(conn.execute(
            "SELECT file_name, sha256 FROM etl_run_files WHERE run_id = ?", (run_id,))))
        if have != wanted:
            continue
        revised = conn.execute(
            """SELECT EXISTS (SELECT 1 FROM enterprise_revenue_versions WHERE etl_run_id = :r)
                   OR EXISTS (SELECT 1 FROM observations o JOIN sources s ON s.id = o.source_id
                              WHERE o.etl_run_id = :r AND o.superseded_by IS NOT NULL
                                AND s.key LIKE 'drop:%')
                   OR EXISTS (SELECT 1 FROM enterprise_versions WHERE etl_run_id = :r)""",
            {"r": run_id}).fetchone()[0]
        return None if revised else run_id
    return None


def source_row(source: dict[str, Any] | None, folder: str,
               default_provenance: str) -> dict[str, Any]:
    """The ``sources`` row of a drop: from its ``source.json``, else "Quarterly drop <folder>"."""
    if source:
        title = str(source["title"]).strip()
        publisher = str(source.get("publisher") or "").strip() or None
        published = str(source.get("published") or "").strip() or None
        digest = hashlib.sha256(json.dumps([title, publisher, published],
                                           ensure_ascii=False).encode()).hexdigest()[:16]
        confidence = str(source.get("confidence") or "")
        if confidence not in CONFIDENCES:
            confidence = "low" if default_provenance == "sample" else "high"
        caveat = source.get("caveat") or source.get("note")
        return {"key": f"{DROP_SOURCE_PREFIX}{digest}", "title": title, "publisher": publisher,
                "url_or_publication": source.get("url") or source.get("url_or_publication"),
                "published": published, "quote": source.get("quote"),
                "confidence": confidence, "caveat": str(caveat) if caveat else None,
                "provenance": default_provenance}
    return {"key": f"{DROP_SOURCE_PREFIX}folder:{folder}", "title": f"Quarterly drop {folder}",
            "publisher": None, "url_or_publication": None, "published": None, "quote": None,
            "confidence": "low" if default_provenance == "sample" else "high",
            "caveat": None, "provenance": default_provenance}


def _ensure_source(conn: sqlite3.Connection, row: dict[str, Any]) -> tuple[int, bool]:
    found = conn.execute("SELECT id FROM sources WHERE key = ?", (row["key"],)).fetchone()
    if found:
        return int(found[0]), False
    cols = ", ".join(row)
    cur = conn.execute(f"INSERT INTO sources ({cols}) VALUES ({', '.join('?' * len(row))})",
                       tuple(row.values()))
    return int(cur.lastrowid or 0), True


# ------------------------------------------------------------------------------- stage


def stage_specs(valid: ValidDrop) -> dict[str, tuple[pd.DataFrame, dict[str, str], list[str]]]:
    """What each validated frame stages as: kind (``enterprises``, ``revenue``,
    ``zone_metrics``) → (frame, frame column → stage column, key to order the rows by)."""
    specs = {
        "enterprises": (valid.enterprises, {"credit_code": "credit_code",
                                            **{c: c for c in merge.ENT_COLUMNS},
                                            "given": "given", "_t": "t", "_row": "row"},
                        ["credit_code"]),
        "revenue": (valid.revenue, {**{c: c for c in merge.REV_COLUMNS}, "_t": "t"},
                    list(merge.REV_KEY)),
        "zone_metrics": (valid.observations,
                         {c: c for c in ("metric", "scope_id", "period", "period_end",
                                         "period_label", "value", "unit", "provenance")}
                         | {"_t": "t", "_row": "row"}, []),
    }
    return {kind: spec for kind, spec in specs.items()  # type: ignore[misc]
            if spec[0] is not None and len(spec[0])}


def stage_frame(stage: bulk.Stage, kind: str, frame: pd.DataFrame, columns: dict[str, str],
                keys: list[str], on_batch: Callable[[int], None] | None = None) -> merge.Staged:
    """Put one validated frame into the stage, in the order it will be merged in."""
    # In key order, inserts and lookups walk the indexes in order (cache-friendly), and
    # revenue is appended to its table's key order. The order is computed on integer codes
    # and applied batch by batch: a sorted copy of 8M rows would cost hundreds of megabytes.
    order = merge.key_order(frame, keys) if keys else None
    table = stage.put(kind, frame, columns, order=order, on_batch=on_batch)
    per_file = frame.groupby("_t").size()
    return merge.Staged(table, {int(t): int(n) for t, n in per_file.items()})


def _free_text(tables: Iterable[Table]) -> None:
    """Drop the parsed text of ``tables`` (their files keep their row counts)."""
    for table in tables:
        table.data = table.data.iloc[:0]
        table.rows = table.rows[:0]
    # pyarrow's allocator keeps freed blocks for reuse: give the text's back.
    pa.default_memory_pool().release_unused()


class _Background:
    """Stages tables (and sums the aggregates) in one worker thread while the loader goes on
    (validating, merging): that work is mostly Python, Arrow and numpy, the merges SQLite
    (which releases the GIL), so on two cores they overlap. Tasks run one after the other, in
    the order submitted.

    Use as a context manager around everything that might wait for a table: on leaving the
    block, a staging still running is no longer needed (the load failed, was rejected or
    found a repeat) and stops at its next batch; the thread has ended when the block exits.
    """

    def __init__(self, stage: bulk.Stage) -> None:
        self.stage = stage
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aidash-stage")
        self.pending: dict[str, Future[Any]] = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stage.cancel()
        self.pool.shutdown(wait=True)

    def put(self, kind: str, frame: pd.DataFrame, columns: dict[str, str], keys: list[str],
            on_batch: Callable[[int], None] | None = None) -> None:
        """Start staging ``frame`` (see :func:`stage_frame`); its result is ``kind``'s."""
        self.run(kind, stage_frame, self.stage, kind, frame, columns, keys, on_batch)

    def run(self, key: str, fn: Callable[..., Any], *args: Any) -> None:
        """Start ``fn(*args)``; :meth:`result` of ``key`` returns what it returns."""
        self.pending[key] = self.pool.submit(fn, *args)

    def result(self, key: str) -> Any:
        """What the task ``key`` returned, once it has ended (None if never started); an
        exception of the task is raised here."""
        future = self.pending.pop(key, None)
        return None if future is None else future.result()


# --------------------------------------------------------------------------------- load


def _returning_allocator() -> None:
    """Have pyarrow allocate from jemalloc, which hands freed memory back to the system sooner
    than its default pool: the text of a big drop is parsed, converted and freed column by
    column, and at 1M firms this lowers the load's peak RSS by about 150 MB. (Buffers made
    before keep their own pool; a pyarrow built without jemalloc keeps its default.)"""
    with suppress(NotImplementedError, AttributeError):
        pa.set_memory_pool(pa.jemalloc_memory_pool())


@contextmanager
def _load_connection(engine: Engine) -> Iterator[sqlite3.Connection]:
    """The engine's sqlite3 connection, tuned for one big transaction, restored afterwards."""
    raw = engine.raw_connection()
    conn: sqlite3.Connection = raw.driver_connection  # type: ignore[assignment]
    if conn.in_transaction:
        conn.rollback()
    old_cache = conn.execute("PRAGMA cache_size").fetchone()[0]
    old_fk = conn.execute("PRAGMA foreign_keys").fetchone()[0]
    conn.execute(f"PRAGMA cache_size = -{LOAD_CACHE_KIB}")
    # Sorts (index builds, GROUP BY) and temp tables spill to temp files rather than holding
    # everything in memory: at 1M firms a sort of the revenue rows alone is hundreds of MB.
    conn.execute("PRAGMA temp_store = FILE")
    # Foreign keys are not checked row by row during the bulk merge: the validator has
    # already checked every reference a drop can make (credit codes against the register and
    # the drop, zones, districts and segments against their tables), and the other
    # references (run, source) are the load's own rows. Checking them again would cost one
    # index lookup per reference per row (9M rows at 1M firms).
    conn.execute("PRAGMA foreign_keys = OFF")
    # Nor the CHECK constraints (non-negative revenue, known provenance, status …): the
    # validator enforces each of them first, and evaluating them again costs more than the
    # insert itself (5 s of a 7 s insert of 8M revenue rows). `PRAGMA integrity_check` still
    # verifies them; the tests run it after bulk loads.
    conn.execute("PRAGMA ignore_check_constraints = ON")
    try:
        yield conn
    finally:
        try:
            if conn.in_transaction:
                conn.rollback()
            merge.drop_temp(conn)
            conn.execute(f"PRAGMA cache_size = {old_cache}")
            conn.execute(f"PRAGMA foreign_keys = {int(old_fk)}")
            conn.execute("PRAGMA ignore_check_constraints = OFF")
        finally:
            raw.close()


def load_drop(engine: Engine, drop_dir: Path, *, dry_run: bool = False,
              report_path: Path | None = None, progress: bool = False,
              today: date | None = None) -> LoadResult:
    """Validate a quarterly drop and load all of it in one transaction, or none of it.

    :param engine: the database (built by ``aidash init``).
    :param drop_dir: the drop folder (see docs/drop-format.md).
    :param dry_run: validate and count what would change; write nothing, not even a run row
        (a rejection report is still written).
    :param report_path: where to write the rejection report (default
        ``<drop_dir>/rejections.csv``).
    :param progress: show a progress bar on stderr.
    :param today: the day periods and dates are checked against (default: today).
    :returns: counts, per-file details and the run id.
    :raises DatabaseMissing: the database has no tables.
    :raises DropRejected: any problem; the report lists every one, nothing was loaded.
    :raises DatabaseBusy: another writer held the database past the busy timeout; nothing was
        loaded.
    """
    start = time.perf_counter()
    started = _now()
    today = today or date.today()
    _returning_allocator()
    drop_dir = Path(drop_dir)
    drop_name = drop_dir.resolve().name
    drop_label = display_path(drop_dir)
    report = Path(report_path) if report_path is not None else drop_dir / REPORT_NAME
    if not drop_dir.is_dir():
        raise AidashError(f"drop folder {drop_label} does not exist")
    require_database(engine)
    database = engine.url.database or str(engine.url)
    # A database built by an earlier version may have tables or indexes laid out differently.
    with busy_as_error(database, "nothing was loaded", "run the load again"):
        upgrade(engine)
    column_map = load_column_map()

    with (busy_as_error(database, "nothing was loaded", "run the load again"),
          _Steps(progress) as steps, _load_connection(engine) as conn,
          bulk.Stage(conn, sqlite_path(str(engine.url))) as stage,
          _Background(stage) as background):
        files, problems = discover(drop_dir, ignore=(report,))
        source, source_problems = read_source(drop_dir)
        problems.extend(source_problems)
        steps.step("Hashing files", len(files))
        for f in files:
            problem = fingerprint(f)
            if problem is not None:
                problems.append(problem)
            steps.advance()
        if not problems:
            repeat = find_repeat(conn, files)
            if repeat is not None:
                return _record_repeat(conn, files, repeat, drop_name=drop_name,
                                      drop_label=drop_label, started=started, start=start,
                                      dry_run=dry_run)
        steps.step("Reading files", len(files))
        tables, table_problems = read_tables(files, column_map,
                                             on_file=lambda _f: steps.advance())
        read = ReadResult(files, tables, problems + table_problems, source)

        conn.execute("BEGIN" if dry_run else "BEGIN IMMEDIATE")
        if not dry_run:
            stage.remove_stale()  # the write lock is ours: no other load is staging
        try:
            steps.step("Validating")

            def register_checked(frame: pd.DataFrame) -> None:
                # A register without problems starts going into the stage while the rest of
                # the drop is checked (wasted if the rest turns out to be rejected), and its
                # parsed text is no longer needed: the checks left are of the other files.
                background.put("enterprises",
                               *stage_specs(ValidDrop(enterprises=frame))["enterprises"])
                _free_text(t for t in tables if t.kind == "enterprises")

            valid = validate_drop(read, column_map, conn, today=today,
                                  folder_period=folder_period(drop_dir),
                                  on_register=register_checked)
            rows_read = sum(t.rows_read for t in tables)
            if not valid.ok:
                conn.rollback()
                _reject(conn, valid, report, drop_name=drop_name, drop_label=drop_label,
                        started=started, rows_read=rows_read, dry_run=dry_run)
            # The parsed text is no longer needed (the validated frames hold the values).
            _free_text(tables)
            if not dry_run:
                # Another load may have committed these files between the first check and
                # this write lock: check again under the lock.
                repeat = find_repeat(conn, files)
                if repeat is not None:
                    conn.rollback()
                    return _record_repeat(conn, files, repeat, drop_name=drop_name,
                                          drop_label=drop_label, started=started, start=start,
                                          dry_run=dry_run)
            result = _write(conn, stage, background, valid, read, drop_name=drop_name,
                            drop_label=drop_label, started=started, steps=steps)
            result.dry_run = dry_run
            result.seconds = time.perf_counter() - start
            if dry_run:
                conn.rollback()
                result.run_id = None
            else:
                conn.execute("UPDATE etl_runs SET finished_at = ? WHERE id = ?",
                             (_now(), result.run_id))
                steps.step("Committing")
                conn.commit()
            result.seconds = time.perf_counter() - start
            return result
        except DropRejected:
            raise
        except BaseException as exc:
            if conn.in_transaction:
                conn.rollback()
            if not dry_run and isinstance(exc, Exception):
                # The history should show the attempt; failing to record it must not hide
                # the error itself.
                with suppress(sqlite3.Error):
                    _record_run(conn, status="failed", drop_path=drop_label, data_period=None,
                                started=started, message=f"{type(exc).__name__}: {exc}"[:2000])
            raise


def _record_repeat(conn: sqlite3.Connection, files: list[DropFile], repeat: int, *,
                   drop_name: str, drop_label: str, started: str, start: float,
                   dry_run: bool) -> LoadResult:
    period = conn.execute("SELECT data_period FROM etl_runs WHERE id = ?", (repeat,)).fetchone()
    data_period = period[0] if period else None
    results = [FileResult(f.name, None, f.kind or "", f.encoding, f.sha256) for f in files]
    run_id = None
    if not dry_run:
        conn.execute("BEGIN IMMEDIATE")
        try:
            run_id = _insert_run(conn, status="noop", drop_path=drop_label,
                                 data_period=data_period, started=started,
                                 message=f"already loaded as run {repeat}; nothing changed")
            _insert_run_files(conn, run_id, results)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    return LoadResult(drop_name, run_id, False, files=results, data_period=data_period,
                      dry_run=dry_run, repeat_of=repeat, seconds=time.perf_counter() - start)


def _reject(conn: sqlite3.Connection, valid: ValidDrop, report: Path, *, drop_name: str,
            drop_label: str, started: str, rows_read: int, dry_run: bool) -> None:
    report_error = None
    try:
        write_report(report, valid.problems)
    except OSError as exc:
        report_error = exc.strerror or str(exc)
    summary = rejection_summary(drop_name, valid.problems, display_path(report), report_error)
    rejected_rows = valid.problems.dropna(subset=["row"]).drop_duplicates(
        ["file", "sheet", "row"])
    if not dry_run:
        try:
            _record_run(conn, status="rejected", drop_path=drop_label,
                        data_period=valid.data_period, started=started, message=summary,
                        rows_read=rows_read, rows_rejected=len(rejected_rows))
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
            # The problems matter more than the history row: show them, and say why the
            # attempt is missing from the history.
            summary += ("\nThe attempt is not in `aidash etl history`: another writer holds "
                        "the database.")
    raise DropRejected(summary, problems_as_list(valid.problems),
                       display_path(report) if report_error is None else None)


def _write(conn: sqlite3.Connection, stage: bulk.Stage, background: _Background,
           valid: ValidDrop, read: ReadResult, *, drop_name: str, drop_label: str, started: str,
           steps: _Steps) -> LoadResult:
    """Every write of a valid drop, inside the open transaction.

    :param background: the staging thread (the register may be in the stage already).
    """
    source = read.source or {}
    default_provenance = "sample" if str(source.get("provenance", "")).strip().lower() in (
        "sample", "样例", "样本") else "reported"
    run_id = _insert_run(conn, status="running", drop_path=drop_label,
                         data_period=valid.data_period, started=started)
    source_id, source_created = _ensure_source(
        conn, source_row(read.source, drop_name, default_provenance))
    per_table: dict[int, tuple[int, int]] = {}
    specs = stage_specs(valid)
    staged: dict[str, merge.Staged] = {}
    early = background.result("enterprises")
    if early is not None:
        staged["enterprises"] = early
        stage.attach("enterprises")
    for kind, label in (("enterprises", "Staging enterprises"),
                        ("zone_metrics", "Staging zone metrics")):
        if kind in specs and kind not in staged:
            steps.step(label, len(specs[kind][0]))
            staged[kind] = stage_frame(stage, kind, *specs[kind], on_batch=steps.advance)
            stage.attach(kind)
    count_periods = [valid.data_period] if (
        valid.data_period and valid.enterprises is not None) else []
    # The revenue rows are kept for the aggregates, in case they turn out to be the whole of
    # their quarters; the other frames are staged: free them before the merges, whose SQL
    # (page cache, sorts, index builds) needs the memory.
    revenue = (valid.revenue[list(derive.REVENUE_COLUMNS)]
               if valid.revenue is not None else None)
    valid.enterprises = valid.revenue = valid.observations = None
    rev_spec = specs.pop("revenue", None)
    del specs
    # Revenue is staged in the background while this thread merges the register and
    # rebuilds its indexes.
    steps.step("Merging the register" + (", staging revenue" if rev_spec else ""),
               len(rev_spec[0]) if rev_spec else None)
    if rev_spec is not None:
        background.put("revenue", *rev_spec, on_batch=steps.advance)
    del rev_spec
    if "enterprises" in staged:
        per_table.update(merge.merge_enterprises(conn, staged["enterprises"], run_id=run_id,
                                                 source_id=source_id,
                                                 default_provenance=default_provenance))
    if "zone_metrics" in staged:
        merge.merge_observations(conn, staged["zone_metrics"], run_id=run_id,
                                 source_id=source_id)
        # A zone row counts once: updated if any of its values was revised, else inserted
        # if any was new.
        per_table.update(merge.file_counts(conn, """
            SELECT t, sum(NOT changed AND new), sum(changed) FROM (
                SELECT t, row, max(action = 'changed') AS changed,
                       max(action = 'new') AS new
                FROM temp.obs_chg GROUP BY t, row) GROUP BY t"""))
    count_periods += valid.revenue_periods
    # The aggregates' read of the register, while the staging thread may still be busy.
    register = (derive.read_register(conn)
                if valid.revenue_periods or count_periods else None)
    rev_staged = background.result("revenue")
    if rev_staged is not None:
        staged["revenue"] = rev_staged
        stage.attach("revenue")
        if (register is not None and revenue is not None
                and not merge.revenue_stored(conn, valid.revenue_periods)):
            # The drop's rows will be the whole of their quarters: they are summed in the
            # thread while this one inserts them.
            background.run("aggregates", derive.aggregate_rows, register, revenue,
                           valid.revenue_periods, count_periods)
        steps.step("Merging revenue")
        counts, whole = merge.merge_revenue(conn, staged["revenue"], valid.revenue_periods,
                                            run_id=run_id)
        per_table.update(counts)
        if not whole:
            revenue = None
    steps.step("Deriving aggregates")
    base_rows = background.result("aggregates")
    if revenue is None:
        base_rows = None  # computed from the stored rows instead
    derived = derive.refresh_aggregates(conn, run_id, revenue_periods=valid.revenue_periods,
                                        count_periods=count_periods, revenue_rows=revenue,
                                        register=register, base_rows=base_rows)
    del revenue, register, base_rows
    if source_created and not conn.execute(
            """SELECT EXISTS (SELECT 1 FROM observations WHERE source_id = :s)
                   OR EXISTS (SELECT 1 FROM enterprises WHERE source_id = :s)""",
            {"s": source_id}).fetchone()[0]:
        conn.execute("DELETE FROM sources WHERE id = ?", (source_id,))

    results = []
    for ti, table in enumerate(read.tables):
        inserted, updated = per_table.get(ti, (0, 0))
        results.append(FileResult(table.file, table.sheet, table.kind, table.encoding,
                                  table.sha256, table.rows_read, inserted, updated, 0))
    _insert_run_files(conn, run_id, results)
    inserted = sum(r.inserted for r in results)
    updated = sum(r.updated for r in results)
    rows_read = sum(r.rows_read for r in results)
    changed = bool(inserted or updated or derived.inserted or derived.updated)
    message = (f"derived aggregates: {derived.inserted:,} inserted, {derived.updated:,} updated; "
               f"source: {source_row(read.source, drop_name, default_provenance)['title']}")
    conn.execute(
        """UPDATE etl_runs SET status = ?, rows_read = ?, rows_inserted = ?, rows_updated = ?,
               rows_rejected = 0, message = ? WHERE id = ?""",
        ("succeeded" if changed else "noop", rows_read, inserted, updated,
         message if changed else f"no values changed; {message}", run_id))
    return LoadResult(drop_name, run_id, changed, read=rows_read, inserted=inserted,
                      updated=updated, rejected=0, files=results,
                      data_period=valid.data_period, derived_inserted=derived.inserted,
                      derived_updated=derived.updated)
