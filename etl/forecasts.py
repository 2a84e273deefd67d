"""Fit and store forecasts for every series the dashboard shows, with their vintage.

A *series* is the current values of one metric for one scope on one basis: the sample
aggregates the load derives (enterprise revenue and firm counts by city, district, zone and
segment), the zone metrics of the drops, and the reported annual figures (their series of
record). Each refresh stores one :class:`~models.tables.ForecastRun` per series, tagged with
the ETL run whose data it saw (the vintage); earlier vintages stay, so a past forecast can be
set against what happened.

For every published policy target (an observation of kind ``target``) whose metric has a
forecast reaching the target's period, the chance of reaching it is stored beside the forecast.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from etl.forecast_reuse import (
    Query,
    StoredFit,
    as_result,
    input_digest,
    sa_query,
    stored_fits_from,
)
from etl.transaction import busy_writer, write_transaction
from models.errors import AidashError
from models.forecast import forecast

# Eight quarters ahead covers the rest of the current plan period from any quarter of 2025.
HORIZON_QUARTERS = 8
# Three years ahead reaches the 2027 horizon of the city's current action plans.
HORIZON_YEARS = 3
# Fewer points than this is no series; the engine's short-series path starts above it.
MIN_POINTS = 4
LEVELS = (80, 95)
# Which series tracks which published target is data, not code.
TARGET_MAP = Path(__file__).resolve().parent.parent / "data" / "targets.csv"

_SERIES_SQL = """
SELECT metric, scope_type, scope_id, basis, period, value, provenance
FROM {source}
WHERE kind = 'actual' AND basis IN ('quarterly', 'annual', 'point')
  AND (period GLOB '[0-9][0-9][0-9][0-9]Q[1-4]' OR period GLOB '[0-9][0-9][0-9][0-9]')
  AND scope_type <> 'enterprise'
"""


@dataclass(frozen=True)
class RefreshSummary:
    """What one refresh did."""

    vintage_run_id: int
    series: int
    skipped: int
    targets: int
    seconds: float
    reused: int = 0  # of ``series``: carried over from an earlier fit of the same input

    def summary_line(self) -> str:
        return (f"Forecast {self.series} series ({self.reused} unchanged since an earlier "
                f"fit, {self.skipped} too short), {self.targets} target probabilities, "
                f"vintage run {self.vintage_run_id}, in {self.seconds:.1f} s")


def series_key(metric: str, scope_type: str, scope_id: str, basis: str, freq: str) -> str:
    """The stable name of a series: ``metric|scope_type|scope_id|basis|freq`` (freq Q or Y)."""
    return f"{metric}|{scope_type}|{scope_id}|{basis}|{freq}"


def latest_run_id(conn: Connection) -> int | None:
    """The newest run that still counts (not rolled back, not rejected)."""
    return conn.execute(text(
        "SELECT max(id) FROM etl_runs WHERE status IN ('succeeded', 'noop')"
    )).scalar()


def series_from(query: Query) -> dict[str, tuple[pd.Series, str]]:
    """Every forecastable series, read through ``query`` (:func:`etl.forecast_reuse.sa_query`,
    or :func:`etl.forecast_reuse.dbapi_query` on a load's own connection): key → (values on a
    PeriodIndex, provenance of the forecast).

    Sample aggregates come from ``current_observations``; reported figures from
    ``series_of_record`` so that conflicting sources are not mixed into one line. Points of
    different provenance are never fitted together: a key that has sample points is fitted on
    those alone (see :func:`_fitted_provenance`).
    """
    rows = []
    for source, provenances in (("current_observations", ("sample", "derived")),
                                ("series_of_record", ("reported",))):
        rows += [r for r in query(_SERIES_SQL.format(source=source), {})
                 if r[6] in provenances]
    # key (with Y or Q: where both exist they are different series) → provenance → period →
    # value, the last row of a period winning. Plain dicts: a pandas group per series costs
    # milliseconds, and a database holds hundreds of series.
    points: dict[tuple[str, str, str, str, str], dict[str, dict[str, float]]] = {}
    for metric, scope_type, scope_id, basis, period, value, provenance in rows:
        key = (metric, scope_type, scope_id, basis, "Q" if "Q" in period else "Y")
        points.setdefault(key, {}).setdefault(provenance, {})[period] = value
    out: dict[str, tuple[pd.Series, str]] = {}
    # Sorted by metric, scope and basis; a key's annual series before its quarterly one.
    for key in sorted(points, key=lambda k: (*k[:4], k[4] == "Q")):
        by_provenance = points[key]
        fitted = by_provenance[_fitted_provenance(by_provenance)]
        freq = key[4]
        periods = sorted(fitted)  # "2025Q1" < "2025Q2", "2024" < "2025": text order is time
        y = pd.Series(np.array([fitted[p] for p in periods], dtype=float),
                      index=pd.PeriodIndex(periods, freq=freq))
        y = y.reindex(pd.period_range(y.index[0], y.index[-1], freq=freq))
        provenance = "sample" if "sample" in by_provenance else "derived"
        out[series_key(*key)] = (y, provenance)
    return out


# Which points a series is fitted on when several provenances share its key: the sample
# series where there is one (a reported figure of another publication is not a quarter of it),
# else the reported figures, else the derived ones. One provenance per fit, as on the charts.
_FIT_PRIORITY = ("sample", "reported", "derived")


def _fitted_provenance(provenances: Iterable[str]) -> str:
    """The one provenance of ``provenances`` a series is fitted on (see ``_FIT_PRIORITY``)."""
    present = set(provenances)
    return next(p for p in _FIT_PRIORITY if p in present)


def _probability_at_least(target: float, row: pd.Series) -> float:
    """P(value ≥ target) under a log-normal matched to the forecast's 80 % and 95 % bounds."""
    lo80, hi80, lo95, hi95 = (max(row[c], 1e-9) for c in ("lo_80", "hi_80", "lo_95", "hi_95"))
    mu = 0.5 * (math.log(lo95) + math.log(hi95))
    sigma80 = (math.log(hi80) - math.log(lo80)) / (2 * norm.ppf(0.90))
    sigma95 = (math.log(hi95) - math.log(lo95)) / (2 * norm.ppf(0.975))
    sigma = max(0.5 * (sigma80 + sigma95), 1e-9)
    return float(norm.sf((math.log(max(target, 1e-9)) - mu) / sigma))


