"""Point forecasts and calibrated prediction intervals for short quarterly/annual series.

One public function, :func:`forecast`.  Pure: no I/O, no randomness, no mutable global state
(only a cache of normal quantiles).

How it works (read this first)
==============================

1. **Validate and tidy** ``y`` (a Series on a quarterly or annual ``PeriodIndex``, values >= 0).
   Missing periods and NaNs inside the series are filled by linear interpolation; leading NaNs
   are dropped; trailing NaNs are forecast over (the result still starts right after the last
   period of the index).  Bad input raises ``ValueError`` with one of the ``ERR_*`` messages.

2. **Transform** to a scale on which the series is roughly additive: Box-Cox with lambda in
   [0, 1] chosen by Guerrero's method (lambda 0 = log, the usual answer for growing series whose
   noise grows with the level; 1 = no transform).  A series containing zeros is modelled as
   ``log(y + c)``, c = min(1, smallest positive value): log1p for counts; an isolated zero in
   a large-valued series then stands out as a spike and is repaired in step 4.

3. **Seasonality** (quarterly only, >= 12 points): if the lag-4 autocorrelation of the
   differenced series is significant (90 %, the M4 Theta test), quarterly indices from a
   classical decomposition are removed on the transformed scale, and added back at the end.

4. **Breaks**: a step far outside the series' usual steps (``SHIFT_Z`` robust SDs, judged
   against its neighbours) is a *spike* if the next step undoes it -- the point is replaced by
   its neighbours' mean -- and otherwise a *level shift*: the earlier history is moved by the
   jump, so no model reads the jump as growth.  A jump at the last point counts as a shift.

5. **Candidates**: 11 cheap models on the adjusted series ``a`` (see ``CANDIDATES``):
   statsmodels exponential smoothing (damped trend; simple; Theta = SES plus half the linear
   slope), ARIMA(1,1,0)/(2,1,0) with and without drift, stationary AR(1)/AR(2) on the level,
   random walk with drift and plain random walk.  The ARIMA-type models are conditional least
   squares -- the estimator of statsmodels ``AutoReg`` -- written out in numpy because they are
   re-estimated at every backtest origin and statsmodels' per-call overhead would break the
   50 ms budget; ``tests/test_forecast.py`` checks that they agree with ``AutoReg``.

6. **Rolling-origin backtest** on the series itself: forecasts from each of the last
   ``BT_MAX_ORIGINS`` origins for every horizon.  AR-type models are refitted at each origin;
   exponential smoothing keeps its full-sample parameters and is re-filtered from each origin
   (slightly optimistic for those models, cheap).

7. **Weights**: softmax of each candidate's backtest MAE relative to the best one (temperature
   ``WEIGHT_TAU``): close to picking the best, but near-ties share the weight.  Plain averages
   of all candidates were clearly worse on the development set -- the pool is deliberately
   diverse (trending, mean-reverting, random-walk), so it must be selected from, not averaged.

8. **Intervals from honest errors**: the select-and-weight step is replayed *prequentially*:
   at each backtest origin the weights use only errors already observable there, so the
   combination's error at that origin is out-of-sample for the selection.  These errors,
   pooled over horizons after dividing by ``h**p`` (p fitted to how RMSE grows with h), give
   a half-width = mean of their conformal quantile and a normal quantile of their RMS.  It is
   blended with a model-based half-width (random walk on the transformed scale, capped at
   ``LEVEL_SD_CAP`` SDs of the level so stationary series stop widening; share
   ``WIDTH_MODEL_WEIGHT``, larger when there are few errors), multiplied by ``CALIBRATION``,
   and applied symmetrically on the transformed scale.  Back-transforming gives asymmetric
   intervals that are never negative; higher levels are never narrower.

9. **Backtest report** (``attrs["backtest"]``): MASE of those prequential forecasts on the
   original scale (scaled by the in-sample seasonal-naive MAE; naive for annual series) and,
   per level, the coverage of intervals calibrated leave-one-origin-out.

10. **Short series** (fewer than ``SHORT_SERIES`` points): random walk with drift on the log
    scale with Student-t intervals widened by ``SHORT_WIDEN``; ``attrs["method_note"]`` says
    so and ``attrs["backtest"]`` is None.

The tunable constants below (``WEIGHT_TAU``, ``WIDTH_MODEL_WEIGHT``, ``CALIBRATION``,
``SHIFT_Z``, ``LEVEL_SD_CAP``, the candidate pool) were chosen on a *development* set of
series (``python -m benchmarks.forecast_bench --dev``).  The benchmark's test series were run
during development as a progress check, but no constant took its test-best value.

Result: a DataFrame indexed by the next ``horizon`` periods with columns ``mean`` (the point
forecast: the back-transformed centre, i.e. a median) and ``lo_L``/``hi_L`` per level, nested
``lo_95 <= lo_80 <= mean <= hi_80 <= hi_95``.  ``attrs``: ``model`` (short description),
``weights`` (candidate -> weight), ``failed_candidates``, ``transform``, ``seasonal`` (bool),
``notes`` (list of data repairs), ``method_note`` (all notes joined; set only when the short
path or a data repair was used) and ``backtest`` (None, or a dict with ``mase``,
``coverage_<L>`` per level, ``origins`` and ``errors``).

Speed: ~10-25 ms for 32 quarters on one core.  The budget is spent on two statsmodels
exponential-smoothing fits; everything else is numpy on arrays of a few hundred numbers.
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.tsa.holtwinters import ExponentialSmoothing

# --- error messages (asserted verbatim by the tests) -----------------------------------------
ERR_TYPE = "y must be a pandas Series with a quarterly or annual PeriodIndex, got {got}"
ERR_FREQ = ("unsupported frequency {freq}: y needs a quarterly (Q-DEC) or annual (Y-DEC) "
            "PeriodIndex")
ERR_DTYPE = "y must hold numeric values, got dtype {dtype}"
ERR_INF = "y has {k} infinite value(s); values must be finite or NaN"
ERR_NEGATIVE = "y must be non-negative; it has {k} negative value(s), the first at {period}"
ERR_DUPLICATE = "y has duplicate periods, the first is {period}"
ERR_FEW = "y has {n} observations; at least 3 are needed to forecast"
ERR_HORIZON = "horizon must be an integer >= 1, got {horizon!r}"
ERR_LEVELS = ("levels must be a non-empty sequence of distinct numbers strictly between 0 and "
              "100, got {levels!r}")

# --- data handling -----------------------------------------------------------------------------
MIN_OBS = 3  # fewer points cannot give both a drift and a spread
SHORT_SERIES = 8  # below this a backtest has too few origins to select or calibrate anything
GUERRERO_MIN_BLOCKS = 4  # Guerrero's lambda needs several subseries; else fall back to log
SEASON_MIN_OBS = 12  # three full years before quarterly indices are estimated
SEASON_ACF_Z = 1.645  # 90 % one-sided test on the lag-4 autocorrelation, as in M4's Theta
SEASON_WINSOR = 5.0  # steps clipped at 5 robust SDs first, so one spike cannot fake a season

ADJUST_BREAKS = True  # dev: one crash at a window's end otherwise became a trend in 6 models
SHIFT_Z = 6.0  # robust SDs for a break; 4 flagged ordinary wiggles, 5-8 behaved the same
SHIFT_NEIGHBOURS = 3  # steps on each side whose median is a step's local reference
SPIKE_RATIO = (0.5, 2.0)  # a jump undone by the next step within this ratio is a spike

# --- candidates and backtest ---------------------------------------------------------------------
BT_MIN_TRAIN = 6  # earliest backtest origin: enough points for an AR(2) on differences
BT_MAX_ORIGINS = 20  # 20 origins x 4 horizons of errors; more origins gained nothing on dev
AR_ROOT_MAX = 0.98  # AR polynomials are shrunk to keep forecasts from exploding
ES_OPTIMIZER = "SLSQP"  # L-BFGS-B stalls ~50x when OpenBLAS threads compete for busy cores
THETA_ALPHA_MIN = 0.05  # keeps the Theta drift term finite when SES picks alpha ~ 0
WEIGHT_TAU = 0.03  # softmax temperature on relative MAE; dev: sharper beat flatter weights
WEIGHT_MIN_REPORT = 0.05  # candidates below this weight are left out of attrs["model"]

# --- intervals -----------------------------------------------------------------------------------
PREQ_WARMUP = 4  # origins before the first prequential (out-of-selection) error
PREQ_MIN_ERRORS = 12  # below this, calibrate on the in-sample errors of the final weights
PROFILE_P_RANGE = (0.5, 1.5)  # error growth h**p between random-walk and trend uncertainty
WIDTH_MODEL_WEIGHT = 0.7  # share of the model-based (random-walk) width; dev: more was better
LEVEL_SD_CAP = 1.5  # model width <= 1.5 sd of the level: stationary series stop widening
WIDTH_FULL_ERRORS = 40  # with fewer errors the model-based share grows towards 1
CALIBRATION = {80: 1.0, 95: 1.2}  # two anchors; factor linear in z between, flat outside (dev)
HW_FLOOR = 1e-9  # a constant series gets (numerically) zero-width, not negative, intervals
SHORT_WIDEN = 1.25  # short series: t-intervals of the drift model are widened by this
SHORT_MIN_LOG_SIGMA = 0.02  # short series: a floor on the per-step log spread (2 %)


class _Prepared:
    """Cleaned-up input: values on a contiguous grid plus bookkeeping."""

    def __init__(self, values: np.ndarray, trailing: int, m: int, notes: list[str],
                 periods: pd.PeriodIndex):
        self.values = values  # filled, non-negative, length n
        self.trailing = trailing  # NaNs after the last observation
        self.m = m  # seasonal period: 4 quarterly, 1 annual
        self.notes = notes
        self.periods = periods  # the periods of values


# ================================================================================================
# validation and preparation
# ================================================================================================
def _validate(y: object, horizon: object, levels: object) -> tuple[pd.Series, int, tuple]:
    # ValueError (not TypeError) for every bad input: callers catch one exception type
    if not isinstance(y, pd.Series):
        raise ValueError(ERR_TYPE.format(got=type(y).__name__))  # noqa: TRY004
    if not isinstance(y.index, pd.PeriodIndex):
        raise ValueError(  # noqa: TRY004
            ERR_TYPE.format(got=f"a Series with a {type(y.index).__name__}"))
    freq = y.index.freqstr
    if y.index.freq.n != 1 or not freq.startswith(("Q-", "Y-")):
        raise ValueError(ERR_FREQ.format(freq=freq))
    if y.dtype == bool or not pd.api.types.is_numeric_dtype(y.dtype):
        raise ValueError(ERR_DTYPE.format(dtype=y.dtype))
    if isinstance(horizon, bool) or not isinstance(horizon, numbers.Integral) or horizon < 1:
        raise ValueError(ERR_HORIZON.format(horizon=horizon))
    if isinstance(levels, np.ndarray):
        levels = levels.tolist()
    if (isinstance(levels, (str, bytes)) or not isinstance(levels, Sequence) or len(levels) == 0
            or any(isinstance(v, bool) or not isinstance(v, numbers.Real)
                   or not 0 < float(v) < 100 for v in levels)
            or len({float(v) for v in levels}) != len(levels)):
        raise ValueError(ERR_LEVELS.format(levels=levels))
    dup = y.index.duplicated()
    if dup.any():
        raise ValueError(ERR_DUPLICATE.format(period=y.index[dup][0]))
    vals = y.to_numpy(dtype=float, na_value=np.nan)
    inf = np.isinf(vals)
    if inf.any():
        raise ValueError(ERR_INF.format(k=int(inf.sum())))
    neg = vals < 0
    if neg.any():
        raise ValueError(ERR_NEGATIVE.format(k=int(neg.sum()), period=y.index[neg][0]))
    n_obs = int(np.sum(~np.isnan(vals)))
    if n_obs < MIN_OBS:
        raise ValueError(ERR_FEW.format(n=n_obs))
    return y, int(horizon), tuple(levels)


def _prepare(y: pd.Series) -> _Prepared:
    notes: list[str] = []
    y = y.astype(float)
    if not y.index.is_monotonic_increasing:
        y = y.sort_index()
    full = pd.period_range(y.index[0], y.index[-1], freq=y.index.freq)
    if len(full) != len(y):
        notes.append(f"{len(full) - len(y)} missing period(s) in the index treated as gaps")
        y = y.reindex(full)
    vals = y.to_numpy(dtype=float)
    ok = np.flatnonzero(~np.isnan(vals))
    first, last = int(ok[0]), int(ok[-1])
    v = vals[first: last + 1].copy()
    gaps = np.isnan(v)
    if gaps.any():
        pos = np.arange(len(v))
        v[gaps] = np.interp(pos[gaps], pos[~gaps], v[~gaps])
        where = ", ".join(str(p) for p in y.index[first: last + 1][gaps][:4])
        more = "" if gaps.sum() <= 4 else ", ..."
        notes.append(f"{int(gaps.sum())} missing value(s) inside the series linearly "
                     f"interpolated ({where}{more})")
    if first > 0:
        notes.append(f"{first} leading missing value(s) dropped")
    trailing = len(vals) - 1 - last
    if trailing:
        notes.append(f"{trailing} trailing missing value(s): forecast from {y.index[last]}")
    m = 4 if y.index.freqstr.startswith("Q") else 1
    return _Prepared(v, trailing, m, notes, y.index[first: last + 1])


# ================================================================================================
# transform and seasonality
# ================================================================================================
def _guerrero(v: np.ndarray, m: int) -> float:
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


def _boxcox(v: np.ndarray, lam: float) -> np.ndarray:
    return np.log(v) if lam == 0 else (v ** lam - 1.0) / lam


def _inv_boxcox(z: np.ndarray, lam: float) -> np.ndarray:
    if lam == 0:
        return np.exp(np.minimum(z, 700.0))
    return np.maximum(lam * z + 1.0, 0.0) ** (1.0 / lam)


def _seasonal_indices(z: np.ndarray, m: int) -> np.ndarray | None:
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


def _adjust_breaks(a: np.ndarray, periods: pd.PeriodIndex,
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


# ================================================================================================
# candidates: each maps (a, origins, H) -> forecasts (len(origins), H); origin t uses a[:t]
# ================================================================================================
def _es_fit(a: np.ndarray, damped: bool) -> tuple[float, float, float, float, float]:
    kw = {"trend": "add", "damped_trend": True} if damped else {}
    p = ExponentialSmoothing(a, initialization_method="estimated", **kw).fit(
        use_brute=False, method=ES_OPTIMIZER).params
    if damped:
        return (float(p["smoothing_level"]), float(p["smoothing_trend"]),
                float(p["damping_trend"]), float(p["initial_level"]), float(p["initial_trend"]))
    return float(p["smoothing_level"]), 0.0, 0.0, float(p["initial_level"]), 0.0


def _es_filter(a: np.ndarray, alpha: float, beta: float, phi: float, l0: float,
               b0: float) -> tuple[np.ndarray, np.ndarray]:
    """Level/trend after each observation; the same recursions as statsmodels' Holt-Winters."""
    lev = np.empty(len(a))
    tr = np.empty(len(a))
    level, trend = l0, b0
    for j, x in enumerate(a):
        new = alpha * x + (1 - alpha) * (level + phi * trend)
        trend = beta * (new - level) + (1 - beta) * phi * trend
        level = new
        lev[j], tr[j] = level, trend
    return lev, tr


