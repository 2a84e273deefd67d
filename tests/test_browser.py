"""A real browser against a real server: every page in both languages, drawn, offline.

Starts ``streamlit run`` on 127.0.0.1 over a database built by ``aidash init`` from the bundled
data, once on the SQLite file and once on the same data copied into PostgreSQL, drives Debian's Chromium with the PyPI ``playwright`` package (no downloaded browser),
and saves one screenshot per page, language and backend under ``tests/artifacts/screenshots/``.

Without Chromium the module skips and says why, except in CI (``CI=true``), where a skipped
browser test would pass unnoticed: there it fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.conftest import BACKENDS, DATA_DIR, ROOT
from tests.local_server import CHROMIUM, CHROMIUM_ARGS, ServerDidNotStart, streamlit_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = ROOT / "tests" / "artifacts" / "screenshots"
LANGS = ("en", "zh")
# url_path → what must be on that page once it has drawn ("" is the default page, Overview).
PAGES = {
    "": '[data-testid="stPlotlyChart"]',
    "map": '[data-testid="stPlotlyChart"] .choroplethlocation',
    "trends": '[data-testid="stPlotlyChart"]',
    "enterprises": '[data-testid="stDataFrame"]',
    "sources": '[data-testid="stDataFrame"]',
}
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", ""}
PAGE_TIMEOUT_MS = 45_000


def in_ci() -> bool:
    """True when the CI environment variable says so (``true``, ``1`` or ``yes``)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@pytest.fixture(scope="module", autouse=True)
def chromium() -> str:
    """The browser's path; checked first, before a database is built or a server started."""
    if not Path(CHROMIUM).exists():
        if in_ci():
            pytest.fail(f"BROWSER TEST FAILED: no Chromium at {CHROMIUM}, and CI is set, so "
                        "the browser test may not skip; install Debian's `chromium` package "
                        "(`make system-deps` as root)", pytrace=False)
        pytest.skip(f"BROWSER TEST SKIPPED: no Chromium at {CHROMIUM}; install Debian's "
                    "`chromium` package (make test does so when it runs as root)")
    return CHROMIUM


@pytest.fixture(scope="module")
def browser_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from etl.build import build_database

    path = tmp_path_factory.mktemp("browser") / "ai_industry.db"
    build_database(str(path), data_dir=DATA_DIR)
    return path


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, browser_db: Path) -> Iterator[str]:
    """The dashboard on the bundled database: the SQLite file, or the same data copied into
    PostgreSQL (``aidash copy``) on the tests' own server."""
    url = f"sqlite:///{browser_db}"
    if request.param == "postgresql":
        from etl.copy import copy_database

        url = request.getfixturevalue("pg_server").create_database("browser")
        copy_database(str(browser_db), url)
    try:
        with streamlit_server(url) as (base, _proc):
            yield base
    except ServerDidNotStart as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("page_path", list(PAGES))
def test_page_draws_offline(server: str, browser, page_path: str, lang: str,  # type: ignore[no-untyped-def]
                            request: pytest.FixtureRequest) -> None:
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale=lang)
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda req: requests.append(req.url))
    page.goto(f"{server}/{page_path}?lang={lang}", wait_until="domcontentloaded")
    page.wait_for_selector(PAGES[page_path], timeout=PAGE_TIMEOUT_MS)
    # Let the script run finish: the status widget shows while Streamlit reruns.
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=PAGE_TIMEOUT_MS)
    page.wait_for_timeout(1500)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    name = page_path or "overview"
    suffix = "" if request.node.callspec.params["server"] == "sqlite" else "_postgresql"
    page.screenshot(path=str(SCREENSHOTS / f"{name}_{lang}{suffix}.png"), full_page=True)

    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.locator('[role="dialog"]').count() == 0  # e.g. Streamlit's "Page not found"
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0
    # Only the app's own exports (formula-safe) are offered, not the tables' built-in CSV:
    # hovering a table shows its toolbar, without the download button.
    if page_path in ("enterprises", "sources"):
        page.locator('[data-testid="stDataFrame"]').first.hover()
        page.wait_for_timeout(500)
        assert page.locator('[data-testid="stElementToolbar"] button:visible').count() > 0
        assert page.locator('button[aria-label="Download as CSV"]:visible').count() == 0
    if page_path == "map":
        # One grey outline layer for all 16 districts, one coloured layer for those with a value.
        assert page.locator(".choroplethlocation").count() in (16, 32)
    if page_path in ("", "trends", "map"):
        assert page.locator('[data-testid="stPlotlyChart"] .main-svg').count() > 0
    # The navigation is in the page's language (the titles come from the locale files).
    nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
    assert ("总览" in nav, "Overview" in nav) == (lang == "zh", lang == "en")
    foreign = sorted({u for u in requests
                      if not u.startswith(("data:", "blob:"))
                      and urlparse(u).hostname not in LOCAL_HOSTS})
    assert foreign == []
    context.close()
