"""Fixtures of the dashboard tests, loaded with ``pytest_plugins = ["dashboard_fixtures"]``.

``seeded_db`` builds the small deterministic database of ``tests/seed.py`` once per session
(the app only ever reads it) and points ``AIDASH_DATABASE_URL`` at it for AppTest; every use
also clears Streamlit's caches so no test sees another's results.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from models.db import ENV_VAR, make_engine

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


@pytest.fixture
def seeded_db(seeded_db_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The seeded database, named by ``AIDASH_DATABASE_URL`` for the app; caches cleared."""
    monkeypatch.setenv(ENV_VAR, str(seeded_db_path))
    _clear_streamlit_caches()
    yield seeded_db_path
    _clear_streamlit_caches()


@pytest.fixture
def ro_engine(seeded_db_path: Path) -> Iterator[Engine]:
    """A read-only engine on the seeded database, as the app opens it."""
    eng = make_engine(seeded_db_path, read_only=True)
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
