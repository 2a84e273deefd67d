"""The forecaster's entry point, :func:`forecast`: the steps in order, for a short series or a
long one, and the result table with its ``attrs``."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from models.forecast.backtest import (
    BT_MAX_ORIGINS,
    BT_MIN_TRAIN,
    backtest,
    backtest_summary,
)
from models.forecast.candidates import candidate_forecasts
from models.forecast.intervals import MIN_ERRORS, back_transform, half_widths
from models.forecast.prepare import SHORT_SERIES, Prepared, prepare, validate
from models.forecast.transform import (
    ADJUST_BREAKS,
    adjust_breaks,
    boxcox,
    guerrero,
    seasonal_indices,
    zero_shift,
)
from models.tables import FORECAST_LEVELS, band_columns

WEIGHT_MIN_REPORT = 0.05  # candidates below this weight are left out of attrs["model"]
SHORT_WIDEN = 1.25  # short series: t-intervals of the drift model are widened by this
SHORT_MIN_LOG_SIGMA = 0.02  # short series: a floor on the per-step log spread (2 %)


def forecast(y: pd.Series, horizon: int,
             levels: tuple[int, ...] = FORECAST_LEVELS) -> pd.DataFrame:
    """Forecast ``horizon`` periods after the end of ``y`` with prediction intervals.

    ``y``: non-negative values on a quarterly (Q-DEC) or annual (Y-DEC) ``PeriodIndex``; NaNs
    allowed (at least 3 observations).  ``levels``: interval coverages in percent.
    Returns columns ``mean, lo_L1, hi_L1, lo_L2, hi_L2, ...`` (:func:`models.tables.band_columns`;
    ``models.tables.FORECAST_BANDS`` at the default levels); see the docstring of
    :mod:`models.forecast`.

    :raises ValueError: bad input, with a message that names the problem.
    """
    y, horizon, levels = validate(y, horizon, levels)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        prep = prepare(y)
        if len(prep.values) < SHORT_SERIES:
            table, attrs = _forecast_short(prep, horizon, levels)
        else:
            table, attrs = _forecast_main(prep, horizon, levels)
    idx = pd.period_range(y.index.max() + 1, periods=horizon, freq=y.index.freq)
    bands = [table["mean"]]
    for lv in levels:
        bands += [table[("lo", lv)], table[("hi", lv)]]
    result = pd.DataFrame(dict(zip(band_columns(levels), bands, strict=True)), index=idx)
    notes = prep.notes + attrs.pop("extra_notes", [])
    attrs["notes"] = notes
    if notes:
        attrs["method_note"] = "; ".join(notes)
    result.attrs.update(attrs)
    return result


def _forecast_short(prep: Prepared, horizon: int, levels: tuple) -> tuple[dict, dict]:
    """Random walk with drift on the log scale, Student-t intervals widened: no backtest."""
    v = prep.values
    n = len(v)
    shift = zero_shift(v)
    z = np.log(v + shift)
    H = horizon + prep.trailing
    d = np.diff(z)
    drift = float(np.mean(d))
    sigma = max(float(np.std(d, ddof=1)) if len(d) > 1 else abs(drift), SHORT_MIN_LOG_SIGMA)
    hs = np.arange(1, H + 1)
    center = z[-1] + drift * hs
    spread = sigma * np.sqrt(hs * (1 + hs / (n - 1)))  # random walk + drift estimation error
    df = max(n - 2, 2)
    hw = np.array([SHORT_WIDEN * stats.t.ppf(0.5 + lv / 200.0, df) * spread for lv in levels])
    table = back_transform(center, hw, 0.0, shift, levels, horizon, prep.trailing)
    note = (f"short series ({n} observations < {SHORT_SERIES}): random walk with drift on the "
            f"log scale, Student-t intervals widened x{SHORT_WIDEN}; no backtest")
    notes = [f"zeros present: modelled as log(y + {shift:g})"] if shift else []
    attrs = {"model": "drift_log", "weights": {"drift": 1.0}, "transform": "log",
             "seasonal": False, "backtest": None, "extra_notes": [*notes, note]}
    return table, attrs


def _forecast_main(prep: Prepared, horizon: int, levels: tuple) -> tuple[dict, dict]:
    """Steps 2-9: transform, repair, combine the candidates, calibrate intervals by backtest."""
    v = prep.values
    n, m = len(v), prep.m
    extra_notes: list[str] = []
    shift = zero_shift(v)
    if shift:
        extra_notes.append(f"zeros present: modelled as log(y + {shift:g})")
    lam = 0.0 if shift else guerrero(v, m)
    z = boxcox(v + shift, lam)
    if ADJUST_BREAKS:  # spikes first: one bad point must not fake or hide a season
        z, notes = adjust_breaks(z, prep.periods, shifts=False)
        extra_notes.extend(notes)
    H = horizon + prep.trailing
    season = seasonal_indices(z, m)
    phase = np.arange(n + H) % m
    s_all = season[phase] if season is not None else np.zeros(n + H)
    a = z - s_all[:n]
    rw_sigma = float(np.std(np.diff(a), ddof=1))  # model-based widths see level shifts ...
    level_sd = float(np.std(a, ddof=1))
    if ADJUST_BREAKS:  # ... which are removed here, so that no model reads them as growth
        a, notes = adjust_breaks(a, prep.periods, shifts=True)
        extra_notes.extend(notes)

    origins = np.arange(max(BT_MIN_TRAIN, n - BT_MAX_ORIGINS), n + 1)
    names, F, failed = candidate_forecasts(a, origins, H)
    # actuals for every (origin, horizon); NaN beyond the data
    tgt = origins[:, None] + np.arange(H)[None, :]
    A = np.where(tgt < n, a[np.minimum(tgt, n - 1)], np.nan)
    weights, bt_err, all_err = backtest(F, A)
    center = np.einsum("c,ch->h", weights, F[:, -1]) + s_all[n:]

    n_err = int(np.sum(~np.isnan(bt_err)))
    calib_err = bt_err if n_err >= MIN_ERRORS else all_err
    hw = half_widths(calib_err, rw_sigma, levels, H, level_sd)
    table = back_transform(center, hw, lam, shift, levels, horizon, prep.trailing)

    order = np.argsort(-weights, kind="stable")
    used = [names[k] for k in order if weights[k] >= WEIGHT_MIN_REPORT] or [names[order[0]]]
    tname = "log" if lam == 0 else f"box-cox({lam:g})"
    label = f"mean({','.join(used)})" if len(used) > 1 else used[0]
    attrs = {
        "model": f"{label} on {tname}{', seasonally adjusted' if season is not None else ''}",
        "weights": {names[k]: round(float(weights[k]), 4) for k in order},
        "failed_candidates": failed,
        "transform": tname,
        "seasonal": season is not None,
        "backtest": backtest_summary(a + s_all[:n], prep.m, bt_err, origins, lam, shift,
                                     rw_sigma, level_sd, levels),
        "extra_notes": extra_notes,
    }
    return table, attrs

