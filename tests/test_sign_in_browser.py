"""Sign-in end to end: a real OIDC provider and a real ``streamlit run`` on 127.0.0.1, signed into
through Debian's Chromium as four people: anonymous, someone no rule matches, a viewer and an
analyst. The audit trail must name each of them.

The server reads a secrets file of its own (``--secrets.files``) with ``[auth]`` pointing at the
provider and ``[aidash.roles]``; its audit trail goes to a file of the test's.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.local_server import CHROMIUM_ARGS, ServerDidNotStart, free_port, streamlit_server
from tests.oidc_provider import oidc_provider
from tests.test_browser import LOCAL_HOSTS, PAGE_TIMEOUT_MS, chromium  # noqa: F401 (fixture)

pytest_plugins = ["dashboard_fixtures"]
pytestmark = [pytest.mark.browser, pytest.mark.slow]

PEOPLE = [
    {"sub": "wang", "email": "wang.li@example.gov.cn", "groups": ["analysts"]},
    {"sub": "zhao", "email": "zhao@example.gov.cn", "groups": ["staff"]},
    {"sub": "li", "email": "li@partner.org", "groups": []},
]
ROLES = """
[aidash]
access_contact = "the data office (data@example.gov.cn)"

[aidash.roles]
analyst = ["group:analysts"]
viewer = ["@example.gov.cn"]
"""
# Page path → what shows once it has drawn (its data).
AGGREGATE_PAGES = {
    "": '[data-testid="stPlotlyChart"]',
    "map": '[data-testid="stPlotlyChart"] .choroplethlocation',
    "trends": '[data-testid="stPlotlyChart"]',
    "sources": '[data-testid="stDataFrame"]',
}
DATA = '[data-testid="stPlotlyChart"], [data-testid="stDataFrame"], [data-testid="stMetric"]'


@pytest.fixture(scope="module")
def firms(seeded_db_path: Path) -> set[str]:
    """Every credit code and firm name in the database: none may reach a viewer."""
    with sqlite3.connect(seeded_db_path) as conn:
        rows = conn.execute("SELECT credit_code, name_zh, name_en FROM enterprises").fetchall()
    return {v for row in rows for v in row if v}


@pytest.fixture(scope="module")
def signed_in_server(seeded_db_path: Path, tmp_path_factory: pytest.TempPathFactory,
                     chromium: str) -> Iterator[tuple[str, Path]]:  # noqa: F811
    """The provider and the dashboard, wired together; yields the base URL and audit log."""
    folder = tmp_path_factory.mktemp("signin")
    audit_log = folder / "audit.jsonl"
    port = free_port()
    with oidc_provider(PEOPLE) as issuer:
        secrets = folder / "secrets.toml"
        secrets.write_text(f"""[auth]
