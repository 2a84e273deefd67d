"""The write transaction every writer opens (etl.transaction), on its own."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from etl.transaction import busy_writer, database_name, driver_connection, write_transaction
from models import db as db_module
from models.db import make_engine
from models.errors import DatabaseBusy


@pytest.fixture
def db(tmp_path: Path) -> Engine:
    engine = make_engine(tmp_path / "t.db")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (a INTEGER)"))
    return engine


def _rows(engine: Engine) -> list[tuple]:
    with sqlite3.connect(database_name(engine)) as conn:
        return conn.execute("SELECT a FROM t ORDER BY a").fetchall()


def test_a_block_that_ends_is_committed_and_one_that_raises_rolled_back(db: Engine) -> None:
    with driver_connection(db) as conn:
        with write_transaction(conn):
            assert conn.in_transaction
            conn.execute("INSERT INTO t VALUES (1)")
        assert not conn.in_transaction
        with pytest.raises(ValueError), write_transaction(conn):
            conn.execute("INSERT INTO t VALUES (2)")
            raise ValueError("no")
        assert not conn.in_transaction
    assert _rows(db) == [(1,)]


def test_a_block_may_end_the_transaction_itself(db: Engine) -> None:
    with driver_connection(db) as conn:
        with write_transaction(conn):
            conn.execute("INSERT INTO t VALUES (1)")
            conn.rollback()  # a dry run
            conn.execute("BEGIN IMMEDIATE")  # another transaction of its own, committed
            conn.execute("INSERT INTO t VALUES (2)")
            conn.commit()
        with pytest.raises(ValueError), write_transaction(conn):
            conn.execute("INSERT INTO t VALUES (3)")
            conn.commit()
            raise ValueError("after the commit")
    assert _rows(db) == [(2,), (3,)]


def test_an_sqlalchemy_connection_gets_the_same_transaction(db: Engine) -> None:
    with db.connect() as conn, write_transaction(conn):
        conn.execute(text("INSERT INTO t VALUES (1)"))
    with pytest.raises(ValueError), db.connect() as conn, write_transaction(conn):
        conn.execute(text("INSERT INTO t VALUES (2)"))
        raise ValueError("no")
    assert _rows(db) == [(1,)]


def test_driver_connection_leaves_no_transaction_open(db: Engine) -> None:
    with driver_connection(db) as conn:
        conn.execute("BEGIN")
        conn.execute("INSERT INTO t VALUES (1)")
    with driver_connection(db) as conn:  # the pool's connection, its leftover rolled back
        assert not conn.in_transaction
    assert _rows(db) == []


def test_a_held_write_lock_is_one_line(db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db_module, "BUSY_TIMEOUT_MS", 50)
    db.dispose()  # pooled connections keep the long timeout
    other = sqlite3.connect(database_name(db), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with (pytest.raises(DatabaseBusy) as info,
              busy_writer(db, "nothing was written", "run it again"),
              driver_connection(db) as conn, write_transaction(conn)):
            conn.execute("INSERT INTO t VALUES (1)")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert str(info.value) == (
        f"another writer holds the database {database_name(db)} (a load, rollback or forecast "
        "refresh that is still running) and did not release it within 0.05 s; nothing was "
        "written. Wait for the other job to finish, then run it again.")
    assert _rows(db) == []
