"""Step 1 of the forecaster: validate the arguments and tidy the series onto a contiguous grid.

Bad input raises ``ValueError`` with one of the ``ERR_*`` messages (asserted verbatim by the
tests). Missing periods and NaNs inside the series are filled by linear interpolation; leading
NaNs are dropped; trailing NaNs are counted, to be forecast over. Every repair is written to the
notes the result carries.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
import pandas as pd

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


class Prepared:
    """Cleaned-up input: values on a contiguous grid plus bookkeeping."""

    def __init__(self, values: np.ndarray, trailing: int, m: int, notes: list[str],
                 periods: pd.PeriodIndex):
        self.values = values  # filled, non-negative, length n
        self.trailing = trailing  # NaNs after the last observation
        self.m = m  # seasonal period: 4 quarterly, 1 annual
        self.notes = notes
        self.periods = periods  # the periods of values


def validate(y: object, horizon: object, levels: object) -> tuple[pd.Series, int, tuple]:
    """The arguments of :func:`models.forecast.forecast`, checked: ``(y, horizon, levels)``.

    :raises ValueError: with one of the ``ERR_*`` messages.
    """
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


def prepare(y: pd.Series) -> Prepared:
    """``y`` on a contiguous grid, gaps interpolated, leading NaNs dropped, trailing ones counted."""
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
    return Prepared(v, trailing, m, notes, y.index[first: last + 1])