redirect_uri = "http://127.0.0.1:{port}/oauth2callback"
cookie_secret = "a-test-only-cookie-secret"
client_id = "aidash-dashboard"
client_secret = "a-test-only-client-secret"
server_metadata_url = "{issuer}/.well-known/openid-configuration"
{ROLES}""", encoding="utf-8")
        try:
            with streamlit_server(f"sqlite:///{seeded_db_path}", port=port,
                                  args=["--secrets.files", str(secrets)],
                                  env={"AIDASH_AUDIT_LOG": str(audit_log)}) as (base, _proc):
                yield base, audit_log
        except ServerDidNotStart as exc:
            pytest.fail(str(exc))


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[object]:  # noqa: F811
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Visitor:
    """One person's browser (its own cookies), recording every request it makes."""

    def __init__(self, browser, base: str, downloads: Path) -> None:  # type: ignore[no-untyped-def]
        self.base = base
        self.context = browser.new_context(viewport={"width": 1440, "height": 1000},
                                           accept_downloads=True)
        # The provider's own pages link a stylesheet from a CDN; nothing leaves the machine.
        self.context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"),
                           lambda route: route.abort())
        self.page = self.context.new_page()
        # The requests the dashboard's pages make (the provider's pages are not ours to judge).
        self.requests: list[str] = []
        self.page.on("request", lambda req: self.requests.append(req.url)
                     if req.frame.url.startswith(base) else None)
        self.downloads = downloads

    def open(self, path: str, ready: str) -> str:
        """Go to ``path``, wait for ``ready`` and the end of the script run; the page's text
        (tables included: their cells are on a canvas, their accessible grid holds the text)."""
        self.page.goto(f"{self.base}/{path}", wait_until="domcontentloaded")
        self.page.wait_for_selector(ready, timeout=PAGE_TIMEOUT_MS)
        self.page.wait_for_function(
            "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
            timeout=PAGE_TIMEOUT_MS)
        self.page.wait_for_timeout(800)
        grids = self.page.eval_on_selector_all(
            "[role=grid]", "els => els.map(e => e.textContent).join('\\n')")
        return self.page.inner_text("body") + "\n" + grids

    def sign_in(self, sub: str) -> None:
        self.open("", 'button:has-text("Sign in")')
        self.page.get_by_role("button", name="Sign in").click()
        self.page.get_by_role("button", name=sub, exact=True).click()
        self.page.wait_for_url(re.compile(re.escape(self.base) + r"/?(\?.*)?$"),
                               timeout=PAGE_TIMEOUT_MS)

    def download_first(self) -> bytes:
        """Click the page's first download button (CSV) and return the file."""
        with self.page.expect_download(timeout=PAGE_TIMEOUT_MS) as info:
            self.page.locator('[data-testid="stDownloadButton"] button').first.click()
        target = self.downloads / info.value.suggested_filename
        info.value.save_as(target)
        return target.read_bytes()

    def off_machine(self) -> list[str]:
        from urllib.parse import urlsplit

        return [u for u in self.requests
                if urlsplit(u).scheme in ("http", "https", "ws", "wss")
                and (urlsplit(u).hostname or "") not in LOCAL_HOSTS]


def _events(audit_log: Path) -> list[dict]:
    return [json.loads(line) for line in audit_log.read_text(encoding="utf-8").splitlines()]


def _seen(audit_log: Path) -> set[tuple[str, str | None, str]]:
    """(event, user, role) of every line of the server's audit log. Each test checks its own
    person's lines: the tests of this module may run on different workers, each with its own
    server and log."""
    return {(e["event"], e["user"], e["role"]) for e in _events(audit_log)}


def _exports(audit_log: Path, user: str) -> list[dict]:
    return [e for e in _events(audit_log) if e["event"] == "export" and e["user"] == user]


@pytest.fixture
def visitor(browser, signed_in_server: tuple[str, Path], tmp_path: Path):  # type: ignore[no-untyped-def]
    v = Visitor(browser, signed_in_server[0], tmp_path)
    yield v
    v.context.close()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_anonymous_visitors_get_the_sign_in_page_on_every_path(
        visitor: Visitor, signed_in_server: tuple[str, Path], lang: str) -> None:
    button = {"en": "Sign in", "zh": "登录"}[lang]
    for path in ["", "map", "trends", "enterprises", "sources", "enterprises?q=%E6%9C%89%E9%99%90",
                 "no-such-page"]:
        sep = "&" if "?" in path else "?"
        text = visitor.open(f"{path}{sep}lang={lang}", f'button:has-text("{button}")')
        assert visitor.page.locator(DATA).count() == 0, path
        assert not re.search(r"billion|亿元|PFLOPS", text), path
    assert visitor.off_machine() == []
    assert ("refused", None, "anonymous") in _seen(signed_in_server[1])


def test_a_person_matching_no_rule_sees_no_access(visitor: Visitor,
                                                  signed_in_server: tuple[str, Path]) -> None:
    visitor.sign_in("li")
    text = visitor.open("trends", 'text="No access"')
    assert "You are signed in as li@partner.org, but this address has no role" in text
    assert "To be given access, ask the data office (data@example.gov.cn)." in text
    assert visitor.page.locator(DATA).count() == 0
    assert ("no_access", "li@partner.org", "none") in _seen(signed_in_server[1])


