"""Forecasts read before a load's commit and fitted during it (etl/forecast_ahead.py)."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest
from backends import stored_forecasts
from fixtures.make_fixtures import GOOD, TODAY
from sqlalchemy import text
from sqlalchemy.engine import Engine

import etl.forecasts
from etl.drops.load import load_drop
from etl.forecast_ahead import ForecastsAhead
from etl.forecasts import refresh_forecasts

pytestmark = pytest.mark.both_backends

AHEAD_THREAD = "aidash-forecasts-ahead"
# Scopes whose revenue the revised drop changes: each is given six years of earlier quarters,
# so that the load's 2025Q1 extends a series long enough to fit.
SCOPES = (("city", "310000"), ("district", "310104"), ("segment", "applications"))


def _history(engine: Engine) -> None:
    """Quarterly revenue of :data:`SCOPES` for 2019Q1-2024Q4 (derived, run 1)."""
    quarters = pd.period_range("2019Q1", "2024Q4", freq="Q")
    rng = np.random.default_rng(3)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO sources (id, key, title, confidence, provenance) "
                          "VALUES (900, 'history', 'earlier quarters', 'high', 'derived')"))
        for i, (scope_type, scope_id) in enumerate(SCOPES):
            values = (100 + 10 * i) * 1.02 ** np.arange(len(quarters)) * (
                1 + rng.normal(0, 0.02, len(quarters)))
            conn.execute(text(
                "INSERT INTO observations (metric, scope_type, scope_id, period, period_end, "
                "value, unit, basis, kind, provenance, source_id, etl_run_id) VALUES "
                "('enterprise_revenue', :t, :s, :p, :e, :v, 'million CNY', 'quarterly', "
                "'actual', 'derived', 900, 1)"),
                [{"t": scope_type, "s": scope_id, "p": str(q), "e": q.end_time.date(),
                  "v": float(v)} for q, v in zip(quarters, values, strict=True)])


def _fits_by_thread(monkeypatch: pytest.MonkeyPatch, *, fail_ahead: bool = False) -> list[str]:
    """Record the thread of every fit the engine makes (and make those of the thread fitting
    ahead fail, if asked)."""
    names: list[str] = []
    real = etl.forecasts.forecast

    def recording(y: pd.Series, *args: object, **kwargs: object) -> pd.DataFrame:
        names.append(threading.current_thread().name)
        if fail_ahead and threading.current_thread().name == AHEAD_THREAD:
            raise RuntimeError("a fit that fails")
        return real(y, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(etl.forecasts, "forecast", recording)
    return names


def _load_ahead(engine: Engine) -> tuple[int, ForecastsAhead]:
    _history(engine)
    ahead = ForecastsAhead()
    result = load_drop(engine, GOOD / "2025Q1_revised", today=TODAY, progress=False,
                       before_commit=ahead.start)
    assert result.changed and result.run_id is not None
    return result.run_id, ahead


def test_fits_made_while_the_load_commits_are_those_the_refresh_would_make(
        base: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    threads = _fits_by_thread(monkeypatch)
    run_id, ahead = _load_ahead(base)
    summary = refresh_forecasts(base, vintage_run_id=run_id, planned=ahead.take(run_id))
    fitted_ahead = len(threads)
    # Every fit was made by the thread, none by the refresh; the revised revenue changed
    # some series, so there were fits to make.
    assert fitted_ahead > 0 and set(threads) == {AHEAD_THREAD}
    assert summary.series - summary.reused == fitted_ahead
    stored = stored_forecasts(base, run_id)
    # The same vintage refreshed the usual way, every series fitted afresh (no carrying
    # over): the same forecasts, so the thread saw what the commit made current.
    monkeypatch.setattr(etl.forecasts, "stored_fits_from", lambda query, digests: {})
    again = refresh_forecasts(base, vintage_run_id=run_id)
    assert again.series == summary.series and again.reused == 0
    assert stored_forecasts(base, run_id) == stored


def test_a_plan_is_used_only_for_the_run_it_was_read_for(base: Engine) -> None:
    run_id, ahead = _load_ahead(base)
    assert ahead.take(run_id + 1) is None
    assert ahead.take(None) is None
    plan = ahead.take(run_id)
    assert plan is not None and plan.fits and set(plan.results) <= set(plan.fits)


def test_a_fit_that_fails_ahead_is_made_again_by_the_refresh(
        base: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    threads = _fits_by_thread(monkeypatch, fail_ahead=True)
    run_id, ahead = _load_ahead(base)
    assert ahead.take(run_id) is None
    summary = refresh_forecasts(base, vintage_run_id=run_id, planned=ahead.take(run_id))
    made_here = [t for t in threads if t != AHEAD_THREAD]
    assert threads[0] == AHEAD_THREAD
    assert len(made_here) == summary.series - summary.reused > 0
    assert len(stored_forecasts(base, run_id)) > 0


def test_a_dry_run_does_not_call_the_hook(base: Engine) -> None:
    calls: list[int] = []
    result = load_drop(base, GOOD / "2025Q1_revised", today=TODAY, progress=False,
                       dry_run=True, before_commit=lambda conn, run_id: calls.append(run_id))
    assert result.dry_run and calls == []
