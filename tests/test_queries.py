"""app/queries/ on the seeded database: what each query returns, and the pure transforms."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from app.access import ANALYST
from app.filters import EnterpriseFilters
from app.queries import forecasts, health, overview, reference, register, series, sources
from models.db import create_db_and_tables, make_engine
from models.errors import DatabaseMissing
from tests.seed import FACTS_CSV, REPORTED_FACTS

pytest_plugins = ["dashboard_fixtures"]
pytestmark = pytest.mark.both_backends

QUARTERS = ["2023Q3", "2023Q4", "2024Q1", "2024Q2", "2024Q3", "2024Q4", "2025Q1", "2025Q2"]


def _sql(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql, params).fetchall()


def _fact(metric: str, scope: str, period: str) -> dict[str, str]:
    """The row of the reference facts file that the seed took a reported figure from."""
    with FACTS_CSV.open(encoding="utf-8") as fh:
        [row] = [r for r in csv.DictReader(fh)
                 if (r["metric"], r["zone_or_scope"], r["period"]) == (metric, scope, period)]
    return row


# The two sources of the city's 2024 industry scale (both "over 450 bn").
SCALE_2024 = _fact("ai_industry_scale", "Shanghai (city)", "2024")
SCALE_2024_AGAIN = _fact("ai_industry_scale", "Shanghai (city)",
                         "as reported c. 2025 (likely 2024)")
OUTPUT_2024 = _fact("ai_industry_output", "Shanghai (city)", "2024")


# -- health -------------------------------------------------------------------------------
def test_missing_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "none.db"
    with pytest.raises(DatabaseMissing) as info:
        health.check_database(make_engine(path, read_only=True), f"sqlite:///{path}")
    assert str(info.value) == "missing"
    assert not path.exists()  # a read-only check never creates the file


def test_empty_database_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    create_db_and_tables(make_engine(path))
    with pytest.raises(DatabaseMissing) as info:
        health.check_database(make_engine(path, read_only=True), f"sqlite:///{path}")
    assert str(info.value) == "empty"


def test_seeded_database_passes_and_reports_its_vintage(ro_engine: Engine,
                                                       seeded_db_path: Path) -> None:
    health.check_database(ro_engine, f"sqlite:///{seeded_db_path}")
    info = health.run_info(ro_engine)
    assert (info.latest_run_id, info.data_period) == (3, "2025Q2")
    assert info.loaded_at.startswith("2025-08-12 14:05:11")
    assert info.token.startswith("3|3|")


# -- series -------------------------------------------------------------------------------
def test_city_revenue_is_current_and_in_billions(ro_engine: Engine, seeded_db_path: Path) -> None:
    df = series.series(ro_engine, "enterprise_revenue", "city", ["310000"], basis="quarterly")
    assert df["period"].tolist() == QUARTERS
    assert set(df["provenance"]) == {"sample"}
    current = _sql(seeded_db_path, "SELECT value FROM observations WHERE metric = "
                   "'enterprise_revenue' AND scope_type = 'city' AND period = '2024Q4' "
                   "AND superseded_by IS NULL")
    assert df.loc[df["period"] == "2024Q4", "value"].item() == current[0][0]
    assert df["value_bn"].tolist() == pytest.approx((df["value"] / 1000).tolist())


def test_series_of_record_takes_the_higher_confidence(ro_engine: Engine) -> None:
    assert (SCALE_2024["confidence"], SCALE_2024_AGAIN["confidence"]) == ("medium", "low-medium")
    df = series.series(ro_engine, "ai_industry_scale", "city")
    assert df[["period", "value", "source_title"]].to_dict("records") == [
        {"period": "2024", "value": 450.0, "source_title": SCALE_2024["source_title"]}]


def test_values_at_gives_every_district_with_data(ro_engine: Engine, seeded_db_path: Path) -> None:
    df = series.values_at(ro_engine, "enterprise_count", "district", "2025Q2", "point")
    expected = _sql(seeded_db_path, "SELECT COUNT(*) FROM observations WHERE metric = "
                    "'enterprise_count' AND scope_type = 'district' AND period = '2025Q2'")
    assert len(df) == expected[0][0] > 0


def test_metric_catalogue_lists_district_metrics(ro_engine: Engine) -> None:
    df = reference.metric_catalogue(ro_engine, "district")
    assert df[["code", "basis"]].to_dict("records")[:2] == [
        {"code": "enterprise_count", "basis": "point"},
        {"code": "enterprise_revenue", "basis": "quarterly"},
    ]
    assert reference.metric_periods(ro_engine, "enterprise_revenue", "district",
                                  "quarterly") == QUARTERS


def test_targets_carry_the_probability_of_the_latest_forecast(ro_engine: Engine) -> None:
    df = series.targets(ro_engine)
    assert df[["metric", "period", "value", "probability", "probability_vintage"]].to_dict(
        "records") == [{"metric": "target_ai_industry_scale_above_designated_size",
                        "period": "2025", "value": 400.0, "probability": 0.62,
                        "probability_vintage": 3}]


# -- forecasts ----------------------------------------------------------------------------
def test_forecasts_of_the_latest_vintage(ro_engine: Engine) -> None:
    df = forecasts.forecasts(ro_engine, "enterprise_revenue", "city", ["310000"], "quarterly")
    assert set(df["vintage_run_id"]) == {3}
    assert df["period"].tolist() == ["2025Q3", "2025Q4", "2026Q1", "2026Q2", "2026Q3",
                                     "2026Q4", "2027Q1", "2027Q2"]
    assert (df["lo_95"] <= df["lo_80"]).all() and (df["hi_80"] <= df["hi_95"]).all()
    assert df["backtest_mase"].iloc[0] == 0.64


def test_forecast_vintages_and_series(ro_engine: Engine) -> None:
    vintages = forecasts.forecast_vintages(ro_engine, "enterprise_revenue", "city", "310000",
                                         "quarterly")
    assert vintages.groupby("vintage_run_id")["last_period"].first().to_dict() == {
        2: "2024Q4", 3: "2025Q2"}
    series = forecasts.forecast_series(ro_engine, "enterprise_revenue", "zone",
                                     ["zhangjiang_ai_island", "mosu_space"], "quarterly")
    assert series.to_dict("records") == [{"scope_id": "zhangjiang_ai_island", "vintages": 1}]


# -- overview -----------------------------------------------------------------------------
def test_overview_cards_say_where_numbers_come_from(ro_engine: Engine,
                                                   seeded_db_path: Path) -> None:
    from dashboard_fixtures import overview_cards

    cards = overview_cards(ro_engine)
    summary = [(c["card"], c["metric"], c["period"], c["provenance"]) for c in cards]
    # The two newest reported money bases (2024 scale and output, newest metric code first),
    # the newest reported growth, then the sample cards.
    assert summary == [
        ("output", "ai_industry_scale", "2024", "reported"),
        ("output", "ai_industry_output", "2024", "reported"),
        ("growth", "ai_industry_output_growth_yoy", "2025Q1", "reported"),
        ("firms", "enterprise_count", "2025Q2", "sample"),
        ("models", "zone_registered_foundation_models", "2025Q2", "sample"),
        ("computing", "zone_computing_pflops", "2025Q2", "sample"),
    ]
    scale, output = cards[0], cards[1]
    assert (scale["value_bn"], scale["lower_bound"], scale["delta_pct"]) == (450.0, True, None)
    assert scale["source_title"] == SCALE_2024["source_title"]
    assert (output["value_bn"], output["lower_bound"]) == (400.0, False)
    assert output["source_title"] == OUTPUT_2024["source_title"]
    # A card's change is against the same period a year before, from the stored figures.
    [(now,), (before,)] = _sql(seeded_db_path, "SELECT value FROM observations WHERE metric = "
                               "'enterprise_count' AND scope_type = 'city' AND period IN "
                               "('2025Q2', '2024Q2') ORDER BY period DESC")
    firms = cards[3]
    assert (firms["value"], firms["delta_base_period"]) == (now, "2024Q2")
    assert firms["delta_pct"] == pytest.approx((now / before - 1) * 100)


@pytest.mark.parametrize("period", ["2025Q1", "2025Q4", "1000Q2", "2025", "2025-06",
                                    "2025-06-30"])
def test_cards_read_periods_in_sql_as_python_does(period: str) -> None:
    """The cards pick their comparison in SQL: the same frequency and year-earlier period as
    app.transforms and models.periods give."""
    from app.transforms import period_freq
    from models.periods import shift_quarter

    conn = sqlite3.connect(":memory:")
    freq, before = conn.execute(f"SELECT {overview._freq_sql('?1')}, "
                                f"{overview._year_before_sql('?1')}", (period,)).fetchone()
    conn.close()
    assert freq == period_freq(period)
    assert before == {"Q": shift_quarter(period, -4) if freq == "Q" else None,
                      "Y": str(int(period) - 1) if freq == "Y" else None}.get(freq)


def test_zones_glance_has_every_zone(ro_engine: Engine) -> None:
    df = overview.zones_glance(ro_engine)
    assert df["zone_id"].tolist()[:4] == ["zhangjiang_ai_island", "westbund_ai_tower",
                                          "dishui_lake_ai_hub", "maqiao_ai_pilot_zone"]
    assert len(df) == 7 and df["firms"].notna().all() and df["growth"].notna().all()
    westbund = df.set_index("zone_id").loc["westbund_ai_tower"]
    assert (westbund["firms_period"], westbund["firms_provenance"]) == ("2025Q2", "sample")


# -- enterprises --------------------------------------------------------------------------
def test_count_and_page_are_filtered_in_sql(ro_engine: Engine, seeded_db_path: Path) -> None:
    f = EnterpriseFilters(zones=("zhangjiang_ai_island",), founded_from=2012)
    expected = _sql(seeded_db_path, "SELECT credit_code FROM enterprises WHERE zone_id = ? "
                    "AND founded >= '2012-01-01' ORDER BY employees DESC, credit_code DESC",
                    ("zhangjiang_ai_island",))
    assert register.enterprise_count(ro_engine, f, role=ANALYST) == len(expected)
    page = register.enterprise_page(ro_engine, f, sort="employees", descending=True, page=1,
                                   page_size=25, revenue_period="2025Q2", role=ANALYST)
    assert page["credit_code"].tolist() == [c for (c,) in expected[:25]]
    assert set(page["zone_id"]) == {"zhangjiang_ai_island"}
    assert page["revenue_m"].notna().any()


def test_pages_do_not_overlap(ro_engine: Engine) -> None:
    f = EnterpriseFilters()
    first = register.enterprise_page(ro_engine, f, sort="founded", page=1, page_size=25,
                                     role=ANALYST)
    second = register.enterprise_page(ro_engine, f, sort="founded", page=2, page_size=25,
                                      role=ANALYST)
    assert len(first) == len(second) == 25
    assert not set(first["credit_code"]) & set(second["credit_code"])


@pytest.mark.parametrize(("term", "expected"), [("=HYPERLINK", 1), ("有限公司007", 1),
                                                ("nothing like this", 0)])
def test_search_by_name(ro_engine: Engine, term: str, expected: int) -> None:
    assert register.enterprise_count(ro_engine, EnterpriseFilters(search=term),
                                     role=ANALYST) == expected


def test_search_by_credit_code_prefix(ro_engine: Engine, seeded_db_path: Path) -> None:
    code = _sql(seeded_db_path, "SELECT credit_code FROM enterprises ORDER BY credit_code "
                "LIMIT 1")[0][0]
    page = register.enterprise_page(ro_engine, EnterpriseFilters(search=code[:12].lower()),
                                    role=ANALYST)
    assert code in page["credit_code"].tolist()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"sort": "revenue; DROP TABLE enterprises"},
     ("unknown sort column 'revenue; DROP TABLE enterprises'; use one of name_zh, name_en, "
     "founded, employees, registered_capital, credit_code")),
    ({"page_size": 1000}, "page size must be one of 25, 50, 100"),
])
def test_enterprise_page_rejects_bad_arguments(ro_engine: Engine, kwargs: dict,
                                               message: str) -> None:
    with pytest.raises(ValueError) as info:
        register.enterprise_page(ro_engine, EnterpriseFilters(), **kwargs, role=ANALYST)
    assert str(info.value) == message


# -- sources ------------------------------------------------------------------------------
def test_conflicts_side_by_side_record_first(ro_engine: Engine) -> None:
    df = sources.conflicts(ro_engine)
    assert df[["group", "metric", "period", "value", "is_record", "confidence"]].to_dict(
        "records") == [
        {"group": 1, "metric": "ai_industry_scale", "period": "2024", "value": 450.0,
         "is_record": True, "confidence": SCALE_2024["confidence"]},
        {"group": 1, "metric": "ai_industry_scale", "period": "2024", "value": 450.0,
         "is_record": False, "confidence": SCALE_2024_AGAIN["confidence"]},
    ]


def test_reported_facts_and_history(ro_engine: Engine) -> None:
    facts = sources.reported_facts(ro_engine)
    assert len(facts) == len(REPORTED_FACTS) and facts["quote"].notna().all()
    history = sources.etl_history(ro_engine)
    assert history["id"].tolist() == [3, 2, 1]
    assert sources.provenance_counts(ro_engine)["provenance"].tolist() == ["reported", "sample"]


# -- enterprises at scale: the index-friendly paths return exactly the rows of the plain SQL --
def _reference_codes(path: Path, sort: str, descending: bool, where: str = "",
                     params: tuple = ()) -> list[str]:
    """Every matching credit code in the explorer's order: NULLs last, then the code."""
    d = "DESC" if descending else "ASC"
    rows = _sql(path, f"SELECT credit_code FROM enterprises {where} ORDER BY {sort} IS NULL, "
                f"{sort} {d}, credit_code {d}", params)
    return [c for (c,) in rows]


