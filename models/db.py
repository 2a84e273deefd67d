"""Engine construction and schema creation.

Everything else receives an engine as an argument; nothing in the project keeps a global one.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, create_engine

from models import tables

ENV_VAR = "AIDASH_DATABASE_URL"
DEFAULT_DB_PATH = Path("data/ai_industry.db")
# Readers wait this long for a writer's lock instead of failing at once (WAL makes it rare).
BUSY_TIMEOUT_MS = 30_000


def resolve_url(db: str | os.PathLike[str] | None = None) -> str:
    """Return an SQLAlchemy URL for ``db`` (a path or URL), ``$AIDASH_DATABASE_URL`` or the default.

    :param db: a filesystem path to an SQLite file, or any SQLAlchemy URL.
    """
    if db is None or str(db) == "":
        db = os.environ.get(ENV_VAR) or DEFAULT_DB_PATH
    db = str(db)
    if "://" in db:
        return db
    return f"sqlite:///{db}"


def sqlite_path(url: str) -> Path | None:
    """The file path behind an SQLite URL, or None for in-memory and non-SQLite URLs."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return None
    path = url[len(prefix) :].split("?", 1)[0]
    if path in ("", ":memory:"):
        return None
    return Path(path)


def _set_sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.close()


def make_engine(db: str | os.PathLike[str] | None = None, *, read_only: bool = False) -> Engine:
    """Create an engine for ``db``; SQLite files get WAL, foreign keys and a busy timeout.

    :param db: path or SQLAlchemy URL; ``None`` means ``$AIDASH_DATABASE_URL`` or
        ``data/ai_industry.db``.
    :param read_only: open an SQLite file with ``mode=ro`` (the dashboard never writes).
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
        if path is not None and not read_only:
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    return engine


def _connect_ro(path: Path):  # type: ignore[no-untyped-def]
    import sqlite3

    return sqlite3.connect(
        f"file:{path.resolve().as_posix()}?mode=ro", uri=True, check_same_thread=False
    )


def create_db_and_tables(engine: Engine) -> None:
    """Create every table, index and view that does not exist yet."""
    SQLModel.metadata.create_all(engine)
    with engine.begin() as conn:
        for ddl in tables.VIEWS:
            conn.execute(text(ddl))


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
