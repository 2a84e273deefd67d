"""Step 5 of the forecaster: the models of the combination, each forecasting from every backtest
origin.

Each candidate maps ``(a, origins, H)`` to forecasts of shape ``(len(origins), H)``; origin ``t``
uses ``a[:t]``. statsmodels exponential smoothing (damped trend; Theta = simple exponential
smoothing plus half the linear slope) is fitted once on the full series and re-filtered from
each origin. The
ARIMA-type models are conditional least squares -- the estimator of statsmodels ``AutoReg`` --
written out in numpy because they are re-estimated at every origin and statsmodels' per-call
overhead would break the 50 ms budget; ``tests/test_forecast.py`` checks that they agree with
``AutoReg``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from statsmodels.tsa.holtwinters import ExponentialSmoothing

AR_ROOT_MAX = 0.98  # AR polynomials are shrunk to keep forecasts from exploding
ES_OPTIMIZER = "SLSQP"  # L-BFGS-B stalls ~50x when OpenBLAS threads compete for busy cores
THETA_ALPHA_MIN = 0.05  # keeps the Theta drift term finite when SES picks alpha ~ 0


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


def _cand_naive(a: np.ndarray, origins: np.ndarray, H: int) -> np.ndarray:
    return np.repeat(a[origins - 1, None], H, axis=1)


# name -> (builder, uses the shared SES fit): the members of the combination.  Chosen on the
# development set from a pool of 11 (plus SES, stationary AR(1)/AR(2), random walk with and
# without drift, ARIMA(2,1,0) with drift): these five differently-behaved models -- damped
# trend, Theta's half-slope, ARIMA on differences with and without drift -- averaged with equal
# weights beat every single model, every larger or smaller equal-weight set tried, medians,
# trimmed means and every backtest-weighted selection (softmax, top-k by MAE or 1/MAE).
CANDIDATES: dict[str, tuple[Callable, bool]] = {
    "ets_damped": (_cand_damped, False),
    "theta": (_cand_theta, True),
    "arima110d": (_make_ar(1, True, True), False),  # ARIMA(1,1,0) with drift
    "arima110": (_make_ar(1, True, False), False),  # ARIMA(1,1,0), no drift
    "arima210": (_make_ar(2, True, False), False),  # ARIMA(2,1,0), no drift
}
FALLBACK = "naive"  # random walk: cannot fail, used only if every member fails


def candidate_forecasts(a: np.ndarray, origins: np.ndarray,
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
            failed.append(name)
    if not names:  # the pool is never empty
        names.append(FALLBACK)
        mats.append(_cand_naive(a, origins, H))
    return names, np.array(mats), failed

