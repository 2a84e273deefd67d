"""The reference lists pages build their choices from: zones, districts, segments, metrics."""

from __future__ import annotations

import pandas as pd
from sqlalchemy.engine import Engine

from app.cached import cached_query
from app.queries.frames import read_frame


@cached_query
def zones(engine: Engine) -> pd.DataFrame:
    """Every zone: id, names, kind, parent, district (names), coordinates."""
    return read_frame(engine, """
        SELECT z.zone_id, z.name_en, z.name_zh, z.kind, z.parent_zone_id, z.district_adcode,
               d.name_en AS district_en, d.name_zh AS district_zh, z.lon, z.lat
        FROM zones z JOIN districts d ON d.adcode = z.district_adcode
        ORDER BY CASE z.kind WHEN 'core4' THEN 0 WHEN 'core4-subsite' THEN 1 WHEN 'X' THEN 2
                 WHEN 'X_unconfirmed' THEN 3 ELSE 4 END, z.rowid""")


@cached_query
def districts(engine: Engine, *, with_geometry: bool = False) -> pd.DataFrame:
    """The 16 districts by adcode, with names (and GeoJSON geometry text if asked)."""
    geometry = ", geometry" if with_geometry else ""
    return read_frame(engine, f"SELECT adcode, name_en, name_zh, area_km2{geometry} "
                              "FROM districts ORDER BY adcode")


@cached_query
def segments(engine: Engine) -> pd.DataFrame:
    """Industry segments in their display order."""
    return read_frame(engine, "SELECT code, name_en, name_zh FROM segments "
                              "ORDER BY sort_order, code")


@cached_query
def metrics(engine: Engine) -> pd.DataFrame:
    """The metric catalogue (names and units in both languages)."""
    return read_frame(engine, "SELECT code, name_en, name_zh, unit_en, unit_zh FROM metrics "
                              "ORDER BY code")


@cached_query
def scope_names(engine: Engine) -> pd.DataFrame:
    """Names of every scope a series can have: districts, zones and segments (city is added
    by the pages from the locale)."""
    return read_frame(engine, """
        SELECT 'district' AS scope_type, CAST(adcode AS TEXT) AS scope_id, name_en, name_zh
        FROM districts
        UNION ALL SELECT 'zone', zone_id, name_en, name_zh FROM zones
        UNION ALL SELECT 'segment', code, name_en, name_zh FROM segments""")


@cached_query
def metric_catalogue(engine: Engine, scope_type: str) -> pd.DataFrame:
    """Metrics that have current actual values at ``scope_type``: code, names, unit, basis,
    number of scopes and periods, latest period. Sorted by how widely a metric is covered."""
    return read_frame(engine, """
        SELECT o.metric AS code, m.name_en, m.name_zh, m.unit_en, m.unit_zh, o.basis,
               MIN(o.unit) AS unit, COUNT(DISTINCT o.scope_id) AS scopes,
               COUNT(DISTINCT o.period) AS periods, MAX(o.period_end) AS latest_end
        FROM current_observations o JOIN metrics m ON m.code = o.metric
        WHERE o.scope_type = :scope_type AND o.kind = 'actual'
        GROUP BY m.code, o.metric, o.basis
        ORDER BY COUNT(DISTINCT o.scope_id) * COUNT(DISTINCT o.period) DESC, o.metric""",
                      {"scope_type": scope_type})


@cached_query
def metric_periods(engine: Engine, metric: str, scope_type: str, basis: str) -> list[str]:
    """The periods (oldest first) with current actual values of one metric at a scope type."""
    df = read_frame(engine, """
        SELECT period, MAX(period_end) AS period_end FROM current_observations
        WHERE metric = :metric AND scope_type = :scope_type AND basis = :basis
          AND kind = 'actual'
        GROUP BY period ORDER BY period_end, period""",
                    {"metric": metric, "scope_type": scope_type, "basis": basis})
    return df["period"].tolist()
