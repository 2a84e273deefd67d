"""etl.facts: the reported facts as observations, each with its source."""

from __future__ import annotations

import csv
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from etl.fact_fields import source_key
from etl.facts import (
    FACT_COLUMNS,
    FactsError,
    FactsFileMissing,
    GeographyNotLoaded,
    InvalidFact,
    clean_facts,
    load_facts,
    read_facts,
    read_scope_map,
)
from models.errors import AidashError
from tests.conftest import DATA_DIR

REFERENCE = DATA_DIR / "reference"
FACTS = REFERENCE / "shanghai_ai_facts.csv"


def rows(engine: Engine, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


@pytest.fixture
def facts_engine(geo_engine: Engine) -> Engine:
    """Geography and the bundled facts loaded (runs 1 and 2)."""
    load_facts(geo_engine, FACTS)
    return geo_engine


@pytest.fixture
def facts_dir(tmp_path: Path) -> Path:
    """A copy of the facts file and its scope map, for tests that edit them."""
    target = tmp_path / "reference"
    target.mkdir()
    shutil.copy(FACTS, target)
    shutil.copy(REFERENCE / "scope_map.csv", target)
    return target


def read_table(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def write_facts(path: Path, table: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FACT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(table)


def edit_fact(facts_dir: Path, row: int, changes: dict[str, str]) -> None:
    """Change cells of spreadsheet row ``row`` (the header is row 1)."""
    path = facts_dir / FACTS.name
    table = read_table(path)
    table[row - 2].update(changes)
    write_facts(path, table)


def fact(**cells: str) -> dict[str, str]:
    """A fact row with harmless defaults."""
    base = {"metric": "ai_industry_scale", "zone_or_scope": "Shanghai (city)", "period": "2024",
            "value": "100", "unit": "billion CNY", "source_title": "T", "source_url_or_publication":
            "P", "source_date": "2025-01-01", "quote": "q", "confidence": "high", "caveat": ""}
    return base | cells


# ---------------------------------------------------------------------------- the bundled file


def test_loads_the_bundled_facts_in_one_run(facts_engine: Engine) -> None:
    assert rows(facts_engine, "SELECT id, kind, status, rows_read, rows_inserted, rows_updated, "
                              "rows_rejected FROM etl_runs WHERE kind = 'facts'") == [
        (2, "facts", "succeeded", 130, 123, 0, 7)]
    assert rows(facts_engine, "SELECT count(*), count(DISTINCT source_id) FROM observations") == [
        (123, 122)]
    assert rows(facts_engine, "SELECT count(*) FROM sources") == [(122,)]
    assert rows(facts_engine, "SELECT DISTINCT provenance FROM observations") == [("reported",)]
    assert rows(facts_engine, "SELECT DISTINCT provenance FROM sources") == [("reported",)]
    assert rows(facts_engine, "SELECT scope_type, count(*) FROM observations "
                              "GROUP BY scope_type ORDER BY scope_type") == [
        ("city", 62), ("district", 8), ("zone", 53)]
    [(message,)] = rows(facts_engine, "SELECT message FROM etl_runs WHERE id = 2")
    assert message == (
        "130 facts read: 123 observations (62 city, 8 district, 53 zone) from 122 sources "
        "(122 new, 0 updated); 123 inserted, 0 superseded; skipped 7: 5 a date as value "
        "(rows 8, 55, 74, 85, 101); 1 not an area (row 9); 1 no single reference period (row 29)")


def test_skipped_facts_and_their_reasons() -> None:
    plan = clean_facts(read_facts(FACTS), read_scope_map(REFERENCE / "scope_map.csv"),
                       metric_units(), FACTS.name)
    assert [(s.row, s.metric, s.category) for s in plan.skipped] == [
        (8, "zone_opening_date", "date"),
        (9, "humanoid_robot_joints", "scope"),
        (29, "ai_industry_output_above_designated_size", "period"),
        (55, "zone_launch_date", "date"),
        (74, "zone_opening_date", "date"),
        (85, "zone_opening_date", "date"),
        (101, "zone_launch_date", "date"),
    ]
    reasons = {s.row: s.reason for s in plan.skipped}
    assert reasons[8] == ("value 2023-09 is a date, not a number; zone opening dates live in "
                          "data/zones.csv (opened, opened_source)")
    assert reasons[9].startswith("scope 'Qinglong humanoid robot (Zhangjiang)': A product "
                                 "specification of one robot")
    assert reasons[29] == ("period 'latest full year as of 2024-01 (likely 2022 or 2023)' names "
                           "no single reference period")


def metric_units() -> dict[str, str]:
    return {r["code"]: r["unit_en"] for r in read_table(DATA_DIR / "metrics.csv")}


def test_every_full_opening_date_skipped_is_a_zone_opened_date() -> None:
    zones = read_table(DATA_DIR / "zones.csv")
    opened = {z["opened"]: z for z in zones if z["opened"]}
    facts = read_table(FACTS)
    dates = [f for f in facts if f["unit"].startswith("date")]
    assert len(dates) == 5
    full = [f for f in dates if len(f["value"]) == 10]
    assert sorted(f["value"] for f in full) == ["2020-07-08", "2022-08-18", "2023-09-28"]
    for f in full:
        assert f["value"] in opened
        assert opened[f["value"]]["opened_source"], f["value"]


def test_metric_catalogue_covers_every_fact_and_drop_metric() -> None:
    codes = set(metric_units())
    assert {f["metric"] for f in read_table(FACTS)} <= codes
    assert {"zone_enterprises", "zone_foundation_model_enterprises",
            "zone_registered_foundation_models", "zone_investment_institutions",
            "zone_computing_pflops", "enterprise_revenue", "enterprise_count"} <= codes
    names = {r["code"]: r["name_zh"] for r in read_table(DATA_DIR / "metrics.csv")}
    assert names["ai_industry_scale"] == "人工智能产业规模"
    assert names["ai_industry_scale_above_designated_size"] == "规上人工智能产业规模"
    assert names["zone_registered_foundation_models"] == "园区备案大模型数"


def test_rerun_changes_nothing_and_records_a_noop_run(facts_engine: Engine) -> None:
    before = rows(facts_engine, "SELECT * FROM observations ORDER BY id")
    sources = rows(facts_engine, "SELECT * FROM sources ORDER BY id")
    run_id = load_facts(facts_engine, FACTS)
    assert rows(facts_engine, "SELECT status, rows_inserted, rows_updated, rows_rejected "
                              "FROM etl_runs WHERE id = :i", i=run_id) == [("noop", 0, 0, 7)]
    assert rows(facts_engine, "SELECT * FROM observations ORDER BY id") == before
    assert rows(facts_engine, "SELECT * FROM sources ORDER BY id") == sources


# ------------------------------------------------------------------------------- revisions


def test_a_changed_value_supersedes_the_old_row(geo_engine: Engine, facts_dir: Path) -> None:
    path = facts_dir / FACTS.name
    first = load_facts(geo_engine, path)
    edit_fact(facts_dir, 2, {"value": "410"})
    second = load_facts(geo_engine, path)
    assert rows(geo_engine, "SELECT status, rows_inserted, rows_updated FROM etl_runs "
                            "WHERE id = :i", i=second) == [("succeeded", 1, 1)]
    assert rows(geo_engine, "SELECT value, etl_run_id, superseded_by FROM observations "
                            "WHERE metric = 'ai_industry_output' ORDER BY id") == [
        (400.0, first, second), (410.0, second, None)]
    assert rows(geo_engine, "SELECT value FROM current_observations "
                            "WHERE metric = 'ai_industry_output'") == [(410.0,)]
    assert rows(geo_engine, "SELECT count(*) FROM current_observations") == [(123,)]
    # Same source (the quote did not change): the new vintage points at the same source row.
    assert rows(geo_engine, "SELECT count(DISTINCT source_id) FROM observations "
                            "WHERE metric = 'ai_industry_output'") == [(1,)]


def test_a_removed_fact_is_superseded_without_replacement(geo_engine: Engine,
                                                          facts_dir: Path) -> None:
    path = facts_dir / FACTS.name
    load_facts(geo_engine, path)
    table = read_table(path)
    write_facts(path, table[:2] + table[3:])  # drop spreadsheet row 4 (Q1 2025 +13.2 %)
    run_id = load_facts(geo_engine, path)
    assert rows(geo_engine, "SELECT rows_inserted, rows_updated FROM etl_runs WHERE id = :i",
                i=run_id) == [(0, 1)]
    assert rows(geo_engine, "SELECT value, superseded_by FROM observations "
                            "WHERE metric = 'ai_industry_output_growth_yoy' "
                            "AND period = '2025Q1'") == [(13.2, run_id)]
    assert rows(geo_engine, "SELECT count(*) FROM current_observations") == [(122,)]


def test_a_changed_confidence_updates_the_source_in_place(geo_engine: Engine,
                                                          facts_dir: Path) -> None:
    path = facts_dir / FACTS.name
    load_facts(geo_engine, path)
    edit_fact(facts_dir, 2, {"confidence": "medium"})
    run_id = load_facts(geo_engine, path)
    assert rows(geo_engine, "SELECT status, rows_inserted, rows_updated FROM etl_runs "
                            "WHERE id = :i", i=run_id) == [("succeeded", 0, 0)]
    assert rows(geo_engine, "SELECT s.confidence FROM observations o JOIN sources s "
                            "ON s.id = o.source_id WHERE o.metric = 'ai_industry_output'") == [
        ("medium",)]
    assert rows(geo_engine, "SELECT count(*) FROM observations") == [(123,)]


# ------------------------------------------------------------------------ rows as observations


def obs(engine: Engine, where: str) -> list[tuple[Any, ...]]:
    return rows(engine, "SELECT scope_type, scope_id, period, period_end, basis, kind, value, "
                        "unit, lower_bound, approximate FROM observations WHERE " + where +
                        " ORDER BY id")


def test_scopes_map_to_city_district_and_zone(facts_engine: Engine) -> None:
    assert rows(facts_engine, "SELECT DISTINCT scope_label, scope_type, scope_id FROM "
                              "observations WHERE scope_label IN ('Shanghai (city)', "
                              "'China (national, context)', 'Pudong New Area', 'Xuhui District', "
                              "'Lingang Special Area', 'West Bund (Xuhui)', "
                              "'Shanghai Foundation Model Innovation Center (West Bund)', "
                              "'Mosu Space (Xuhui)') ORDER BY scope_label") == [
        ("China (national, context)", "city", "100000"),
        ("Lingang Special Area", "zone", "dishui_lake_ai_hub"),
        ("Mosu Space (Xuhui)", "zone", "mosu_space"),
        ("Pudong New Area", "district", "310115"),
        ("Shanghai (city)", "city", "310000"),
        ("West Bund (Xuhui)", "zone", "westbund_ai_tower"),
        ("Xuhui District", "district", "310104"),
    ]


def test_every_zone_scope_is_a_zone_of_the_geography(facts_engine: Engine) -> None:
    assert rows(facts_engine, "SELECT count(*) FROM observations o LEFT JOIN zones z "
                              "ON z.zone_id = o.scope_id WHERE o.scope_type = 'zone' "
                              "AND z.zone_id IS NULL") == [(0,)]
    assert rows(facts_engine, "SELECT count(*) FROM observations o LEFT JOIN districts d "
                              "ON d.adcode = o.scope_id WHERE o.scope_type = 'district' "
                              "AND d.adcode IS NULL") == [(0,)]


def test_bases_are_kept_apart_and_spans_follow_the_period(facts_engine: Engine) -> None:
    # A year-to-date flow is ytd at the quarter it ends on; a stock in the same period is a point.
    assert obs(facts_engine, "metric IN ('ai_industry_scale', "
                             "'ai_enterprises_above_designated_size') AND period_label = "
                             "'2025Q1-Q3'") == [
        ("city", "310000", "2025Q3", "2025-09-30", "ytd", "actual", 435.49, "billion CNY", 0, 0),
        ("city", "310000", "2025Q3", "2025-09-30", "point", "actual", 394.0, "enterprises", 0, 0),
        ("city", "310000", "2025Q3", "2025-09-30", "ytd", "actual", 435.492, "billion CNY", 0, 0),
    ]
    assert obs(facts_engine, "metric = 'ai_industry_scale_cagr'") == [
        ("city", "310000", "2022", "2022-12-31", "range", "actual", 29.0, "percent per year", 1, 0),
        ("city", "310000", "2020", "2020-12-31", "range", "actual", 29.5, "percent per year", 0, 0),
    ]
    assert obs(facts_engine, "metric = 'ai_industry_scale_above_designated_size'") == [
        ("city", "310000", "2018", "2018-12-31", "annual", "actual", 134.0, "billion CNY", 0, 0),
        ("city", "310000", "2022", "2022-12-31", "annual", "actual", 380.0, "billion CNY", 1, 0),
        ("city", "310000", "2021Q3", "2021-09-30", "ytd", "actual", 200.0, "billion CNY", 1, 0),
    ]
    assert obs(facts_engine, "metric = 'ai_industry_revenue_growth_yoy'") == [
        ("city", "310000", "2025Q1", "2025-03-31", "quarterly", "actual", 29.0, "percent", 0, 0)]
    # A committed amount is a point, not a flow.
    assert obs(facts_engine, "metric = 'investment'") == [
        ("zone", "songjiang_tencent_yrd_computing", "2020-03-31", "2020-03-31", "point",
         "actual", 15.0, "billion CNY", 0, 0)]


def test_targets_plans_and_estimates(facts_engine: Engine) -> None:
    assert rows(facts_engine, "SELECT metric, period, kind FROM observations "
                              "WHERE kind != 'actual' ORDER BY metric, period") == [
        ("ai_industry_scale_planned_full_year", "2020", "estimate"),
        ("planned_cabinets", "2022-01", "plan"),
        ("planned_intelligent_computing_capacity_five_centres", "2023-02", "plan"),
        ("single_building_computing", "2022-01", "plan"),
        ("target_ai_enterprises", "2025", "target"),
        ("target_ai_industry_cagr_above_designated_size", "2025", "target"),
        ("target_ai_industry_scale", "2020", "target"),
        ("target_ai_industry_scale", "2025", "target"),
        ("target_ai_industry_scale_above_designated_size", "2025", "target"),
        ("target_computing_capacity", "2025", "target"),
        ("target_data_center_computing", "2025", "target"),
        ("target_dispatchable_intelligent_computing", "2023", "target"),
        ("zone_area", "2019-07", "plan"),
        ("zone_enterprises_target", "2020", "target"),
        ("zone_planned_anchor_tenants", "2020-01", "plan"),
        ("zone_researchers_target", "2020", "target"),
        ("zone_target_industry_scale", "2029", "target"),
        ("zone_target_industry_scale", "2030", "target"),
        ("zone_target_new_ai_enterprises", "2030", "target"),
    ]


def test_period_text_is_kept_as_label(facts_engine: Engine) -> None:
    assert rows(facts_engine, "SELECT period, period_label FROM observations WHERE metric = "
                              "'ai_industry_scale' AND scope_id = '310000' ORDER BY id") == [
        ("2018", "2018"), ("2021", "2021"), ("2024", "2024"),
        ("2024", "as reported c. 2025 (likely 2024)"), ("2025Q3", "2025Q1-Q3"),
        ("2025Q3", "2025Q1-Q3")]


def test_units_are_converted_to_the_catalogue_unit(facts_engine: Engine) -> None:
    assert rows(facts_engine, "SELECT value, unit, method FROM observations WHERE metric = "
                              "'zone_total_floor_area' ORDER BY id") == [
        (200000.0, "square metres",
         "unit as published: square metres (lower bound; core area 61,000)"),
        (1200000.0, "square metres", "converted from 1.2 million square metres (x 1,000,000)"),
    ]


def test_a_range_value_is_stored_as_its_lower_bound(facts_engine: Engine) -> None:
    assert rows(facts_engine, "SELECT value, lower_bound, method FROM observations "
                              "WHERE metric = 'zone_planned_anchor_tenants'") == [
        (16.0, 1, ("published as the range 16-17; the lower end is stored as a lower bound; "
                  "unit as published: leading AI enterprises (planned)"))]


def test_sources_keep_confidence_caveat_and_publication_date(facts_engine: Engine) -> None:
    quote = "In 2024, Shanghai's artificial intelligence industry achieved 400 billion yuan"
    assert rows(facts_engine, "SELECT title, publisher, url_or_publication, published, "
                              "confidence, caveat FROM sources WHERE quote LIKE :q",
                q=quote + "%") == [(
        "Shanghai accelerates AI innovation (People's Daily, reposted by Alwihda Info)",
        "People's Daily via Alwihda Info", "People's Daily via Alwihda Info", "2025-05-07",
        "high", ("Seed document of the project; English-language repost of a People's Daily "
                "article."))]
    # An undated source keeps its guessed month and says so in the caveat.
    assert rows(facts_engine, "SELECT published, caveat FROM sources WHERE quote = "
                              "'with 15 resident companies registering LLMs'") == [(
        "2024-01", ("AI-news aggregator; also says >60 LLM startups, 200+ firms, 41 investment "
                   "institutions, 100,000 m² goal. Publication date as given: 'undated "
                   "(c. 2024-01/02)'."))]


def test_one_source_row_per_title_publication_date_and_quote(facts_engine: Engine) -> None:
    # Rows 20 and 21 quote the same sentence of the same article: one source, two observations.
    assert rows(facts_engine, "SELECT s.key, count(*) FROM observations o JOIN sources s "
                              "ON s.id = o.source_id GROUP BY s.id HAVING count(*) > 1") == [(
        source_key("Shanghai gears up to be AI hub (en.sh-italent.com)",
                   "http://en.sh-italent.com/2019-08/01/c_392787.htm", "2019-08-01",
                   "1,000 companies with AI as its core business and 3,000 AI-related "
                   "enterprises"), 2)]


# -------------------------------------------------------------------------- series of record


def test_2024_conflict_keeps_every_source_and_never_splices(facts_engine: Engine) -> None:
    # People's Daily's 400 bn is "total output" (ai_industry_output); the >450 bn figures are
    # "industry scale" (ai_industry_scale). Different metrics: both stay series of record.
    record = rows(facts_engine, "SELECT r.metric, r.value, r.lower_bound, s.title FROM "
                                "series_of_record r JOIN sources s ON s.id = r.source_id "
                                "WHERE r.scope_id = '310000' AND r.period = '2024' AND r.metric "
                                "IN ('ai_industry_output', 'ai_industry_scale') "
                                "ORDER BY r.metric")
    assert record == [
        ("ai_industry_output", 400.0, 0,
         "Shanghai accelerates AI innovation (People's Daily, reposted by Alwihda Info)"),
        ("ai_industry_scale", 450.0, 1, ("Shanghai's AI incubation hub drives AI innovation with "
                                        "robust ecosystem and policy support")),
    ]
    # Both >450 bn sources are current, side by side; the medium-confidence one is of record,
    # the low-medium AI-written summary is not.
    assert rows(facts_engine, "SELECT s.confidence FROM current_observations o JOIN sources s "
                              "ON s.id = o.source_id WHERE o.metric = 'ai_industry_scale' "
                              "AND o.period = '2024' ORDER BY s.confidence") == [
        ("low-medium",), ("medium",)]


def test_series_of_record_prefers_confidence_over_a_later_publication(
        facts_engine: Engine) -> None:
    # 2025Q1-Q3 scale: Xinhua (high, 2026-01-09) 435.49 against the white-paper news item
    # (medium-high, published later, 2026-01-13) 435.492.
    assert rows(facts_engine, "SELECT r.value, s.confidence, s.published FROM series_of_record r "
                              "JOIN sources s ON s.id = r.source_id WHERE r.metric = "
                              "'ai_industry_scale' AND r.period = '2025Q3'") == [
        (435.49, "high", "2026-01-09")]


def test_series_of_record_then_prefers_the_latest_publication_then_the_lowest_source_id(
        geo_engine: Engine, tmp_path: Path) -> None:
    shutil.copy(REFERENCE / "scope_map.csv", tmp_path)
    path = tmp_path / "facts.csv"
    write_facts(path, [
        fact(value="100", source_title="early", source_date="2025-01-01"),
        fact(value="110", source_title="late", source_date="2025-03-01"),
        fact(value="120", source_title="late twin", source_date="2025-03-01"),
        fact(value="90", source_title="later but weaker", source_date="2025-06-01",
             confidence="medium"),
        fact(period="2023", value="80", source_title="twin a", source_date="2025-03-01"),
        fact(period="2023", value="85", source_title="twin b", source_date="2025-03-01"),
    ])
    load_facts(geo_engine, path)
    assert rows(geo_engine, "SELECT period, value FROM series_of_record "
                            "WHERE metric = 'ai_industry_scale' ORDER BY period") == [
        ("2023", 80.0), ("2024", 110.0)]
    assert rows(geo_engine, "SELECT count(*) FROM current_observations") == [(6,)]


# --------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("changes", "error", "message"), [
    ({"metric": "ai_industy_scale"}, InvalidFact,
     ("shanghai_ai_facts.csv, row 2, column metric: unknown metric 'ai_industy_scale'; add it to "
     "data/metrics.csv")),
    ({"zone_or_scope": "Shanghai"}, InvalidFact,
     ("shanghai_ai_facts.csv, row 2, column zone_or_scope: 'Shanghai' is not in scope_map.csv; "
     "add a row (scope_text, scope_type, scope_id, note) for it")),
    ({"value": "four hundred"}, InvalidFact,
     "shanghai_ai_facts.csv, row 2, column value: 'four hundred' is not a number"),
    ({"unit": "million USD"}, InvalidFact,
     ("shanghai_ai_facts.csv, row 2, column unit: 'million USD' reads as 'million USD', but metric "
     "ai_industry_output is in 'billion CNY'; fix the unit, or add the spelling to UNIT_ALIASES")),
    ({"confidence": "very high"}, InvalidFact,
     ("shanghai_ai_facts.csv, row 2, column confidence: unknown confidence 'very high'; use one "
     "of high, medium-high, medium, low-medium, low")),
    ({"period": "2024-05"}, InvalidFact,
     ("shanghai_ai_facts.csv, row 2, column period: '2024-05' is a month, but ai_industry_output "
     "is a flow (billion CNY); give a year, a quarter or a year-to-date range")),
    ({"caveat": "changed"}, InvalidFact,
     ("shanghai_ai_facts.csv, row 3, column confidence: the same source (title, publication, "
     "date, quote) appears in an earlier row with a different confidence or caveat; make them "
     "agree")),
])
def test_invalid_facts_name_file_row_and_column(geo_engine: Engine, facts_dir: Path,
                                                changes: dict[str, str],
                                                error: type[Exception], message: str) -> None:
    path = facts_dir / FACTS.name
    if "caveat" in changes:
        # Give row 3 the source of row 2 with another caveat.
        table = read_table(path)
        table[1] |= {k: table[0][k] for k in ("source_title", "source_url_or_publication",
                                              "source_date", "quote")} | changes
        write_facts(path, table)
    else:
        edit_fact(facts_dir, 2, changes)
    with pytest.raises(error) as info:
        load_facts(geo_engine, path)
    assert str(info.value) == message
    assert isinstance(info.value, AidashError)
    assert rows(geo_engine, "SELECT count(*) FROM observations") == [(0,)]
    assert rows(geo_engine, "SELECT count(*) FROM etl_runs WHERE kind = 'facts'") == [(0,)]


def test_two_facts_with_the_same_key_are_rejected(geo_engine: Engine, tmp_path: Path) -> None:
    shutil.copy(REFERENCE / "scope_map.csv", tmp_path)
    path = tmp_path / "facts.csv"
    write_facts(path, [fact(value="1"), fact(value="2")])
    with pytest.raises(InvalidFact) as info:
        load_facts(geo_engine, path)
    assert str(info.value) == ("facts.csv, row 3, column value: row 2 already gives "
                               "ai_industry_scale for the same scope, period, basis, kind and "
                               "source")


def test_facts_need_the_geography_first(engine: Engine) -> None:
    with pytest.raises(GeographyNotLoaded) as info:
        load_facts(engine, FACTS)
    assert str(info.value) == ("the metric catalogue and zones are not loaded yet; load the "
                               "geography first (aidash init)")


def test_scope_map_must_point_at_known_zones(geo_engine: Engine, facts_dir: Path) -> None:
    path = facts_dir / "scope_map.csv"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "zone,mosu_space,,\n", "zone,mosu,,\n", 1), encoding="utf-8")
    with pytest.raises(InvalidFact) as info:
        load_facts(geo_engine, facts_dir / FACTS.name)
    assert str(info.value) == ("scope_map.csv, row 12, column scope_id: no zone 'mosu' in the "
                               "database; check data/zones.csv and the district adcodes")


