"""Which points of a series may share a line, and how to keep the rest apart.

A line tells the reader "these points are one series, measured the same way". A published
figure among sample points is not (West Bund's reported 255 foundation-model firms between
sample values near 50 turned one line into a spike), and neither is a point on another unit or
statistical basis. So a series splits into *kinds*: one per scope, provenance, basis and unit.
Sample and derived kinds are drawn as lines; reported figures only as markers, each with its
own source. The transforms of :mod:`app.transforms` (annual totals, growth, shares) use the same
kinds so that no computed point mixes a published figure with sample data.
"""

from __future__ import annotations

import pandas as pd

# What makes two points comparable enough to join: same place, provenance, basis and unit.
KIND_COLUMNS = ("scope_id", "provenance", "basis", "unit")
# Provenances drawn as lines; everything else (reported) is drawn as markers only.
LINE_PROVENANCES = ("sample", "derived")


def kind_columns(df: pd.DataFrame) -> list[str]:
    """The columns of :data:`KIND_COLUMNS` that ``df`` has (a frame may lack basis or unit)."""
    return [c for c in KIND_COLUMNS if c in df.columns]


def kinds(df: pd.DataFrame) -> list[tuple[dict[str, object], pd.DataFrame]]:
    """``df`` split into kinds, each sorted by ``period_end``, in order of first appearance.

    :returns: (the kind's key values by column, its rows) pairs.
    """
    cols = kind_columns(df)
    if df.empty or not cols:
        return []
    keyed = df.assign(**{f"_k_{c}": df[c].astype("string").fillna("") for c in cols})
    out = []
    for key, rows in keyed.groupby([f"_k_{c}" for c in cols], sort=False):
        values = key if isinstance(key, tuple) else (key,)
        rows = rows.drop(columns=[f"_k_{c}" for c in cols])
        sort_by = ["period_end"] if "period_end" in rows.columns else []
        out.append((dict(zip(cols, values)), rows.sort_values(sort_by) if sort_by else rows))
    return out


def computed_provenance(inputs: pd.Series) -> str:
    """Provenance of a value computed from ``inputs`` (provenances): sample if any input is
    sample, else derived (a figure computed from published ones is not itself published)."""
    return "sample" if (inputs == "sample").any() else "derived"