def test_a_viewer_gets_aggregates_and_never_a_firm(visitor: Visitor, firms: set[str],
                                                   signed_in_server: tuple[str, Path]) -> None:
    visitor.sign_in("zhao")
    for lang in ("en", "zh"):
        for path, ready in AGGREGATE_PAGES.items():
            text = visitor.open(f"{path}?lang={lang}", ready)
            assert [f for f in firms if f in text] == [], (path, lang)
    assert "Signed in as zhao@example.gov.cn · viewer (aggregates)" in visitor.open(
        "trends?lang=en", AGGREGATE_PAGES["trends"])
    assert visitor.page.get_by_role("link", name="Enterprises").count() == 0
    exported = visitor.download_first().decode("utf-8-sig")  # the Trends table
    assert exported.count("\n") > 1 and [f for f in firms if f in exported] == []
    # Typing the explorer's address, with a search, gives nothing but a refusal.
    name = min(f for f in firms if not f.isascii())
    text = visitor.open(f"enterprises?q={quote(name)}&lang=en",
                        'text="This page is not available to your role"')
    assert visitor.page.locator(DATA).count() == 0
    assert [f for f in firms if f in text.replace(name, "")] == []
    urls = [u for u in visitor.requests if "q=" not in u]  # the typed address itself aside
    assert [f for f in firms if any(quote(f) in u or f in u for u in urls)] == []
    assert visitor.off_machine() == []
    log = signed_in_server[1]
    assert {("sign_in", "zhao@example.gov.cn", "viewer"),
            ("refused", "zhao@example.gov.cn", "viewer")} <= _seen(log)
    assert [(e["page"], e["format"]) for e in _exports(log, "zhao@example.gov.cn")] == [
        ("trends", "csv")]


def test_an_analyst_gets_the_explorer_and_a_firm_level_export(
        visitor: Visitor, firms: set[str], signed_in_server: tuple[str, Path]) -> None:
    visitor.sign_in("wang")
    text = visitor.open("enterprises?lang=zh", '[data-testid="stDataFrame"]')
    assert "已登录：wang.li@example.gov.cn · 分析员（含企业级数据）" in text
    assert sum(f in text for f in firms) >= 25
    exported = visitor.download_first().decode("utf-8-sig")
    assert sum(f in exported for f in firms) >= 25
    assert visitor.off_machine() == []
    log = signed_in_server[1]
    assert ("sign_in", "wang.li@example.gov.cn", "analyst") in _seen(log)
    assert [(e["page"], e["role"], e["rows"]) for e in _exports(log, "wang.li@example.gov.cn")] \
        == [("enterprises", "analyst", 25)]


def test_open_mode_serves_this_machine_but_not_through_a_proxy(
        browser, seeded_db_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Without [auth], a browser on the machine gets the dashboard; the same server reached
    through a reverse proxy (which adds X-Forwarded-For) shows only the refusal."""
    with streamlit_server(f"sqlite:///{seeded_db_path}",
                          env={"AIDASH_AUDIT_LOG": str(tmp_path / "audit.jsonl")}) as (base, _):
        direct = Visitor(browser, base, tmp_path)
        text = direct.open("enterprises?lang=en", '[data-testid="stDataFrame"]')
        assert "Open: no sign-in configured." in text
        direct.context.close()
        relayed = Visitor(browser, base, tmp_path)
        relayed.context.set_extra_http_headers({"X-Forwarded-For": "203.0.113.9"})
        text = relayed.open("enterprises?lang=en", 'text="Sign-in is not configured"')
        assert "This dashboard is reached through a reverse proxy" in text
        assert relayed.page.locator(DATA).count() == 0
        relayed.context.close()
