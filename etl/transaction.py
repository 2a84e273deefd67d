"""Write transactions: the one place a writer opens, commits and rolls back its transaction.

Every writer (a drop load, a rollback, a forecast refresh) writes in ``BEGIN IMMEDIATE``
transactions: the write lock is taken when the transaction begins, so a second writer waits
(the busy timeout, ``models.db.BUSY_TIMEOUT_MS``) before it has done anything, instead of
failing half way when its read transaction cannot be upgraded to a write. A lock still held
when the wait ends becomes :class:`~models.errors.DatabaseBusy`, a one-line error saying what
did not happen and what to run again (:func:`busy_writer`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TypeVar

from sqlalchemy.engine import Connection, Engine

from models.dialect import PgConnection, is_postgres, lock_for_writing
from models.errors import busy_as_error

_Conn = TypeVar("_Conn", sqlite3.Connection, Connection)


def database_name(engine: Engine) -> str:
    """The database as the user named it (its path), for messages."""
    return engine.url.database or str(engine.url)


def busy_writer(engine: Engine, undone: str, retry: str) -> AbstractContextManager[None]:
    """Turn "database is locked" inside the block into :class:`~models.errors.DatabaseBusy`.

    :param undone: what therefore did not happen ("nothing was loaded").
    :param retry: what to run again once the other writer is done ("run the load again").
    """
    return busy_as_error(database_name(engine), undone, retry)


@contextmanager
def driver_connection(engine: Engine) -> Iterator[sqlite3.Connection]:
    """The engine's own sqlite3 connection (from its pool), outside any transaction, handed
    back to the pool when the block ends. On PostgreSQL, the psycopg connection behind a
    :class:`models.dialect.PgConnection`, which speaks the same interface."""
    raw = engine.raw_connection()
    try:
        if is_postgres(engine):
            from models.db import BUSY_TIMEOUT_MS

            driver = raw.driver_connection
            driver.rollback()  # type: ignore[union-attr]
            pg = PgConnection(driver, lock_timeout_ms=BUSY_TIMEOUT_MS)
            try:
                yield pg  # type: ignore[misc]
            finally:
                if pg.in_transaction:
                    pg.rollback()
                driver.autocommit = False  # type: ignore[union-attr]
            return
        conn: sqlite3.Connection = raw.driver_connection  # type: ignore[assignment]
        if conn.in_transaction:
            conn.rollback()
        yield conn
    finally:
        raw.close()


@contextmanager
def write_transaction(conn: _Conn, *, immediate: bool = True) -> Iterator[_Conn]:
    """``BEGIN IMMEDIATE`` on ``conn``; committed when the block ends, rolled back if it raises.

    The block may end the transaction itself (a commit it wants to time, a rollback of a dry
    run or a rejected drop): what it left is then left as it is.

    :param conn: an sqlite3 connection, or an SQLAlchemy connection to SQLite; outside any
        transaction.
    :param immediate: take the write lock now; ``False`` begins a deferred transaction (a dry
        run, which only reads and is rolled back).
    """
    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"
    if isinstance(conn, Connection) and conn.dialect.name == "postgresql":
        conn.rollback()  # SQLAlchemy begins by itself: a fresh transaction, then the lock
        if immediate:
            from models.db import BUSY_TIMEOUT_MS

            lock_for_writing(conn, BUSY_TIMEOUT_MS)
    elif isinstance(conn, Connection):
        conn.exec_driver_sql(begin)
    else:
        conn.execute(begin)
    try:
        yield conn
    except BaseException:
        if _in_transaction(conn):
            conn.rollback()
        raise
    if _in_transaction(conn):
        conn.commit()


def _in_transaction(conn: sqlite3.Connection | Connection) -> bool:
    if not isinstance(conn, Connection):
        return conn.in_transaction
    if conn.dialect.name == "postgresql":
        return conn.in_transaction()
    # SQLAlchemy's own flag says only that it began one; the driver knows whether SQLite
    # still has it open (a block may have committed it through the driver).
    raw = conn.connection.driver_connection
    return bool(conn.in_transaction() and raw is not None and raw.in_transaction)
