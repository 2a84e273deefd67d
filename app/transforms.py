"""Pure pandas steps pages apply to the frames of :mod:`app.queries`: annual totals, growth year
on year, shares of a total. No database, no streamlit.

Rows of different provenance, basis or unit are never combined (:mod:`app.series_lines`), and a
figure computed here from published ones is ``derived``, never ``reported``.
"""

from __future__ import annotations

import math
import re
from datetime import date

import pandas as pd

from app.series_lines import computed_provenance, kind_columns, kinds
from models.periods import shift_quarter

# Growth is shown year on year: four quarters back, or one year back.
LAGS = {"Q": 4, "Y": 1}


def period_freq(period: str) -> str:
    """``Q`` for ``2025Q2``, ``Y`` for ``2025``, ``M``/``D`` for months and days."""
    if re.fullmatch(r"\d{4}Q[1-4]", period):
        return "Q"
    if re.fullmatch(r"\d{4}", period):
        return "Y"
    if re.fullmatch(r"\d{4}-\d{2}", period):
        return "M"
    return "D"


def to_annual(df: pd.DataFrame, *, flow: bool) -> pd.DataFrame:
    """Quarterly rows → one row per kind of each scope and year.

    Flows (revenue) are summed over complete years only (four quarters); stocks (firms, PFLOPS)
    take the last value of the year (a quarter, month or day). Rows of different provenance,
    basis or unit are never combined (:mod:`app.series_lines`): a year's sample value comes from
    sample rows only, and a reported figure stays a reported figure with its source. Rows that
    already are annual pass through and replace a computed year of the same kind.
    """
    if df.empty:
        return df
    freqs = df["period"].map(period_freq)
    quarterly = df[freqs == "Q"].copy() if flow else df[freqs != "Y"].copy()
    annual = df[freqs == "Y"].copy()
    if quarterly.empty:
        return annual.reset_index(drop=True)
    quarterly["year"] = quarterly["period"].str[:4]
    rows = []
    for _, kind_rows in kinds(quarterly):
        for _, g in kind_rows.groupby("year", sort=True):
            if flow and g["period"].nunique() < 4:
                continue
            last = g.iloc[-1].copy()
            if flow:
                last["value"] = g["value"].sum()
                last["value_bn"] = g["value_bn"].sum(min_count=1)
                last["provenance"] = computed_provenance(g["provenance"])
            year = str(last["year"])
            last["period"] = year
            last["period_end"] = (pd.Timestamp(date(int(year), 12, 31)) if flow
                                  else last["period_end"])
            rows.append(last)
    out = pd.DataFrame(rows).drop(columns=["year"]) if rows else quarterly.iloc[0:0].drop(
        columns=["year"])
    key_cols = ["period", *kind_columns(df)]
    annual_keys = set(annual[key_cols].astype(str).itertuples(index=False, name=None))
    if annual_keys and not out.empty:
        out = out[[k not in annual_keys for k in
                   out[key_cols].astype(str).itertuples(index=False, name=None)]]
    return pd.concat([out, annual], ignore_index=True).sort_values(
        ["scope_id", "period_end"]).reset_index(drop=True)


def add_growth(df: pd.DataFrame) -> pd.DataFrame:
    """Add ``growth`` (percent, year on year) per kind of each scope: four quarters back, or a
    year back. A published figure is compared with the published figure a year before only,
    never with a sample value, and its growth, computed here, is ``derived``."""
    out = df.copy()
    out["growth"] = float("nan")
    if out.empty:
        return out
    for _, g in kinds(out):
        by_period = dict(zip(g["period"], g["value"]))
        for idx, row in g.iterrows():
            freq = period_freq(row["period"])
            if freq == "Q":
                prev = by_period.get(shift_quarter(row["period"], -LAGS["Q"]))
            elif freq == "Y":
                prev = by_period.get(str(int(row["period"]) - 1))
            else:
                prev = None
            if prev is not None and prev not in (0, 0.0) and not math.isnan(prev):
                out.at[idx, "growth"] = (row["value"] / prev - 1.0) * 100.0
    return _computed_from_reported_is_derived(out, "growth")


def add_share(df: pd.DataFrame, totals: pd.DataFrame) -> pd.DataFrame:
    """Add ``share`` (percent of the total of the same period and provenance).

    :param totals: rows with ``period`` and ``value`` (the city series) and, if known,
        ``provenance``; where a period has no total of the same provenance, the sum of the
        sample or derived scopes in ``df`` for that period is used. A published figure gets a
        share only against a published total: a zone's reported count over a sample city total
        would mix the two.
    """
    out = df.copy()
    if "provenance" not in out.columns:
        out["provenance"] = "sample"
    totals = totals if "provenance" in totals.columns else totals.assign(provenance="sample")
    by_key = (dict(zip(zip(totals["period"], totals["provenance"]), totals["value"]))
              if not totals.empty else {})
    sums = out.groupby(["period", "provenance"])["value"].sum().to_dict()

    def denominator(period: str, provenance: str) -> float | None:
        if (period, provenance) in by_key:
            return by_key[(period, provenance)]
        return sums.get((period, provenance)) if provenance != "reported" else None

    denominators = [denominator(p, v) for p, v in zip(out["period"], out["provenance"])]
    out["share"] = out["value"] / pd.Series(denominators, index=out.index, dtype="float64") * 100.0
    return _computed_from_reported_is_derived(out, "share")


def _computed_from_reported_is_derived(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """A growth rate or share computed from published figures was not itself published."""
    computed = (df["provenance"] == "reported") & df[column].notna()
    df.loc[computed, "provenance"] = "derived"
    return df