def _store(conn: Connection, *, key: str, y: pd.Series, provenance: str, result: pd.DataFrame,
           vintage: int, now: datetime, digest: str) -> int:
    metric, scope_type, scope_id, basis, freq = key.split("|")
    backtest = result.attrs.get("backtest") or {}
    fid = conn.execute(text(
        """INSERT INTO forecast_runs (series_key, metric, scope_type, scope_id, basis, freq,
             last_period, vintage_run_id, created_at, model, method_note, backtest_mase,
             backtest_cov80, backtest_cov95, provenance, input_digest)
           VALUES (:key, :metric, :scope_type, :scope_id, :basis, :freq, :last, :vintage, :now,
             :model, :note, :mase, :cov80, :cov95, :prov, :digest)
           RETURNING id"""),
        {"key": key, "metric": metric, "scope_type": scope_type, "scope_id": scope_id,
         "basis": basis, "freq": freq, "last": str(y.dropna().index[-1]), "vintage": vintage,
         "now": now, "model": str(result.attrs.get("model", "")),
         "note": result.attrs.get("method_note"), "mase": _num(backtest.get("mase")),
         "cov80": _num(backtest.get("coverage_80")), "cov95": _num(backtest.get("coverage_95")),
         "prov": provenance, "digest": digest},
    ).scalar_one()
    conn.execute(text(
        """INSERT INTO forecast_points (forecast_id, period, period_end, mean, lo_80, hi_80,
             lo_95, hi_95) VALUES (:fid, :period, :end, :mean, :lo_80, :hi_80, :lo_95, :hi_95)"""),
        [{"fid": fid, "period": str(p), "end": p.end_time.date(), **{c: float(r[c]) for c in
          ("mean", "lo_80", "hi_80", "lo_95", "hi_95")}} for p, r in result.iterrows()],
    )
    return int(fid)


def _num(v: object) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)  # type: ignore[arg-type]


