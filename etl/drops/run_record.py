"""A load's rows in the history: its ``etl_runs`` row, its ``etl_run_files`` rows, and the
repeat check (a drop whose files a run still in force loaded already).

Rejected, failed and repeated attempts are recorded in short transactions of their own; a
load that writes inserts its run row inside its one transaction (``etl.drops.write``).
"""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime

from etl.drops.read import DropFile
from etl.drops.results import FileResult, LoadResult
from etl.transaction import write_transaction


def now_text() -> str:
    """UTC now in the text form SQLAlchemy's SQLite DateTime reads back."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def insert_run(conn: sqlite3.Connection, *, status: str, drop_path: str,
               data_period: str | None, started: str, message: str | None = None,
               rows_read: int = 0, rows_rejected: int = 0) -> int:
    """Insert a drop's ``etl_runs`` row in the caller's transaction; its id.

    :param status: ``running`` (finished later, in the same transaction) leaves
        ``finished_at`` empty; any other status is finished now.
    """
    cur = conn.execute(
        """INSERT INTO etl_runs (kind, started_at, finished_at, status, drop_path, data_period,
               rows_read, rows_inserted, rows_updated, rows_rejected, message)
           VALUES ('drop', ?, ?, ?, ?, ?, ?, 0, 0, ?, ?)""",
        (started, None if status == "running" else now_text(), status, drop_path, data_period,
         rows_read, rows_rejected, message))
    return int(cur.lastrowid or 0)


def record_run(conn: sqlite3.Connection, *, status: str, drop_path: str,
               data_period: str | None, started: str, message: str | None = None,
               rows_read: int = 0, rows_rejected: int = 0) -> int:
    """A run row in its own short transaction (rejected and failed attempts); its id."""
    with write_transaction(conn):
        return insert_run(conn, status=status, drop_path=drop_path, data_period=data_period,
                          started=started, message=message, rows_read=rows_read,
                          rows_rejected=rows_rejected)


def insert_run_files(conn: sqlite3.Connection, run_id: int, files: list[FileResult]) -> None:
    """The ``etl_run_files`` rows of run ``run_id``, in the caller's transaction."""
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


def record_repeat(conn: sqlite3.Connection, files: list[DropFile], repeat: int, *,
                  drop_name: str, drop_label: str, started: str, start: float,
                  dry_run: bool) -> LoadResult:
    """A ``noop`` run for a drop that run ``repeat`` loaded already (none for a dry run).

    :param start: ``time.perf_counter()`` when the load began.
    """
    period = conn.execute("SELECT data_period FROM etl_runs WHERE id = ?", (repeat,)).fetchone()
    data_period = period[0] if period else None
    results = [FileResult(f.name, None, f.kind or "", f.encoding, f.sha256) for f in files]
    run_id = None
    if not dry_run:
        with write_transaction(conn):
            run_id = insert_run(conn, status="noop", drop_path=drop_label,
                                data_period=data_period, started=started,
                                message=f"already loaded as run {repeat}; nothing changed")
            insert_run_files(conn, run_id, results)
    return LoadResult(drop_name, run_id, False, files=results, data_period=data_period,
                      dry_run=dry_run, repeat_of=repeat, seconds=time.perf_counter() - start)
