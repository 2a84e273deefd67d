"""Numbers a reader could misread: charts never join points of different provenance or basis,
and the target probability says it is sample, on which basis and by which method.

Expectations come from the rows each test inserts or queries, not from the seed's numbers.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from streamlit.testing.v1 import AppTest

from app import charts, export, target_probability
from app.i18n import get_translator
from app.queries import overview, reference, series
from app.transforms import add_growth, add_share, to_annual
from etl.forecasts import refresh_forecasts
from models.db import ENV_VAR, make_engine
from models.metrics import REVENUE_METRIC

pytest_plugins = ["dashboard_fixtures"]
pytestmark = pytest.mark.both_backends

EN, ZH = get_translator("en"), get_translator("zh")
APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
ZONE_FIRMS = overview.ZONE_FIRMS
# A published figure the tests add between two sample quarters of one zone.
PUBLISHED = {"title": "Test publication on zone firms", "published": "2025-05-07",
             "scope_label": "West Bund area (test)", "period": "2025-05",
             "period_end": date(2025, 5, 31), "value": 255.0}
LINE_ROLES_PREFIX = "line-"


# -- shared checks ---------------------------------------------------------------------------------
def hover_texts(trace: go.Scatter) -> list[str]:
    """The hover text of each point: the template with its customdata and y filled in."""
    out = []
    custom = trace.customdata if trace.customdata is not None else [[]] * len(trace.y)
    for row, y in zip(custom, trace.y):
        text_ = re.sub(r"%\{customdata\[(\d+)\]\}",
                       lambda m, row=row: str(row[int(m.group(1))]), trace.hovertemplate)
        out.append(re.sub(r"%\{y[^}]*\}", str(y), text_))
    return out


def line_traces(fig: go.Figure) -> list[go.Scatter]:
    """Every trace that draws a line through data points (not fans, forecasts or legends)."""
    skip = ("fan80", "fan95", "forecast", "legend-forecast", "vintage", "target")
    return [t for t in fig.data if "lines" in (t.mode or "") and t.meta["role"] not in skip]


def points_of(trace: go.Scatter, data: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``data`` a trace draws: same scope (legend group), period end and value."""
    x = pd.to_datetime(pd.Series(list(trace.x)))
    keys = set(zip(x, [float(v) for v in trace.y]))
    rows = data[[k in keys for k in zip(data["period_end"], data["y"].astype(float))]]
    if "scope_id" in data.columns and trace.legendgroup in set(data["scope_id"]):
        rows = rows[rows["scope_id"] == trace.legendgroup]
    assert len(rows) == len(trace.y), (trace.name, len(rows), len(trace.y))
    return rows


def assert_kept_apart(fig: go.Figure, data: pd.DataFrame, tr: object) -> None:
    """No line mixes provenance, basis or unit; every reported row is in a markers-only trace
    whose hover holds its source, publication date and published scope."""
    for trace in line_traces(fig):
        rows = points_of(trace, data)
        for col in ("provenance", "basis", "unit"):
            assert rows[col].nunique() == 1, (trace.name, col, sorted(set(rows[col])))
        assert "reported" not in set(rows["provenance"]), trace.name
        label = tr.label("provenance", rows["provenance"].iloc[0])  # type: ignore[attr-defined]
        assert label in trace.name
        assert all(label in h for h in hover_texts(trace))
    reported = data[data["provenance"] == "reported"]
    marker_traces = [t for t in fig.data if t.mode == "markers" and t.y is not None]
    for row in reported.itertuples(index=False):
        hits = [(t, i) for t in marker_traces for i, (x, y) in enumerate(zip(t.x, t.y))
                if pd.Timestamp(x) == row.period_end and float(y) == float(row.y)]
        assert len(hits) == 1, row
        trace, i = hits[0]
        hover = hover_texts(trace)[i]
        assert row.source_title in hover
        assert tr.date(row.source_published) in hover  # type: ignore[attr-defined]
        if getattr(row, "scope_label", None):
            assert row.scope_label in hover


def with_published_point(sample: pd.DataFrame, **changes: object) -> pd.DataFrame:
    """``sample`` (one scope's series) plus a reported figure of ours, in display units."""
    base = sample.iloc[-1].to_dict()
    base.update(provenance="reported", source_title=PUBLISHED["title"],
                source_published=PUBLISHED["published"], scope_label=PUBLISHED["scope_label"],
                period=PUBLISHED["period"], period_end=pd.Timestamp(PUBLISHED["period_end"]),
                y=PUBLISHED["value"], value=PUBLISHED["value"])
    base.update(changes)
    out = pd.concat([sample, pd.DataFrame([base])], ignore_index=True)
    return out.sort_values("period_end").reset_index(drop=True)


