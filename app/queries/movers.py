"""Movers among zones and districts: revenue growth on a year earlier and firms added in a
quarter, from the figures ``etl/drops/derive.py`` sums per district and zone.

A growth rate on a tiny base says little (a zone that went from 0.3 to 22 million CNY grew
+7,233 %), so the growth ranking only takes places whose revenue a year earlier reached a
minimum base, which the caller states beside the table.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy.engine import Engine

from app.cached import cached_query
from app.money import money_factor
from app.queries.frames import read_frame
from models.metrics import COUNT_METRIC, REVENUE_METRIC
from models.periods import shift_quarter

# The names of the places a mover can be.
_PLACES = """
    SELECT 'district' AS scope_type, CAST(adcode AS TEXT) AS scope_id, name_en, name_zh
    FROM districts
    UNION ALL SELECT 'zone', zone_id, name_en, name_zh FROM zones"""

# A series' value (``o``) beside the same series at an earlier period (``{alias}``), with the
# place's names (``p``).
_AGAINST_EARLIER = f"""FROM series_of_record o
             JOIN series_of_record {{alias}} ON {{alias}}.metric = o.metric
              AND {{alias}}.scope_type = o.scope_type AND {{alias}}.scope_id = o.scope_id
              AND {{alias}}.basis = o.basis AND {{alias}}.kind = o.kind
              AND {{alias}}.period = {{earlier}}
             JOIN ({_PLACES}) p ON p.scope_type = o.scope_type AND p.scope_id = o.scope_id"""


@cached_query
def revenue_growth(engine: Engine, scope_type: str, quarter: str,
                   min_base_bn: float) -> pd.DataFrame:
    """Each place's revenue in ``quarter`` against the same quarter a year earlier, for places
    whose earlier revenue is at least ``min_base_bn`` billion CNY; fastest growth first.

    Columns: ``scope_id``, ``name_en``, ``name_zh``, ``value_bn``, ``base_bn``, ``growth_pct``,
    ``provenance``, ``below_base`` (how many places the minimum left out, on every row).
    """
    df = read_frame(engine, f"""
        SELECT o.scope_id, p.name_en, p.name_zh, o.value, o.unit, o.provenance,
               y.value AS base_value, y.unit AS base_unit
        {_AGAINST_EARLIER.format(alias='y', earlier=':year_before')}
        WHERE o.metric = :metric AND o.scope_type = :scope_type AND o.period = :quarter
          AND o.basis = 'quarterly' AND o.kind = 'actual'""",
                    {"metric": REVENUE_METRIC, "scope_type": scope_type, "quarter": quarter,
                     "year_before": shift_quarter(quarter, -4)})
    factors = df["unit"].map(money_factor).astype("float64")
    df["value_bn"] = df["value"] * factors
    df["base_bn"] = df["base_value"] * df["base_unit"].map(money_factor).astype("float64")
    kept = df[df["base_bn"] >= min_base_bn].copy()
    kept["growth_pct"] = (kept["value_bn"] / kept["base_bn"] - 1.0) * 100.0
    kept["below_base"] = len(df) - len(kept)
    kept = kept.sort_values(["growth_pct", "scope_id"], ascending=[False, True])
    return kept[["scope_id", "name_en", "name_zh", "value_bn", "base_bn", "growth_pct",
                 "provenance", "below_base"]].reset_index(drop=True)


@cached_query
def firms_added(engine: Engine, scope_type: str, quarter: str) -> pd.DataFrame:
    """Each place's active firms at the end of ``quarter`` against the quarter before (the
    register's count, ``enterprise_count``); most firms added first.

    Columns: ``scope_id``, ``name_en``, ``name_zh``, ``firms``, ``added``, ``provenance``.
    """
    df = read_frame(engine, f"""
        SELECT o.scope_id, p.name_en, p.name_zh, o.value AS firms,
               o.value - q.value AS added, o.provenance
        {_AGAINST_EARLIER.format(alias='q', earlier=':quarter_before')}
        WHERE o.metric = :metric AND o.scope_type = :scope_type AND o.period = :quarter
          AND o.kind = 'actual'
        ORDER BY o.value - q.value DESC, o.scope_id""",
                    {"metric": COUNT_METRIC, "scope_type": scope_type, "quarter": quarter,
                     "quarter_before": shift_quarter(quarter, -1)})
    return df
