"""Figures of comparable metrics (output, industry scale, above designated size …) side by side:
the catalogue's comparable groups, the query on the real reference facts, the upgrade of an
older database, and the Sources page's Conflicts tab in both languages."""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from streamlit.testing.v1 import AppTest

from app.pages import VIEWS
from app.queries import series, sources
from etl.facts import load_facts
from etl.geography import InvalidRow, load_geography
from models.db import ENV_VAR, create_db_and_tables, make_engine
from models.migrations import upgrade
from tests.conftest import DATA_DIR

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
FACTS = DATA_DIR / "reference" / "shanghai_ai_facts.csv"
OUTPUT_NOTE = (("Total output as the People's Daily English edition words it: probably a "
               "translation of industry scale, but published on its own basis."),
               "人民日报英文版所称的“总产值”：可能译自“产业规模”，但按其自身口径发布。")
SCALE_NOTE = (("Industry scale of the whole AI industry as SHEITC and the press publish it: the "
              "broadest basis, firms of every size."),
              "市经信委及媒体发布的全行业人工智能产业规模：口径最宽，含各种规模的企业。")
OUTPUT_GROWTH_NOTE = ("Growth of total output as the People's Daily English edition reports it.",
                      "人民日报英文版所报“总产值”的同比增速。")
SCALE_GROWTH_NOTE = ("Growth of the industry scale: the whole industry, SHEITC basis.",
                     "产业规模的同比增速：全行业，市经信委口径。")