def zone_series(engine: Engine, scope_id: str = "westbund_ai_tower") -> pd.DataFrame:
    df = series.series(engine, ZONE_FIRMS, "zone", [scope_id], basis="point")
    df = df[df["provenance"] != "reported"]
    assert len(df) >= 2 and set(df["provenance"]) == {"sample"}  # a sample line to join to
    return df.assign(y=df["value"])


# -- the chart functions --------------------------------------------------------------
@pytest.mark.parametrize("tr", [EN, ZH], ids=["en", "zh"])
def test_trend_chart_never_joins_a_published_figure_to_sample_points(
        ro_engine: Engine, tr: object) -> None:
    data = with_published_point(zone_series(ro_engine))
    fig = charts.trend_chart(data, tr, names={"westbund_ai_tower": "West Bund"},  # type: ignore[arg-type]
                             colors={"westbund_ai_tower": "#000000"}, y_title="firms")
    assert_kept_apart(fig, data, tr)
    assert [t.meta["role"] for t in fig.data] == ["line-sample", "points-reported"]


def test_trend_chart_keeps_another_unit_or_basis_off_the_line(ro_engine: Engine) -> None:
    sample = zone_series(ro_engine)
    other_unit = sample.tail(2).assign(unit="firms (other count)", y=lambda d: d["y"] * 3)
    other_basis = sample.tail(2).assign(basis="annual", y=lambda d: d["y"] * 5)
    derived = sample.tail(2).assign(provenance="derived", y=lambda d: d["y"] * 7)
    data = pd.concat([sample, other_unit, other_basis, derived], ignore_index=True)
    fig = charts.trend_chart(data, EN, names={"westbund_ai_tower": "West Bund"},
                             colors={"westbund_ai_tower": "#000000"}, y_title="firms")
    assert_kept_apart(fig, data, EN)
    assert len(line_traces(fig)) == 4
    assert [t.name for t in line_traces(fig)][-1] == "West Bund (derived)"


def test_every_zone_series_of_the_database_is_drawn_apart(ro_engine: Engine) -> None:
    """Whatever the database holds: each zone metric, every zone, one chart each."""
    catalogue = reference.metric_catalogue(ro_engine, "zone")
    assert not catalogue.empty
    for row in catalogue.itertuples(index=False):
        data = series.series(ro_engine, row.code, "zone", None, basis=row.basis)
        data = data.assign(y=data["value"])
        fig = charts.trend_chart(data, EN, names={}, colors={}, y_title=row.code)
        assert_kept_apart(fig, data, EN)


