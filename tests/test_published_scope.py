"""Figures published for another area than the zone they are shown on (the West Bund area's
255 foundation-model firms on the West Bund AI Tower, Lingang Special Area targets on the
Dishui Lake hub, a Maqiao Town count on the pilot zone) carry their published scope in the
queries, and in the tables, hovers and exports of the pages, apart from the zone's own name."""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from sqlalchemy.engine import Engine
from streamlit.testing.v1 import AppTest

from app import export
from app.i18n import get_translator
from app.pages import VIEWS
from app.queries import overview, series, sources
from etl.facts import FACT_COLUMNS, load_facts
from etl.geography import load_geography
from models.db import ENV_VAR, create_db_and_tables, make_engine
from tests.conftest import DATA_DIR

pytest_plugins = ["dashboard_fixtures"]

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
REFERENCE = DATA_DIR / "reference"
TOWER = {"en": "West Bund AI Tower (Shanghai West Bund International AI Center)",
         "zh": "西岸智塔(上海西岸国际人工智能中心)"}
AREA = "West Bund (Xuhui)"
AREA_SCOPE = {"en": f"{AREA} (published scope, wider than {TOWER['en']})",
              "zh": f"{AREA}（发布口径，范围大于{TOWER['zh']}）"}
COLUMN = {"en": "Published scope", "zh": "发布口径范围"}
# A firm count for the West Bund area, made up for these tests (no publication has it).
MADE_UP_AREA_FIRMS = {
    "metric": "zone_enterprises", "zone_or_scope": AREA, "period": "2025-06", "value": "300",
    "unit": "enterprises", "source_title": "Made-up figure for a test",
    "source_url_or_publication": "tests", "source_date": "2025-07-01", "quote": "made up",
    "confidence": "low", "caveat": "Not a published figure."}


def _build(path: Path, reference: Path) -> Path:
    engine = make_engine(path)
    create_db_and_tables(engine)
    load_geography(engine, DATA_DIR)
    load_facts(engine, reference / "shanghai_ai_facts.csv")
    engine.dispose()
    return path


@pytest.fixture(scope="module")
def facts_db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The geography and the real reference facts."""
    return _build(tmp_path_factory.mktemp("facts") / "facts.db", REFERENCE)


@pytest.fixture(scope="module")
def area_db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real facts plus one made-up firm count for the West Bund area, so that a zone's
    latest firm count (the overview's table, the map's markers) is an area figure."""
    folder = tmp_path_factory.mktemp("area")
    shutil.copy(REFERENCE / "scope_map.csv", folder)
    shutil.copy(REFERENCE / "shanghai_ai_facts.csv", folder)
    with (folder / "shanghai_ai_facts.csv").open("a", encoding="utf-8", newline="") as fh:
        csv.DictWriter(fh, fieldnames=FACT_COLUMNS, lineterminator="\n").writerow(
            MADE_UP_AREA_FIRMS)
    return _build(folder / "area.db", folder)


@pytest.fixture
def facts_ro(facts_db_path: Path) -> Iterator[Engine]:
    engine = make_engine(facts_db_path, read_only=True)
    yield engine
    engine.dispose()


