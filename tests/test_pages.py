"""Every page through AppTest against the seeded database, in both languages, plus flows:
filters → table and URL, exports, shared links, the map's selection, a missing database."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app import export
from app.pages import VIEWS
from models.db import create_db_and_tables, make_engine
from tests.seed import REPORTED_FACTS

pytest_plugins = ["dashboard_fixtures"]

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
TIMEOUT = 30
PAGES = VIEWS


def open_page(page: str, **params: str | list[str]) -> AppTest:
    """A fresh session opened on ``page`` with ``params`` in its URL (a shared link)."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update(params)
    if page != "overview":
        at.switch_page(PAGES[page])
    at.run()
    assert not at.exception, at.exception
    return at


def figures(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def markdown(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown]


def _overview(at: AppTest, lang: str) -> None:
    # The seed's two reported 2024 city figures on their own bases: scale (over 450 bn) and
    # output (400 bn), as published.
    assert [(m.label, m.value) for m in at.metric[:2]] == {
        "en": [("2024 · AI industry scale", "≥ 450.0 billion CNY"),
               ("2024 · AI industry output", "400.0 billion CNY")],
        "zh": [("2024年 · 人工智能产业规模", "≥ 4,500 亿元"),
               ("2024年 · 人工智能产业产值", "4,000 亿元")]}[lang]
    roles = [t["meta"]["role"] for t in figures(at)[0]["data"]]
    assert {"sample", "fan80", "fan95", "reported", "target"} <= set(roles)
    badge = {"en": "Sample data — generated, not real", "zh": "样例数据（生成，非真实）"}[lang]
    assert any(badge in m for m in markdown(at))


def _map(at: AppTest, lang: str) -> None:
    assert at.selectbox[0].label == {"en": "Metric", "zh": "指标"}[lang]
    fig = figures(at)[0]
    assert [t["meta"]["role"] for t in fig["data"]] == ["districts", "values", "zones"]
    assert len(fig["data"][0]["locations"]) == 16
    # The seed's computing site has no point: it is named under the map, not drawn on it.
    drawn = [row[0] for row in fig["data"][2]["customdata"]]
    assert len(drawn) == 6 and "lingang_ct_computing" not in drawn
    assert {"en": "Not on the map (no reliable point): China Telecom Lingang Intelligent "
                  "Computing Center.",
            "zh": "未在地图上标出（无可靠坐标）：中国电信临港智算中心。"}[lang] in [
        c.value for c in at.caption]


def _trends(at: AppTest, lang: str) -> None:
    assert at.multiselect[0].label == {"en": "Places or segments", "zh": "地点或领域"}[lang]
    fig = figures(at)[0]
    names = [t["name"] for t in fig["data"] if t.get("showlegend") is not False]
    assert names[0] == {"en": "Zhangjiang AI Island (sample)", "zh": "张江人工智能岛（样例）"}[lang]
    assert fig["layout"]["yaxis"]["title"]["text"] == {
        "en": "Enterprise revenue (billion CNY)", "zh": "企业营业收入（亿元）"}[lang]


def _enterprises(at: AppTest, lang: str) -> None:
    table = at.dataframe[0].value
    assert len(table) == 25
    assert table.columns[0] == {"en": "Credit code", "zh": "统一社会信用代码"}[lang]
    assert markdown(at)[0] == {"en": "**200** enterprises match · showing 1–25",
                               "zh": "共 **200** 家企业符合条件 · 显示第 1–25 家"}[lang]


def _sources(at: AppTest, lang: str) -> None:
    assert at.info[0].value == {
        "en": "Data as of **2025 Q2**, loaded on 2025-08-12 22:05 (UTC+8) (ETL run 3).",
        "zh": "数据截至 **2025年第2季度**，加载于 2025年8月12日 22:05（北京时间）（ETL 批次 3）。",
    }[lang]
    assert len(at.dataframe[0].value) == len(REPORTED_FACTS)


CHECKS: dict[str, tuple[dict[str, str], Callable[[AppTest, str], None]]] = {
    "overview": ({"en": "Shanghai AI industry at a glance", "zh": "上海人工智能产业概览"},
                 _overview),
    "map": ({"en": "Map of districts and zones", "zh": "行政区与集聚区地图"}, _map),
    "trends": ({"en": "Trends", "zh": "趋势"}, _trends),
    "enterprises": ({"en": "Enterprise register", "zh": "企业名录"}, _enterprises),
    "sources": ({"en": "Sources and data", "zh": "来源与数据"}, _sources),
}


@pytest.mark.both_backends
@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_in_both_languages(seeded_db: Path, page: str, lang: str) -> None:
    at = open_page(page, lang=lang)
    titles, check = CHECKS[page]
    assert at.title[0].value == titles[lang]
    assert at.query_params["lang"] == lang
    check(at, lang)


@pytest.mark.slow
def test_switching_pages_in_one_session(seeded_db: Path) -> None:
    at = open_page("overview")
    for page in ("map", "trends", "enterprises", "sources", "overview"):
        at.switch_page(PAGES[page]).run()
        assert not at.exception, (page, at.exception)
        assert at.title[0].value == CHECKS[page][0]["en"]


@pytest.mark.slow
def test_language_switch_translates_and_goes_into_the_url(seeded_db: Path) -> None:
    at = open_page("enterprises")
    at.segmented_control(key="lang").set_value("zh").run()
    assert at.title[0].value == "企业名录"
    assert at.query_params["lang"] == "zh"
    assert at.dataframe[0].value.columns[1] == "企业名称"


@pytest.mark.slow
def test_a_filter_changes_the_table_and_the_url(seeded_db: Path) -> None:
    at = open_page("enterprises")
    at.multiselect(key="ent_zones").set_value(["zhangjiang_ai_island"]).run()
    at.pills(key="ent_sizes").set_value(["micro", "small"]).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert set(table["Zone"]) == {"Zhangjiang AI Island"}
    assert table["Employees"].max() <= 99
    assert markdown(at)[0].startswith(f"**{len(table)}** enterprises match")
    assert at.query_params["zones"] == "zhangjiang_ai_island"
    assert at.query_params["sizes"] == ["micro", "small"]


@pytest.mark.slow
def test_paging_and_sorting(seeded_db: Path) -> None:
    at = open_page("enterprises", sort="founded", desc="1")
    first = at.dataframe[0].value["Founded"].tolist()
    assert first == sorted(first, reverse=True)
    at.number_input(key="ent_page").set_value(2).run()
    second = at.dataframe[0].value
    assert markdown(at)[0] == "**200** enterprises match · showing 26–50"
    assert second["Founded"].iloc[0] <= first[-1]
    assert at.query_params["page"] == "2"


@pytest.mark.slow
def test_export_has_bom_filtered_rows_and_neutralised_formulas(
        seeded_db: Path, monkeypatch: pytest.MonkeyPatch, clicked_downloads: dict[str, bytes],
        audit_log: Path) -> None:
    made: list[bytes] = []
    stems: list[str] = []
    real_csv, real_stem = export.to_csv_bytes, export.file_stem

    def recording(df):  # type: ignore[no-untyped-def]
        made.append(real_csv(df))
        return made[-1]

    def naming(*args):  # type: ignore[no-untyped-def]
        stems.append(real_stem(*args))
        return stems[-1]

    monkeypatch.setattr(export, "to_csv_bytes", recording)
    monkeypatch.setattr(export, "file_stem", naming)
    at = open_page("enterprises")
    made.clear()
    at.text_input(key="ent_q").input("=HYPERLINK").run()
    assert not at.exception
    assert at.query_params["q"] == "=HYPERLINK"
    [csv] = made
    assert csv.startswith(b"\xef\xbb\xbf")
    lines = csv.decode("utf-8-sig").strip().split("\r\n")
    assert len(lines) == 2  # the header and the one matching firm: exactly what is on screen
    assert lines[0].startswith("Credit code,Name (Chinese),Name (English),Zone")
    assert ",\"'=HYPERLINK(\"\"http://example.invalid\"\",\"\"click\"\")\"," in lines[1]
    assert re.fullmatch(r"enterprises_search_2025Q2_\d{8}-\d{4}", stems[-1])
    # Two buttons, each a deferred download: the file is made (and recorded) on the click.
    assert [b.proto.deferred_file_id != "" for b in at.get("download_button")] == [True, True]
    assert [name.rsplit(".", 1)[1] for name in clicked_downloads][-2:] == ["csv", "xlsx"]
    recorded = [json.loads(line) for line in audit_log.read_text(encoding="utf-8").splitlines()]
    assert {(e["event"], e["format"], e["page"], e["rows"], e["role"]) for e in recorded
            if e.get("file", "").startswith("enterprises_search")} == {
        ("export", "csv", "enterprises", 1, "open"), ("export", "xlsx", "enterprises", 1, "open")}


@pytest.mark.slow
def test_shared_enterprise_link_restores_the_view(seeded_db: Path) -> None:
    at = open_page("enterprises", lang="zh", zones="westbund_ai_tower", sort="employees",
                   desc="1", psize="50")
    ss = at.session_state
    assert (ss["ent_zones"], ss["ent_sort"], ss["ent_desc"], ss["ent_psize"]) == (
        ["westbund_ai_tower"], "employees", True, 50)
    table = at.dataframe[0].value
    assert set(table["园区"]) == {"西岸智塔"}
    assert table["从业人员"].tolist() == sorted(table["从业人员"], reverse=True)
    assert at.query_params["zones"] == "westbund_ai_tower"


@pytest.mark.slow
def test_shared_trends_link_restores_the_view(seeded_db: Path) -> None:
    at = open_page("trends", lang="zh", stype="district", scopes=["310115", "310104"],
                   view="growth", fan="0")
    ss = at.session_state
    assert (ss["trends_stype"], ss["trends_scopes"], ss["trends_view"], ss["trends_fan"]) == (
        "district", ["310115", "310104"], "growth", False)
    fig = figures(at)[0]
    assert fig["layout"]["yaxis"]["title"]["text"] == "企业营业收入：同比增速（%）"
    assert {t["meta"]["role"] for t in fig["data"]} == {"line-sample"}
    lines = [t["name"] for t in fig["data"] if t["meta"]["role"] == "line-sample"]
    assert lines == ["浦东新区（样例）", "徐汇区（样例）"]  # districts in the order chosen


@pytest.mark.slow
def test_trends_view_switches_and_bad_url_values_fall_back(seeded_db: Path) -> None:
    at = open_page("trends", stype="nonsense", metric="no_such_metric|x", scopes="nowhere")
    assert at.session_state["trends_stype"] == "zone"
    assert at.session_state["trends_metric"] == "enterprise_revenue|quarterly"
    assert at.session_state["trends_scopes"] == ["zhangjiang_ai_island", "westbund_ai_tower",
                                                 "dishui_lake_ai_hub", "maqiao_ai_pilot_zone"]
    at.segmented_control(key="trends_view").set_value("share").run()
    assert not at.exception
    assert figures(at)[0]["layout"]["yaxis"]["title"]["text"] == (
        "Enterprise revenue: share of the city (%)")
    assert at.query_params["view"] == "share"


@pytest.mark.slow
def test_annual_levels_sum_complete_years(seeded_db: Path) -> None:
    at = open_page("trends", stype="city", freq="Y")
    [trace] = [t for t in figures(at)[0]["data"] if t["meta"]["role"] == "line-sample"]
    # Only 2024 has four quarters (y is a base64 typed array in the spec; x is a list).
    assert (trace["name"], trace["x"]) == ("Shanghai (city) (sample)",
                                           ["2024-12-31T00:00:00.000000"])
    assert at.dataframe[0].value["Period"].tolist() == ["2024"]
    assert at.query_params["freq"] == "Y" and at.query_params["stype"] == "city"


@pytest.mark.slow
def test_map_selection_shows_the_trend_and_links_to_trends(seeded_db: Path) -> None:
    at = open_page("map", sel="district:310115")
    assert at.subheader[0].value == "Trend: Pudong New Area"
    trend = figures(at)[1]
    assert [t["name"] for t in trend["data"] if t["meta"]["role"] == "line-sample"] == [
        "Pudong New Area (sample)"]
    [link] = at.get("page_link")
    assert link.proto.label == "Compare Pudong New Area in Trends"
    assert at.query_params["sel"] == "district:310115"


@pytest.mark.slow
def test_map_period_slider_goes_into_the_url(seeded_db: Path) -> None:
    at = open_page("map")
    at.select_slider(key="map_period").set_value("2024Q2").run()
    assert not at.exception
    assert at.query_params["period"] == "2024Q2"
    assert at.dataframe[0].value["Period"].iloc[0] == "2024 Q2"


def test_missing_database_gives_a_friendly_page(missing_db: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert at.title[0].value == "The database has not been built yet"
    assert at.info[0].value == (
        f"There is no database at `{missing_db}`. Build it from the bundled data with "
        "`make run` (sets everything up, builds the database and starts this dashboard) or "
        "with `aidash init`, then reload this page.")
    at.switch_page(PAGES["trends"]).run()
    assert not at.exception and at.title[0].value == "The database has not been built yet"
    assert not missing_db.exists()


def test_empty_database_gives_a_friendly_page(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "empty.db"
    create_db_and_tables(make_engine(path))
    monkeypatch.setenv("AIDASH_DATABASE_URL", str(path))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["lang"] = "zh"
    at.run()
    assert not at.exception
    assert at.title[0].value == "数据库尚未建立"
    assert at.info[0].value == (
        f"`{path}` 的数据库还没有数据。请用 `make run` 或 `aidash init` 建库"
        "（加 `--force` 可重建），然后刷新本页。")


@pytest.mark.slow
def test_trends_page_with_forecasts_too_short_to_backtest(seeded_db_path: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression (scale benchmark): series with no backtest store NULL accuracy, and the
    accuracy table must still render instead of failing on round()."""
    import shutil
    import sqlite3

    import streamlit as st

    db = tmp_path / "no_backtest.db"
    shutil.copy(seeded_db_path, db)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE forecast_runs SET backtest_mase = NULL, backtest_cov80 = NULL, "
                     "backtest_cov95 = NULL")
    monkeypatch.setenv("AIDASH_DATABASE_URL", str(db))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = open_page("trends")
    accuracy = [df.value for df in at.dataframe if "MASE" in df.value.columns]
    assert len(accuracy) == 1 and accuracy[0]["MASE"].isna().all()


@pytest.mark.slow
def test_sources_page_shows_units_in_chinese(seeded_db: Path) -> None:
    at = open_page("sources", lang="zh")
    facts = next(df.value for df in at.dataframe if "单位" in df.value.columns)
    units = set(facts["单位"])
    assert units and not units & {"enterprises", "billion CNY", "percent"}, units


@pytest.mark.slow
def test_a_broad_search_counts_up_to_the_cap(seeded_db: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from app.queries import register

    monkeypatch.setattr(register, "SEARCH_COUNT_CAP", 50)
    at = open_page("enterprises")
    at.text_input(key="ent_q").input("a").run()  # every one of the 200 firms matches
    assert not at.exception
    assert markdown(at)[0] == "**50+** enterprises match · showing 1–25"
    names = at.dataframe[0].value["Name (Chinese)"].tolist()
    assert len(names) == 25 and names == sorted(names)
    assert at.number_input(key="ent_page").label == "Page (of 2)"  # only the capped pages
    at.number_input(key="ent_page").set_value(2).run()
    assert markdown(at)[0] == "**50+** enterprises match · showing 26–50"
    at.text_input(key="ent_q").input("有限公司00").run()  # 10 firms: counted exactly
    assert markdown(at)[0] == "**10** enterprises match · showing 1–10"


@pytest.mark.slow
def test_chinese_export_names_both_sheets_in_chinese(seeded_db: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     clicked_downloads: dict[str, bytes]) -> None:
    import io

    import openpyxl

    made: list[bytes] = []
    real_xlsx = export.to_xlsx_bytes

    def recording(*args, **kwargs):  # type: ignore[no-untyped-def]
        made.append(real_xlsx(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(export, "to_xlsx_bytes", recording)
    open_page("enterprises", lang="zh")
    book = openpyxl.load_workbook(io.BytesIO(made[-1]))
    assert book.sheetnames == ["数据", "说明"]


# Regression (issue 10): a damaged database was reported as "not built yet".
NOT_BUILT = {
    "en": ("The database has not been built yet",
           ("The database at `{path}` has no data yet. Build it with `make run` or `aidash init` "
            "(add `--force` to rebuild), then reload this page.")),
    "zh": ("数据库尚未建立",
           ("`{path}` 的数据库还没有数据。请用 `make run` 或 `aidash init` 建库（加 `--force` 可重建），"
            "然后刷新本页。")),
}
DAMAGED = {
    "en": ("The database is damaged",
           ("The database at `{path}` is damaged: {reason}. Restore it from a backup, or rebuild "
            "it from the bundled data with `aidash init --force` (this discards every drop loaded "
            "into it), then reload this page.")),
    "zh": ("数据库已损坏",
           ("`{path}` 的数据库已损坏：{reason}。请从备份恢复，或用 `aidash init --force` 由随附数据重建"
            "（已加载的数据批次将全部丢弃），然后刷新本页。")),
}
REASONS = {
    "truncated": {"en": "the file is shorter than its header says, so it was cut off",
                  "zh": "文件比其文件头记录的短，已被截断"},
    "random_bytes": {"en": "the file is not an SQLite database", "zh": "该文件不是 SQLite 数据库"},
    "overwritten_schema": {"en": "SQLite reports that the database disk image is malformed",
                           "zh": "SQLite 报告数据库映像格式错误"},
    "overwritten_page": {"en": "SQLite's quick check found errors", "zh": "SQLite 快速检查发现错误"},
}


def _open_database_file(path: Path, lang: str, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    import streamlit as st

    monkeypatch.setenv("AIDASH_DATABASE_URL", str(path))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["lang"] = lang
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("kind", list(REASONS))
def test_a_damaged_database_says_restore_or_rebuild(seeded_db_path: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    kind: str, lang: str) -> None:
    from dashboard_fixtures import damaged_copy

    path = damaged_copy(seeded_db_path, tmp_path / "ai_industry.db", kind)
    before = path.read_bytes()
    at = _open_database_file(path, lang, monkeypatch)
    title, text = DAMAGED[lang]
    assert at.title[0].value == title
    assert at.error[0].value == text.format(path=path, reason=REASONS[kind][lang])
    assert [c.value for c in at.code] == ["aidash init --force"]
    assert len(at.info) == 0
    assert path.read_bytes() == before


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_zero_byte_database_is_not_built_yet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               lang: str) -> None:
    path = tmp_path / "ai_industry.db"
    path.touch()
    at = _open_database_file(path, lang, monkeypatch)
    title, text = NOT_BUILT[lang]
    assert at.title[0].value == title
    assert at.info[0].value == text.format(path=path)
    assert len(at.error) == 0


@pytest.mark.slow
def test_the_quick_check_runs_once_per_data_version(seeded_db_path: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from app import cached

    path = tmp_path / "ai_industry.db"
    shutil.copy(seeded_db_path, path)
    checks: list[bool] = []
    real = cached.diagnose

    def counting(conn, where, *, quick_check):  # type: ignore[no-untyped-def]
        checks.append(quick_check)
        return real(conn, where, quick_check=quick_check)

    monkeypatch.setattr(cached, "diagnose", counting)
    at = _open_database_file(path, "en", monkeypatch)
    at.switch_page(PAGES["trends"]).run()
    at.switch_page(PAGES["sources"]).run()
    assert not at.exception and at.title[0].value == "Sources and data"
    assert checks == [True]


def test_a_slow_quick_check_does_not_hold_up_the_page(seeded_db_path: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A large file is checked in the background: the page shows at once, and the check's
    verdict (here: damage) reaches the next run without a new data version."""
    import shutil
    import threading

    from app import cached

    path = tmp_path / "ai_industry.db"
    shutil.copy(seeded_db_path, path)
    release = threading.Event()

    def slow(conn, where, *, quick_check):  # type: ignore[no-untyped-def]
        release.wait(timeout=30)
        return "check_failed"

    monkeypatch.setattr(cached, "diagnose", slow)
    monkeypatch.setattr(cached, "QUICK_CHECK_SYNC_BYTES", 0)  # every file counts as large
    at = _open_database_file(path, "en", monkeypatch)
    assert at.title[0].value == "Shanghai AI industry at a glance" and len(at.error) == 0
    release.set()
    cached._quick_checks().pool.submit(lambda: None).result(timeout=30)  # the check is done
    at.run()
    assert at.title[0].value == DAMAGED["en"][0]
    assert at.error[0].value == DAMAGED["en"][1].format(path=path,
                                                      reason=REASONS["overwritten_page"]["en"])


def test_results_are_cached_until_the_data_version_changes(
        seeded_db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rerun on the same data version reads the cached cards; a new ETL run (a load or a
    rollback changes the run token) shows the database as it is now, without a restart."""
    import shutil
    import sqlite3

    path = tmp_path / "ai_industry.db"
    shutil.copy(seeded_db_path, path)
    at = _open_database_file(path, "en", monkeypatch)
    assert at.metric[0].value == "≥ 450.0 billion CNY"
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE observations SET value = 460 WHERE metric = 'ai_industry_scale' "
                     "AND period = '2024'")
    conn.close()
    at.run()
    assert at.metric[0].value == "≥ 450.0 billion CNY"  # same data version: from the cache
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO etl_runs (kind, started_at, finished_at, status) "
                     "VALUES ('facts', '2026-01-01 00:00:00', '2026-01-01 00:00:01', "
                     "'succeeded')")
    conn.close()
    at.run()
    assert not at.exception
    assert at.metric[0].value == "≥ 460.0 billion CNY"


@pytest.mark.slow
def test_enterprises_export_survives_control_characters_in_an_older_database(
        clicked_downloads: dict[str, bytes],
        seeded_db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression (issue 10): a name holding U+0007 (loaded before loads refused it) made the
    XLSX export raise IllegalCharacterError, so the page crashed whenever that firm showed."""
    import io
    import shutil
    import sqlite3

    import streamlit as st
    from python_calamine import CalamineWorkbook

    path = tmp_path / "old.db"
    shutil.copy(seeded_db_path, path)
    with sqlite3.connect(path) as conn:
        code, name = conn.execute("SELECT credit_code, name_zh FROM enterprises "
                                  "ORDER BY credit_code LIMIT 1").fetchone()
        conn.execute("UPDATE enterprises SET name_zh = name_zh || char(7) WHERE credit_code = ?",
                     (code,))
    conn.close()
    made: list[bytes] = []
    real_xlsx = export.to_xlsx_bytes

    def recording(*args, **kwargs):  # type: ignore[no-untyped-def]
        made.append(real_xlsx(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(export, "to_xlsx_bytes", recording)
    monkeypatch.setenv("AIDASH_DATABASE_URL", str(path))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = open_page("enterprises", q=code)
    assert at.dataframe[0].value["Name (Chinese)"].tolist() == [name + "\x07"]
    book = CalamineWorkbook.from_filelike(io.BytesIO(made[-1]))
    data = book.get_sheet_by_name("Data").to_python()
    assert [row[1] for row in data] == ["Name (Chinese)", name + "\\x07"]
    note = ("1 cell(s) held control characters a workbook cannot store; they are written as "
            "\\xNN (for example \\x07 for U+0007).")
    assert book.get_sheet_by_name("About").to_python()[-1] == ["Control characters", note]


@pytest.mark.slow
def test_damage_met_while_drawing_a_page_shows_the_damaged_screen(
        seeded_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Damage the checks did not reach (a page read after the quick check) is still reported as
    damage, not as a passing read error."""
    import sqlite3

    from dashboard_fixtures import damaged_copy
    from sqlalchemy.exc import DatabaseError

    from app import cached

    broken = damaged_copy(seeded_db, tmp_path / "broken.db", "overwritten_page")
    conn = sqlite3.connect(broken)
    with pytest.raises(sqlite3.DatabaseError) as corrupt:
        conn.execute("SELECT * FROM enterprise_revenue_versions INDEXED BY "
                     "ix_revenue_versions_run WHERE etl_run_id > 0").fetchall()
    conn.close()

    def failing(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise DatabaseError("SELECT …", {}, corrupt.value)

    monkeypatch.setattr(cached, "_call", failing)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert at.title[-1].value == "The database is damaged"
    assert at.error[-1].value == DAMAGED["en"][1].format(
        path=seeded_db, reason="SQLite reports that the database disk image is malformed")