def test_headline_chart_draws_only_sample_quarters_as_its_line(ro_engine: Engine) -> None:
    sample = series.series(ro_engine, REVENUE_METRIC, "city", ["310000"], basis="quarterly")
    sample = sample.assign(y=sample["value_bn"])
    published = sample.iloc[len(sample) // 2].to_dict()
    published.update(provenance="reported", source_title=PUBLISHED["title"],
                     source_published=PUBLISHED["published"], scope_label=None,
                     y=published["y"] * 1.5)
    data = pd.concat([sample[sample["period"] != published["period"]],
                      pd.DataFrame([published])]).sort_values("period_end")
    empty = pd.DataFrame(columns=["period", "period_end", "y", "label", "source_title"])
    fig = charts.headline_chart(data, empty, pd.DataFrame(), empty, EN)
    assert_kept_apart(fig, data, EN)


def test_headline_reported_figures_name_source_date_and_scope(ro_engine: Engine) -> None:
    sample = series.series(ro_engine, REVENUE_METRIC, "city", ["310000"], basis="quarterly")
    sample = sample.assign(y=sample["value_bn"])
    reported = pd.DataFrame([{
        "period": "2024", "period_end": pd.Timestamp("2024-12-31"), "y": 400.0,
        "label": "Output (test)", "source_title": PUBLISHED["title"],
        "source_published": PUBLISHED["published"], "scope_label": PUBLISHED["scope_label"],
        "lower_bound": True, "approximate": False, "bound": "≥ ", "provenance": "reported"}])
    empty = pd.DataFrame(columns=["period", "period_end", "y", "label", "source_title"])
    for tr in (EN, ZH):
        fig = charts.headline_chart(sample, reported, pd.DataFrame(), empty, tr)
        [trace] = [t for t in fig.data if t.meta["role"] == "reported"]
        assert trace.mode == "markers"
        [hover] = hover_texts(trace)
        for part in (PUBLISHED["title"], tr.date(PUBLISHED["published"]),
                     PUBLISHED["scope_label"], "≥ 400.0"):
            assert part in hover, (part, hover)


def test_vintage_chart_actuals_keep_published_figures_off_the_line(ro_engine: Engine) -> None:
    actuals = with_published_point(zone_series(ro_engine))
    vintages = pd.DataFrame(columns=["vintage_run_id", "last_period", "period", "period_end",
                                     "mean", "lo_80", "hi_80"])
    fig = charts.vintage_chart(actuals, vintages, ZH, y_title="y")
    assert_kept_apart(fig, actuals, ZH)


# -- the transforms behind annual, growth and share views -----------------------------
def _rows(rows: list[tuple[str, str, float, str]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["scope_id", "period", "value", "provenance"])
    df["period_end"] = [pd.Period(p.replace("Q", "-Q"), freq="Q").end_time.normalize()
                        if "Q" in p else pd.Period(p, freq="M" if "-" in p else "Y")
                        .end_time.normalize() for p in df["period"]]
    return df.assign(value_bn=df["value"], basis="point", unit="firms")


def test_annual_stocks_take_each_kind_at_its_own_year_end() -> None:
    # The published figure is the last of 2024: it must not become the year's sample value.
    df = _rows([("a", "2024Q3", 40.0, "sample"), ("a", "2024Q4", 44.0, "sample"),
                ("a", "2024-12", 255.0, "reported")])
    out = to_annual(df, flow=False)
    assert sorted(zip(out["period"], out["value"], out["provenance"])) == [
        ("2024", 44.0, "sample"), ("2024", 255.0, "reported")]


def test_growth_never_compares_a_published_figure_with_a_sample_value() -> None:
    df = _rows([("a", "2024Q2", 40.0, "sample"), ("a", "2025Q2", 255.0, "reported"),
                ("a", "2025Q1", 50.0, "sample"), ("a", "2024Q1", 45.0, "sample")])
    out = add_growth(df).set_index("period")
    assert pd.isna(out.at["2025Q2", "growth"])
    assert out.at["2025Q1", "growth"] == pytest.approx(50 / 45 * 100 - 100)


def test_share_of_a_published_figure_is_not_taken_of_a_sample_total() -> None:
    df = _rows([("a", "2025Q2", 255.0, "reported"), ("b", "2025Q2", 30.0, "sample")])
    totals = pd.DataFrame({"period": ["2025Q2"], "value": [300.0], "provenance": ["sample"]})
    out = add_share(df, totals).set_index("scope_id")
    assert pd.isna(out.at["a", "share"])
    assert out.at["b", "share"] == pytest.approx(10.0)


# -- on the pages: a published figure added to a copy of the seeded database -------------
def _clear_caches() -> None:
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def published_db(backend: str, seeded_db_path: Path, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch,
                 request: pytest.FixtureRequest) -> Iterator[Path | str]:
    """The seeded database plus one reported zone figure of ours (source, date, scope); on
    PostgreSQL a copy of it in a database of its own."""
    path: Path | str = tmp_path / "published.db"
    if backend == "postgresql":
        from etl.copy import copy_database

        server = request.getfixturevalue("pg_server")
        path = server.create_database(f"published_{abs(hash(str(tmp_path))) % 10**8}")
        copy_database(str(seeded_db_path), path)
    else:
        shutil.copyfile(seeded_db_path, path)
    eng = make_engine(path)
    with eng.begin() as conn:
        source_id = conn.execute(text(
            "INSERT INTO sources (key, title, published, confidence, provenance) "
            "VALUES ('test-pub', :t, :p, 'high', 'reported') RETURNING id"),
            {"t": PUBLISHED["title"], "p": PUBLISHED["published"]}).scalar_one()
        run_id = conn.execute(text("SELECT MAX(id) FROM etl_runs")).scalar_one()
        conn.execute(text(
            "INSERT INTO observations (metric, scope_type, scope_id, scope_label, period, "
            "period_end, value, unit, basis, kind, provenance, source_id, etl_run_id) VALUES "
            "(:m, 'zone', 'westbund_ai_tower', :sl, :p, :e, :v, 'enterprises', 'point', "
            "'actual', 'reported', :s, :r)"),
            {"m": ZONE_FIRMS, "sl": PUBLISHED["scope_label"], "p": PUBLISHED["period"],
             "e": PUBLISHED["period_end"], "v": PUBLISHED["value"], "s": source_id,
             "r": run_id})
    eng.dispose()
    monkeypatch.setenv(ENV_VAR, str(path))
    _clear_caches()
    yield path
    _clear_caches()


def _record_csv_frames(monkeypatch: pytest.MonkeyPatch) -> list[pd.DataFrame]:
    """The frames the page's CSV downloads were made from (take `clicked_downloads` too, so
    the deferred buttons are clicked and their files made)."""
    frames: list[pd.DataFrame] = []
    real = export.to_csv_bytes

    def recording(df: pd.DataFrame) -> bytes:
        frames.append(df.copy())
        return real(df)

    monkeypatch.setattr(export, "to_csv_bytes", recording)
    return frames


def test_trends_export_names_provenance_source_and_date(
        published_db: Path, monkeypatch: pytest.MonkeyPatch,
        clicked_downloads: dict[str, bytes]) -> None:
    frames = _record_csv_frames(monkeypatch)
    at = AppTest.from_file(APP, default_timeout=30)
    at.query_params.update(stype="zone", scopes="westbund_ai_tower",
                           metric=f"{ZONE_FIRMS}|point", fan="0")
    at.switch_page("app/views/trends.py")
    at.run()
    assert not at.exception, at.exception
    trend = next(f for f in frames if "Provenance" in f.columns and "Scope" in f.columns)
    published = trend[trend["Period"] == PUBLISHED["period"]]
    assert published[["Provenance", "Source", "Published"]].to_dict("records") == [
        {"Provenance": "reported", "Source": PUBLISHED["title"], "Published": "2025-05-07"}]
    assert set(trend.loc[trend["Period"] != PUBLISHED["period"], "Provenance"]) == {"sample"}


# -- the target probability -----------------------------------------------------------
def _tracked_target(engine: Engine) -> tuple[dict, dict]:
    """The first target with a probability, and that probability's row."""
    tracking = series.target_tracking(engine)
    assert not tracking.empty
    targets = series.targets(engine).set_index("id", drop=False)
    odds = tracking.iloc[0].to_dict()
    return targets.loc[odds["target_id"]].to_dict(), odds


def test_tracking_is_the_probability_the_overview_shows(ro_engine: Engine) -> None:
    targets = series.targets(ro_engine).dropna(subset=["probability"])
    tracking = series.target_tracking(ro_engine).set_index("target_id")
    assert not targets.empty
    for t in targets.itertuples(index=False):
        assert tracking.at[t.id, "probability"] == t.probability
        assert tracking.at[t.id, "vintage_run_id"] == t.probability_vintage
        assert tracking.at[t.id, "method"] == t.probability_method


def _store_one_target(engine: Engine) -> None:
    """A sample revenue series and an above-designated-size target, as etl.forecasts
    expects them; its refresh then records the method in its own words."""
    quarters = pd.period_range("2019Q1", "2025Q2", freq="Q")
    with engine.begin() as conn:
        for code in (REVENUE_METRIC, "target_ai_industry_scale_above_designated_size"):
            conn.execute(text("INSERT INTO metrics (code, name_en, name_zh, unit_en, unit_zh) "
                              "VALUES (:c, :c, :c, 'u', 'u')"), {"c": code})
        conn.execute(text("INSERT INTO sources (id, key, title, confidence, provenance) VALUES "
                          "(1, 'gen', 'generator', 'high', 'sample'), "
                          "(2, 'plan', 'plan', 'medium', 'reported')"))
        conn.execute(text("INSERT INTO etl_runs (id, kind, started_at, status) "
                          "VALUES (1, 'drop', '2025-07-01', 'succeeded')"))
        conn.execute(text(
            "INSERT INTO observations (metric, scope_type, scope_id, period, period_end, value, "
            "unit, basis, kind, provenance, source_id, etl_run_id) VALUES (:m, 'city', "
            "'310000', :p, :e, :v, 'million CNY', 'quarterly', 'actual', 'sample', 1, 1)"),
            [{"m": REVENUE_METRIC, "p": str(q), "e": q.end_time.date(),
              "v": 60_000 * 1.03 ** i} for i, q in enumerate(quarters)])
        conn.execute(text(
            "INSERT INTO observations (metric, scope_type, scope_id, period, period_end, value, "
            "unit, basis, kind, provenance, source_id, etl_run_id) VALUES "
            "('target_ai_industry_scale_above_designated_size', 'city', '310000', '2025', "
            "'2025-12-31', 400, 'billion CNY', 'annual', 'target', 'reported', 2, 1)"))
    assert refresh_forecasts(engine).targets == 1


def test_stored_method_is_told_in_both_languages(engine: Engine) -> None:
    _store_one_target(engine)
    target, odds = _tracked_target(engine)
    en = target_probability.describe(target, odds, EN)
    zh = target_probability.describe(target, odds, ZH)
    assert (en.provenance, en.label, zh.label) == ("sample", "Sample estimate", "样例估计")
    assert en.chance == (f"Chance of reaching it under the latest forecast (sample): "
                         f"{EN.percent(odds['probability'] * 100, 0)} (forecast vintage: run 1).")
    assert zh.basis == (
        "口径：目标为“target_ai_industry_scale_above_designated_size”；该概率以企业名录中全部企业"
        "（不限于规模以上企业）的样例“enterprise_revenue”（按全年加总）跟踪目标，二者口径不同。"
        "因此该概率只说明样例数据的走势，并非真实的实现概率。")
    assert zh.method == ("方法：按与预测的80%和95%区间相匹配的对数正态分布，计算2025年数值达到目标"
                         "的概率（“enterprise_revenue”的各季度之和）。")
    assert en.basis == (
        "Basis: the target is set as “target_ai_industry_scale_above_designated_size”; the "
        "chance tracks it with the sample “enterprise_revenue” of all firms in the register, "
        "not only those above designated size, summed over the year: a different basis. So the "
        "chance says how the sample data would fare, not what the real odds are.")
    assert en.method.startswith("Method: the probability that the 2025 value reaches the "
                                "target, under a log-normal distribution matched to the "
                                "forecast's 80% and 95% intervals (sum of the quarters of "
                                "“enterprise_revenue”).")
    note = odds["method"].split(". ", 1)[1]  # what data/targets.csv says of this rule
    assert en.method.endswith(note)


def test_a_method_in_another_form_is_shown_as_recorded(ro_engine: Engine) -> None:
    target, odds = _tracked_target(ro_engine)
    odds = {**odds, "method": "share of simulated totals at or above target"}
    assert target_probability.method_text(target, odds, EN) == (
        "Method: share of simulated totals at or above target")
    assert target_probability.method_text(target, odds, ZH) == (
        "方法：（原始记录为英文）share of simulated totals at or above target")


@pytest.mark.parametrize(("lang", "label", "sample", "differs", "method"), [
    ("en", "Sample estimate", "(sample)", "a different basis", "Method: "),
    ("zh", "样例估计", "（样例）", "二者口径不同", "方法："),
])
def test_overview_labels_the_probability_sample_with_basis_and_method(
        seeded_db: Path, ro_engine: Engine, monkeypatch: pytest.MonkeyPatch,
        clicked_downloads: dict[str, bytes], lang: str, label: str, sample: str, differs: str,
        method: str) -> None:
    # Read straight from the tables: what the page must say about the first tracked target.
    with ro_engine.connect() as conn:
        odds = dict(conn.execute(text(
            "SELECT tp.target_observation_id AS target_id, tp.probability, tp.method, "
            "fr.provenance AS forecast_provenance, m.name_en AS series_name_en, "
            "m.name_zh AS series_name_zh FROM target_probabilities tp "
            "JOIN forecast_runs fr ON fr.id = tp.forecast_id JOIN metrics m ON m.code = fr.metric "
            "ORDER BY fr.vintage_run_id DESC, tp.id DESC LIMIT 1")).mappings().one())
    target = series.targets(ro_engine).set_index("id").loc[odds["target_id"]].to_dict()
    tr = get_translator(lang)
    assert odds["forecast_provenance"] == "sample"
    frames = _record_csv_frames(monkeypatch)
    at = AppTest.from_file(APP, default_timeout=30)
    at.query_params.update(lang=lang)
    at.run()
    assert not at.exception, at.exception
    pct = tr.percent(odds["probability"] * 100, 0)
    [chance] = [i.value for i in [*at.info, *at.success] if pct in i.value]
    assert sample in chance
    assert any(label in m.value for m in at.markdown)  # the badge
    [caption] = [c.value for c in at.caption if c.value.startswith(("Basis:", "口径："))]
    assert differs in caption
    assert tr.name(target["name_en"], target["name_zh"]) in caption
    assert tr.name(odds["series_name_en"], odds["series_name_zh"]) in caption
    assert method in caption
    if lang == "en":
        assert odds["method"].strip() in caption or odds["method"].split(". ", 1)[-1] in caption
    headline = next(f for f in frames if tr("target_probability.col_method") in f.columns)
    [row] = headline.dropna(subset=[tr("target_probability.col_chance")]).to_dict("records")
    assert row[tr("target_probability.col_chance")] == round(odds["probability"] * 100, 1)
    assert row[tr("target_probability.col_provenance")] == label
    assert differs in row[tr("target_probability.col_basis")]
    assert row[tr("target_probability.col_method")].startswith(method)
