"""models/db.py: a read-only engine cannot write, whatever the URL's spelling or the file's name.

Regression (issue 10): ``sqlite+pysqlite:///…`` and paths holding ``#`` or ``?`` opened the
database read-write, and a ``#`` path created a stray file named after the part before it.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError

from models.db import make_engine, read_only_uri, resolve_url, sqlite_path

# File names a user may well have: each character once meant something else in a URL or URI.
NAMES = ["plain.db", "a#b.db", "a?b.db", "100%.db", "two words.db", "上海人工智能.db",
         "all #?% 中文 mixed.db"]
# How a caller may name the file: a path, a str path, and URLs in every dialect+driver spelling.
FORMS: dict[str, Callable[[Path], object]] = {
    "path": lambda p: p,
    "str": str,
    "sqlite": lambda p: URL.create("sqlite", database=str(p)).render_as_string(),
    "sqlite+pysqlite": lambda p: URL.create("sqlite+pysqlite",
                                            database=str(p)).render_as_string(),
}
WRITES = ["INSERT INTO t (a) VALUES (2)", "CREATE TABLE u (b INTEGER)", "PRAGMA user_version = 7",
          "DELETE FROM t", "DROP TABLE t"]


def _build(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    with conn:
        conn.execute("CREATE TABLE t (a INTEGER)")
        conn.execute("INSERT INTO t (a) VALUES (1)")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _snapshot(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.is_file()}


def _unchanged(folder: Path, db: Path, before: dict[str, str]) -> None:
    """The database's bytes are as they were and nothing new sits beside it but SQLite's own
    WAL companions (a reader of a WAL database opens the shared-memory file), the log empty."""
    after = _snapshot(folder)
    assert after[db.name] == before[db.name]
    assert set(after) - set(before) <= {f"{db.name}-wal", f"{db.name}-shm"}
    wal = Path(f"{db}-wal")
    assert not wal.exists() or wal.stat().st_size == 0


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("name", NAMES)
def test_every_write_through_every_url_form_fails(tmp_path: Path, name: str, form: str) -> None:
    folder = tmp_path / "dir #?%"
    folder.mkdir()
    db = folder / name
    _build(db)
    before = _snapshot(folder)
    engine = make_engine(FORMS[form](db), read_only=True)  # type: ignore[arg-type]
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT a FROM t")).scalar_one() == 1
            assert conn.exec_driver_sql("PRAGMA query_only").scalar_one() == 1
        for sql in WRITES:
            with engine.connect() as conn, pytest.raises(OperationalError) as info:
                conn.exec_driver_sql(sql)
                conn.commit()
            assert str(info.value.orig) == "attempt to write a readonly database", sql
    finally:
        engine.dispose()
    _unchanged(folder, db, before)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir #?%"]


def test_mode_ro_holds_even_with_query_only_switched_off(tmp_path: Path) -> None:
    """Two locks: switching ``query_only`` off on a connection still leaves ``mode=ro``."""
    db = tmp_path / "a#b.db"
    _build(db)
    before = _snapshot(tmp_path)
    engine = make_engine(f"sqlite+pysqlite:///{tmp_path}/a%23b.db", read_only=True)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA query_only=OFF")
        with pytest.raises(OperationalError) as info:
            conn.exec_driver_sql("INSERT INTO t (a) VALUES (3)")
    engine.dispose()
    assert str(info.value.orig) == "attempt to write a readonly database"
    _unchanged(tmp_path, db, before)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a#b.db", "a#b.db-shm", "a#b.db-wal"]


def test_a_missing_file_is_not_created(tmp_path: Path) -> None:
    engine = make_engine(tmp_path / "no#such?file.db", read_only=True)
    with pytest.raises(OperationalError) as info:
        engine.connect()
    engine.dispose()
    assert str(info.value.orig) == "unable to open database file"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("db", "path"), [
    ("data/x.db", Path("data/x.db")),
    ("/srv/a?b#c%d 中.db", Path("/srv/a?b#c%d 中.db")),
    ("sqlite:///rel.db", Path("rel.db")),
    ("sqlite+pysqlite:////srv/a%23b.db", Path("/srv/a#b.db")),
    ("sqlite:////srv/x.db?timeout=5", Path("/srv/x.db")),
    ("sqlite://", None),
    ("sqlite:///:memory:", None),
    ("sqlite:///file:x.db?mode=ro&uri=true", None),
    ("postgresql://u@h/db", None),
])
def test_sqlite_path_is_sqlalchemys_parse(db: str, path: Path | None) -> None:
    assert sqlite_path(resolve_url(db)) == path


def test_read_only_uri_quotes_the_whole_path(tmp_path: Path) -> None:
    uri = read_only_uri(tmp_path / "a#b?c%d e中.db")
    assert uri == f"file://{tmp_path}/a%23b%3Fc%25d%20e%E4%B8%AD.db?mode=ro"


def test_threads_share_one_pool_of_read_only_connections(tmp_path: Path) -> None:
    """Each dashboard page view runs in a new thread; a connection per thread meant opening a
    new one (and parsing the schema) on every view (issue 12, capacity). The read-only engine
    hands the connection one thread returned to the next thread, and it is still read-only."""
    import threading

    db = tmp_path / "plain.db"
    _build(db)
    engine = make_engine(db, read_only=True)
    seen: list[int] = []
    refused: list[str] = []

    def view() -> None:
        with engine.connect() as conn:
            seen.append(id(conn.connection.dbapi_connection))
            try:
                conn.execute(text("INSERT INTO t (a) VALUES (2)"))
            except OperationalError as exc:
                refused.append(str(exc.orig))

    for _ in range(3):
        thread = threading.Thread(target=view)
        thread.start()
        thread.join()
    engine.dispose()
    assert len(seen) == 3 and len(set(seen)) == 1
    assert refused == ["attempt to write a readonly database"] * 3
