"""Sign-in, roles and open mode in the app (AppTest, with ``at.user`` and ``at.secrets`` standing
in for the provider; tests/test_sign_in_browser.py does the same through a real OIDC provider
and Chromium).

What must hold: nobody sees a figure before the gate; a viewer gets aggregates and no firm
anywhere; an analyst gets the explorer; open mode serves loopback only unless allowed; every
sign-in, refusal and export is in the audit trail.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.pages import VIEWS

pytest_plugins = ["dashboard_fixtures"]

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
TIMEOUT = 30
AUTH = {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "test-only",
        "client_id": "aidash", "client_secret": "test-only",
        "server_metadata_url": "http://127.0.0.1:9400/.well-known/openid-configuration"}
SECRETS = {"auth": AUTH,
           "aidash": {"roles": {"analyst": ["group:analysts", "wang.li@example.gov.cn"],
                                "viewer": ["@example.gov.cn"]},
                      "access_contact": "the data office (data@example.gov.cn)"}}
ANALYST = {"is_logged_in": True, "email": "wang.li@example.gov.cn", "groups": [], "iat": 1}
VIEWER = {"is_logged_in": True, "email": "zhao@example.gov.cn", "groups": ["staff"], "iat": 2}
STRANGER = {"is_logged_in": True, "email": "li@partner.org", "groups": [], "iat": 3}
ANONYMOUS = {"is_logged_in": False}


def session(page: str, user: dict | None, *, secrets: dict | None = None,
            lang: str = "en") -> AppTest:
    """A fresh session on ``page`` as ``user`` (None: no sign-in configured, open mode)."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if user is not None:
        at.secrets = secrets or SECRETS
        at.user = user
    at.query_params["lang"] = lang
    if page != "overview":
        at.switch_page(VIEWS[page])
    at.run()
    assert not at.exception, at.exception
    return at


def events(audit_log: Path) -> list[dict]:
    if not audit_log.exists():
        return []
    return [json.loads(line) for line in audit_log.read_text(encoding="utf-8").splitlines()]


def drawn(at: AppTest) -> dict[str, int]:
    """How many data-bearing elements the run drew."""
    return {kind: len(at.get(kind)) for kind in ("metric", "plotly_chart", "dataframe",
                                                 "download_button", "table")}


NOTHING = {"metric": 0, "plotly_chart": 0, "dataframe": 0, "download_button": 0, "table": 0}


def shown_text(at: AppTest) -> str:
    """Everything the run sent to the browser, as text: every element's message (UTF-8),
    every table's cells and every chart's data."""
    from google.protobuf import text_format

    parts: list[str] = []

    def walk(node) -> None:  # type: ignore[no-untyped-def]
        for child in getattr(node, "children", {}).values():
            walk(child)
        kind = getattr(node, "type", "")
        if kind == "dataframe":
            parts.append(node.value.to_csv())
        elif kind == "plotly_chart":
            parts.append(json.dumps(json.loads(node.proto.spec), ensure_ascii=False))
        elif getattr(node, "proto", None) is not None:
            parts.append(text_format.MessageToString(node.proto, as_utf8=True))

    walk(at.main)
    walk(at.sidebar)
    return "\n".join(parts)


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("page", list(VIEWS))
def test_anonymous_visitors_see_the_sign_in_screen_only(seeded_db: Path, audit_log: Path,
                                                        page: str, lang: str) -> None:
    at = session(page, ANONYMOUS, lang=lang)
    assert drawn(at) == NOTHING
    assert [t.value for t in at.title] == [{"en": "Shanghai AI Industry Dashboard",
                                            "zh": "上海人工智能产业看板"}[lang]]
    assert [b.label for b in at.button] == [{"en": "Sign in", "zh": "登录"}[lang]]
    assert at.get("segmented_control")[0].options == ["English", "中文"]
    assert len(at.sidebar) == 0  # no navigation, no freshness line
    # The visit is recorded once, not once per rerun.
    at.get("segmented_control")[0].set_value("zh" if lang == "en" else "en").run()
    assert [(e["event"], e["user"], e["role"], e["reason"]) for e in events(audit_log)] == [
        ("refused", None, "anonymous", "not signed in")]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_person_matching_no_rule_gets_no_access_and_is_recorded(
        seeded_db: Path, audit_log: Path, lang: str) -> None:
    at = session("trends", STRANGER, lang=lang)
    assert drawn(at) == NOTHING
    assert [w.value for w in at.warning] == [{
        "en": "You are signed in as li@partner.org, but this address has no role on this "
              "dashboard.",
        "zh": "您已登录为 li@partner.org，但该地址在本看板没有任何角色。"}[lang]]
    assert [m.value for m in at.markdown if "data office" in m.value] == [{
        "en": "To be given access, ask the data office (data@example.gov.cn).",
        "zh": "如需开通权限，请联系the data office (data@example.gov.cn)。"}[lang]]
    assert [b.label for b in at.button] == [{"en": "Sign out", "zh": "退出登录"}[lang]]
    assert [(e["event"], e["user"], e["role"]) for e in events(audit_log)] == [
        ("no_access", "li@partner.org", "none")]