def _cand_damped(a: np.ndarray, origins: np.ndarray, H: int) -> np.ndarray:
    alpha, beta, phi, l0, b0 = _es_fit(a, damped=True)
    lev, tr = _es_filter(a, alpha, beta, phi, l0, b0)
    steps = np.cumsum(phi ** np.arange(1, H + 1))
    return lev[origins - 1, None] + tr[origins - 1, None] * steps[None, :]


def _ses_levels(a: np.ndarray) -> tuple[float, np.ndarray]:
    alpha, _, _, l0, _ = _es_fit(a, damped=False)
    return alpha, _es_filter(a, alpha, 0.0, 0.0, l0, 0.0)[0]


def _cand_ses(a: np.ndarray, origins: np.ndarray, H: int, fit=None) -> np.ndarray:
    _, lev = fit or _ses_levels(a)
    return np.repeat(lev[origins - 1, None], H, axis=1)


def _cand_theta(a: np.ndarray, origins: np.ndarray, H: int, fit=None) -> np.ndarray:
    """Standard Theta: SES plus half the OLS slope (statsmodels ThetaModel's formula)."""
    alpha, lev = fit or _ses_levels(a)
    alpha = max(alpha, THETA_ALPHA_MIN)
    h = np.arange(1, H + 1)
    out = np.empty((len(origins), H))
    for i, t in enumerate(origins):
        x = np.arange(t) - (t - 1) / 2.0
        slope = float(x @ a[:t]) / float(x @ x)
        out[i] = lev[t - 1] + 0.5 * slope * (h - 1 + 1 / alpha - (1 - alpha) ** t / alpha)
    return out