@pytest.fixture(scope="module")
def facts_db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The geography and the real reference facts, loaded as ``aidash init`` does."""
    path = tmp_path_factory.mktemp("facts") / "facts.db"
    engine = make_engine(path)
    create_db_and_tables(engine)
    load_geography(engine, DATA_DIR)
    load_facts(engine, FACTS)
    engine.dispose()
    return path


@pytest.fixture
def facts_ro(facts_db_path: Path) -> Iterator[Engine]:
    engine = make_engine(facts_db_path, read_only=True)
    yield engine
    engine.dispose()


@pytest.fixture
def facts_app(facts_db_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    import streamlit as st

    monkeypatch.setenv(ENV_VAR, str(facts_db_path))
    st.cache_data.clear()
    st.cache_resource.clear()
    yield facts_db_path
    st.cache_data.clear()
    st.cache_resource.clear()


def _comparable(engine: Engine):  # type: ignore[no-untyped-def]
    from app.conflicts import comparable_figures

    return comparable_figures(engine)


def _pairs(df, period: str) -> list[list[tuple]]:  # type: ignore[no-untyped-def]
    city = df[(df["scope_id"] == "310000") & (df["period"] == period)]
    return [[(r.metric, r.value, r.lower_bound, r.basis_note_en, r.basis_note_zh)
             for r in g.itertuples()] for _, g in city.groupby("group", sort=True)]


# -- the query, on the real facts -----------------------------------------------------------
def test_2024_output_and_scale_and_their_growth_are_set_side_by_side(facts_ro: Engine) -> None:
    figures = _comparable(facts_ro)
    assert _pairs(figures, "2024") == [
        [("ai_industry_growth_yoy", 7.8, True, *SCALE_GROWTH_NOTE),
         ("ai_industry_output_growth_yoy", 7.0, True, *OUTPUT_GROWTH_NOTE)],
        [("ai_industry_scale", 450.0, True, *SCALE_NOTE),
         ("ai_industry_output", 400.0, False, *OUTPUT_NOTE)],
    ]
    pair = figures[(figures["period"] == "2024") & (figures["comparable_group"] == "industry_size")]
    assert pair["source_title"].tolist() == [
        ("Shanghai's AI incubation hub drives AI innovation with robust ecosystem and policy "
        "support"),
        "Shanghai accelerates AI innovation (People's Daily, reposted by Alwihda Info)"]


def test_the_same_metric_from_two_sources_stays_with_the_conflicts_of_one_metric(
        facts_ro: Engine) -> None:
    """≥ 450 bn comes from two sources; the comparison sets only the figure of record beside
    the output, and the plain conflicts query keeps showing the two sources."""
    figures = _comparable(facts_ro)
    assert len(figures[(figures["metric"] == "ai_industry_scale")
                       & (figures["period"] == "2024")]) == 1
    same = sources.conflicts(facts_ro)
    assert sorted(same.loc[(same["metric"] == "ai_industry_scale") & (same["period"] == "2024"),
                           "value"]) == [450.0, 450.0]
    assert not ((same["metric"] == "ai_industry_output") & (same["period"] == "2024")).any()


def test_comparable_figures_are_never_spliced_into_one_series(facts_ro: Engine) -> None:
    output = series.series(facts_ro, "ai_industry_output", "city", ["310000"])
    scale = series.series(facts_ro, "ai_industry_scale", "city", ["310000"], basis="annual")
    assert output[["period", "value"]].values.tolist() == [["2024", 400.0]]
    assert scale[["period", "value"]].values.tolist() == [
        ["2018", 70.0], ["2021", 305.6], ["2024", 450.0]]


def test_groups_need_two_metrics_of_one_period_scope_basis_and_kind(facts_ro: Engine) -> None:
    figures = _comparable(facts_ro)
    sizes = figures.groupby("group").agg(
        n=("metric", "nunique"), periods=("period", "nunique"), scopes=("scope_id", "nunique"),
        bases=("basis", "nunique"), kinds=("kind", "nunique"),
        groups=("comparable_group", "nunique"))
    assert (sizes["n"] >= 2).all()
    assert (sizes[["periods", "scopes", "bases", "kinds", "groups"]] == 1).all().all()
    # The profit growth of 2025Q1 is in no group: it is not the industry's size or growth.
    assert "ai_industry_profit_growth_yoy" not in set(figures["metric"])


# -- the catalogue -------------------------------------------------------------------------
def _edit_metric(data_dir: Path, code: str, changes: dict[str, str]) -> None:
    path = data_dir / "metrics.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        fields = list(reader.fieldnames or [])
        table = list(reader)
    [row] = [r for r in table if r["code"] == code]
    row.update(changes)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(table)


def test_the_catalogue_loads_groups_and_notes(facts_ro: Engine) -> None:
    with facts_ro.connect() as conn:
        groups = conn.exec_driver_sql(
            "SELECT comparable_group, code FROM metrics WHERE comparable_group IS NOT NULL "
            "ORDER BY comparable_group, rowid").fetchall()
        notes = conn.exec_driver_sql("SELECT basis_note_en, basis_note_zh FROM metrics "
                                     "WHERE code = 'ai_industry_output'").one()
    assert [tuple(g) for g in groups] == [
        ("industry_growth", "ai_industry_growth_yoy"),
        ("industry_growth", "ai_industry_output_growth_yoy"),
        ("industry_growth", "ai_industry_revenue_growth_yoy"),
        ("industry_growth", "ai_leading_industry_output_growth_yoy"),
        ("industry_growth", "ai_manufacturing_output_growth_yoy"),
        ("industry_size", "ai_industry_scale"),
        ("industry_size", "ai_industry_scale_above_designated_size"),
        ("industry_size", "ai_industry_output"),
        ("industry_size", "ai_industry_output_above_designated_size"),
        ("industry_size", "ai_output_value_firms_revenue_over_20m_cny"),
        ("industry_size", "ai_industry_scale_planned_full_year"),
        ("industry_size", "ai_industry_revenue_above_designated_size")]
    assert tuple(notes) == OUTPUT_NOTE


@pytest.mark.parametrize(("code", "changes", "message"), [
    ("ai_industry_total_profit", {"comparable_group": "industry_growth",
                                  "basis_note_en": "Profit.", "basis_note_zh": "利润。"},
     ("metrics.csv, row 10, column comparable_group: group 'industry_growth' is in 'billion "
     "CNY' (ai_industry_total_profit, row 9), but ai_industry_growth_yoy is in 'percent'; only "
     "metrics of one unit are comparable")),
    ("ai_talent", {"comparable_group": "talent", "basis_note_en": "People.",
                   "basis_note_zh": "人才。"},
     ("metrics.csv, row 27, column comparable_group: group 'talent' has no other metric; give at "
     "least two metrics the same group, or leave it blank")),
    ("ai_industry_output", {"basis_note_zh": ""},
     ("metrics.csv, row 4, column basis_note_zh: required when comparable_group is set: say in a "
     "sentence what basis the metric is published on")),
    ("ai_industry_output", {"comparable_group": "Industry size"},
     ("metrics.csv, row 4, column comparable_group: 'Industry size' is not a group code; use "
     "lowercase letters, digits and underscores")),
])
def test_a_bad_group_is_refused_with_its_row(engine: Engine, data_dir: Path, code: str,
                                             changes: dict[str, str], message: str) -> None:
    _edit_metric(data_dir, code, changes)
    with pytest.raises(InvalidRow) as info:
        load_geography(engine, data_dir)
    assert str(info.value) == message
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM metrics").scalar_one() == 0


def test_an_older_database_gets_the_new_columns(tmp_path: Path) -> None:
    """A database built before the groups (and before observations.scope_relation): the
    dashboard's comparison is empty rather than failing, and the next load adds the columns
    and fills them."""
    path = tmp_path / "old.db"
    engine = make_engine(path)
    create_db_and_tables(engine)
    load_geography(engine, DATA_DIR)
    engine.dispose()
    with sqlite3.connect(path) as conn:
        for column in ("comparable_group", "basis_note_en", "basis_note_zh"):
            conn.execute(f"ALTER TABLE metrics DROP COLUMN {column}")
        conn.execute("ALTER TABLE observations DROP COLUMN scope_relation")
    old = make_engine(path, read_only=True)
    assert _comparable(old).empty
    old.dispose()
    engine = make_engine(path)
    assert upgrade(engine) == ["metrics.comparable_group", "metrics.basis_note_en",
                               "metrics.basis_note_zh", "observations.scope_relation"]
    assert upgrade(engine) == []
    load_geography(engine, DATA_DIR)
    load_facts(engine, FACTS)
    assert _pairs(_comparable(engine), "2024")[1] == [
        ("ai_industry_scale", 450.0, True, *SCALE_NOTE),
        ("ai_industry_output", 400.0, False, *OUTPUT_NOTE)]


# -- the Conflicts tab ---------------------------------------------------------------------
CONFLICTS_TAB = {
    "en": {
        "title": "Figures published on different bases",
        "size": "**AI industry scale vs AI industry total output** · Shanghai (city) · 2024",
        "growth": ("**AI industry scale growth (year on year) vs AI industry output growth "
                   "(year on year)** · Shanghai (city) · 2024"),
        "metrics": [("AI industry scale", "≥ 450.0 billion CNY"),
                    ("AI industry total output", "400.0 billion CNY"),
                    ("AI industry scale growth (year on year)", "≥ 7.8%"),
                    ("AI industry output growth (year on year)", "≥ 7.0%")],
        "notes": [f"Basis: {n[0]}" for n in (SCALE_NOTE, OUTPUT_NOTE, SCALE_GROWTH_NOTE,
                                            OUTPUT_GROWTH_NOTE)],
        "basis_column": "Basis",
    },
    "zh": {
        "title": "不同口径发布的数字",
        "size": "**人工智能产业规模 对比 人工智能产业总产值** · 上海市（全市） · 2024年",
        "growth": "**人工智能产业规模同比增速 对比 人工智能产业产值同比增速** · 上海市（全市） · 2024年",
        "metrics": [("人工智能产业规模", "≥ 4,500 亿元"), ("人工智能产业总产值", "4,000 亿元"),
                    ("人工智能产业规模同比增速", "≥ 7.8%"), ("人工智能产业产值同比增速", "≥ 7.0%")],
        "notes": [f"口径：{n[1]}" for n in (SCALE_NOTE, OUTPUT_NOTE, SCALE_GROWTH_NOTE,
                                          OUTPUT_GROWTH_NOTE)],
        "basis_column": "口径",
    },
}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_conflicts_tab_sets_different_bases_side_by_side(facts_app: Path, lang: str) -> None:
    at = AppTest.from_file(APP, default_timeout=30)
    at.query_params.update({"lang": lang, "tab": "conflicts"})
    at.switch_page(VIEWS["sources"]).run()
    assert not at.exception, at.exception
    want = CONFLICTS_TAB[lang]
    assert want["title"] in [h.value for h in at.subheader]
    headers = [m.value for m in at.markdown]
    assert want["size"] in headers and want["growth"] in headers
    shown = [(m.label, m.value) for m in at.metric]
    assert all(pair in shown for pair in want["metrics"]), shown
    captions = [c.value for c in at.caption]
    assert all(note in captions for note in want["notes"]), captions
    table = next(df.value for df in at.dataframe if want["basis_column"] in df.value.columns)
    assert set(table[want["basis_column"]]) >= {n.split("：" if lang == "zh" else ": ", 1)[1]
                                                for n in want["notes"]}
