"""Two dashboard servers on one PostgreSQL database (issue 14): a load made while both run
shows on both at the next visit, with no restart.

The bundled database is copied into the tests' own PostgreSQL server (``aidash copy``), two
``streamlit run`` processes are started over it on 127.0.0.1, each on its own port, and
Debian's Chromium reads the run number in the sidebar of each before and after ``aidash etl
load`` writes a new drop through the command line, as the data team would.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.conftest import DATA_DIR, ROOT
from tests.local_server import CHROMIUM_ARGS, ServerDidNotStart, streamlit_server
from tests.test_browser import PAGE_TIMEOUT_MS, chromium  # noqa: F401 (fixture)

pytestmark = [pytest.mark.slow]

RUN = re.compile(r"· run (\d+)")


def _aidash(*args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "aidash", *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> str:
    """The bundled data in PostgreSQL, its URL."""
    from etl.build import build_database
    from etl.copy import copy_database

    path = tmp_path_factory.mktemp("two-servers") / "ai_industry.db"
    build_database(str(path), data_dir=DATA_DIR)
    url: str = request.getfixturevalue("pg_server").create_database("two_servers")
    copy_database(str(path), url)
    return url


@pytest.fixture(scope="module")
def servers(database: str) -> Iterator[list[str]]:
    """Two dashboard processes over the one database, their base URLs."""
    try:
        with ExitStack() as stack:
            yield [stack.enter_context(streamlit_server(database))[0] for _ in range(2)]
    except ServerDidNotStart as exc:
        pytest.fail(str(exc))


def _runs_shown(chromium_path: str, bases: list[str]) -> list[int]:
    """The run number each server's sidebar shows, in a fresh browser session each."""
    from playwright.sync_api import sync_playwright

    shown = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, headless=True,
                                     args=CHROMIUM_ARGS)
        for base in bases:
            page = browser.new_page()
            page.goto(f"{base}/?lang=en", wait_until="domcontentloaded")
            sidebar = page.locator('[data-testid="stSidebarUserContent"]')
            sidebar.get_by_text(RUN).wait_for(timeout=PAGE_TIMEOUT_MS)
            match = RUN.search(sidebar.inner_text())
            assert match is not None
            shown.append(int(match.group(1)))
            page.close()
        browser.close()
    return shown


def test_both_servers_show_a_new_load_without_a_restart(
        servers: list[str], database: str, chromium: str,  # noqa: F811
        tmp_path: Path) -> None:
    before = _runs_shown(chromium, servers)
    assert before[0] == before[1]
    drop = tmp_path / "drop"
    _aidash("sample", "--enterprises", "50", "--quarters", "1", "--out", str(drop))
    loaded = _aidash("etl", "load", str(drop), "--db", database)
    assert f"(run {before[0] + 1})" in loaded
    assert _runs_shown(chromium, servers) == [before[0] + 1] * 2
