"""Engine construction and schema creation.

Everything else receives an engine as an argument; nothing in the project keeps a global one.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlmodel import SQLModel, create_engine

from models import tables

ENV_VAR = "AIDASH_DATABASE_URL"
DEFAULT_DB_PATH = Path("data/ai_industry.db")
# Readers wait this long for a writer's lock instead of failing at once (WAL makes it rare).
BUSY_TIMEOUT_MS = 30_000
# Bytes per database page, for a new database file (an existing file keeps its own). Against
# SQLite's default of 4096, a quarter as many pages to write, index and checkpoint: the first
# load of a million firms is about a tenth quicker.
PAGE_SIZE = 16_384


def resolve_url(db: str | os.PathLike[str] | None = None) -> str:
    """Return an SQLAlchemy URL for ``db`` (a path or URL), ``$AIDASH_DATABASE_URL`` or the default.

    A path becomes an ``sqlite:///`` URL with ``?``, ``#`` and ``%`` percent-quoted, so a file
    named ``a?b.db`` stays that file instead of ``a`` with a query string.

    :param db: a filesystem path to an SQLite file, or any SQLAlchemy URL.
    """
    if db is None or str(db) == "":
        db = os.environ.get(ENV_VAR) or DEFAULT_DB_PATH
    db = str(db)
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
        engine = create_engine(
            "sqlite://",
            creator=lambda: _connect_ro(path),
        )
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


def read_only_uri(path: Path) -> str:
    """The ``file:`` URI that opens ``path`` read-only: the absolute path percent-quoted
    (``Path.as_uri`` quotes with :func:`urllib.parse.quote`), so ``#``, ``?`` and ``%`` in a
    file name are part of the name, never a fragment or a second query."""
    return f"{path.resolve().as_uri()}?mode=ro"


def _connect_ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(read_only_uri(path), uri=True, check_same_thread=False)


def create_db_and_tables(engine: Engine) -> None:
    """Create every table, index and view that does not exist yet."""
    SQLModel.metadata.create_all(engine)
    with engine.begin() as conn:
        for ddl in tables.VIEWS:
            conn.execute(text(ddl))


def upgrade(engine: Engine) -> list[str]:
    """Bring a database built by an earlier version in line with ``models/tables.py``: the
    revenue table's layout (:func:`split_revenue_versions`), the columns added since
    (:func:`add_missing_columns`), then the indexes (:func:`sync_indexes`). Loads and rollbacks
    call it first; it changes nothing on a database that is up to date.

    :returns: what it changed (table, ``table.column`` and index names).
    """
    changed = ["enterprise_revenue"] if split_revenue_versions(engine) else []
    return changed + add_missing_columns(engine) + sync_indexes(engine)


def add_missing_columns(engine: Engine) -> list[str]:
    """Add to existing tables the columns ``models/tables.py`` has gained since the database
    was built (``metrics.comparable_group``, ``observations.scope_relation`` …). Such columns
    are nullable or have a default, so ``ALTER TABLE … ADD COLUMN`` is enough and existing
    rows keep their values; the views select ``*`` and pick the columns up.

    :returns: the ``table.column`` names added (none when all are present).
    """
    from sqlalchemy.schema import CreateColumn

    added: list[str] = []
    with engine.begin() as conn:
        present = {name for (name,) in conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table in SQLModel.metadata.sorted_tables:
            if table.name not in present:
                continue
            stored = {row[1] for row in conn.exec_driver_sql(
                f'PRAGMA table_info("{table.name}")')}
            for column in table.columns:
                if column.name in stored:
                    continue
                ddl = str(CreateColumn(column).compile(dialect=engine.dialect)).strip()
                conn.exec_driver_sql(f'ALTER TABLE "{table.name}" ADD COLUMN {ddl}')
                added.append(f"{table.name}.{column.name}")
    return added


def split_revenue_versions(engine: Engine) -> bool:
    """Move an earlier version's revenue table, which kept every vintage in one rowid table
    (``id``, ``superseded_by``), to the current layout: current rows in ``enterprise_revenue``
    keyed on (period, credit code), revised ones in ``enterprise_revenue_versions``. One
    transaction: a failure leaves the old table as it was.

    :returns: whether there was anything to move.
    """
    from sqlalchemy.schema import CreateIndex, CreateTable

    raw = engine.raw_connection()
    conn: sqlite3.Connection = raw.driver_connection  # type: ignore[assignment]
    try:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(enterprise_revenue)")}
        if "superseded_by" not in columns:
            return False
        if conn.in_transaction:
            conn.rollback()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("ALTER TABLE enterprise_revenue RENAME TO enterprise_revenue_old")
            for name, in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                    "AND tbl_name = 'enterprise_revenue_old'").fetchall():
                conn.execute(f'DROP INDEX "{name}"')
            for model in (tables.EnterpriseRevenue, tables.EnterpriseRevenueVersion):
                table = model.__table__  # type: ignore[union-attr]
                if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                (table.name,)).fetchone():
                    continue
                conn.execute(str(CreateTable(table).compile(dialect=engine.dialect)))
                for index in table.indexes:
                    conn.execute(str(CreateIndex(index).compile(dialect=engine.dialect)))
            conn.execute(f"""INSERT INTO enterprise_revenue ({tables.REVENUE_COLUMNS})
                SELECT {tables.REVENUE_COLUMNS} FROM enterprise_revenue_old
                WHERE superseded_by IS NULL ORDER BY period, credit_code""")
            conn.execute(f"""INSERT INTO enterprise_revenue_versions ({tables.REVENUE_COLUMNS},
                                 superseded_by)
                SELECT {tables.REVENUE_COLUMNS}, superseded_by FROM enterprise_revenue_old
                WHERE superseded_by IS NOT NULL ORDER BY id""")
            conn.execute("DROP TABLE enterprise_revenue_old")
            for ddl in tables.VIEWS:
                conn.execute(ddl)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        return True
    finally:
        raw.close()


def _normalised(sql: str) -> str:
    return " ".join(sql.replace("(", " ( ").replace(")", " ) ").split()).lower()


def sync_indexes(engine: Engine) -> list[str]:
    """Bring the indexes of an existing database in line with ``models/tables.py``: create
    missing ones, rebuild those whose definition changed (e.g. a narrower covering index).
    Indexes are the one part of the schema that can change without ``aidash init --force``.

    :returns: the names of the indexes created or rebuilt (none when all match).
    """
    from sqlalchemy.schema import CreateIndex

    changed: list[str] = []
    with engine.begin() as conn:
        stored: dict[str, str] = dict(conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        ).all())
        present = {name for (name,) in conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table in SQLModel.metadata.sorted_tables:
            if table.name not in present:
                continue
            for index in sorted(table.indexes, key=lambda i: str(i.name)):
                ddl = str(CreateIndex(index).compile(dialect=engine.dialect)).strip()
                old = stored.get(str(index.name))
                if old is not None and _normalised(old) == _normalised(ddl):
                    continue
                if old is not None:
                    conn.exec_driver_sql(f'DROP INDEX "{index.name}"')
                conn.exec_driver_sql(ddl)
                changed.append(str(index.name))
    return changed
