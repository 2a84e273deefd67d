"""Fixtures of the dashboard tests, loaded with ``pytest_plugins = ["dashboard_fixtures"]``.

``seeded_db`` builds the small deterministic database of ``tests/seed.py`` once per session
(the app only ever reads it) and points ``AIDASH_DATABASE_URL`` at it for AppTest; every use
also clears Streamlit's caches so no test sees another's results.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from postgres_server import PostgresServer
from sqlalchemy.engine import Engine

from models.db import ENV_VAR, make_engine, read_only_uri

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "streamlit_app.py"


def _clear_streamlit_caches() -> None:
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture(scope="session")
def seeded_db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seeded database file, built once per test session."""
    from seed import build_seeded_db

    return build_seeded_db(tmp_path_factory.mktemp("seeded") / "seeded.db")


@pytest.fixture(scope="session")
def seeded_pg_url(seeded_db_path: Path, pg_server: PostgresServer) -> str:
    """The seeded database copied into PostgreSQL (``aidash copy``), once per session."""
    from etl.copy import copy_database

    url = pg_server.create_database("seeded")
    copy_database(str(seeded_db_path), url)
    return url


@pytest.fixture
def seeded_db(backend: str, seeded_db_path: Path, monkeypatch: pytest.MonkeyPatch,
              request: pytest.FixtureRequest) -> Iterator[Path | str]:
    """The seeded database, named by ``AIDASH_DATABASE_URL`` for the app; caches cleared.
    On PostgreSQL (``backend``) its URL rather than its path."""
    db: Path | str = seeded_db_path
    if backend == "postgresql":
        db = request.getfixturevalue("seeded_pg_url")
    monkeypatch.setenv(ENV_VAR, str(db))
    _clear_streamlit_caches()
    yield db
    _clear_streamlit_caches()


@pytest.fixture
def ro_engine(backend: str, seeded_db_path: Path,
              request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A read-only engine on the seeded database, as the app opens it."""
    db: Path | str = seeded_db_path
    if backend == "postgresql":
        db = request.getfixturevalue("seeded_pg_url")
    eng = make_engine(db, read_only=True)
    yield eng
    eng.dispose()


@pytest.fixture
def missing_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``AIDASH_DATABASE_URL`` pointing at a file that does not exist."""
    path = tmp_path / "nowhere" / "ai_industry.db"
    monkeypatch.setenv(ENV_VAR, str(path))
    _clear_streamlit_caches()
    yield path
    _clear_streamlit_caches()


def overview_cards(engine: Engine) -> list[dict]:
    """The overview's cards in the order its page shows them (``app/views/overview.py``)."""
    from app.queries import overview

    return (overview.output_cards(engine) + overview.growth_card(engine)
            + overview.firms_card(engine) + overview.models_card(engine)
            + overview.computing_card(engine))


# Ways a database file can be unusable, each made from a copy of a built database (see
# damaged_copy). The first two are "not built yet", the others "damaged".
DAMAGE_KINDS = ("missing", "zero_bytes", "truncated", "random_bytes", "overwritten_schema",
                "overwritten_page")


def damaged_copy(built: Path, dest: Path, kind: str) -> Path:
    """``dest`` made from the built database ``built`` as ``kind`` says: absent, empty, cut to
    half its size, 64 KiB of random bytes, or whole but with the schema (page 1 past its header)
    or the root page of an index of the revenue versions overwritten (no page reads that one
    before a query needs it; a quick check does).
    """
    import random
    import shutil
    import sqlite3

    dest.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(20250630)
    if kind == "zero_bytes":
        dest.touch()
    elif kind == "random_bytes":
        dest.write_bytes(rng.randbytes(65_536))
    elif kind in ("truncated", "overwritten_schema", "overwritten_page"):
        shutil.copy(built, dest)
        if kind == "truncated":
            with dest.open("r+b") as fh:
                fh.truncate(built.stat().st_size // 2)
        elif kind == "overwritten_schema":
            with dest.open("r+b") as fh:
                fh.seek(100)
                fh.write(rng.randbytes(4000))
        else:
            conn = sqlite3.connect(read_only_uri(built), uri=True)
            page_size, = conn.execute("PRAGMA page_size").fetchone()
            root, = conn.execute("SELECT rootpage FROM sqlite_master "
                                 "WHERE name = 'ix_revenue_versions_run'").fetchone()
            conn.close()
            with dest.open("r+b") as fh:
                fh.seek((root - 1) * page_size)
                fh.write(rng.randbytes(page_size))
    elif kind != "missing":
        raise ValueError(kind)
    return dest


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> dict[str, Callable[[], bytes]]:
    """The files the page's download buttons would make on a click, by file name.

    The dashboard's buttons are deferred downloads (app/downloads.py): the server runs the
    button's function when it is clicked. This records each function as Streamlit registers
    it, so a test can "click" by calling it (the audit trail records the export, then the
    bytes come back)."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    made: dict[str, Callable[[], bytes]] = {}
    real = MediaFileManager.add_deferred

    def add_deferred(self, callable_, mimetype, coordinates, file_name=None,  # type: ignore[no-untyped-def]
                     element_id=""):
        made[str(file_name)] = callable_
        return real(self, callable_, mimetype, coordinates, file_name=file_name,
                    element_id=element_id)

    monkeypatch.setattr(MediaFileManager, "add_deferred", add_deferred)
    return made


@pytest.fixture
def clicked_downloads(downloads: dict[str, Callable[[], bytes]],
                      monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """Every download button clicked as soon as it is drawn: the files, by file name (each
    click is recorded in the test's audit trail like a real one)."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    files: dict[str, bytes] = {}
    recording = MediaFileManager.add_deferred

    def add_and_click(self, callable_, *args, **kwargs):  # type: ignore[no-untyped-def]
        file_id = recording(self, callable_, *args, **kwargs)
        files[str(kwargs.get("file_name"))] = callable_()
        return file_id

    monkeypatch.setattr(MediaFileManager, "add_deferred", add_and_click)
    return files
