"""What the last load changed, and where the figures a briefing cites come from.

Every load is one row of ``etl_runs`` (``etl/runs.py``); a figure it revised keeps its earlier
vintage in ``observations`` with ``superseded_by`` = that run, and firms and revenue rows it
changed keep theirs in ``enterprise_versions`` and ``enterprise_revenue_versions``
(``etl/drops/merge.py``). These functions read those traces for aggregates only: no firm is
named, so a viewer may read them.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy.engine import Engine

from app.cached import cached_query
from app.filters import in_clause
from app.queries.frames import read_frame

# The runs that bring data; geography and forecast refreshes change no figure of a briefing.
LOAD_KINDS = ("drop", "facts")

# The scope names a revision is shown with (the city is named by the pages' locale).
_SCOPE_NAMES = """
    SELECT 'district' AS scope_type, CAST(adcode AS TEXT) AS scope_id, name_en, name_zh
    FROM districts
    UNION ALL SELECT 'zone', zone_id, name_en, name_zh FROM zones
    UNION ALL SELECT 'segment', code, name_en, name_zh FROM segments"""


@cached_query
def loads(engine: Engine, limit: int = 2) -> pd.DataFrame:
    """The latest succeeded loads (drops and reported facts) that were not rolled back, newest
    first: the last load and the one before it."""
    return read_frame(engine, """
        SELECT id, kind, data_period, started_at, finished_at, drop_path, rows_read,
               rows_inserted, rows_updated
        FROM etl_runs
        WHERE status = 'succeeded' AND rolled_back_at IS NULL AND kind IN ('drop', 'facts')
        ORDER BY id DESC LIMIT :limit""", {"limit": limit})


@cached_query
def revisions(engine: Engine, run_id: int) -> pd.DataFrame:
    """Aggregate figures (city, district, zone, segment) that run ``run_id`` revised: the
    earlier value (superseded by the run) beside the current one, with the metric's and the
    scope's names, the largest relative change first."""
    df = read_frame(engine, f"""
        SELECT old.metric, m.name_en, m.name_zh, old.scope_type, old.scope_id,
               n.name_en AS scope_en, n.name_zh AS scope_zh, old.period, old.basis, old.unit,
               old.provenance, old.value AS old_value, new.value AS new_value,
               s.title AS source_title, s.published AS source_published, s.id AS source_id
        FROM observations old
             JOIN observations new ON new.metric = old.metric
              AND new.scope_type = old.scope_type AND new.scope_id = old.scope_id
              AND new.period = old.period AND new.basis = old.basis AND new.kind = old.kind
              AND new.source_id = old.source_id AND new.superseded_by IS NULL
             JOIN metrics m ON m.code = old.metric
             JOIN sources s ON s.id = new.source_id
             LEFT JOIN ({_SCOPE_NAMES}) n ON n.scope_type = old.scope_type
              AND n.scope_id = old.scope_id
        WHERE old.superseded_by = :run AND old.scope_type <> 'enterprise'
          AND old.kind = 'actual'""", {"run": run_id})
    base = df["old_value"].where(df["old_value"] != 0)
    df["change_pct"] = (df["new_value"] / base - 1.0) * 100.0
    order = df["change_pct"].abs().fillna(float("inf")).sort_values(ascending=False,
                                                                     kind="stable").index
    return df.loc[order].reset_index(drop=True)


@cached_query
def new_reported(engine: Engine, run_id: int) -> pd.DataFrame:
    """Reported figures that run ``run_id`` added and that revise nothing: new facts."""
    return read_frame(engine, """
        SELECT o.id, o.metric, m.name_en, m.name_zh, o.scope_type, o.scope_id, o.period,
               o.basis, o.value, o.unit, o.lower_bound, o.approximate, o.source_id,
               s.title AS source_title, s.published AS source_published
        FROM observations o JOIN metrics m ON m.code = o.metric
             JOIN sources s ON s.id = o.source_id
        WHERE o.etl_run_id = :run AND o.provenance = 'reported' AND o.superseded_by IS NULL
          AND NOT EXISTS (
              SELECT 1 FROM observations old
              WHERE old.superseded_by = :run AND old.metric = o.metric
                AND old.scope_type = o.scope_type AND old.scope_id = o.scope_id
                AND old.period = o.period AND old.basis = o.basis AND old.kind = o.kind)
        ORDER BY o.scope_type, o.metric, o.period""", {"run": run_id})


@cached_query
def register_changes(engine: Engine, run_id: int) -> dict[str, int]:
    """How many firms and revenue rows run ``run_id`` added or revised (counts only)."""
    counts = read_frame(engine, """
        SELECT (SELECT COUNT(*) FROM enterprises WHERE etl_run_id = :run) AS firms_written,
               (SELECT COUNT(DISTINCT credit_code) FROM enterprise_versions
                 WHERE superseded_by = :run) AS firms_revised,
               (SELECT COUNT(*) FROM enterprise_revenue_versions
                 WHERE superseded_by = :run) AS revenue_revised""", {"run": run_id})
    row = counts.iloc[0]
    written, revised = int(row["firms_written"]), int(row["firms_revised"])
    return {"firms_new": max(written - revised, 0), "firms_revised": revised,
            "revenue_revised": int(row["revenue_revised"])}


@cached_query
def cited_sources(engine: Engine, source_ids: list[int]) -> pd.DataFrame:
    """The ``sources`` rows of ``source_ids`` (title, publisher, publication, date, provenance),
    in the order given."""
    clause, params = in_clause("id", [int(i) for i in source_ids], "src")
    df = read_frame(engine, f"""
        SELECT id, title, publisher, url_or_publication, published, confidence, provenance
        FROM sources WHERE {clause}""", params)
    order = {int(sid): n for n, sid in enumerate(source_ids)}
    return df.sort_values("id", key=lambda s: s.map(order)).reset_index(drop=True)


@cached_query
def same_source(engine: Engine) -> dict[int, int]:
    """Each source's id → the lowest id of the sources with its title, publication and date
    (a publication quoted for several figures has one ``sources`` row per quote; a list of
    sources names it once)."""
    df = read_frame(engine, """
        SELECT id, MIN(id) OVER (PARTITION BY title, url_or_publication, published) AS first_id
        FROM sources""")
    return {int(i): int(f) for i, f in zip(df["id"], df["first_id"])}
