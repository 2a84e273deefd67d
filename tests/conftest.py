"""Shared fixtures: a fresh SQLite file per test, and one with the reference geography loaded."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from models.db import create_db_and_tables, make_engine

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def pytest_report_header(config: pytest.Config) -> str:
    return f"sqlite {sqlite3.sqlite_version}"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Path of a database file that does not exist yet."""
    return tmp_path / "test.db"


@pytest.fixture
def engine(db_path: Path) -> Iterator[Engine]:
    """A real SQLite file with every table created and nothing in it."""
    eng = make_engine(db_path)
    create_db_and_tables(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def geo_engine(engine: Engine) -> Engine:
    """The database with districts, segments and zones loaded from ``data/``."""
    from etl.geography import load_geography

    load_geography(engine, DATA_DIR)
    return engine