def _ar_coefs(x: np.ndarray, p: int, const: bool) -> np.ndarray | None:
    """Conditional least squares AR(p) (statsmodels AutoReg's estimator), stabilised.

    Returns [phi_1..phi_p, c] (c = 0 without a constant), or None if x is too short.
    """
    n = len(x)
    if n - p < p + 2:
        return None
    cols = [x[p - j - 1: n - j - 1] for j in range(p)]
    if const:
        cols.append(np.ones(n - p))
    X = np.column_stack(cols)
    xtx = X.T @ X
    try:
        beta = np.linalg.solve(xtx, X.T @ x[p:])
    except np.linalg.LinAlgError:
        beta = np.linalg.lstsq(X, x[p:], rcond=None)[0]
    if not const:
        beta = np.r_[beta, 0.0]
    root = _max_root(beta[:p])
    if root >= AR_ROOT_MAX:  # shrink towards stationarity, keep the sample mean
        beta[:p] *= (AR_ROOT_MAX / root) ** np.arange(1, p + 1)
        if const:
            beta[p] = float(np.mean(x)) * (1 - float(beta[:p].sum()))
    return beta


def _max_root(phi: np.ndarray) -> float:
    """Largest modulus of the roots of z**p - phi_1 z**(p-1) - ... (p <= 2, closed form)."""
    if len(phi) == 1:
        return abs(float(phi[0]))
    b, c = float(phi[0]), float(phi[1])
    disc = b * b + 4 * c
    if disc >= 0:
        r = math.sqrt(disc)
        return max(abs(b + r), abs(b - r)) / 2
    return math.sqrt(-c)  # complex pair: |z|^2 = -phi_2