def test_filter_options_are_the_founding_years(ro_engine: Engine, seeded_db_path: Path) -> None:
    lo, hi = _sql(seeded_db_path, "SELECT MIN(founded), MAX(founded) FROM enterprises")[0]
    assert register.enterprise_filter_options(ro_engine) == {
        "founded_min": int(lo[:4]), "founded_max": int(hi[:4])}


def test_search_codes_stop_after_the_cap(ro_engine: Engine, seeded_db_path: Path) -> None:
    # "a" is in every English name of the seeded register: 200 matches.
    every = sorted(c for (c,) in _sql(seeded_db_path, "SELECT credit_code FROM enterprises"))
    f = EnterpriseFilters(search="a")
    assert register.enterprise_search_codes(ro_engine, f, role=ANALYST) == tuple(every)
    assert len(register.enterprise_search_codes(ro_engine, f, cap=50, role=ANALYST)) == 51
    assert len(register.enterprise_search_codes(ro_engine, f, cap=199, role=ANALYST)) == 200
    assert register.enterprise_search_codes(ro_engine, f, cap=200, role=ANALYST) == tuple(every)
    assert register.enterprise_search_codes(ro_engine, EnterpriseFilters(search="nothing like "
                                                                        "this"), role=ANALYST) == ()
    with pytest.raises(ValueError) as info:
        register.enterprise_search_codes(ro_engine, f, cap=0, role=ANALYST)
    assert str(info.value) == "cap must be at least 1, not 0"


