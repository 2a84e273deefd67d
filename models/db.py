"""Engine construction and schema creation.

Everything else receives an engine as an argument; nothing in the project keeps a global one.
Bringing a database built by an earlier version up to date is ``models/migrations.py``.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import QueuePool
from sqlmodel import SQLModel, create_engine

from models import dialect, tables

ENV_VAR = "AIDASH_DATABASE_URL"
DEFAULT_DB_PATH = Path("data/ai_industry.db")
# Readers wait this long for a writer's lock instead of failing at once (WAL makes it rare).
BUSY_TIMEOUT_MS = 30_000
# Bytes per database page, for a new database file (an existing file keeps its own). Against
# SQLite's default of 4096, a quarter as many pages to write, index and checkpoint: the first
# load of a million firms is about a tenth quicker.
PAGE_SIZE = 16_384
# Read-only connections kept open for reuse. The dashboard runs every page view in a new
# thread; without a shared pool each view opened (and parsed the schema of) a new connection.
# Beyond the kept ones, up to READ_POOL_OVERFLOW more open under load and close when returned.
READ_POOL_SIZE = 8
READ_POOL_OVERFLOW = 32


def resolve_url(db: str | os.PathLike[str] | None = None) -> str:
    """Return an SQLAlchemy URL for ``db`` (a path or URL), ``$AIDASH_DATABASE_URL`` or the default.

    A path becomes an ``sqlite:///`` URL with ``?``, ``#`` and ``%`` percent-quoted, so a file
    named ``a?b.db`` stays that file instead of ``a`` with a query string.

    :param db: a filesystem path to an SQLite file, or any SQLAlchemy URL.
    """
    if db is None or str(db) == "":
        db = os.environ.get(ENV_VAR) or DEFAULT_DB_PATH
    db = str(db)
    if db.startswith(("postgresql://", "postgres://")):
        # psycopg (3) is the driver installed; SQLAlchemy's default would be psycopg2.
        return "postgresql+psycopg://" + db.split("://", 1)[1]
    if "://" in db:
        return db
    return URL.create("sqlite", database=db).render_as_string(hide_password=False)


def sqlite_path(url: str | URL) -> Path | None:
    """The file path behind an SQLite URL, or None for in-memory, ``file:`` URI and non-SQLite
    URLs. Any driver spelling counts (``sqlite://``, ``sqlite+pysqlite://``); the path is
    SQLAlchemy's parse of the URL, percent-escapes decoded."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database
    if database in (None, "", ":memory:") or parsed.query.get("uri") == "true":
        return None
    return Path(database)


def _set_sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.close()


def _set_query_only(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    # A second lock besides mode=ro: it also holds for URLs that cannot carry mode=ro (a
    # ``file:`` URI with ``uri=true``, memory).
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA query_only=ON")
    cur.close()


def make_engine(db: str | os.PathLike[str] | None = None, *, read_only: bool = False) -> Engine:
    """Create an engine for ``db``; SQLite files get WAL, foreign keys and a busy timeout.

    :param db: path or SQLAlchemy URL; ``None`` means ``$AIDASH_DATABASE_URL`` or
        ``data/ai_industry.db``.
    :param read_only: open an SQLite file with ``mode=ro`` and ``PRAGMA query_only=ON`` on
        every connection (the dashboard never writes), whatever the URL's driver spelling.
    """
    url = resolve_url(db)
    path = sqlite_path(url)
    if path is not None and read_only:
        # The URI form lets sqlite3 open the file read-only; WAL readers still see
        # committed state only, never a half-written load.
        # One pool shared by all threads (a file URL would get SQLAlchemy's per-thread pool
        # for "sqlite://" here, since the URL names no file).
        engine = create_engine(
            "sqlite://",
            creator=lambda: _connect_ro(path),
            poolclass=QueuePool, pool_size=READ_POOL_SIZE, max_overflow=READ_POOL_OVERFLOW,
        )
    elif dialect.is_postgres(url):
        return _postgres_engine(url, read_only=read_only)
    else:
        engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _set_sqlite_pragmas)
        if read_only:
            event.listen(engine, "connect", _set_query_only)
        if path is not None and not read_only:
            with engine.connect() as conn:
                conn.exec_driver_sql(f"PRAGMA page_size={PAGE_SIZE}")  # new files only
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    return engine


def _postgres_engine(url: str, *, read_only: bool) -> Engine:
    """A PostgreSQL engine: the shared SQL rewritten (``models.dialect``) on its way to the
    server; a read-only engine's sessions default to read-only transactions, so even a bug
    in a page cannot write (the README's read-only role is the second lock)."""
    engine = create_engine(url, pool_pre_ping=True)

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def _rewrite(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        return dialect.to_postgres(statement), parameters

    if read_only:
        @event.listens_for(engine, "connect")
        def _read_only(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            autocommit = dbapi_conn.autocommit
            dbapi_conn.autocommit = True
            dbapi_conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            dbapi_conn.autocommit = autocommit
    return engine


def read_only_uri(path: Path) -> str:
    """The ``file:`` URI that opens ``path`` read-only: the absolute path percent-quoted
    (``Path.as_uri`` quotes with :func:`urllib.parse.quote`), so ``#``, ``?`` and ``%`` in a
    file name are part of the name, never a fragment or a second query."""
    return f"{path.resolve().as_uri()}?mode=ro"


def _connect_ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(read_only_uri(path), uri=True, check_same_thread=False)


def create_db_and_tables(engine: Engine) -> None:
    """Create every table, index and view that does not exist yet."""
    pg = dialect.is_postgres(engine)
    if pg:
        with engine.begin() as conn:
            for ddl in dialect.PG_FUNCTIONS:
                conn.exec_driver_sql(ddl)
    SQLModel.metadata.create_all(engine)
    if pg:
        _drop_bulk_foreign_keys(engine)
    with engine.begin() as conn:
        for ddl in tables.VIEWS:
            if pg:
                ddl = ddl.replace("CREATE VIEW IF NOT EXISTS", "CREATE OR REPLACE VIEW")
            conn.execute(text(ddl))


def _drop_bulk_foreign_keys(engine: Engine) -> None:
    """On PostgreSQL, the foreign keys of :data:`models.dialect.PG_UNDECLARED_FOREIGN_KEYS`
    (see there why)."""
    with engine.begin() as conn:
        for table in dialect.PG_UNDECLARED_FOREIGN_KEYS:
            names = conn.exec_driver_sql(
                "SELECT conname FROM pg_constraint WHERE contype = 'f' "
                f"AND conrelid = CAST('{table}' AS regclass)").scalars().all()
            for name in names:
                conn.exec_driver_sql(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')


def drop_db_and_tables(engine: Engine) -> None:
    """Drop every view and table :func:`create_db_and_tables` makes (``aidash init --force``
    and ``aidash copy --force`` on PostgreSQL, where a database is not a file to replace)."""
    with engine.begin() as conn:
        for ddl in tables.VIEWS:
            name = ddl.split(" AS", 1)[0].split()[-1]
            conn.exec_driver_sql(f"DROP VIEW IF EXISTS {name}")
        SQLModel.metadata.drop_all(conn)
