"""Steps 6, 7 and 9 of the forecaster: the rolling-origin backtest, the combination, and its
report.

Forecasts from each of the last ``BT_MAX_ORIGINS`` origins for every horizon are scored against
the series itself. The forecast is the equal-weight mean of the candidates that fitted
(:data:`models.forecast.candidates.CANDIDATES`), leaving out only a member whose backtest MAE is
more than ``DROP_RATIO`` times the best one's (a model without drift on a clean trend). On the
development set this beat every way of weighting them by their backtest that was tried (a
softmax of relative MAE, the top k by MAE or 1/MAE, shrinking towards the best one): with some
twenty origins the backtest ranks the models too noisily for selection to pay, while the
average of differently-behaved models hedges.

The weighting is replayed *prequentially*: at each origin it uses only errors already
observable there, so the combination's backtest errors are out-of-sample for it (and for every
parameter except the exponential-smoothing ones, fitted once); the first ``PREQ_WARMUP``
origins, trained on very few points, are left out. Those errors calibrate the intervals
(:mod:`models.forecast.intervals`) and give the report: MASE on the original scale and, per
level, the coverage of intervals calibrated leave-one-origin-out.
"""

from __future__ import annotations

import numpy as np

from models.forecast.intervals import half_widths
from models.forecast.transform import inv_boxcox
from models.tables import level_label

BT_MIN_TRAIN = 6  # earliest backtest origin: enough points for an AR(2) on differences
BT_MAX_ORIGINS = 20  # 20 origins x 4 horizons of errors; more origins gained nothing on dev
PREQ_WARMUP = 4  # earliest origins (few training points) whose errors are not used
DROP_RATIO = 2.0  # a member whose backtest MAE is over 2x the best one's is left out (dev)


def member_weights(mae: np.ndarray | None, C: int) -> np.ndarray:
    """Equal weights (sum 1) for the members within ``DROP_RATIO`` of the best backtest MAE.

    ``mae`` is None before any error can be seen: then every member counts.
    """
    if mae is None or not np.isfinite(np.min(mae)):
        return np.full(C, 1.0 / C)
    keep = mae <= DROP_RATIO * float(np.min(mae))  # the best one always stays
    return keep / keep.sum()


def backtest(F: np.ndarray, A: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights of the real forecast and the combination's backtest errors.

    F: (C, O, H) candidate forecasts, the last origin being the real forecast; A: (O, H) actuals
    (NaN where not observed).  Origins are consecutive, so forecast (j, h) is observable at
    origin i iff j + h <= i (h counted from 1); the weights at each origin use only those
    errors, so every combined backtest forecast is out-of-sample for the weighting.  Returns
    ``(weights, errors, all_errors)``: the weights at the last origin, the errors of the combined
    forecasts without the warm-up origins, and with them; both without the last origin.
    """
    C, O, H = F.shape
    abs_err = np.abs(A[None] - F)  # NaN where no actual
    jj = np.arange(O)[:, None]
    hh = np.arange(1, H + 1)[None, :]
    weights = np.empty((O, C))
    for i in range(O):
        seen = (jj + hh <= i) & ~np.isnan(A)
        weights[i] = member_weights(abs_err[:, seen].mean(axis=1) if seen.any() else None, C)
    err = A - np.einsum("oc,coh->oh", weights, F)
    used = err.copy()
    used[:PREQ_WARMUP] = np.nan
    return weights[-1], used[:-1], err[:-1]


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