def read_target_map(path: Path) -> pd.DataFrame:
    """The tracking rules: which forecast series answers which published target (a data file)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _year_distribution(y: pd.Series, result: pd.DataFrame, year: int) -> pd.Series | None:
    """Bounds of a year's total from observed quarters plus forecast quarters.

    Quarterly forecast errors of one series move together, so bounds of the sum are taken as
    the sum of the quarters' bounds at the same level (exact for perfectly dependent errors,
    and the cautious choice otherwise).
    """
    quarters = pd.period_range(f"{year}Q1", f"{year}Q4", freq="Q")
    total = pd.Series(0.0, index=["mean", "lo_80", "hi_80", "lo_95", "hi_95"])
    for q in quarters:
        if q in y.index and pd.notna(y.get(q)):
            total += float(y[q])
        elif q in result.index:
            total += result.loc[q, total.index].astype(float)
        else:
            return None
    return total


def _store_targets(conn: Connection, stored: dict[str, tuple[int, pd.Series, pd.DataFrame]],
                   target_map: pd.DataFrame) -> int:
    targets = conn.execute(text(
        """SELECT id, metric, scope_type, scope_id, period, value FROM series_of_record
           WHERE kind = 'target' AND period GLOB '[0-9][0-9][0-9][0-9]'"""
    )).fetchall()
    n = 0
    for tid, metric, scope_type, scope_id, period, value in targets:
        rules = target_map[(target_map["target_metric"] == metric)
                           & (target_map["target_scope_type"] == scope_type)
                           & (target_map["target_scope_id"] == scope_id)]
        for rule in rules.itertuples():
            key = series_key(rule.series_metric, rule.series_scope_type, rule.series_scope_id,
                             rule.series_basis, rule.series_freq)
            if key not in stored:
                continue
            fid, y, result = stored[key]
            if rule.aggregate == "sum":
                row = _year_distribution(y, result, int(period))
            else:
                hit = [p for p in result.index if str(p) == period]
                row = result.loc[hit[0]] if hit else None
            if row is None:
                continue
            scale = float(rule.series_units_per_target_unit)
            prob = _probability_at_least(float(value) * scale, row)
            conn.execute(text(
                """INSERT INTO target_probabilities (forecast_id, target_observation_id,
                     target_value, target_period, probability, method)
                   VALUES (:fid, :tid, :val, :period, :p, :method)"""),
                {"fid": fid, "tid": tid, "val": float(value), "period": period, "p": prob,
                 "method": f"P(value >= target) under a log-normal matched to the forecast's "
                           f"80 % and 95 % intervals ({rule.aggregate} of {key}). {rule.note}"})
            n += 1
    return n


@dataclass
class FitPlan:
    """What a refresh stores, read from one state of the database: each series to forecast
    (key → values, provenance, horizon, input digest), how many were too short, the earlier
    fits of the same inputs (:mod:`etl.forecast_reuse`), and the fits made so far (key →
    result; by :func:`fit_all`)."""

    fits: dict[str, tuple[pd.Series, str, int, str]]
    skipped: int
    earlier: dict[str, StoredFit]
    results: dict[str, pd.DataFrame] = field(default_factory=dict)


def plan_fits(query: Query) -> FitPlan:
    """The series to forecast and their earlier fits, through ``query``."""
    fits: dict[str, tuple[pd.Series, str, int, str]] = {}
    skipped = 0
    for key, (y, provenance) in series_from(query).items():
        if y.notna().sum() < MIN_POINTS or (y.dropna() < 0).any():
            skipped += 1
            continue
        horizon = HORIZON_QUARTERS if key.endswith("|Q") else HORIZON_YEARS
        fits[key] = (y, provenance, horizon, input_digest(key, y, horizon, LEVELS))
    earlier = stored_fits_from(query, [digest for *_, digest in fits.values()])
    return FitPlan(fits, skipped, earlier)


def fit_all(plan: FitPlan) -> None:
    """Fit every series of ``plan`` that has no earlier fit of the same input (CPU only: no
    database)."""
    for key, (y, _provenance, horizon, digest) in plan.fits.items():
        if digest not in plan.earlier and key not in plan.results:
            plan.results[key] = forecast(y, horizon, LEVELS)


def refresh_forecasts(engine: Engine, vintage_run_id: int | None = None, *,
                      target_map_path: Path = TARGET_MAP,
                      planned: FitPlan | None = None) -> RefreshSummary:
    """Forecast every series and store the results under ``vintage_run_id``.

    :param vintage_run_id: the ETL run whose data the forecasts see; default the latest run.
        A second refresh for the same vintage replaces that vintage's forecasts.
    :param target_map_path: the data file saying which series tracks which policy target.
    :param planned: the series of ``vintage_run_id``'s data and their fits, made already
        (:class:`etl.forecast_ahead.ForecastsAhead`, while the load committed); default: read
        and fitted here.
    :raises AidashError: if the database holds no successful run yet.
    :raises DatabaseBusy: another writer held the database past the busy timeout; no forecast
        was stored.
    """
    start = time.perf_counter()
    with (busy_writer(engine, "no forecast was stored", "run `aidash forecast refresh` again"),
          engine.connect() as conn, write_transaction(conn)):
        vintage = vintage_run_id or latest_run_id(conn)
        if vintage is None:
            raise AidashError("the database has no loaded data yet; run `aidash init` first")
        # A second refresh of the same vintage replaces it (children first: foreign keys).
        for sql in ("DELETE FROM target_probabilities WHERE forecast_id IN {runs}",
                    "DELETE FROM forecast_points WHERE forecast_id IN {runs}",
                    "DELETE FROM forecast_runs WHERE vintage_run_id = :v"):
            conn.execute(text(sql.format(
                runs="(SELECT id FROM forecast_runs WHERE vintage_run_id = :v)")), {"v": vintage})
        plan = planned if planned is not None else plan_fits(sa_query(conn))
        now = datetime.now(UTC).replace(tzinfo=None)
        stored: dict[str, tuple[int, pd.Series, pd.DataFrame]] = {}
        reused = 0
        for key, (y, provenance, horizon, digest) in plan.fits.items():
            if digest in plan.earlier:
                result = as_result(plan.earlier[digest], key.rsplit("|", 1)[1])
                reused += 1
            elif key in plan.results:
                result = plan.results[key]
            else:
                result = forecast(y, horizon, LEVELS)
            stored[key] = (_store(conn, key=key, y=y, provenance=provenance, result=result,
                                  vintage=vintage, now=now, digest=digest), y, result)
        n_targets = _store_targets(conn, stored, read_target_map(target_map_path))
    return RefreshSummary(vintage, len(stored), plan.skipped, n_targets,
                          time.perf_counter() - start, reused)
