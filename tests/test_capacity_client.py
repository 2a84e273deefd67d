"""The capacity benchmark's websocket client against a real server (issue 12, item 6).

``benchmarks/capacity.py`` measures sessions with ``benchmarks.st_client`` instead of browsers;
its figures mean something only if one such session really renders every page. This starts
``streamlit run`` on 127.0.0.1 over the bundled data and opens the five pages in one session,
in each language, and checks each script finished, showed no exception and sent the page's
title in its deltas.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.i18n import get_translator
from benchmarks.st_client import StreamlitSession, visit_pages
from tests.conftest import DATA_DIR
from tests.local_server import ServerDidNotStart, streamlit_server

pytestmark = [pytest.mark.slow]

# URL path → the locale key of the page's title ("" is the default page, Overview).
PAGES = {"": "overview.title", "map": "map.title", "trends": "trends.title",
         "enterprises": "enterprises.title", "sources": "sources.title"}


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from etl.build import build_database

    path = tmp_path_factory.mktemp("capacity") / "ai_industry.db"
    build_database(str(path), data_dir=DATA_DIR)
    return path


@pytest.fixture(scope="module")
def server(bundled: Path) -> Iterator[str]:
    try:
        with streamlit_server(f"sqlite:///{bundled}") as (base, _proc):
            yield base
    except ServerDidNotStart as exc:
        pytest.fail(str(exc))


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_one_session_renders_every_page(server: str, lang: str) -> None:
    tr = get_translator(lang)
    views = asyncio.run(visit_pages(server, list(PAGES), f"lang={lang}"))
    got = [(v.page, v.status, v.exceptions, v.error_texts, tr(PAGES[v.page]) in v.headings)
           for v in views]
    assert got == [(page, "finished_successfully", [], [], True) for page in PAGES]
    assert all(v.ok and v.runs >= 1 and v.seconds > 0 for v in views)


def test_a_page_that_does_not_exist_is_reported(server: str) -> None:
    async def visit() -> tuple[str, str, dict[str, str]]:
        async with StreamlitSession(server) as session:
            first = await session.open_page("", "lang=en")
            missing = await session.open_page("no-such-page", "lang=en")
            return first.status, missing.status, session.page_hashes

    first, missing, hashes = asyncio.run(visit())
    assert (first, missing) == ("finished_successfully", "page_not_found")
    # The navigation message listed the app's pages; later visits go by their script hash.
    assert sorted(hashes) == sorted(PAGES)


def test_the_run_shown_in_the_sidebar_is_read(server: str, bundled: Path) -> None:
    """benchmarks.two_servers reads the sidebar's run number through this client: it is the
    database's latest load (what `aidash etl history` lists first)."""
    import sqlite3

    from benchmarks.two_servers import shown_run

    with sqlite3.connect(bundled) as conn:
        latest = conn.execute("SELECT max(id) FROM etl_runs WHERE status IN "
                              "('succeeded', 'noop')").fetchone()[0]
    assert shown_run(server) == latest
