"""Stored forecasts: the latest vintage of each series, every vintage of one, their accuracy.

``forecast_runs`` and ``forecast_points`` are filled by ``etl/forecasts.py`` after every load.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy.engine import Engine

from app.cached import cached_query
from app.filters import in_clause
from app.queries.frames import read_frame
from models.tables import FORECAST_BANDS

ACCURACY_COLUMNS = ("backtest_mase", "backtest_cov80", "backtest_cov95")
# The point and interval columns of forecast_points, as every query reads them.
_POINTS = ", ".join(f"fp.{band}" for band in FORECAST_BANDS)


def _accuracy_as_float(df: pd.DataFrame) -> pd.DataFrame:
    """Backtest accuracy is NULL for series too short to backtest: keep the columns numeric
    (NaN), so rounding and formatting work whatever the mix."""
    for col in ACCURACY_COLUMNS:
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
    return df


@cached_query
def forecasts(engine: Engine, metric: str, scope_type: str, scope_ids: list[str],
              basis: str, *, vintage_run_id: int | None = None) -> pd.DataFrame:
    """Forecast points of the latest vintage (or of ``vintage_run_id``) for several series,
    with each run's model and backtest accuracy."""
    clause, params = in_clause("fr.scope_id", [str(s) for s in scope_ids], "scope")
    params.update({"metric": metric, "scope_type": scope_type, "basis": basis})
    if vintage_run_id is None:
        vintage = """fr.vintage_run_id = (SELECT MAX(f2.vintage_run_id) FROM forecast_runs f2
                                          WHERE f2.series_key = fr.series_key)"""
    else:
        vintage = "fr.vintage_run_id = :vintage"
        params["vintage"] = vintage_run_id
    df = read_frame(engine, f"""
        SELECT fr.id AS forecast_id, fr.scope_id, fr.last_period, fr.vintage_run_id, fr.model,
               fr.method_note, fr.backtest_mase, fr.backtest_cov80, fr.backtest_cov95,
               fr.provenance, fr.created_at, fp.period, fp.period_end, {_POINTS}
        FROM forecast_runs fr JOIN forecast_points fp ON fp.forecast_id = fr.id
        WHERE fr.metric = :metric AND fr.scope_type = :scope_type AND fr.basis = :basis
          AND {clause} AND {vintage}
        ORDER BY fr.scope_id, fp.period_end""", params)
    df["period_end"] = pd.to_datetime(df["period_end"])
    return _accuracy_as_float(df)


@cached_query
def forecast_series(engine: Engine, metric: str, scope_type: str, scope_ids: list[str],
                    basis: str) -> pd.DataFrame:
    """Which of these scopes have stored forecasts, and how many vintages each (most first)."""
    clause, params = in_clause("scope_id", [str(s) for s in scope_ids], "scope")
    params.update({"metric": metric, "scope_type": scope_type, "basis": basis})
    return read_frame(engine, f"""
        SELECT scope_id, COUNT(DISTINCT vintage_run_id) AS vintages
        FROM forecast_runs
        WHERE metric = :metric AND scope_type = :scope_type AND basis = :basis AND {clause}
        GROUP BY scope_id ORDER BY COUNT(DISTINCT vintage_run_id) DESC, scope_id""", params)


@cached_query
def forecast_vintages(engine: Engine, metric: str, scope_type: str, scope_id: str,
                      basis: str) -> pd.DataFrame:
    """Every stored vintage of one series' forecast, oldest first (past forecasts vs actuals)."""
    df = read_frame(engine, f"""
        SELECT fr.id AS forecast_id, fr.vintage_run_id, fr.last_period, fr.model,
               fr.backtest_mase, fr.backtest_cov80, fr.backtest_cov95, fr.created_at,
               fp.period, fp.period_end, {_POINTS}
        FROM forecast_runs fr JOIN forecast_points fp ON fp.forecast_id = fr.id
        WHERE fr.metric = :metric AND fr.scope_type = :scope_type AND fr.scope_id = :scope_id
          AND fr.basis = :basis
        ORDER BY fr.vintage_run_id, fp.period_end""",
                    {"metric": metric, "scope_type": scope_type, "scope_id": str(scope_id),
                     "basis": basis})
    df["period_end"] = pd.to_datetime(df["period_end"])
    return _accuracy_as_float(df)


@cached_query
def forecast_accuracy(engine: Engine) -> pd.DataFrame:
    """Backtest accuracy of the latest vintage of every forecast series (methodology table)."""
    return _accuracy_as_float(read_frame(engine, """
        SELECT fr.metric, fr.scope_type, fr.scope_id, fr.basis, fr.model, fr.last_period,
               fr.vintage_run_id, fr.backtest_mase, fr.backtest_cov80, fr.backtest_cov95
        FROM forecast_runs fr
        WHERE fr.vintage_run_id = (SELECT MAX(f2.vintage_run_id) FROM forecast_runs f2
                                   WHERE f2.series_key = fr.series_key)
        ORDER BY fr.metric, fr.scope_type, fr.scope_id"""))
