"""Domain errors. The CLI and the pages show these as one line; anything else is a bug."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from models.problems import Problem


class AidashError(Exception):
    """Base class of every error a user can cause and fix; its message says what to do next."""


class CellError(AidashError):
    """One cell of a bundled data file is invalid; the message names file, row and column.

    :param file: the file's name as the user knows it (``zones.csv``).
    :param row: 1-based row as a spreadsheet shows it (the header is row 1).
    :param column: the offending column.
    :param reason: what is wrong and what to do.
    """

    def __init__(self, file: str, row: int, column: str, reason: str):
        super().__init__(f"{file}, row {row}, column {column}: {reason}")
        self.file = file
        self.row = row
        self.column = column
        self.reason = reason


class DatabaseMissing(AidashError):
    """The database file does not exist or has no tables yet."""


class DropRejected(AidashError):
    """A drop failed validation; nothing was written.

    :param summary: the short text printed by the CLI.
    :param problems: every problem found (file, sheet, row, column, value, reason).
    :param report_path: where the rejection report CSV was written, if anywhere.
    """

    def __init__(self, summary: str, problems: list[Problem], report_path: str | None = None):
        super().__init__(summary)
        self.summary = summary
        self.problems = problems
        self.report_path = report_path


class RunNotFound(AidashError):
    """No ETL run has the given id."""



class DatabaseBusy(AidashError):
    """Another connection held the database's write lock for longer than the busy timeout
    (another load, rollback or forecast refresh); this command wrote nothing."""


def is_busy(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's "database is locked" (SQLITE_BUSY), raised by sqlite3 or
    wrapped by SQLAlchemy."""
    orig = getattr(exc, "orig", None) or exc
    if getattr(orig, "sqlstate", None) == "55P03":  # PostgreSQL: lock_not_available
        return True
    if not isinstance(orig, sqlite3.OperationalError):
        return False
    code = getattr(orig, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF == sqlite3.SQLITE_BUSY
    return "database is locked" in str(orig)


def _pg_errors() -> tuple[type[Exception], ...]:
    """psycopg's lock timeout, when psycopg is installed."""
    try:
        from psycopg.errors import LockNotAvailable
    except ImportError:
        return ()
    return (LockNotAvailable,)


_PG_ERRORS: tuple[type[Exception], ...] = _pg_errors()


@contextmanager
def busy_as_error(database: str, undone: str, retry: str) -> Iterator[None]:
    """Turn SQLite's "database is locked" inside the block into :class:`DatabaseBusy`.

    :param database: the database as the user named it.
    :param undone: what therefore did not happen ("nothing was loaded").
    :param retry: what to run again once the other writer is done ("run the load again").
    :raises DatabaseBusy: "another writer holds the database …; nothing was loaded. Wait …".
    """
    from sqlalchemy.exc import OperationalError

    try:
        yield
    except Exception as exc:
        if not isinstance(exc, (sqlite3.OperationalError, OperationalError, *_PG_ERRORS)) \
                or not is_busy(exc):
            raise
        from models.db import BUSY_TIMEOUT_MS

        raise DatabaseBusy(
            f"another writer holds the database {database} (a load, rollback or forecast "
            f"refresh that is still running) and did not release it within "
            f"{BUSY_TIMEOUT_MS / 1000:g} s; {undone}. Wait for the other job to finish, then "
            f"{retry}.") from exc


class DatabaseDamaged(AidashError):
    """The database file exists but SQLite cannot read it whole: it is not an SQLite database,
    it was truncated, or its quick check fails. Unlike :class:`DatabaseMissing`, rebuilding is
    not the only way out (it discards loaded drops), so the message offers a backup first.

    :param path: the database file.
    :param reason: a key of :data:`DAMAGE_REASONS`; pages translate it (``errors.damaged_<reason>``).
    """

    def __init__(self, path: str, reason: str):
        super().__init__(f"database {path} is damaged ({DAMAGE_REASONS[reason]}); restore it from "
                         "a backup, or rebuild it with `aidash init --force` (which discards "
                         "loaded drops)")
        self.path = path
        self.reason = reason


# Why a database counts as damaged, as the CLI says it.
DAMAGE_REASONS = {
    "not_a_database": "the file is not an SQLite database",
    "truncated": "the file is shorter than its header says: it was cut off",
    "malformed": "SQLite reports that the database disk image is malformed",
    "check_failed": "SQLite's quick check found errors",
}