def test_credit_code_prefix_is_a_range_on_the_key(ro_engine: Engine,
                                                  seeded_db_path: Path) -> None:
    codes = [c for (c,) in _sql(seeded_db_path, "SELECT credit_code FROM enterprises "
                                "ORDER BY credit_code")]
    prefix = codes[0][:10]
    expected = [c for c in codes if c.startswith(prefix)]
    f = EnterpriseFilters(search=prefix.lower())
    assert register.enterprise_count(ro_engine, f, role=ANALYST) == len(expected)
    page = register.enterprise_page(ro_engine, f, sort="credit_code", page_size=100, role=ANALYST)
    assert page["credit_code"].tolist() == expected


@pytest.mark.parametrize("cap", [1000, 10])
@pytest.mark.parametrize("sort", list(register.SORT_COLUMNS))
def test_search_pages_follow_the_sort_with_or_without_known_matches(
        ro_engine: Engine, seeded_db_path: Path, monkeypatch: pytest.MonkeyPatch,
        sort: str, cap: int) -> None:
    monkeypatch.setattr(register, "SEARCH_COUNT_CAP", cap)  # 10: the broad-search path
    f = EnterpriseFilters(search="有限公司0")
    where = "WHERE name_zh LIKE '%有限公司0%' OR name_en LIKE '%有限公司0%'"
    for descending in (False, True):
        expected = _reference_codes(seeded_db_path, sort, descending, where)
        assert len(expected) == 100
        for page in (1, 2, 4, 5):
            got = register.enterprise_page(ro_engine, f, sort=sort, descending=descending,
                                          page=page, page_size=25,
                                              role=ANALYST)["credit_code"].tolist()
            assert got == expected[(page - 1) * 25:page * 25]
        matches = register.enterprise_search_codes(ro_engine, f, cap=1000, role=ANALYST)
        known = register.enterprise_page(ro_engine, f, sort=sort, descending=descending,
                                        page=2, page_size=25, matches=matches, role=ANALYST)
        assert known["credit_code"].tolist() == expected[25:50]


