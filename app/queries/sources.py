"""Where the figures come from: every reported fact with its source, the figures that
disagree, the ETL runs and the provenance counts (the Sources and data page).

Reported facts are loaded by ``etl/facts.py`` from ``data/reference/shanghai_ai_facts.csv``;
``etl_runs`` is written by every load and rollback (``etl/runs.py``).
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy.engine import Engine

from app.cached import cached_query
from app.queries.frames import read_frame


@cached_query
def reported_facts(engine: Engine) -> pd.DataFrame:
    """Every current reported observation with its source, quote and confidence, and whether
    it is the series of record."""
    df = read_frame(engine, """
        SELECT o.id, o.metric, m.name_en, m.name_zh, o.scope_type, o.scope_id, o.scope_label,
               o.scope_relation, o.period,
               o.period_end, o.value, o.unit, m.unit_en, m.unit_zh, o.basis, o.kind,
               o.lower_bound, o.approximate, s.title AS source_title, s.publisher,
               s.url_or_publication, s.published,
               s.quote, s.confidence, s.caveat, o.source_id,
               CASE WHEN r.id IS NULL THEN 0 ELSE 1 END AS is_record
        FROM current_observations o
             JOIN sources s ON s.id = o.source_id
             JOIN metrics m ON m.code = o.metric
             LEFT JOIN series_of_record r ON r.id = o.id
        WHERE o.provenance = 'reported'
        ORDER BY o.scope_type, o.metric, o.period_end, s.published""")
    df["lower_bound"] = df["lower_bound"].astype(bool)
    df["approximate"] = df["approximate"].astype(bool)
    df["is_record"] = df["is_record"].astype(bool)
    return df


@cached_query
def conflicts(engine: Engine) -> pd.DataFrame:
    """Reported figures that disagree: the same metric, scope, period, basis and kind from more
    than one current source, side by side, the series-of-record row first in each group."""
    facts = reported_facts(engine)
    if facts.empty:
        return facts.assign(group=pd.Series(dtype="int64"))
    keys = ["metric", "scope_type", "scope_id", "period", "basis", "kind"]
    sizes = facts.groupby(keys)["id"].transform("size")
    out = facts[sizes > 1].copy()
    if out.empty:
        return out.assign(group=pd.Series(dtype="int64"))
    out["group"] = out.groupby(keys, sort=True).ngroup() + 1
    confidence_rank = {"high": 0, "medium-high": 1, "medium": 2, "low-medium": 3, "low": 4}
    out["_rank"] = out["confidence"].map(confidence_rank).fillna(5)
    out = out.sort_values(["group", "is_record", "_rank", "published"],
                          ascending=[True, False, True, False])
    return out.drop(columns="_rank").reset_index(drop=True)


@cached_query
def etl_history(engine: Engine) -> pd.DataFrame:
    """Every ETL run, newest first."""
    return read_frame(engine, """
        SELECT id, kind, status, started_at, finished_at, data_period, drop_path, rows_read,
               rows_inserted, rows_updated, rows_rejected, message, rolled_back_at
        FROM etl_runs ORDER BY id DESC""")


@cached_query
def provenance_counts(engine: Engine) -> pd.DataFrame:
    """How many current observations there are by provenance (the methodology's first table)."""
    return read_frame(engine, """
        SELECT provenance, COUNT(*) AS observations, COUNT(DISTINCT metric) AS metrics,
               MIN(period) AS first_period, MAX(period) AS last_period
        FROM current_observations GROUP BY provenance ORDER BY provenance""")
