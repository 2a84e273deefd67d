"""Step 8 of the forecaster: prediction intervals from the backtest's honest errors.

Errors pooled over horizons after dividing by ``h**p`` (p fitted to how RMSE grows with h) give
an empirical half-width (the mean of their conformal quantile and a normal quantile of their
RMS). It is blended with a model-based half-width (random walk on the transformed scale, capped
at ``LEVEL_SD_CAP`` SDs of the level so stationary series stop widening; share
``WIDTH_MODEL_WEIGHT``, larger when there are few errors), multiplied by ``CALIBRATION`` and by a
per-series factor of the series' roughness (:func:`roughness_factor`), and applied
symmetrically on the transformed scale. Back-transforming gives asymmetric intervals
that are never negative; higher levels are never narrower.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import stats

from models.forecast.transform import inv_boxcox

MIN_ERRORS = 12  # below this, calibrate on the errors of the warm-up origins too
PROFILE_P_RANGE = (0.5, 1.5)  # error growth h**p between random-walk and trend uncertainty
WIDTH_MODEL_WEIGHT = 0.7  # share of the model-based (random-walk) width; dev: more was better
LEVEL_SD_CAP = 1.5  # model width <= 1.5 sd of the level: stationary series stop widening
WIDTH_FULL_ERRORS = 40  # with fewer errors the model-based share grows towards 1
CALIBRATION = {80: 1.05, 95: 1.25}  # two anchors; linear in z between, flat outside (dev)
# Per-series factor (roughness / ROUGH_REF) ** -ROUGH_POWER, clipped to ROUGH_CLIP; roughness =
# SD of the steps / SD of the level.  Smooth trending series (low roughness) had their
# backtest errors understate the errors to come, noisy ones (seasonal tourism series) overstate
# them: with one factor for all, 80 % coverage ran from 0.67 (M1) to 0.88 (tourism) on dev.
ROUGH_REF = 0.4
ROUGH_POWER = 0.25
ROUGH_CLIP = (0.5, 2.0)
HW_FLOOR = 1e-9  # a constant series gets (numerically) zero-width, not negative, intervals


@functools.lru_cache(maxsize=64)
def _z(level: float) -> float:
    return float(stats.norm.ppf(0.5 + level / 200.0))


@functools.lru_cache(maxsize=64)
def _calibration(level: float) -> float:
    """Width factor for a level: linear in the normal quantile between the anchors, flat outside."""
    (l1, c1), (l2, c2) = sorted(CALIBRATION.items())
    z, z1, z2 = (stats.norm.ppf(0.5 + v / 200.0) for v in (level, l1, l2))
    return float(np.interp(z, [z1, z2], [c1, c2]))


def roughness_factor(rw_sigma: float, level_sd: float) -> float:
    """Width factor of a series from its roughness ``rw_sigma / level_sd`` (1 if unknown)."""
    if not (np.isfinite(rw_sigma) and np.isfinite(level_sd)) or level_sd <= 0 or rw_sigma <= 0:
        return 1.0
    rough = rw_sigma / level_sd
    return float(np.clip((rough / ROUGH_REF) ** -ROUGH_POWER, *ROUGH_CLIP))


def half_widths(err: np.ndarray, rw_sigma: float, levels: tuple, H: int,
                 level_sd: float = np.inf) -> np.ndarray:
    """Half-widths (len(levels), H) on the transformed scale from an errors matrix (rows, H)."""
    hs = np.arange(1, H + 1, dtype=float)
    cnt = np.sum(~np.isnan(err), axis=0) if err.size else np.zeros(H)
    with np.errstate(invalid="ignore", divide="ignore"):
        rmse = np.sqrt(np.nanmean(err ** 2, axis=0)) if err.size else np.full(H, np.nan)
    usable = (cnt >= 3) & np.isfinite(rmse) & (rmse > 0)
    p = 0.5
    if usable.sum() >= 2:
        p = float(np.polyfit(np.log(hs[usable]), np.log(rmse[usable]), 1,
                             w=np.sqrt(cnt[usable]))[0])
        p = float(np.clip(p, *PROFILE_P_RANGE))
    u = np.abs(err) / hs ** p if err.size else err
    u = np.sort(u[~np.isnan(u)]) if err.size else np.array([])
    N = len(u)
    w_model = 1.0 - (1.0 - WIDTH_MODEL_WEIGHT) * min(1.0, N / WIDTH_FULL_ERRORS)
    out = np.empty((len(levels), H))
    rough = roughness_factor(rw_sigma, level_sd)
    for k, lv in enumerate(levels):
        zq = _z(lv)
        model_w = zq * np.minimum(rw_sigma * np.sqrt(hs), LEVEL_SD_CAP * level_sd)
        if N:
            rank = min(math.ceil((N + 1) * lv / 100.0), N)
            q = 0.5 * u[rank - 1] + 0.5 * zq * math.sqrt(float(np.mean(u ** 2)))
            emp_w = q * hs ** p
        else:
            emp_w = model_w
        out[k] = rough * _calibration(lv) * ((1 - w_model) * emp_w + w_model * model_w)
    out = np.maximum(out, HW_FLOOR)
    # nested intervals: a higher level is never narrower
    order = np.argsort([float(v) for v in levels], kind="stable")
    out[order] = np.maximum.accumulate(out[order], axis=0)
    return out


def back_transform(center: np.ndarray, hw: np.ndarray, lam: float, shift: float, levels: tuple,
                   horizon: int, trailing: int) -> dict:
    """Back-transform centre +- half-widths into ordered, non-negative columns."""
    sl = slice(trailing, trailing + horizon)
    mean = np.maximum(inv_boxcox(center, lam) - shift, 0.0)[sl]
    table: dict = {"mean": mean}
    for k, lv in enumerate(levels):
        lo = np.maximum(inv_boxcox(center - hw[k], lam) - shift, 0.0)[sl]
        hi = np.maximum(inv_boxcox(center + hw[k], lam) - shift, 0.0)[sl]
        table[("lo", lv)] = np.minimum(lo, mean)
        table[("hi", lv)] = np.maximum(hi, mean)
    return table

