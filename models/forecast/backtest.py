"""Steps 6, 7 and 9 of the forecaster: the rolling-origin backtest, the weights it gives the
candidates, and its report.

Forecasts from each of the last ``BT_MAX_ORIGINS`` origins for every horizon are scored against
the series itself. The weights are a softmax of each candidate's MAE relative to the best one
(temperature ``WEIGHT_TAU``): close to picking the best, but near-ties share the weight. Plain
averages of all candidates were clearly worse on the development set -- the pool is deliberately
diverse (trending, mean-reverting, random-walk), so it must be selected from, not averaged.

The select-and-weight step is replayed *prequentially*: at each origin the weights use only
errors already observable there, so the combination's error at that origin is out-of-sample for
the selection. Those errors calibrate the intervals (:mod:`models.forecast.intervals`) and give
the report: MASE on the original scale and, per level, the coverage of intervals calibrated
leave-one-origin-out.
"""

from __future__ import annotations

import numpy as np

from models.forecast.intervals import half_widths
from models.forecast.transform import inv_boxcox
from models.tables import level_label

BT_MIN_TRAIN = 6  # earliest backtest origin: enough points for an AR(2) on differences
BT_MAX_ORIGINS = 20  # 20 origins x 4 horizons of errors; more origins gained nothing on dev
WEIGHT_TAU = 0.03  # softmax temperature on relative MAE; dev: sharper beat flatter weights
PREQ_WARMUP = 4  # origins before the first prequential (out-of-selection) error


def _softmax_weights(mae: np.ndarray) -> np.ndarray:
    """Weights (sum 1) from each candidate's MAE relative to the best one."""
    best = float(np.min(mae))
    if not np.isfinite(best):
        return np.full(len(mae), 1.0 / len(mae))
    rel = mae / best - 1.0 if best > 0 else np.where(mae > 0, np.inf, 0.0)
    w = np.exp(-np.nan_to_num(rel, nan=np.inf, posinf=np.inf) / WEIGHT_TAU)
    return w / w.sum()


def backtest(F: np.ndarray, A: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prequential weights per origin and combination errors.

    F: (C, O, H) candidate forecasts, the last origin being the real forecast; A: (O, H) actuals
    (NaN where not observed).  Origins are consecutive, so forecast (j, h) is observable at
    origin i iff j + h <= i (h counted from 1).
    """
    C, O, H = F.shape
    abs_err = np.abs(A[None] - F)  # NaN where no actual
    jj = np.arange(O)[:, None]
    hh = np.arange(1, H + 1)[None, :]
    weights = np.empty((O, C))
    for i in range(O):
        seen = (jj + hh <= i) & ~np.isnan(A)
        if seen.any():
            weights[i] = _softmax_weights(abs_err[:, seen].mean(axis=1))
        else:
            weights[i] = 1.0 / C
    comb = np.einsum("oc,coh->oh", weights, F)
    preq_err = A - comb
    preq_err[:PREQ_WARMUP] = np.nan
    insample_err = A - np.einsum("c,coh->oh", weights[-1], F)
    return weights[-1], preq_err[:-1], insample_err[:-1]


def backtest_summary(z: np.ndarray, m: int, err: np.ndarray, origins: np.ndarray, lam: float,
                     shift: float, rw_sigma: float, level_sd: float,
                     levels: tuple) -> dict | None:
    """Out-of-selection MASE and leave-one-origin-out interval coverage of the backtest.

    ``z`` is the series the models saw (transformed, repaired, seasonal part included), so the
    MASE is that of the repaired series, on the original scale.
    """
    rows = np.flatnonzero(np.any(~np.isnan(err), axis=1))
    if len(rows) < 2:
        return None
    n = len(z)
    v = np.maximum(inv_boxcox(z, lam) - shift, 0.0)
    H = err.shape[1]
    tgt = origins[:-1, None] + np.arange(H)[None, :]
    ok = ~np.isnan(err)
    pred_t = np.where(ok, z[np.minimum(tgt, n - 1)] - np.nan_to_num(err), np.nan)
    pred = np.maximum(inv_boxcox(pred_t, lam) - shift, 0.0)
    actual = v[np.minimum(tgt, n - 1)]
    lag = m if n > m else 1
    scale = float(np.mean(np.abs(v[lag:] - v[:-lag])))
    mae = float(np.nanmean(np.abs(actual - pred)))
    out: dict = {"mase": mae / scale if scale > 0 else None,
                 "origins": len(rows), "errors": int(ok.sum())}
    hits: dict[float, list[bool]] = {lv: [] for lv in levels}
    for r in rows:
        rest = np.delete(err, r, axis=0)
        hw = half_widths(rest, rw_sigma, levels, H, level_sd)
        for k, lv in enumerate(levels):
            e = err[r][ok[r]]
            hits[lv].extend(np.abs(e) <= hw[k][ok[r]])
    for lv in levels:
        out[f"coverage_{level_label(lv)}"] = float(np.mean(hits[lv]))
    return out
