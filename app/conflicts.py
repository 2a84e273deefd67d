"""Published figures that disagree across metrics: the same thing measured on different bases.

:func:`app.queries.sources.conflicts` sets side by side the figures of *one* metric that several
sources publish differently. The disagreements a reader is likelier to trip over sit under
different metric codes: for 2024 the city's AI industry was 400 bn CNY of "total output"
(People's Daily) and over 450 bn of "industry scale"; it grew over 7 % on the one basis and
over 7.8 % on the other. ``metrics.comparable_group`` (from ``data/metrics.csv``) declares
which metrics a reader could take for one another, and each carries a note on its basis.

Here the figure of record of each such metric is set beside the others of its group for the
same scope, period, basis and kind. Nothing is spliced: every figure stays in its own metric's
series, and the series of record is still chosen within one metric.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import text
from sqlalchemy.engine import Engine

from app.cached import cached_query

# The columns of app.queries.sources.reported_facts, so the Sources page builds both tables alike,
# plus the group and the metric's basis note in both languages.
_FIGURES = """
    SELECT o.id, o.metric, m.name_en, m.name_zh, m.comparable_group, m.basis_note_en,
           m.basis_note_zh, o.scope_type, o.scope_id, o.scope_label, o.scope_relation,
           o.period, o.period_end, o.value, o.unit, m.unit_en, m.unit_zh, o.basis, o.kind,
           o.lower_bound, o.approximate, s.title AS source_title, s.publisher,
           s.url_or_publication, s.published, s.quote, s.confidence, s.caveat,
           1 AS is_record,
           COUNT(*) OVER (PARTITION BY m.comparable_group, o.scope_type, o.scope_id, o.period,
                                       o.basis, o.kind) AS metrics_in_group,
           m.rowid AS metric_order
    FROM series_of_record o
         JOIN metrics m ON m.code = o.metric
         JOIN sources s ON s.id = o.source_id
    WHERE m.comparable_group IS NOT NULL AND o.provenance = 'reported'"""
_GROUP_KEYS = ["comparable_group", "scope_type", "scope_id", "period", "basis", "kind"]
_BOOLS = ("lower_bound", "approximate", "is_record")


def has_comparable_groups(engine: Engine) -> bool:
    """Whether the metric catalogue has the ``comparable_group`` column: a database built
    before it has none until a load upgrades it, and then simply has nothing to compare."""
    with engine.connect() as conn:
        columns = {row[1] for row in conn.exec_driver_sql("PRAGMA table_info(metrics)")}
    return "comparable_group" in columns


@cached_query
def comparable_figures(engine: Engine) -> pd.DataFrame:
    """Current reported figures of different metrics of one comparable group for the same
    scope, period, basis and kind: one row per metric (its series of record), numbered by
    ``group`` (newest period first), the metrics of a group in catalogue order.

    :returns: the columns of :func:`app.queries.sources.reported_facts` plus ``comparable_group``,
        ``basis_note_en``, ``basis_note_zh`` and ``group``; empty when nothing compares.
    """
    if not has_comparable_groups(engine):
        return pd.DataFrame(columns=["id", "metric", "comparable_group", "group"])
    with engine.connect() as conn:
        df = pd.read_sql(text(f"SELECT * FROM ({_FIGURES}) WHERE metrics_in_group > 1"), conn)
    for column in _BOOLS:
        df[column] = df[column].astype(bool)
    if df.empty:
        return df.assign(group=pd.Series(dtype="int64")).drop(
            columns=["metrics_in_group", "metric_order"])
    df = df.sort_values(["period_end", *_GROUP_KEYS, "metric_order"],
                        ascending=[False, *[True] * len(_GROUP_KEYS), True], kind="stable")
    df["group"] = df.groupby(_GROUP_KEYS, sort=False).ngroup() + 1
    return df.drop(columns=["metrics_in_group", "metric_order"]).reset_index(drop=True)