def _point_app_at(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import streamlit as st

    monkeypatch.setenv(ENV_VAR, str(path))
    st.cache_data.clear()
    st.cache_resource.clear()


def open_page(page: str, **params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    at.query_params.update(params)
    if page != "overview":
        at.switch_page(VIEWS[page])
    at.run()
    assert not at.exception, at.exception
    return at


def _none(value: object) -> object:
    return None if pd.isna(value) else value


# -- queries -------------------------------------------------------------------------------
def test_reported_facts_carry_the_published_scope(facts_ro: Engine) -> None:
    facts = sources.reported_facts(facts_ro)
    tower = facts[facts["scope_id"] == "westbund_ai_tower"]
    got = sorted((r.metric, r.period, r.value, r.scope_label, _none(r.scope_relation))
                 for r in tower.itertuples())
    assert got == [
        ("zone_academicians", "2020-07", 6.0, "West Bund AI Tower (Xuhui)", None),
        ("zone_academicians", "2024-04", 8.0, "West Bund AI Tower (Xuhui)", None),
        ("zone_foundation_model_enterprises", "2025-05", 255.0, AREA, "wider"),
        ("zone_investment_institutions", "2025-05", 100.0, AREA, "wider"),
        ("zone_phd_holders", "2020-07", 158.0, "West Bund AI Tower (Xuhui)", None),
        ("zone_phd_holders", "2024-04", 200.0, "West Bund AI Tower (Xuhui)", None),
        ("zone_planned_anchor_tenants", "2020-01", 16.0, "West Bund AI Tower (Xuhui)", None),
        ("zone_professionals", "2024-08", 3000.0, "West Bund AI Tower (Xuhui)", None),
        ("zone_registered_foundation_models", "2025-05", 34.0, AREA, "wider"),
        ("zone_total_floor_area", "2024-08", 1200000.0,
         "West Bund Smart Valley (西岸智慧谷, Xuhui)", "wider"),
    ]
    wider = facts[facts["scope_relation"].notna()]
    assert sorted(set(zip(wider["scope_label"], wider["scope_id"], wider["scope_relation"]))) == [
        ("Lingang Special Area", "dishui_lake_ai_hub", "wider"),
        ("Maqiao Town (Minhang)", "maqiao_ai_pilot_zone", "wider"),
        ("Mosu Space and surroundings (Xuhui)", "mosu_space", "wider"),
        (AREA, "westbund_ai_tower", "wider"),
        ("West Bund Smart Valley (西岸智慧谷, Xuhui)", "westbund_ai_tower", "wider"),
        ("Zhangjiang AI Island Phase II (Pudong)", "zhangjiang_ai_island", "part"),
    ]


def test_series_and_targets_carry_the_published_scope(facts_ro: Engine) -> None:
    firms = series.series(facts_ro, "zone_foundation_model_enterprises", "zone",
                           ["westbund_ai_tower", "mosu_space"], basis="point")
    assert [(r.scope_id, r.period, r.value, r.scope_label, _none(r.scope_relation))
            for r in firms.itertuples()] == [
        ("mosu_space", "2024-06", 100.0, "Mosu Space (Xuhui)", None),
        ("westbund_ai_tower", "2025-05", 255.0, AREA, "wider")]
    targets = series.targets(facts_ro, "zone", "dishui_lake_ai_hub")
    assert set(zip(targets["metric"], targets["scope_label"], targets["scope_relation"])) == {
        ("target_ai_enterprises", "Lingang Special Area", "wider"),
        ("target_ai_industry_scale", "Lingang Special Area", "wider"),
        ("target_computing_capacity", "Lingang Special Area", "wider")}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_scope_text_names_the_published_scope_apart_from_the_zone(lang: str) -> None:
    from app.published_scope import scope_text

    tr = get_translator(lang)
    assert scope_text(tr, TOWER[lang], AREA, "wider") == AREA_SCOPE[lang]
    assert scope_text(tr, "Zhangjiang", "Phase II", "part") == {
        "en": "Phase II (published scope, part of Zhangjiang)",
        "zh": "Phase II（发布口径，为Zhangjiang的一部分）"}[lang]
    assert scope_text(tr, TOWER[lang], "West Bund AI Tower (Xuhui)", None) == TOWER[lang]


# -- pages ---------------------------------------------------------------------------------
@pytest.fixture
def exports(monkeypatch: pytest.MonkeyPatch,
            clicked_downloads: dict[str, bytes]) -> dict[str, list[bytes]]:
    """Every CSV and XLSX the pages' buttons make (each clicked as it is drawn), in order."""
    made: dict[str, list[bytes]] = {"csv": [], "xlsx": []}
    real_csv, real_xlsx = export.to_csv_bytes, export.to_xlsx_bytes

    def csv_bytes(df):  # type: ignore[no-untyped-def]
        made["csv"].append(real_csv(df))
        return made["csv"][-1]

    def xlsx_bytes(*args, **kwargs):  # type: ignore[no-untyped-def]
        made["xlsx"].append(real_xlsx(*args, **kwargs))
        return made["xlsx"][-1]

    monkeypatch.setattr(export, "to_csv_bytes", csv_bytes)
    monkeypatch.setattr(export, "to_xlsx_bytes", xlsx_bytes)
    return made


def _csv_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def _xlsx_rows(data: bytes) -> list[dict[str, object]]:
    sheet = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    values = list(sheet.iter_rows(values_only=True))
    return [dict(zip(values[0], row)) for row in values[1:]]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_sources_table_and_its_exports_show_the_published_scope(
        facts_db_path: Path, monkeypatch: pytest.MonkeyPatch,
        exports: dict[str, list[bytes]], lang: str) -> None:
    _point_app_at(facts_db_path, monkeypatch)
    at = open_page("sources", lang=lang)
    scope, value, metric = {"en": ("Scope", "Value", "Metric"), "zh": ("对象", "数值", "指标")}[lang]
    table = at.dataframe[0].value
    area = table[table[value] == 255.0]
    assert area[[scope, COLUMN[lang]]].values.tolist() == [[AREA_SCOPE[lang], AREA]]
    own = table[table[metric] == {"en": "Professionals in the zone", "zh": "园区专业技术人才"}[lang]]
    assert own[[scope, COLUMN[lang]]].values.tolist() == [[TOWER[lang], ""]]
    for rows in (_csv_rows(exports["csv"][-1]), _xlsx_rows(exports["xlsx"][-1])):
        [row] = [r for r in rows if str(r[value]) in ("255", "255.0")]
        assert (row[scope], row[COLUMN[lang]]) == (AREA_SCOPE[lang], AREA)


def test_trends_table_and_export_show_the_published_scope(
        facts_db_path: Path, monkeypatch: pytest.MonkeyPatch,
        exports: dict[str, list[bytes]]) -> None:
    _point_app_at(facts_db_path, monkeypatch)
    at = open_page("trends", stype="zone", scopes="westbund_ai_tower",
                   metric="zone_foundation_model_enterprises|point")
    table = next(df.value for df in at.dataframe if COLUMN["en"] in df.value.columns)
    assert table[["Scope", COLUMN["en"], "Period"]].values.tolist() == [
        [AREA_SCOPE["en"], AREA, "2025-05"]]
    rows = _csv_rows(exports["csv"][0])
    assert [(r["Scope"], r[COLUMN["en"]]) for r in rows] == [(AREA_SCOPE["en"], AREA)]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_overview_zone_table_names_the_scope_of_an_area_firm_count(
        area_db_path: Path, monkeypatch: pytest.MonkeyPatch, lang: str) -> None:
    _point_app_at(area_db_path, monkeypatch)
    at = open_page("overview", lang=lang)
    column = {"en": "Published scope of the firm count", "zh": "企业数的发布口径范围"}[lang]
    zone = {"en": "Zone", "zh": "园区"}[lang]
    table = next(df.value for df in at.dataframe if column in df.value.columns)
    assert dict(zip(table[zone], table[column]))[TOWER[lang]] == AREA
    assert set(table.loc[table[zone] != TOWER[lang], column]) == {""}


def test_map_hover_names_the_scope_of_an_area_firm_count(
        area_db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    _point_app_at(area_db_path, monkeypatch)
    at = open_page("map")
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    [zones] = [t for t in fig["data"] if t["meta"]["role"] == "zones"]
    firms = {row[0]: row[2] for row in zones["customdata"]}
    assert firms["westbund_ai_tower"] == f"300 (published for {AREA})"
    assert firms["mosu_space"] == "200"  # Mosu Space's own count: no scope added


# -- the scope map -------------------------------------------------------------------------
@pytest.mark.parametrize(("old", "new", "message"), [
    ("Maqiao Town (Minhang),zone,maqiao_ai_pilot_zone,wider,",
     "Maqiao Town (Minhang),zone,maqiao_ai_pilot_zone,bigger,",
     ("scope_map.csv, row 11, column relation: unknown relation 'bigger'; use wider or part, or "
     "leave it blank when the text names the scope itself")),
    (("Maqiao Town (Minhang),zone,maqiao_ai_pilot_zone,wider,A town-wide count; the pilot zone "
     "lies in Maqiao Town and its surroundings."),
     "Maqiao Town (Minhang),zone,maqiao_ai_pilot_zone,wider,",
     ("scope_map.csv, row 11, column note: a wider scope needs a note saying how it relates to "
     "maqiao_ai_pilot_zone")),
])
def test_the_scope_map_refuses_an_unknown_or_unexplained_relation(
        tmp_path: Path, old: str, new: str, message: str) -> None:
    from etl.facts import InvalidFact

    shutil.copy(REFERENCE / "shanghai_ai_facts.csv", tmp_path)
    text = (REFERENCE / "scope_map.csv").read_text(encoding="utf-8")
    assert old in text
    (tmp_path / "scope_map.csv").write_text(text.replace(old, new, 1), encoding="utf-8")
    engine = make_engine(tmp_path / "t.db")
    create_db_and_tables(engine)
    load_geography(engine, DATA_DIR)
    with pytest.raises(InvalidFact) as info:
        load_facts(engine, tmp_path / "shanghai_ai_facts.csv")
    assert str(info.value) == message
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM observations").scalar_one() == 0


def test_area_figures_are_not_added_up_as_zone_totals(facts_ro: Engine) -> None:
    """The overview's firms / models cards sum the zones' own figures: the West Bund area's
    34 registered models are not a total of the zones."""
    assert overview.zone_totals(facts_ro, overview.ZONE_MODELS).empty
    firms = overview.zone_totals(facts_ro, overview.ZONE_FIRMS)
    assert firms[["period", "value", "provenance"]].values.tolist() == [
        ["2020Q2", 90.0, "reported"], ["2023-07", 100.0, "reported"]]
    from dashboard_fixtures import overview_cards

    cards = {c["card"]: c for c in overview_cards(facts_ro)}
    assert "models" not in cards
    assert (cards["firms"]["period"], cards["firms"]["value"]) == ("2023-07", 100.0)


def test_map_panel_of_a_zone_says_which_figures_are_area_figures(
        area_db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _point_app_at(area_db_path, monkeypatch)
    at = open_page("map", sel="zone:westbund_ai_tower")
    assert (f"Some figures here were published for another area than {TOWER['en']}: {AREA}. "
            "They are labelled with that published scope, not as the zone's own figures."
            ) in [c.value for c in at.caption]