def _make_ar(p: int, diff: bool, const: bool) -> Callable:
    def cand(a: np.ndarray, origins: np.ndarray, H: int) -> np.ndarray:
        O = len(origins)
        coefs = np.zeros((O, p + 1))
        lags = np.zeros((O, p))  # most recent first
        for i, t in enumerate(origins):
            x = np.diff(a[:t]) if diff else a[:t]
            beta = _ar_coefs(x, p, const)
            if beta is None:  # too short: mean (or zero) path
                beta = np.zeros(p + 1)
                beta[p] = float(np.mean(x)) if (const or not diff) else 0.0
            coefs[i] = beta
            lags[i] = x[::-1][:p]
        path = np.empty((O, H))
        for k in range(H):
            nxt = coefs[:, p] + np.sum(coefs[:, :p] * lags, axis=1)
            path[:, k] = nxt
            lags = np.column_stack([nxt, lags[:, :-1]]) if p > 1 else nxt[:, None]
        if diff:
            return a[origins - 1, None] + np.cumsum(path, axis=1)
        return path

    return cand


def _cand_drift(a: np.ndarray, origins: np.ndarray, H: int) -> np.ndarray:
    slope = (a[origins - 1] - a[0]) / (origins - 1)
    return a[origins - 1, None] + slope[:, None] * np.arange(1, H + 1)[None, :]


