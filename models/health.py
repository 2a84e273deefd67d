"""Telling a database that is not built yet from one that is damaged.

A missing file or one without tables only needs building. A file that is not an SQLite database,
was truncated (a copy cut short, a full disk) or fails SQLite's quick check holds, or held, loaded
drops: it must be restored from a backup or rebuilt, never reported as "not built yet".

Two levels of cost. Reading the schema touches the first pages only, and SQLite then compares
the page count in the header with the file's size, so truncation shows up there at once. ``PRAGMA
quick_check`` reads every page (about 0.4 s for 500 MB from the page cache) but skips the
index-against-table cross-check of ``integrity_check``: callers run it once per data version
(the dashboard) or once per command (the CLI), never per page view.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from models.db import BUSY_TIMEOUT_MS, read_only_uri
from models.errors import DatabaseDamaged

SQLITE_MAGIC = b"SQLite format 3\x00"
HEADER_BYTES = 100


def damage_reason(exc: BaseException, path: Path | None = None) -> str | None:
    """The reason code if ``exc`` (or the DB-API error an SQLAlchemy error wraps) is SQLite
    saying the file is not a database or is corrupt; None for any other error (locked, I/O,
    SQL), which is not evidence of damage.

    :param path: the database file, read to tell a truncated file from other corruption.
    """
    orig = getattr(exc, "orig", None) or exc
    code = getattr(orig, "sqlite_errorcode", None)
    if not isinstance(orig, sqlite3.DatabaseError) or code is None:
        return None
    primary = code & 0xFF  # extended codes (SQLITE_CORRUPT_VTAB, ...) keep the primary below
    if primary == sqlite3.SQLITE_NOTADB:
        return "not_a_database"
    if primary == sqlite3.SQLITE_CORRUPT:
        return "truncated" if path is not None and is_truncated(path) else "malformed"
    return None


def is_truncated(path: Path) -> bool:
    """Whether ``path`` starts as an SQLite file but is shorter than its header says.

    Only a diagnosis after SQLite has reported corruption: in WAL mode a checkpoint may write the
    header before the pages that extend the file, so a reader alone must not conclude from it.
    """
    try:
        with path.open("rb") as fh:
            header = fh.read(HEADER_BYTES)
        size = path.stat().st_size
    except OSError:
        return False
    if not header.startswith(SQLITE_MAGIC):
        return False
    if len(header) < HEADER_BYTES:
        return True
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65_536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    counted = header[24:28] == header[92:96]  # the page count is valid for this version
    return counted and pages * page_size > size


def diagnose(conn: sqlite3.Connection, path: Path, *, quick_check: bool) -> str | None:
    """The damage reason code of the database ``conn`` has open at ``path``, or None.

    :param quick_check: also run ``PRAGMA quick_check`` (reads every page); otherwise only the
        schema is read.
    :raises sqlite3.Error: any error that is not evidence of damage (a lock, say).
    """
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        if quick_check and conn.execute("PRAGMA quick_check").fetchall() != [("ok",)]:
            return "check_failed"
    except sqlite3.DatabaseError as exc:
        reason = damage_reason(exc, path)
        if reason is None:
            raise
        return reason
    return None


def require_intact(path: Path) -> None:
    """Raise unless the existing file ``path`` reads as a whole SQLite database (schema and
    quick check), opening it read-only so a damaged file is never written to.

    :raises DatabaseDamaged: with the reason.
    """
    conn = sqlite3.connect(read_only_uri(path), uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        reason = diagnose(conn, path, quick_check=True)
    finally:
        conn.close()
    if reason is not None:
        raise DatabaseDamaged(str(path), reason)


def file_stamp(path: Path) -> tuple[int, int, int]:
    """Size, modification time and inode of ``path``: a replaced or cut file changes it, so a
    cached quick check keyed on it is run again."""
    st = path.stat()
    return (st.st_size, st.st_mtime_ns, st.st_ino)
