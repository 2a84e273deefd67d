"""Series of record: one value per metric, scope, period, basis and kind, with its source.

``series_of_record`` is a view over ``observations`` (the current value from the most trusted
source); ``etl/facts.py`` fills it with reported figures, ``etl/drops/derive.py`` with the
figures derived from each drop's register and revenue.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy.engine import Engine

from app.cached import cached_query
from app.filters import in_clause
from app.money import money_factor
from app.queries.frames import read_frame
from models.tables import CITY_SCOPE_ID

SERIES_COLUMNS = """o.id, o.metric, o.scope_type, o.scope_id, o.scope_label, o.scope_relation,
    o.period, o.period_end,
    o.value, o.unit, o.basis, o.kind, o.provenance, o.lower_bound, o.approximate,
    o.source_id, s.title AS source_title, s.published AS source_published,
    s.confidence AS source_confidence, o.etl_run_id"""


def finish_series(df: pd.DataFrame) -> pd.DataFrame:
    """Dates as dates, flags as booleans, and ``value_bn`` (billion CNY) for money units."""
    df["period_end"] = pd.to_datetime(df["period_end"])
    df["lower_bound"] = df["lower_bound"].astype(bool)
    df["approximate"] = df["approximate"].astype(bool)
    factors = df["unit"].map(money_factor)
    df["value_bn"] = df["value"] * factors.astype("float64")
    return df


@cached_query
def series(engine: Engine, metric: str, scope_type: str, scope_ids: list[str] | None = None,
           *, basis: str | None = None, kind: str = "actual") -> pd.DataFrame:
    """Series of record (one value per metric, scope, period, basis, kind) with sources.

    :param scope_ids: restrict to these scopes; None means every scope of the type.
    :param basis: restrict to one statistical basis.
    """
    params: dict[str, object] = {"metric": metric, "scope_type": scope_type, "kind": kind}
    where = ["o.metric = :metric", "o.scope_type = :scope_type", "o.kind = :kind"]
    if scope_ids is not None:
        clause, p = in_clause("o.scope_id", [str(s) for s in scope_ids], "scope")
        where.append(clause)
        params.update(p)
    if basis is not None:
        where.append("o.basis = :basis")
        params["basis"] = basis
    df = read_frame(engine, f"""
        SELECT {SERIES_COLUMNS}
        FROM series_of_record o JOIN sources s ON s.id = o.source_id
        WHERE {' AND '.join(where)}
        ORDER BY o.scope_id, o.period_end, o.period""", params)
    return finish_series(df)


@cached_query
def values_at(engine: Engine, metric: str, scope_type: str, period: str,
              basis: str) -> pd.DataFrame:
    """One period's values of one metric for every scope of a type (the map's colours)."""
    df = read_frame(engine, f"""
        SELECT {SERIES_COLUMNS}
        FROM series_of_record o JOIN sources s ON s.id = o.source_id
        WHERE o.metric = :metric AND o.scope_type = :scope_type AND o.period = :period
          AND o.basis = :basis AND o.kind = 'actual'
        ORDER BY o.scope_id""",
                    {"metric": metric, "scope_type": scope_type, "period": period,
                     "basis": basis})
    return finish_series(df)


@cached_query
def city_reported(engine: Engine) -> pd.DataFrame:
    """Every reported, current, actual city figure (series of record) with source and metric
    names: the overview's cards and headline points come from here."""
    df = read_frame(engine, f"""
        SELECT {SERIES_COLUMNS}, m.name_en, m.name_zh
        FROM series_of_record o JOIN sources s ON s.id = o.source_id
             JOIN metrics m ON m.code = o.metric
        WHERE o.scope_type = 'city' AND o.scope_id = :city AND o.provenance = 'reported'
          AND o.kind = 'actual'
        ORDER BY o.metric, o.period_end""", {"city": CITY_SCOPE_ID})
    return finish_series(df)


@cached_query
def targets(engine: Engine, scope_type: str = "city",
            scope_id: str = CITY_SCOPE_ID) -> pd.DataFrame:
    """Current policy targets (kind 'target') with their source and, where a forecast of the
    latest vintage computed one, the probability of reaching them."""
    df = read_frame(engine, f"""
        SELECT {SERIES_COLUMNS}, m.name_en, m.name_zh,
               (SELECT tp.probability FROM target_probabilities tp
                  JOIN forecast_runs fr ON fr.id = tp.forecast_id
                 WHERE tp.target_observation_id = o.id
                 ORDER BY fr.vintage_run_id DESC, tp.id DESC LIMIT 1) AS probability,
               (SELECT fr.vintage_run_id FROM target_probabilities tp
                  JOIN forecast_runs fr ON fr.id = tp.forecast_id
                 WHERE tp.target_observation_id = o.id
                 ORDER BY fr.vintage_run_id DESC, tp.id DESC LIMIT 1) AS probability_vintage,
               (SELECT tp.method FROM target_probabilities tp
                  JOIN forecast_runs fr ON fr.id = tp.forecast_id
                 WHERE tp.target_observation_id = o.id
                 ORDER BY fr.vintage_run_id DESC, tp.id DESC LIMIT 1) AS probability_method
        FROM series_of_record o JOIN sources s ON s.id = o.source_id
             JOIN metrics m ON m.code = o.metric
        WHERE o.scope_type = :scope_type AND o.scope_id = :scope_id AND o.kind = 'target'
        ORDER BY o.period_end, o.metric""", {"scope_type": scope_type, "scope_id": scope_id})
    return finish_series(df)


@cached_query
def target_tracking(engine: Engine) -> pd.DataFrame:
    """For each target with a stored probability, the probability of the latest vintage (as
    :func:`targets` picks it) and what it was computed from: the method, the forecast's model
    and provenance, and the series that tracks the target with its names. The overview uses it
    to say whose chance this is (sample or not) and on which basis."""
    return read_frame(engine, """
        SELECT tp.target_observation_id AS target_id, tp.probability, tp.method,
               fr.vintage_run_id, fr.provenance AS forecast_provenance, fr.model,
               fr.metric AS series_metric, fr.scope_type AS series_scope_type,
               fr.scope_id AS series_scope_id, fr.basis AS series_basis,
               fr.freq AS series_freq, m.name_en AS series_name_en, m.name_zh AS series_name_zh
        FROM target_probabilities tp JOIN forecast_runs fr ON fr.id = tp.forecast_id
             LEFT JOIN metrics m ON m.code = fr.metric
        WHERE tp.id = (SELECT tp2.id FROM target_probabilities tp2
                         JOIN forecast_runs fr2 ON fr2.id = tp2.forecast_id
                        WHERE tp2.target_observation_id = tp.target_observation_id
                        ORDER BY fr2.vintage_run_id DESC, tp2.id DESC LIMIT 1)
        ORDER BY tp.target_observation_id""")
