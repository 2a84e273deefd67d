"""Shared fixtures: a fresh database per test, and one with the reference geography loaded.

``engine``, ``geo_engine`` and ``base`` are SQLite files unless a test asks for the
``backend`` ``postgresql`` (``@pytest.mark.parametrize("backend", BACKENDS, indirect=True)``,
see :data:`BACKENDS`): then they are databases of a PostgreSQL server the session starts
itself (``tests/postgres_server.py``), each test its own database made from a template.

The databases are built once per session (per xdist worker) and copied for each test: an
empty schema, the geography, and the geography plus the base drop ``good/2025Q1``. A copy
takes a millisecond where building takes up to a second, and it holds the same rows.
"""

from __future__ import annotations

import itertools
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest
from postgres_server import PostgresMissing, PostgresServer, in_ci, start_server
from sqlalchemy.engine import Engine

from models.db import create_db_and_tables, make_engine

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


# Both backends, for the tests that run on each: parametrize ``backend`` indirectly.
BACKENDS = ("sqlite", "postgresql")


def pytest_report_header(config: pytest.Config) -> str:
    return f"sqlite {sqlite3.sqlite_version}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked ``both_backends`` (a whole module, usually) run once per backend when
    they use a database fixture; ``sqlite_only`` keeps one test on SQLite (it reads the file,
    or a PRAGMA)."""
    if ("backend" in metafunc.fixturenames
            and metafunc.definition.get_closest_marker("both_backends")
            and not metafunc.definition.get_closest_marker("sqlite_only")):
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for this session (this xdist worker), stopped at the end. Skips
    where PostgreSQL is not installed, except in CI, where that is a failure."""
    try:
        server = start_server()
    except PostgresMissing as exc:
        if in_ci():
            pytest.fail(f"{exc} (CI={os.environ.get('CI')}: PostgreSQL is required)")
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The backend the database fixtures make: ``sqlite`` unless parametrized."""
    return str(getattr(request, "param", "sqlite"))


_PG_COUNTER = itertools.count()


class _PgTemplates:
    """The PostgreSQL counterparts of the SQLite templates, built once per session on first
    use: template databases each test's database is created from."""

    def __init__(self, server: PostgresServer) -> None:
        self.server = server
        self.built: set[str] = set()

    def get(self, name: str) -> str:
        """The template database ``name`` (``tables``, ``geo``, ``base``), built if needed."""
        if name in self.built:
            return f"tmpl_{name}"
        parent = {"tables": None, "geo": "tables", "base": "geo"}[name]
        url = self.server.create_database(f"tmpl_{name}",
                                          self.get(parent) if parent else None)
        engine = make_engine(url)
        try:
            if name == "tables":
                create_db_and_tables(engine)
            elif name == "geo":
                from etl.geography import load_geography

                load_geography(engine, DATA_DIR)
            else:
                from fixtures.make_fixtures import GOOD, TODAY

                from etl.drops.load import load_drop

                assert load_drop(engine, GOOD / "2025Q1", today=TODAY).run_id == 2
        finally:
            engine.dispose()
        self.built.add(name)
        return f"tmpl_{name}"


@pytest.fixture(scope="session")
def pg_templates(pg_server: PostgresServer) -> _PgTemplates:
    return _PgTemplates(pg_server)


def _pg_restore(engine: Engine, templates: _PgTemplates, name: str) -> None:
    """Make the database of ``engine`` a fresh copy of the template ``name``."""
    engine.dispose()
    template = templates.get(name)
    templates.server.create_database(str(engine.url.database), template)


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
def engine(backend: str, db_path: Path, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A real database (an SQLite file, or a PostgreSQL database) with every table created
    and nothing in it."""
    if backend == "postgresql":
        templates: _PgTemplates = request.getfixturevalue("pg_templates")
        name = f"test_{os.getpid()}_{next(_PG_COUNTER)}"
        url = templates.server.create_database(name, templates.get("tables"))
        eng = make_engine(url)
        yield eng
        eng.dispose()
        templates.server.drop_database(name)
        return
    shutil.copyfile(request.getfixturevalue("tables_template"), db_path)
    eng = make_engine(db_path)
    _connect(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def geo_engine(engine: Engine, request: pytest.FixtureRequest) -> Engine:
    """The database with districts, segments and zones loaded from ``data/``."""
    if engine.dialect.name == "postgresql":
        _pg_restore(engine, request.getfixturevalue("pg_templates"), "geo")
    else:
        _restore(engine, request.getfixturevalue("geo_template"))
    return engine


@pytest.fixture
def load_scale(geo_engine: Engine, tmp_path: Path) -> Callable[[int, int], tuple[Engine, Path]]:
    """Loads a scale drop of ``firms`` firms × 2 quarters (its folder ``2025Q2``, written with
    ``seed``) onto the geography: returns the engine and the drop folder."""
    from etl.drops.load import load_drop
    from etl.sample import write_scale_drop

    def load(firms: int, seed: int) -> tuple[Engine, Path]:
        drop = tmp_path / "2025Q2"
        write_scale_drop(drop, enterprises=firms, quarters=2, seed=seed)
        assert load_drop(geo_engine, drop, progress=False).changed
        return geo_engine, drop

    return load


@pytest.fixture
def base(geo_engine: Engine, request: pytest.FixtureRequest) -> Engine:
    """The geography (run 1) plus the base drop good/2025Q1 (run 2)."""
    if geo_engine.dialect.name == "postgresql":
        _pg_restore(geo_engine, request.getfixturevalue("pg_templates"), "base")
    else:
        _restore(geo_engine, request.getfixturevalue("base_template"))
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
