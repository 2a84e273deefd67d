"""Stored forecasts: vintages, provenance and target probabilities (etl/forecasts.py)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from backends import stored_forecasts
from sqlalchemy import text
from sqlalchemy.engine import Engine

from etl.forecasts import _probability_at_least, refresh_forecasts
from models.errors import AidashError

QUARTERS = pd.period_range("2019Q1", "2025Q2", freq="Q")


def _run(conn, run_id: int) -> None:  # type: ignore[no-untyped-def]
    conn.execute(text("INSERT INTO etl_runs (id, kind, started_at, status) "
                      "VALUES (:i, 'drop', :t, 'succeeded')"), {"i": run_id, "t": datetime(2025, 7, 1)})


def _seed(engine: Engine, target_value: float) -> None:
    rng = np.random.default_rng(7)
    values = 60_000 * 1.03 ** np.arange(len(QUARTERS)) * (1 + rng.normal(0, 0.01, len(QUARTERS)))
    with engine.begin() as conn:
        for code in ("enterprise_revenue", "target_ai_industry_scale_above_designated_size",
                     "ai_industry_scale_above_designated_size"):
            conn.execute(text("INSERT INTO metrics (code, name_en, name_zh, unit_en, unit_zh) "
                              "VALUES (:c, :c, :c, 'u', 'u')"), {"c": code})
        conn.execute(text("INSERT INTO sources (id, key, title, confidence, provenance) VALUES "
                          "(1, 'gen', 'generator', 'high', 'sample'), "
                          "(2, 'plan', '14th five-year plan', 'medium', 'reported')"))
        _run(conn, 1)
        conn.execute(text(
            "INSERT INTO observations (metric, scope_type, scope_id, period, period_end, value, "
            "unit, basis, kind, provenance, source_id, etl_run_id) VALUES "
            "('enterprise_revenue', 'city', '310000', :p, :e, :v, 'million CNY', 'quarterly', "
            "'actual', 'sample', 1, 1)"),
            [{"p": str(q), "e": q.end_time.date(), "v": float(v)} for q, v in zip(QUARTERS, values)])
        conn.execute(text(
            "INSERT INTO observations (metric, scope_type, scope_id, period, period_end, value, "
            "unit, basis, kind, provenance, source_id, etl_run_id) VALUES "
            "('target_ai_industry_scale_above_designated_size', 'city', '310000', '2025', "
            ":e, :v, 'billion CNY', 'annual', 'target', 'reported', 2, 1)"),
            {"e": date(2025, 12, 31), "v": target_value})


def test_refresh_stores_every_series_with_its_vintage(engine: Engine) -> None:
    _seed(engine, target_value=1.0)
    summary = refresh_forecasts(engine)
    assert (summary.vintage_run_id, summary.series, summary.skipped) == (1, 1, 0)
    with engine.connect() as conn:
        run = conn.execute(text("SELECT series_key, provenance, last_period, freq FROM forecast_runs")).one()
        points = conn.execute(text("SELECT period FROM forecast_points ORDER BY period")).scalars().all()
    assert tuple(run) == ("enterprise_revenue|city|310000|quarterly|Q", "sample", "2025Q2", "Q")
    assert points == [str(p) for p in pd.period_range("2025Q3", "2027Q2", freq="Q")]


def test_earlier_vintages_are_kept_and_a_repeat_replaces_its_own(engine: Engine) -> None:
    _seed(engine, target_value=1.0)
    refresh_forecasts(engine)
    refresh_forecasts(engine)  # same vintage: replaced, not duplicated
    with engine.begin() as conn:
        _run(conn, 2)
    refresh_forecasts(engine)
    with engine.connect() as conn:
        vintages = conn.execute(text(
            "SELECT vintage_run_id, count(*) FROM forecast_runs GROUP BY 1 ORDER BY 1")).all()
        n_points = conn.execute(text("SELECT count(*) FROM forecast_points")).scalar()
    assert [tuple(v) for v in vintages] == [(1, 1), (2, 1)]
    assert n_points == 16


@pytest.mark.parametrize(("target", "low", "high"), [
    (1.0, 0.99, 1.0),        # 1 billion against ~300 billion a year: certain
    (5_000.0, 0.0, 0.01),    # 5 trillion: out of reach
])
def test_target_probability_on_known_cases(engine: Engine, target: float, low: float,
                                           high: float) -> None:
    _seed(engine, target_value=target)
    assert refresh_forecasts(engine).targets == 1
    with engine.connect() as conn:
        prob, period, method = conn.execute(text(
            "SELECT probability, target_period, method FROM target_probabilities")).one()
    assert low <= prob <= high
    assert period == "2025"
    assert "sum of enterprise_revenue|city|310000|quarterly|Q" in method


def test_probability_is_one_half_at_the_median() -> None:
    row = pd.Series({"lo_80": 80.0, "hi_80": 125.0, "lo_95": 64.0, "hi_95": 156.25})
    assert _probability_at_least(100.0, row) == pytest.approx(0.5, abs=1e-9)


def test_refresh_on_an_empty_database_says_what_to_do(engine: Engine) -> None:
    with pytest.raises(AidashError) as exc:
        refresh_forecasts(engine)
    assert str(exc.value) == "the database has no loaded data yet; run `aidash init` first"


def test_missing_target_map_file_is_reported(engine: Engine, tmp_path: Path) -> None:
    _seed(engine, target_value=1.0)
    with pytest.raises(FileNotFoundError):
        refresh_forecasts(engine, target_map_path=tmp_path / "nope.csv")


def test_a_series_is_fitted_on_one_provenance(engine: Engine) -> None:
    """A reported figure that shares a sample series' key (same metric, scope, basis and a
    quarter of it) is not spliced into the fitted series: neither over a sample quarter nor in a
    quarter the sample lacks."""
    from etl.forecast_reuse import sa_query
    from etl.forecasts import series_from

    _seed(engine, target_value=1.0)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO observations (metric, scope_type, scope_id, period, period_end, value, "
            "unit, basis, kind, provenance, source_id, etl_run_id) VALUES "
            "('enterprise_revenue', 'city', '310000', :p, :e, :v, 'million CNY', 'quarterly', "
            "'actual', 'reported', 2, 1)"),
            [{"p": "2025Q2", "e": date(2025, 6, 30), "v": 1.0},
             {"p": "2025Q4", "e": date(2025, 12, 31), "v": 2.0}])
        sample = pd.read_sql_query(text(
            "SELECT period, value FROM observations WHERE provenance = 'sample' "
            "AND metric = 'enterprise_revenue' ORDER BY period"), conn)
        y, provenance = series_from(sa_query(conn))[
            "enterprise_revenue|city|310000|quarterly|Q"]
    assert provenance == "sample"
    assert [str(p) for p in y.index] == sample["period"].tolist()
    assert y.to_numpy().tolist() == sample["value"].tolist()


# ------------------------------------------------------------- forecasts carried over


def _count_fits(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the last period of every series the engine is asked to fit."""
    import etl.forecasts

    fitted: list[str] = []
    real = etl.forecasts.forecast

    def counting(y: pd.Series, *args: object, **kwargs: object) -> pd.DataFrame:
        fitted.append(str(y.index[-1]))
        return real(y, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(etl.forecasts, "forecast", counting)
    return fitted


@pytest.mark.both_backends
def test_an_unchanged_series_is_carried_over_not_refitted(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    _seed(engine, target_value=1.0)
    first = refresh_forecasts(engine)
    with engine.begin() as conn:
        _run(conn, 2)  # a later load that left the series as it was
    fitted = _count_fits(monkeypatch)
    second = refresh_forecasts(engine)
    assert (first.reused, second.reused, second.series, fitted) == (0, 1, 1, [])
    assert stored_forecasts(engine, 2) == stored_forecasts(engine, 1)
    with engine.connect() as conn:
        targets = conn.execute(text(
            "SELECT fr.vintage_run_id, tp.probability FROM target_probabilities tp "
            "JOIN forecast_runs fr ON fr.id = tp.forecast_id ORDER BY 1")).all()
    assert [v for v, _ in targets] == [1, 2] and targets[0][1] == targets[1][1]
    assert "(1 unchanged since an earlier fit, 0 too short)" in second.summary_line()


@pytest.mark.both_backends
def test_a_changed_series_is_fitted_again(engine: Engine, monkeypatch: pytest.MonkeyPatch,
                                          ) -> None:
    _seed(engine, target_value=1.0)
    refresh_forecasts(engine)
    with engine.begin() as conn:
        _run(conn, 2)
        conn.execute(text("UPDATE observations SET value = value * 1.001 WHERE period = '2025Q2' "
                          "AND provenance = 'sample'"))
    fitted = _count_fits(monkeypatch)
    summary = refresh_forecasts(engine)
    assert (summary.reused, fitted) == (0, ["2025Q2"])
    assert stored_forecasts(engine, 2) != stored_forecasts(engine, 1)


def test_the_input_digest_changes_with_anything_a_fit_depends_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from etl import forecast_reuse
    from etl.forecast_reuse import input_digest

    key = "enterprise_revenue|city|310000|quarterly|Q"
    y = pd.Series(np.linspace(1.0, 2.0, len(QUARTERS)), index=QUARTERS)
    base = input_digest(key, y, 8, (80, 95))
    nudged = y.copy()
    nudged.iloc[3] = np.nextafter(nudged.iloc[3], 3.0)  # one bit of one value
    gap = y.copy()
    gap.iloc[3] = np.nan
    other_gap = y.copy()
    other_gap.iloc[4] = np.nan
    shifted = pd.Series(y.to_numpy(), index=QUARTERS + 1)
    variants = [input_digest(key, nudged, 8, (80, 95)), input_digest(key, gap, 8, (80, 95)),
                input_digest(key, other_gap, 8, (80, 95)), input_digest(key, shifted, 8, (80, 95)),
                input_digest(key, y, 4, (80, 95)), input_digest(key, y, 8, (80, 90)),
                input_digest(key.replace("310000", "310104"), y, 8, (80, 95))]
    assert base not in variants and len(set(variants)) == len(variants)
    assert input_digest(key, y.copy(), 8, (80, 95)) == base
    # A NaN is a NaN whatever its bits.
    signed = gap.copy()
    signed.iloc[3] = -np.nan
    assert input_digest(key, signed, 8, (80, 95)) == input_digest(key, gap, 8, (80, 95))
    # Another engine (its source or a library version): another digest.
    monkeypatch.setattr(forecast_reuse, "engine_digest", lambda: "another engine")
    assert input_digest(key, y, 8, (80, 95)) != base
