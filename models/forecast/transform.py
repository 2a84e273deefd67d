"""Steps 2-4 of the forecaster: the scale it models on, the season it removes, the breaks it repairs.

* **Transform**: Box-Cox with lambda in [0, 1] chosen by Guerrero's method (0 = log, the usual
  answer for growing series whose noise grows with the level; 1 = no transform). A series with
  zeros is modelled as ``log(y + c)``, c = min(1, smallest positive value): log1p for counts.
* **Seasonality** (quarterly, >= ``SEASON_MIN_OBS`` points): quarterly indices from a classical
  decomposition, when the lag-4 autocorrelation of the differenced series is significant.
* **Breaks**: spikes are replaced by their neighbours' mean, level shifts moved out of the
  earlier history, so that no candidate extrapolates them as momentum.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from models.forecast.prepare import SHORT_SERIES

GUERRERO_MIN_BLOCKS = 4  # Guerrero's lambda needs several subseries; else fall back to log
SEASON_MIN_OBS = 12  # three full years before quarterly indices are estimated
SEASON_ACF_Z = 1.28  # 80 % one-sided test on the lag-4 autocorrelation; dev: beat 90 % and 99 %
SEASON_WINSOR = 5.0  # steps clipped at 5 robust SDs first, so one spike cannot fake a season

ADJUST_BREAKS = True  # dev: one crash at a window's end otherwise became a trend in 6 models
SHIFT_Z = 4.5  # robust SDs for a break; dev: 4-5 beat 6-8 (M1 has many breaks), 3 overfired
SHIFT_NEIGHBOURS = 3  # steps on each side whose median is a step's local reference
SPIKE_RATIO = (0.5, 2.0)  # a jump undone by the next step within this ratio is a spike


def zero_shift(v: np.ndarray) -> float:
    """0 for a positive series; else min(1, smallest positive value): log1p for counts."""
    if not np.any(v == 0):
        return 0.0
    return min(1.0, float(np.min(v[v > 0]))) if np.any(v > 0) else 1.0


def guerrero(v: np.ndarray, m: int) -> float:
    """Box-Cox lambda in [0, 1] minimising the CV of sd/mean**(1-lambda) over subseries."""
    k = max(m, 2)
    nb = len(v) // k
    if nb < GUERRERO_MIN_BLOCKS:
        return 0.0
    blocks = v[len(v) - nb * k:].reshape(nb, k)
    mu = blocks.mean(axis=1)
    sd = blocks.std(axis=1, ddof=1)
    keep = (mu > 0) & (sd > 0)
    if keep.sum() < GUERRERO_MIN_BLOCKS:
        return 0.0
    mu, sd = mu[keep], sd[keep]
    grid = np.linspace(0.0, 1.0, 21)
    ratio = sd[None, :] / mu[None, :] ** (1.0 - grid[:, None])
    cv = ratio.std(axis=1, ddof=1) / ratio.mean(axis=1)
    return float(grid[int(np.argmin(cv))])


def boxcox(v: np.ndarray, lam: float) -> np.ndarray:
    """The Box-Cox transform of ``v`` (> 0) with ``lam``; 0 is the log."""
    return np.log(v) if lam == 0 else (v ** lam - 1.0) / lam


def inv_boxcox(z: np.ndarray, lam: float) -> np.ndarray:
    """The inverse of :func:`boxcox`, kept finite and non-negative."""
    if lam == 0:
        return np.exp(np.minimum(z, 700.0))
    return np.maximum(lam * z + 1.0, 0.0) ** (1.0 / lam)


def seasonal_indices(z: np.ndarray, m: int) -> np.ndarray | None:
    """Additive quarterly indices (sum 0) if seasonality is significant, else None."""
    if m == 1 or len(z) < SEASON_MIN_OBS:
        return None
    d = np.diff(z)
    med = float(np.median(d))
    lim = SEASON_WINSOR * 1.4826 * float(np.median(np.abs(d - med)))
    if lim > 0:
        d = np.clip(d, med - lim, med + lim)
    d = d - d.mean()
    den = float(d @ d)
    if den <= 0:
        return None
    acf = np.array([float(d[k:] @ d[:-k]) / den for k in range(1, m + 1)])
    bound = SEASON_ACF_Z * math.sqrt((1 + 2 * float(np.sum(acf[: m - 1] ** 2))) / len(d))
    if acf[m - 1] <= bound:
        return None
    weights = np.r_[0.5, np.ones(m - 1), 0.5] / m  # centred 2 x m moving average
    trend = np.convolve(z, weights, mode="valid")
    half = m // 2
    detrended = z[half: half + len(trend)] - trend
    pos = np.arange(half, half + len(trend)) % m
    idx = np.array([np.median(detrended[pos == k]) for k in range(m)])  # robust to a spike
    return idx - idx.mean()


def adjust_breaks(a: np.ndarray, periods: pd.PeriodIndex,
                   shifts: bool) -> tuple[np.ndarray, list[str]]:
    """Remove spikes and level shifts so that no candidate extrapolates them as momentum.

    A step further than ``SHIFT_Z`` robust SDs from the median step is a *spike* if the next
    step undoes it (the point is replaced by the mean of its neighbours), otherwise a *level
    shift*: the history before it is moved by the jump (less a typical step), so every model
    sees one continuous level.  A jump at the last point cannot be told apart and counts as a
    shift, which is what a random walk would assume.
    """
    a = a.copy()
    notes: list[str] = []
    d = np.diff(a)
    if len(d) < SHORT_SERIES - 1:
        return a, notes
    # each step against the median of its neighbours, so smooth curvature is not a "jump"
    resid = np.array([d[k] - np.median(np.r_[d[max(0, k - SHIFT_NEIGHBOURS): k],
                                             d[k + 1: k + 1 + SHIFT_NEIGHBOURS]])
                      for k in range(len(d))])
    # robust SD of the local residuals, but never below that of the steps themselves
    scale = 1.4826 * max(float(np.median(np.abs(resid))),
                         float(np.median(np.abs(d - np.median(d)))))
    if scale <= 0:
        return a, notes
    big = np.abs(resid) > SHIFT_Z * scale
    k = 0
    while k < len(d):
        if big[k]:
            jump = resid[k]
            nxt = resid[k + 1] if k + 1 < len(d) else 0.0
            ratio = -nxt / jump
            if k + 1 < len(d) and big[k + 1] and SPIKE_RATIO[0] <= ratio <= SPIKE_RATIO[1]:
                a[k + 1] = 0.5 * (a[k] + a[k + 2])
                notes.append(f"outlier at {periods[k + 1]} replaced by its neighbours' mean")
                k += 2
                continue
            if shifts:
                a[: k + 1] += jump
                notes.append(f"level shift at {periods[k + 1]} removed from the earlier history")
        k += 1
    return a, notes