def test_scope_map_rejects_unknown_scope_types(geo_engine: Engine, facts_dir: Path) -> None:
    path = facts_dir / "scope_map.csv"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "Xuhui District,district,", "Xuhui District,county,", 1), encoding="utf-8")
    with pytest.raises(InvalidFact) as info:
        load_facts(geo_engine, facts_dir / FACTS.name)
    assert str(info.value) == ("scope_map.csv, row 6, column scope_type: unknown scope_type "
                               "'county'; use one of city, district, zone, segment, enterprise, "
                               "skip")


def test_a_missing_scope_map_is_named(geo_engine: Engine, facts_dir: Path) -> None:
    (facts_dir / "scope_map.csv").unlink()
    with pytest.raises(FactsFileMissing) as info:
        load_facts(geo_engine, facts_dir / FACTS.name)
    assert str(info.value) == (f"scope_map.csv: file not found at "
                               f"{facts_dir / 'scope_map.csv'}")


def test_a_row_with_too_many_cells_is_named(geo_engine: Engine, facts_dir: Path) -> None:
    path = facts_dir / FACTS.name
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[2] = lines[2].rstrip("\n") + ",extra\n"
    path.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(FactsError) as info:
        load_facts(geo_engine, path)
    assert str(info.value) == ("shanghai_ai_facts.csv, row 3: 12 values for 11 columns; quote "
                               "cells that contain commas")


def test_reference_copy_is_verbatim() -> None:
    shared = DATA_DIR.parent.parent / "shared" / "reference" / FACTS.name
    if not shared.is_file():
        pytest.skip("the shared reference folder is not beside this checkout")
    assert FACTS.read_bytes() == shared.read_bytes()


def test_observation_dates_are_iso(facts_engine: Engine) -> None:
    ends = [date.fromisoformat(e) for (e,) in rows(facts_engine,
                                                    "SELECT period_end FROM observations")]
    assert min(ends) == date(2018, 12, 31)
    assert max(ends) == date(2030, 12, 31)