@pytest.fixture(scope="module")
def nulls_db_path(seeded_db_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seeded register with NULL founding dates, head counts, capital and English names,
    and one Chinese name shared by many firms (ties broken by the code)."""
    path = tmp_path_factory.mktemp("nulls") / "nulls.db"
    with sqlite3.connect(seeded_db_path) as src, sqlite3.connect(path) as dst:
        src.backup(dst)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE enterprises SET founded = NULL WHERE rowid % 3 = 0")
        conn.execute("UPDATE enterprises SET employees = NULL WHERE rowid % 4 = 1")
        conn.execute("UPDATE enterprises SET name_en = NULL WHERE rowid % 5 = 2")
        conn.execute("UPDATE enterprises SET registered_capital = NULL WHERE rowid % 2 = 0")
        conn.execute("UPDATE enterprises SET name_zh = '上海同名有限公司' WHERE rowid % 7 = 0")
    return path


@pytest.mark.parametrize("sort", list(register.SORT_COLUMNS))
@pytest.mark.parametrize(("filters", "where", "params"), [
    (EnterpriseFilters(), "", ()),
    (EnterpriseFilters(zones=("zhangjiang_ai_island",), founded_from=2012),
     "WHERE zone_id = ? AND founded >= '2012-01-01'", ("zhangjiang_ai_island",)),
    (EnterpriseFilters(districts=(310115,)), "WHERE district_adcode = 310115", ()),
])
def test_nulls_last_and_index_walks_keep_the_order(
        nulls_db_path: Path, monkeypatch: pytest.MonkeyPatch, sort: str,
        filters: EnterpriseFilters, where: str, params: tuple) -> None:
    engine = make_engine(nulls_db_path, read_only=True)
    for walk_min in (20_000, 1):  # 1: every zone/district counts as broad (walk the index)
        monkeypatch.setattr(register, "WALK_MIN_ROWS", walk_min)
        for descending in (False, True):
            expected = _reference_codes(nulls_db_path, sort, descending, where, params)
            assert register.enterprise_count(engine, filters, role=ANALYST) == len(expected)
            pages = -(-len(expected) // 25)
            for page in range(1, pages + 2):
                got = register.enterprise_page(engine, filters, sort=sort,
                                              descending=descending, page=page, page_size=25,
                                                  role=ANALYST)
                assert got["credit_code"].tolist() == expected[(page - 1) * 25:page * 25]
    engine.dispose()