def test_a_sign_in_is_recorded_once_however_often_the_person_reloads(
        seeded_db: Path, audit_log: Path) -> None:
    session("overview", ANALYST)
    session("map", ANALYST)  # a second tab of the same sign-in
    session("map", {**ANALYST, "iat": 99})  # signed in again later
    assert [(e["event"], e["user"], e["role"]) for e in events(audit_log)] == [
        ("sign_in", "wang.li@example.gov.cn", "analyst"),
        ("sign_in", "wang.li@example.gov.cn", "analyst")]


@pytest.mark.parametrize("page", ["overview", "map", "trends", "sources"])
def test_a_viewer_sees_the_aggregate_pages(seeded_db: Path, page: str) -> None:
    at = session(page, VIEWER)
    assert drawn(at)["plotly_chart"] + drawn(at)["dataframe"] > 0
    captions = [c.value for c in at.sidebar.caption]
    assert "Signed in as zhao@example.gov.cn · viewer (aggregates)" in captions
    assert [b.label for b in at.sidebar.button] == ["Sign out"]


def test_a_viewer_typing_the_explorers_address_is_refused_and_recorded(
        seeded_db: Path, audit_log: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.secrets, at.user = SECRETS, VIEWER
    at.query_params.update({"q": "有限公司", "zones": "westbund_ai_tower"})
    at.switch_page(VIEWS["enterprises"]).run()
    assert not at.exception
    assert drawn(at) == NOTHING
    assert [t.value for t in at.title] == ["This page is not available to your role"]
    assert at.warning[0].value.startswith("You are signed in as a viewer (aggregates). Firm "
                                          "names, credit codes and per-firm figures are shown "
                                          "to analysts only")
    refused = [e for e in events(audit_log) if e["event"] == "refused"]
    assert [(e["user"], e["role"], e["page"], e["query"]["q"]) for e in refused] == [
        ("zhao@example.gov.cn", "viewer", "enterprises", ["有限公司"])]


def test_an_analyst_gets_the_explorer_and_its_export_is_recorded(
        seeded_db: Path, audit_log: Path, downloads: dict) -> None:
    at = session("enterprises", ANALYST)
    assert len(at.dataframe[0].value) == 25
    assert "Signed in as wang.li@example.gov.cn · analyst (firm-level data)" in [
        c.value for c in at.sidebar.caption]
    [csv_name] = [name for name in downloads if name.endswith(".csv")]
    data = downloads[csv_name]()  # the click
    assert data.decode("utf-8-sig").count("\r\n") == 26  # the header and the 25 rows shown
    [export] = [e for e in events(audit_log) if e["event"] == "export"]
    assert {k: export[k] for k in ("user", "role", "page", "format", "rows", "file")} == {
        "user": "wang.li@example.gov.cn", "role": "analyst", "page": "enterprises",
        "format": "csv", "rows": 25, "file": csv_name}


def test_a_viewer_never_receives_a_firm_name_or_credit_code(seeded_db: Path,
                                                             downloads: dict) -> None:
    """Every page a viewer can open, and every file its buttons make, holds aggregates only."""
    import sqlite3

    with sqlite3.connect(seeded_db) as conn:
        firms = conn.execute("SELECT credit_code, name_zh, name_en FROM enterprises").fetchall()
    needles = {v for row in firms for v in row if v}
    # The check sees firms where they are shown (an analyst's explorer, its Chinese names too).
    explorer = shown_text(session("enterprises", ANALYST, lang="zh"))
    assert sum(n in explorer for n in needles) >= 25 * 2
    downloads.clear()
    for page in ("overview", "map", "trends", "sources"):
        for lang in ("en", "zh"):
            at = session(page, VIEWER, lang=lang)
            shown = shown_text(at)
            assert [n for n in needles if n in shown] == [], (page, lang)
    files = {name: make().decode("utf-8", "replace") if name.endswith(".csv") else ""
             for name, make in downloads.items()}
    assert files, "the viewer's pages offer aggregate exports"
    assert [(name, n) for name, text in files.items() for n in needles if n in text] == []


def test_open_mode_says_so_and_serves_everything(seeded_db: Path) -> None:
    at = session("enterprises", None)
    assert len(at.dataframe[0].value) == 25
    assert ("Open: no sign-in configured. This dashboard serves whoever can reach this "
            "machine's loopback address.") in [c.value for c in at.sidebar.caption]


@pytest.fixture
def network_address():  # type: ignore[no-untyped-def]
    """``server.address`` set to every interface, as a deployment would, for one test."""
    from streamlit import config

    before = config.get_option("server.address")
    config.set_option("server.address", "0.0.0.0")
    yield
    config.set_option("server.address", before)


def test_open_mode_refuses_a_network_address(seeded_db: Path, network_address: None,
                                             capfd: pytest.CaptureFixture[str]) -> None:
    at = session("overview", None)
    assert drawn(at) == NOTHING
    assert [e.value for e in at.error] == [
        ("This dashboard listens on 0.0.0.0, which other machines can reach, and no sign-in is "
        "configured, so it shows no data. Configure sign-in under [auth] in "
        ".streamlit/secrets.toml (see the README, “Deploying for an agency”), or serve it on "
        "127.0.0.1 only, or set AIDASH_ALLOW_OPEN=1 to serve it open on purpose.")]
    assert ("aidash: refusing to serve open (no [auth] in secrets.toml) on "
            "server.address=0.0.0.0; configure sign-in, bind 127.0.0.1 without a proxy, or set "
            "AIDASH_ALLOW_OPEN=1") in capfd.readouterr().err


@pytest.mark.parametrize(("address", "proxied", "allowed", "verdict"), [
    ("127.0.0.1", False, "", True), ("::1", False, "", True), ("localhost", False, "", True),
    ("127.0.0.1", True, "", False),  # a proxy in front serves the network
    ("0.0.0.0", False, "", False), ("", False, "", False), ("10.1.2.3", False, "", False),
    ("0.0.0.0", False, "1", True), ("127.0.0.1", True, "1", True), ("0.0.0.0", False, "yes", False),
])
def test_open_mode_is_for_a_loopback_address_reached_directly(
        address: str, proxied: bool, allowed: str, verdict: bool) -> None:
    from app.auth import open_mode_allowed

    assert open_mode_allowed(address, proxied=proxied,
                             environ={"AIDASH_ALLOW_OPEN": allowed}) is verdict


def test_open_mode_on_a_network_address_when_allowed_on_purpose(
        seeded_db: Path, network_address: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIDASH_ALLOW_OPEN", "1")
    at = session("overview", None)
    assert drawn(at)["metric"] > 0


def test_nothing_is_served_while_the_audit_trail_cannot_be_written(
        seeded_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "no-such-folder" / "audit.jsonl"
    monkeypatch.setenv("AIDASH_AUDIT_LOG", str(target))
    at = session("overview", ANALYST)
    assert drawn(at) == NOTHING
    assert [e.value for e in at.error] == [
        (f"the audit log {target} cannot be written (No such file or directory); point "
        "AIDASH_AUDIT_LOG at a file the dashboard may append to. Sign-ins and exports must be "
        "recorded, so this dashboard shows no data until they can be.")]


def test_a_malformed_roles_table_is_shown_not_guessed(seeded_db: Path) -> None:
    secrets = {"auth": AUTH, "aidash": {"roles": {"admin": ["@example.gov.cn"]}}}
    at = session("overview", VIEWER, secrets=secrets)
    assert drawn(at) == NOTHING
    assert [e.value for e in at.error] == [
        ("[aidash.roles] has an unknown role 'admin'; the roles are viewer, analyst. Fix "
        ".streamlit/secrets.toml and reload this page.")]


@pytest.mark.parametrize(("locale", "lang", "title"), [
    ("zh-CN", None, "上海人工智能产业看板"), ("zh-Hant-TW", None, "上海人工智能产业看板"),
    ("en-GB", None, "Shanghai AI Industry Dashboard"), (None, None, "Shanghai AI Industry Dashboard"),
    ("zh-CN", "en", "Shanghai AI Industry Dashboard"),  # the link's ?lang= wins
])
def test_a_first_visit_without_lang_takes_the_browsers_language(
        seeded_db: Path, locale: str | None, lang: str | None, title: str) -> None:
    """A sign-in comes back to the dashboard without ?lang=: a Chinese browser stays Chinese."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.secrets, at.user = SECRETS, ANONYMOUS
    if locale:
        at.context = {"locale": locale}
    if lang:
        at.query_params["lang"] = lang
    at.run()
    assert [t.value for t in at.title] == [title]