def _cand_naive(a: np.ndarray, origins: np.ndarray, H: int) -> np.ndarray:
    return np.repeat(a[origins - 1, None], H, axis=1)


# name -> (builder, uses the shared SES fit)
CANDIDATES: dict[str, tuple[Callable, bool]] = {
    "ets_damped": (_cand_damped, False),
    "theta": (_cand_theta, True),
    "ses": (_cand_ses, True),
    "arima110d": (_make_ar(1, True, True), False),  # ARIMA(1,1,0) with drift
    "arima210d": (_make_ar(2, True, True), False),
    "arima110": (_make_ar(1, True, False), False),  # ARIMA(1,1,0), no drift
    "arima210": (_make_ar(2, True, False), False),
    "ar1": (_make_ar(1, False, True), False),  # stationary, mean-reverting
    "ar2": (_make_ar(2, False, True), False),
    "drift": (_cand_drift, False),  # random walk with drift
    "naive": (_cand_naive, False),  # random walk
}


def _candidate_forecasts(a: np.ndarray, origins: np.ndarray,
                         H: int) -> tuple[list[str], np.ndarray, list[str]]:
    """Forecast matrices of every candidate that fits; failures are named, not raised."""
    names, mats, failed = [], [], []
    ses_fit = None
    for name, (fn, shared) in CANDIDATES.items():
        try:
            if shared:
                ses_fit = ses_fit or _ses_levels(a)
                f = fn(a, origins, H, fit=ses_fit)
            else:
                f = fn(a, origins, H)
        except Exception:  # noqa: BLE001 - one failed candidate must not fail the forecast
            f = None
        if f is not None and np.all(np.isfinite(f)):
            names.append(name)
            mats.append(f)
        else:
            failed.append(name)  # drift and naive cannot fail, so the pool is never empty
    return names, np.array(mats), failed


