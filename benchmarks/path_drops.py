"""The drops that follow a scale drop (``etl.sample.write_scale_drop``) in the benchmarks.

* :func:`write_next_quarter`: the usual quarterly drop, the register resent unchanged and every
  firm's revenue for the next quarter.
* :func:`write_revised_quarter`: the same drop with a share of the firms revised: their register
  row changed (one more employee) and their revenue of the last loaded quarter restated.

Both are plain CSV files beside a copy of the scale drop's ``source.json``, so they go through
the same reader and validator as any drop.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

NEXT_QUARTER = "2025Q3"
GROWTH = 1.02  # the next quarter's revenue: the last quarter's figure + 2 %
RESTATED = 1.01  # a revised firm's last loaded quarter: + 1 %, and a thousandth more so
MIN_STEP = 0.001  # that no restatement of a small figure rounds away


def _money(values: pd.Series) -> pd.Series:
    return values.astype(float).round(3).map("{:.3f}".format)


def write_next_quarter(drop: Path, out: Path) -> Path:
    """The register resent unchanged and every firm's revenue for :data:`NEXT_QUARTER` (its
    last quarter's figure + 2 %), written into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    revenue = pd.read_csv(drop / "revenue.csv", dtype=str, keep_default_na=False)
    last = revenue["period"].max()
    revenue = revenue[revenue["period"] == last].copy()
    revenue["period"] = NEXT_QUARTER
    revenue["revenue"] = _money(revenue["revenue"].astype(float) * GROWTH)
    revenue.to_csv(out / "revenue.csv", index=False)
    for name in ("enterprises.csv", "source.json"):
        shutil.copyfile(drop / name, out / name)
    return out


def write_revised_quarter(drop: Path, out: Path, *, share: float = 0.05) -> Path:
    """:func:`write_next_quarter`, with every ``round(1 / share)``-th firm revised: one more
    employee in the register, and its revenue of the drop's last quarter restated (+1 %, +0.001) in
    the same revenue file, after the new quarter's rows.

    :raises ValueError: if ``share`` is not in (0, 1].
    """
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], not {share}")
    write_next_quarter(drop, out)
    step = max(1, round(1 / share))
    register = pd.read_csv(out / "enterprises.csv", dtype=str, keep_default_na=False)
    revised = register.index % step == 0
    register.loc[revised, "employees"] = (
        register.loc[revised, "employees"].astype(int) + 1).astype(str)
    register.to_csv(out / "enterprises.csv", index=False)
    codes = set(register.loc[revised, "credit_code"])
    revenue = pd.read_csv(drop / "revenue.csv", dtype=str, keep_default_na=False)
    last = revenue[(revenue["period"] == revenue["period"].max())
                   & revenue["credit_code"].isin(codes)].copy()
    last["revenue"] = _money(last["revenue"].astype(float) * RESTATED + MIN_STEP)
    last.to_csv(out / "revenue.csv", mode="a", header=False, index=False)
    return out
