"""What the validator reads from the database: reference lists, stored codes, stored quarters.

A drop is checked against the zones, districts, segments and metric units the database knows
(:class:`Reference`), the enterprises already loaded (:func:`stored_codes`: a revenue row may
name a firm of an earlier drop) and the stored revenue that year-to-date figures build on
(:func:`stored_quarters`). Everything here only reads.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import pandas as pd

from etl.drops.convert import enum_key
from models.periods import quarter_label, split_quarter

# Above this many codes to look up, reading every stored code beats chunked IN (…) queries.
BULK_LOOKUP_THRESHOLD = 20_000
SQL_CHUNK = 500


@dataclass
class Reference:
    """What the database knows that a drop is checked against."""

    zones: dict[str, str]
    districts: dict[str, int]
    segments: dict[str, str]
    metric_units: dict[str, str]

    @classmethod
    def load(cls, conn: sqlite3.Connection) -> Reference:
        """Read zones, districts, segments and metric units (accepting codes and names)."""
        zones: dict[str, str] = {}
        for zone_id, name_zh in conn.execute("SELECT zone_id, name_zh FROM zones"):
            zones[enum_key(zone_id)] = zone_id
            zones.setdefault(enum_key(name_zh), zone_id)
        districts: dict[str, int] = {}
        for adcode, name_zh, name_en in conn.execute(
                "SELECT adcode, name_zh, name_en FROM districts"):
            for spelling in (str(adcode), name_zh, name_en):
                districts.setdefault(enum_key(spelling), int(adcode))
        segments: dict[str, str] = {}
        for code, name_zh, name_en in conn.execute(
                "SELECT code, name_zh, name_en FROM segments"):
            for spelling in (code, name_zh, name_en):
                segments.setdefault(enum_key(spelling), code)
        units = dict(conn.execute("SELECT code, unit_en FROM metrics").fetchall())
        return cls(zones, districts, segments, units)



def stored_codes(conn: sqlite3.Connection, codes: list[str]) -> set[str]:
    """Which of ``codes`` are in the enterprises table."""
    if len(codes) > BULK_LOOKUP_THRESHOLD:
        have = {c for (c,) in conn.execute("SELECT credit_code FROM enterprises")}
        return have.intersection(codes)
    found: set[str] = set()
    for i in range(0, len(codes), SQL_CHUNK):
        chunk = codes[i:i + SQL_CHUNK]
        marks = ",".join("?" * len(chunk))
        found.update(c for (c,) in conn.execute(
            f"SELECT credit_code FROM enterprises WHERE credit_code IN ({marks})", chunk))
    return found


def stored_quarters(conn: sqlite3.Connection, groups: pd.DataFrame) -> pd.DataFrame:
    """Current stored revenue of the first three quarters of each (credit_code, year) in
    ``groups`` (``_year`` an integer), as a frame indexed by (credit_code, _year) with columns
    1…4."""
    years = sorted(groups["_year"].unique())
    periods = [quarter_label(y, q) for y in years for q in (1, 2, 3)]
    marks = ",".join("?" * len(periods))
    rows = conn.execute(
        f"SELECT credit_code, period, revenue FROM enterprise_revenue WHERE period IN ({marks})",
        periods).fetchall()
    if not rows:
        return pd.DataFrame(index=pd.MultiIndex.from_frame(groups), columns=range(1, 5),
                            dtype="float64")
    stored = pd.DataFrame(rows, columns=["credit_code", "period", "revenue"])
    split = {p: split_quarter(p) for p in stored["period"].unique()}
    stored["_year"] = stored["period"].map({p: y for p, (y, _) in split.items()})
    stored["_q"] = stored["period"].map({p: q for p, (_, q) in split.items()})
    stored = stored.merge(groups, on=["credit_code", "_year"])
    return stored.pivot(index=["credit_code", "_year"], columns="_q", values="revenue")