# ================================================================================================
# weights, prequential errors, intervals
# ================================================================================================
def _softmax_weights(mae: np.ndarray) -> np.ndarray:
    best = float(np.min(mae))
    if not np.isfinite(best):
        return np.full(len(mae), 1.0 / len(mae))
    rel = mae / best - 1.0 if best > 0 else np.where(mae > 0, np.inf, 0.0)
    w = np.exp(-np.nan_to_num(rel, nan=np.inf, posinf=np.inf) / WEIGHT_TAU)
    return w / w.sum()


@functools.lru_cache(maxsize=64)
def _z(level: float) -> float:
    return float(stats.norm.ppf(0.5 + level / 200.0))


@functools.lru_cache(maxsize=64)
def _calibration(level: float) -> float:
    """Width factor for a level: linear in the normal quantile between the anchors, flat outside."""
    (l1, c1), (l2, c2) = sorted(CALIBRATION.items())
    z, z1, z2 = (stats.norm.ppf(0.5 + v / 200.0) for v in (level, l1, l2))
    return float(np.interp(z, [z1, z2], [c1, c2]))


def _half_widths(err: np.ndarray, rw_sigma: float, levels: tuple, H: int,
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
    for k, lv in enumerate(levels):
        zq = _z(lv)
        model_w = zq * np.minimum(rw_sigma * np.sqrt(hs), LEVEL_SD_CAP * level_sd)
        if N:
            rank = min(math.ceil((N + 1) * lv / 100.0), N)
            q = 0.5 * u[rank - 1] + 0.5 * zq * math.sqrt(float(np.mean(u ** 2)))
            emp_w = q * hs ** p
        else:
            emp_w = model_w
        out[k] = _calibration(lv) * ((1 - w_model) * emp_w + w_model * model_w)
    out = np.maximum(out, HW_FLOOR)
    # nested intervals: a higher level is never narrower
    order = np.argsort([float(v) for v in levels], kind="stable")
    out[order] = np.maximum.accumulate(out[order], axis=0)
    return out


def _backtest(F: np.ndarray, A: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


# ================================================================================================
# public API
# ================================================================================================
def forecast(y: pd.Series, horizon: int, levels: tuple[int, ...] = (80, 95)) -> pd.DataFrame:
    """Forecast ``horizon`` periods after the end of ``y`` with prediction intervals.

    ``y``: non-negative values on a quarterly (Q-DEC) or annual (Y-DEC) ``PeriodIndex``; NaNs
    allowed (at least 3 observations).  ``levels``: interval coverages in percent.
    Returns columns ``mean, lo_L1, hi_L1, lo_L2, hi_L2, ...``; see the module docstring.
    """
    y, horizon, levels = _validate(y, horizon, levels)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        prep = _prepare(y)
        if len(prep.values) < SHORT_SERIES:
            table, attrs = _forecast_short(prep, horizon, levels)
        else:
            table, attrs = _forecast_main(prep, horizon, levels)
    idx = pd.period_range(y.index.max() + 1, periods=horizon, freq=y.index.freq)
    cols = {"mean": table["mean"]}
    for lv in levels:
        cols[f"lo_{_fmt(lv)}"] = table[("lo", lv)]
        cols[f"hi_{_fmt(lv)}"] = table[("hi", lv)]
    result = pd.DataFrame(cols, index=idx)
    notes = prep.notes + attrs.pop("extra_notes", [])
    attrs["notes"] = notes
    if notes:
        attrs["method_note"] = "; ".join(notes)
    result.attrs.update(attrs)
    return result


def _fmt(level: float) -> str:
    return f"{float(level):g}"


def _finish(center: np.ndarray, hw: np.ndarray, lam: float, shift: float, levels: tuple,
            horizon: int, trailing: int) -> dict:
    """Back-transform centre +- half-widths into ordered, non-negative columns."""
    sl = slice(trailing, trailing + horizon)
    mean = np.maximum(_inv_boxcox(center, lam) - shift, 0.0)[sl]
    table: dict = {"mean": mean}
    for k, lv in enumerate(levels):
        lo = np.maximum(_inv_boxcox(center - hw[k], lam) - shift, 0.0)[sl]
        hi = np.maximum(_inv_boxcox(center + hw[k], lam) - shift, 0.0)[sl]
        table[("lo", lv)] = np.minimum(lo, mean)
        table[("hi", lv)] = np.maximum(hi, mean)
    return table


def _forecast_short(prep: _Prepared, horizon: int, levels: tuple) -> tuple[dict, dict]:
    v = prep.values
    n = len(v)
    shift = _zero_shift(v)
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
    table = _finish(center, hw, 0.0, shift, levels, horizon, prep.trailing)
    note = (f"short series ({n} observations < {SHORT_SERIES}): random walk with drift on the "
            f"log scale, Student-t intervals widened x{SHORT_WIDEN}; no backtest")
    notes = [f"zeros present: modelled as log(y + {shift:g})"] if shift else []
    attrs = {"model": "drift_log", "weights": {"drift": 1.0}, "transform": "log",
             "seasonal": False, "backtest": None, "extra_notes": [*notes, note]}
    return table, attrs


def _zero_shift(v: np.ndarray) -> float:
    """0 for a positive series; else min(1, smallest positive value): log1p for counts."""
    if not np.any(v == 0):
        return 0.0
    return min(1.0, float(np.min(v[v > 0]))) if np.any(v > 0) else 1.0


def _forecast_main(prep: _Prepared, horizon: int, levels: tuple) -> tuple[dict, dict]:
    v = prep.values
    n, m = len(v), prep.m
    extra_notes: list[str] = []
    shift = _zero_shift(v)
    if shift:
        extra_notes.append(f"zeros present: modelled as log(y + {shift:g})")
    lam = 0.0 if shift else _guerrero(v, m)
    z = _boxcox(v + shift, lam)
    if ADJUST_BREAKS:  # spikes first: one bad point must not fake or hide a season
        z, notes = _adjust_breaks(z, prep.periods, shifts=False)
        extra_notes.extend(notes)
    H = horizon + prep.trailing
    season = _seasonal_indices(z, m)
    phase = np.arange(n + H) % m
    s_all = season[phase] if season is not None else np.zeros(n + H)
    a = z - s_all[:n]
    rw_sigma = float(np.std(np.diff(a), ddof=1))  # model-based widths see level shifts ...
    level_sd = float(np.std(a, ddof=1))
    if ADJUST_BREAKS:  # ... which are removed here, so that no model reads them as growth
        a, notes = _adjust_breaks(a, prep.periods, shifts=True)
        extra_notes.extend(notes)

    origins = np.arange(max(BT_MIN_TRAIN, n - BT_MAX_ORIGINS), n + 1)
    names, F, failed = _candidate_forecasts(a, origins, H)
    # actuals for every (origin, horizon); NaN beyond the data
    tgt = origins[:, None] + np.arange(H)[None, :]
    A = np.where(tgt < n, a[np.minimum(tgt, n - 1)], np.nan)
    weights, preq_err, insample_err = _backtest(F, A)
    center = np.einsum("c,ch->h", weights, F[:, -1]) + s_all[n:]

    n_preq = int(np.sum(~np.isnan(preq_err)))
    calib_err = preq_err if n_preq >= PREQ_MIN_ERRORS else insample_err
    hw = _half_widths(calib_err, rw_sigma, levels, H, level_sd)
    table = _finish(center, hw, lam, shift, levels, horizon, prep.trailing)

    order = np.argsort(-weights)
    used = [names[k] for k in order if weights[k] >= WEIGHT_MIN_REPORT] or [names[order[0]]]
    tname = "log" if lam == 0 else f"box-cox({lam:g})"
    label = f"combo({','.join(used)})" if len(used) > 1 else used[0]
    attrs = {
        "model": f"{label} on {tname}{', seasonally adjusted' if season is not None else ''}",
        "weights": {names[k]: round(float(weights[k]), 4) for k in order},
        "failed_candidates": failed,
        "transform": tname,
        "seasonal": season is not None,
        "backtest": _backtest_summary(a + s_all[:n], prep.m, preq_err, origins, lam, shift,
                                      rw_sigma, level_sd, levels),
        "extra_notes": extra_notes,
    }
    return table, attrs


def _backtest_summary(z: np.ndarray, m: int, err: np.ndarray, origins: np.ndarray, lam: float,
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
    v = np.maximum(_inv_boxcox(z, lam) - shift, 0.0)
    H = err.shape[1]
    tgt = origins[:-1, None] + np.arange(H)[None, :]
    ok = ~np.isnan(err)
    pred_t = np.where(ok, z[np.minimum(tgt, n - 1)] - np.nan_to_num(err), np.nan)
    pred = np.maximum(_inv_boxcox(pred_t, lam) - shift, 0.0)
    actual = v[np.minimum(tgt, n - 1)]
    lag = m if n > m else 1
    scale = float(np.mean(np.abs(v[lag:] - v[:-lag])))
    mae = float(np.nanmean(np.abs(actual - pred)))
    out: dict = {"mase": mae / scale if scale > 0 else None,
                 "origins": len(rows), "errors": int(ok.sum())}
    hits: dict[float, list[bool]] = {lv: [] for lv in levels}
    for r in rows:
        rest = np.delete(err, r, axis=0)
        hw = _half_widths(rest, rw_sigma, levels, H, level_sd)
        for k, lv in enumerate(levels):
            e = err[r][ok[r]]
            hits[lv].extend(np.abs(e) <= hw[k][ok[r]])
    for lv in levels:
        out[f"coverage_{_fmt(lv)}"] = float(np.mean(hits[lv]))
    return out
