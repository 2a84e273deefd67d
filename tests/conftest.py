"""Shared fixtures: a fresh SQLite file per test, and one with the reference geography loaded.

The databases are built once per session (per xdist worker) and copied for each test: an
empty schema, the geography, and the geography plus the base drop ``good/2025Q1``. A copy
takes a millisecond where building takes up to a second, and it holds the same rows.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from models.db import create_db_and_tables, make_engine

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def pytest_report_header(config: pytest.Config) -> str:
    return f"sqlite {sqlite3.sqlite_version}"


@pytest.fixture(autouse=True)
def audit_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test's audit trail goes to its own file (the dashboard appends sign-ins,
    refusals and exports to ``$AIDASH_AUDIT_LOG``), never to the project's data folder."""
    path = tmp_path / "audit.jsonl"
    monkeypatch.setenv("AIDASH_AUDIT_LOG", str(path))
    return path


def _checkpointed(engine: Engine) -> None:
    """Fold the write-ahead log into the file and close it, so the file alone is the copy."""
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()


def _restore(engine: Engine, template: Path) -> None:
    """Replace the database of ``engine`` by a copy of ``template`` (SQLite's backup API, so
    the file, its engine and any fixture holding them stay the same objects)."""
    engine.dispose()
    with closing(sqlite3.connect(template)) as src, \
            closing(sqlite3.connect(engine.url.database or "")) as dst:
        src.backup(dst)
    _connect(engine)


def _connect(engine: Engine) -> None:
    """Open the engine's first pooled connection, as building the database did (its ``-wal``
    and ``-shm`` files exist from then on, as they would have)."""
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").all()


@pytest.fixture(scope="session")
def tables_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database file with every table created and nothing in it, built once."""
    path = tmp_path_factory.mktemp("template") / "tables.db"
    engine = make_engine(path)
    create_db_and_tables(engine)
    _checkpointed(engine)
    return path


@pytest.fixture(scope="session")
def geo_template(tables_template: Path) -> Path:
    """The empty database plus districts, segments and zones from ``data/``, built once."""
    from etl.geography import load_geography

    path = tables_template.with_name("geo.db")
    shutil.copyfile(tables_template, path)
    engine = make_engine(path)
    load_geography(engine, DATA_DIR)
    _checkpointed(engine)
    return path


@pytest.fixture(scope="session")
def base_template(geo_template: Path) -> Path:
    """The geography (run 1) plus the base drop ``good/2025Q1`` (run 2), built once."""
    from fixtures.make_fixtures import GOOD, TODAY

    from etl.drops.load import load_drop

    path = geo_template.with_name("base.db")
    shutil.copyfile(geo_template, path)
    engine = make_engine(path)
    assert load_drop(engine, GOOD / "2025Q1", today=TODAY).run_id == 2
    _checkpointed(engine)
    return path


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Path of a database file that does not exist yet."""
    return tmp_path / "test.db"


@pytest.fixture
def engine(db_path: Path, tables_template: Path) -> Iterator[Engine]:
    """A real SQLite file with every table created and nothing in it."""
    shutil.copyfile(tables_template, db_path)
    eng = make_engine(db_path)
    _connect(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def geo_engine(engine: Engine, geo_template: Path) -> Engine:
    """The database with districts, segments and zones loaded from ``data/``."""
    _restore(engine, geo_template)
    return engine


@pytest.fixture
def base(geo_engine: Engine, base_template: Path) -> Engine:
    """The geography (run 1) plus the base drop good/2025Q1 (run 2)."""
    _restore(geo_engine, base_template)
    return geo_engine


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A copy of the four geography files, for tests that edit them (a module may define its
    own ``data_dir``, as tests/test_cli.py does)."""
    target = tmp_path / "data"
    (target / "geo").mkdir(parents=True)
    shutil.copy(DATA_DIR / "geo" / "shanghai_districts.geojson", target / "geo")
    for name in ("segments.csv", "zones.csv", "metrics.csv"):
        shutil.copy(DATA_DIR / name, target / name)
    return target
