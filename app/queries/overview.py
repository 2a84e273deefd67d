"""The overview: one query per KPI card, and the 4+X zones at a glance.

Every card function returns a list of card dicts (empty when it has nothing to show), each
saying where its number comes from. Keys: ``card``, ``metric``, ``name_en``, ``name_zh``,
``period``, ``basis``, ``value``, ``value_bn``, ``unit``, ``delta_pct``, ``delta_base_period``,
``provenance``, ``source_title``, ``source_published``, ``lower_bound``, ``approximate``.

SQL picks the row a card shows (the newest) and the figure its change is measured against (the
same period a year before, else the previous period on the same basis); Python only converts
money to billion CNY and flags to booleans.
"""

from __future__ import annotations

import math
import re
from datetime import date

import pandas as pd
from sqlalchemy import text
from sqlalchemy.engine import Engine

from app.cached import cached_query
from app.money import money_factor, money_unit_sql
from app.queries.frames import read_frame
from app.queries.reference import zones
from app.transforms import LAGS, period_freq
from models.metrics import COUNT_METRIC, REVENUE_METRIC
from models.periods import shift_quarter
from models.tables import CITY_SCOPE_ID

# How many reported output bases get a card (the most recent ones).
MAX_OUTPUT_CARDS = 2
# Money metrics that are not a measure of the industry's output (profit, plans, investment).
NOT_OUTPUT_WORDS = ("profit", "planned", "investment", "target")
NOT_OUTPUT = re.compile("|".join(NOT_OUTPUT_WORDS))
# Zone metrics of the drop format (docs/drop-format.md, "zones" file) the cards sum.
ZONE_FIRMS = "zone_enterprises"
ZONE_MODELS = "zone_registered_foundation_models"
ZONE_PFLOPS = "zone_computing_pflops"
# The columns every card's rows carry, as the card dicts name them.
CARD_KEYS = ("metric", "name_en", "name_zh", "period", "basis", "value", "unit", "delta_pct",
             "delta_base_period", "provenance", "source_title", "source_published",
             "lower_bound", "approximate")


def _freq_sql(period: str) -> str:
    """SQL for :func:`app.transforms.period_freq` of the column ``period``."""
    return (f"CASE WHEN {period} GLOB '[0-9][0-9][0-9][0-9]Q[1-4]' THEN 'Q' "
            f"WHEN {period} GLOB '[0-9][0-9][0-9][0-9]' THEN 'Y' "
            f"WHEN {period} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]' THEN 'M' ELSE 'D' END")


def _year_before_sql(period: str) -> str:
    """SQL for the period a year before ``period`` (``2024Q2`` for ``2025Q2``, ``2024`` for
    ``2025``; NULL for months and days, which get no year-on-year change)."""
    return (f"CASE WHEN {period} GLOB '[0-9][0-9][0-9][0-9]Q[1-4]' "
            # The year before, zero-padded to four digits (no printf on PostgreSQL).
            f"THEN substr(CAST(10000 + CAST(substr({period}, 1, 4) AS INTEGER) - 1 AS TEXT), 2) "
            f"|| substr({period}, 5) "
            f"WHEN {period} GLOB '[0-9][0-9][0-9][0-9]' "
            f"THEN CAST(CAST({period} AS INTEGER) - 1 AS TEXT) END")


# Per metric of the rows ``{rows}`` selects, the newest row and its change: against the same
# period a year before of the same kind (scope, provenance, basis, unit), else against the
# previous period of the same basis and frequency. Newest first, at most :limit rows.
_NEWEST_WITH_CHANGE = f"""
WITH card_rows AS ({{rows}}),
newest AS (
    SELECT r.*, ROW_NUMBER() OVER (PARTITION BY r.metric
                                   ORDER BY r.period_end DESC, r.period DESC) AS age
    FROM card_rows r),
compared AS (
    SELECT n.*, {_year_before_sql('n.period')} AS year_before,
           (SELECT y.value FROM card_rows y
             WHERE y.metric = n.metric AND y.scope_id = n.scope_id
               AND y.provenance = n.provenance AND y.basis IS n.basis AND y.unit IS n.unit
               AND y.period = {_year_before_sql('n.period')} AND y.value <> 0) AS year_ago,
           (SELECT p.period FROM card_rows p
             WHERE p.metric = n.metric AND p.basis IS n.basis
               AND {_freq_sql('p.period')} = {_freq_sql('n.period')}
               AND p.period_end < n.period_end
             ORDER BY p.period_end DESC LIMIT 1) AS prev_period,
           (SELECT p.value FROM card_rows p
             WHERE p.metric = n.metric AND p.basis IS n.basis
               AND {_freq_sql('p.period')} = {_freq_sql('n.period')}
               AND p.period_end < n.period_end
             ORDER BY p.period_end DESC LIMIT 1) AS prev_value
    FROM newest n WHERE n.age = 1)
SELECT c.*, m.name_en, m.name_zh,
       CASE WHEN c.year_ago IS NOT NULL THEN (c.value * 1.0 / c.year_ago - 1.0) * 100.0
            WHEN c.prev_value <> 0 THEN (c.value * 1.0 / c.prev_value - 1.0) * 100.0
       END AS delta_pct,
       CASE WHEN c.year_ago IS NOT NULL THEN c.year_before
            WHEN c.prev_value <> 0 THEN c.prev_period END AS delta_base_period
FROM compared c LEFT JOIN metrics m ON m.code = c.metric
ORDER BY c.period_end DESC, c.metric DESC
LIMIT :limit"""

# A zone metric summed over top-level zones per period (see zone_totals), with the number of
# zones of the best-covered period (``all_zones``).
_ZONE_TOTALS = """
SELECT g.*, MAX(g.zones) OVER () AS all_zones,
       CASE WHEN g.sample_rows > 0 THEN 'sample' WHEN g.reported_rows > 0 THEN 'reported'
            ELSE 'derived' END AS provenance
FROM (SELECT o.period, MAX(o.period_end) AS period_end, SUM(o.value) AS value,
             MIN(o.unit) AS unit, COUNT(*) AS zones,
             SUM(CASE WHEN o.provenance = 'sample' THEN 1 ELSE 0 END) AS sample_rows,
             SUM(CASE WHEN o.provenance = 'reported' THEN 1 ELSE 0 END) AS reported_rows
      FROM series_of_record o JOIN zones z ON z.zone_id = o.scope_id
      WHERE o.metric = :metric AND o.scope_type = 'zone' AND o.kind = 'actual'
        AND z.parent_zone_id IS NULL AND o.basis = 'point' AND o.scope_relation IS NULL
      GROUP BY o.period) g"""
# The zone totals as card rows: only the periods every reporting top-level zone covers.
_ZONE_TOTAL_ROWS = f"""
SELECT :metric AS metric, 'zones' AS scope_id, t.period, t.period_end, t.value, t.unit,
       NULL AS basis, t.provenance, 0 AS lower_bound, 0 AS approximate,
       NULL AS source_title, NULL AS source_published
FROM ({_ZONE_TOTALS}) t WHERE t.zones = t.all_zones"""


def _cards(engine: Engine, card: str, sql: str, params: dict) -> list[dict]:
    """The rows of ``sql`` as ``card`` dicts (:data:`CARD_KEYS`), money in billion CNY."""
    with engine.connect() as conn:
        rows = conn.execute(text(sql), params).mappings().all()
    cards = []
    for row in rows:
        found = {key: row[key] for key in CARD_KEYS}
        factor = money_factor(found["unit"])
        found.update(card=card, lower_bound=bool(found["lower_bound"]),
                     approximate=bool(found["approximate"]),
                     value_bn=found["value"] * factor if factor is not None else math.nan)
        cards.append(found)
    return cards


@cached_query
def output_cards(engine: Engine) -> list[dict]:
    """The latest reported city output on each money basis, newest first, at most
    :data:`MAX_OUTPUT_CARDS` (e.g. 2024's industry scale and output), each with its change.

    Reads the ``series_of_record`` view (current ``observations`` from the most trusted
    source; reported city figures are filled by ``etl/facts.py``) joined to ``sources``.
    """
    rows = f"""
        SELECT o.metric, o.scope_id, o.period, o.period_end, o.value, o.unit, o.basis,
               o.provenance, o.lower_bound, o.approximate, s.title AS source_title,
               s.published AS source_published
        FROM series_of_record o JOIN sources s ON s.id = o.source_id
        WHERE o.scope_type = 'city' AND o.scope_id = :city AND o.provenance = 'reported'
          AND o.kind = 'actual' AND {money_unit_sql('o.unit')}
          AND {' AND '.join(f"instr(o.metric, '{w}') = 0" for w in NOT_OUTPUT_WORDS)}"""
    return _cards(engine, "output", _NEWEST_WITH_CHANGE.format(rows=rows),
                  {"city": CITY_SCOPE_ID, "limit": MAX_OUTPUT_CARDS})


@cached_query
def growth_card(engine: Engine) -> list[dict]:
    """The latest reported year-on-year growth of the industry as a whole (metrics
    ``ai_industry_…growth_yoy`` but profit's, any basis but a range), else the growth of the
    sample revenue (``enterprise_revenue``) on the same quarter a year before.

    Reads the ``series_of_record`` view: reported figures from ``etl/facts.py``, the revenue
    summed per quarter from the register by ``etl/drops/derive.py``.
    """
    reported = """
        SELECT o.metric, m.name_en, m.name_zh, o.period, o.basis, o.value, o.unit,
               NULL AS delta_pct, NULL AS delta_base_period, o.provenance,
               s.title AS source_title, s.published AS source_published, o.lower_bound,
               o.approximate
        FROM series_of_record o JOIN sources s ON s.id = o.source_id
             JOIN metrics m ON m.code = o.metric
        WHERE o.scope_type = 'city' AND o.scope_id = :city AND o.provenance = 'reported'
          AND o.kind = 'actual' AND o.metric GLOB 'ai_industry_*growth_yoy'
          AND o.metric NOT GLOB 'ai_industry_profit*' AND o.basis <> 'range'
        ORDER BY o.period_end DESC, o.metric DESC LIMIT 1"""
    # Growth computed from published figures was not itself published: derived.
    revenue = f"""
        SELECT o.metric || '_growth' AS metric, NULL AS name_en, NULL AS name_zh, o.period,
               o.basis, (o.value * 1.0 / y.value - 1.0) * 100.0 AS value, 'percent' AS unit,
               NULL AS delta_pct, NULL AS delta_base_period,
               CASE o.provenance WHEN 'reported' THEN 'derived' ELSE o.provenance END
                   AS provenance,
               s.title AS source_title, s.published AS source_published, o.lower_bound,
               o.approximate
        FROM series_of_record o JOIN sources s ON s.id = o.source_id
             JOIN series_of_record y ON y.metric = o.metric AND y.scope_type = o.scope_type
              AND y.scope_id = o.scope_id AND y.kind = o.kind AND y.basis = o.basis
              AND y.provenance = o.provenance AND y.unit = o.unit
              AND y.period = {_year_before_sql('o.period')}
        WHERE o.metric = :revenue AND o.scope_type = 'city' AND o.scope_id = :city
          AND o.kind = 'actual' AND o.basis = 'quarterly' AND y.value <> 0
        ORDER BY o.period_end DESC, o.period DESC LIMIT 1"""
    params = {"city": CITY_SCOPE_ID, "revenue": REVENUE_METRIC}
    return (_cards(engine, "growth", reported, params)
            or _cards(engine, "growth", revenue, params))


@cached_query
def firms_card(engine: Engine) -> list[dict]:
    """The city's latest count of firms (``enterprise_count``, counted per quarter from the
    register by ``etl/drops/derive.py``), else the zones' firms summed (:func:`zone_totals` of
    ``zone_enterprises``, from the drops' ``zones`` file, ``etl/drops/merge.py``).

    Reads the ``series_of_record`` view.
    """
    city = """
        SELECT o.metric, o.scope_id, o.period, o.period_end, o.value, o.unit, o.basis,
               o.provenance, o.lower_bound, o.approximate, s.title AS source_title,
               s.published AS source_published
        FROM series_of_record o JOIN sources s ON s.id = o.source_id
        WHERE o.metric = :metric AND o.scope_type = 'city' AND o.scope_id = :city
          AND o.kind = 'actual'"""
    return (_cards(engine, "firms", _NEWEST_WITH_CHANGE.format(rows=city),
                   {"metric": COUNT_METRIC, "city": CITY_SCOPE_ID, "limit": 1})
            or _zone_total_card(engine, "firms", ZONE_FIRMS))


@cached_query
def models_card(engine: Engine) -> list[dict]:
    """Registered foundation models summed over the top-level zones (:func:`zone_totals` of
    ``zone_registered_foundation_models``: the ``series_of_record`` view, filled from the drops'
    ``zones`` file by ``etl/drops/merge.py``)."""
    return _zone_total_card(engine, "models", ZONE_MODELS)


@cached_query
def computing_card(engine: Engine) -> list[dict]:
    """Computing power (PFLOPS) summed over the top-level zones (:func:`zone_totals` of
    ``zone_computing_pflops``: the ``series_of_record`` view, filled from the drops' ``zones``
    file by ``etl/drops/merge.py``)."""
    return _zone_total_card(engine, "computing", ZONE_PFLOPS)


def _zone_total_card(engine: Engine, card: str, metric: str) -> list[dict]:
    return _cards(engine, card, _NEWEST_WITH_CHANGE.format(rows=_ZONE_TOTAL_ROWS),
                  {"metric": metric, "limit": 1})


@cached_query
def zone_totals(engine: Engine, metric: str) -> pd.DataFrame:
    """A zone metric summed over top-level zones (sub-sites would count twice) per period,
    for periods every reporting top-level zone covers; provenance ``sample`` if any input is.
    Figures published for another area than the zone (``scope_relation``: the West Bund
    area's 34 models on the AI Tower) are not the zone's and are left out of the sum. These are
    the rows the zone cards pick from."""
    df = read_frame(engine, f"""
        SELECT t.period, t.period_end, t.value, t.unit, t.zones, t.sample_rows,
               t.reported_rows, 'zones' AS scope_id, :metric AS metric, t.provenance
        FROM ({_ZONE_TOTALS}) t WHERE t.zones = t.all_zones ORDER BY t.period_end""",
                    {"metric": metric})
    df["period_end"] = pd.to_datetime(df["period_end"])
    df["value_bn"] = float("nan")
    return df


@cached_query
def zones_glance(engine: Engine, as_of_end: date | None = None) -> pd.DataFrame:
    """One row per zone: firms (latest zone_enterprises, else enterprise_count), revenue growth
    year on year, and where the firm figure comes from, with the scope it was published for
    (``firms_scope_label``, ``firms_scope_relation``: a wider area is not the zone). ``as_of_end``
    caps the period."""
    cap = {"cap": (as_of_end or date(9999, 12, 31)).isoformat()}
    z = zones(engine)
    firms = read_frame(engine, """
        SELECT o.scope_id AS zone_id, o.metric, o.period, o.period_end, o.value, o.provenance,
               s.title AS source_title, s.published AS source_published, o.scope_label,
               o.scope_relation
        FROM series_of_record o JOIN sources s ON s.id = o.source_id
        WHERE o.scope_type = 'zone' AND o.kind = 'actual' AND o.metric IN (:m1, :m2)
          AND o.period_end <= :cap""", {"m1": ZONE_FIRMS, "m2": COUNT_METRIC, **cap})
    revenue = read_frame(engine, """
        SELECT o.scope_id, o.period, o.period_end, o.value, o.provenance
        FROM series_of_record o
        WHERE o.scope_type = 'zone' AND o.kind = 'actual' AND o.metric = :m
          AND o.basis = 'quarterly' AND o.period_end <= :cap""", {"m": REVENUE_METRIC, **cap})
    # One grouped pass each (not a filter per zone): the latest firm figure per zone and metric,
    # and the latest quarter's revenue per zone with its year-earlier value.
    latest_firms: dict[tuple[str, str], dict] = {}
    if not firms.empty:
        ordered = firms.sort_values("period_end", kind="stable")
        for rec in ordered.groupby(["zone_id", "metric"], sort=False).tail(1).to_dict("records"):
            latest_firms[(rec["zone_id"], rec["metric"])] = rec
    latest_revenue: dict[str, tuple[dict, float]] = {}
    if not revenue.empty:
        ordered = revenue.sort_values("period_end", kind="stable")
        values = dict(zip(zip(ordered["scope_id"], ordered["period"]), ordered["value"]))
        for rec in ordered.groupby("scope_id", sort=False).tail(1).to_dict("records"):
            freq = period_freq(rec["period"])
            if freq == "Q":
                prev = values.get((rec["scope_id"], shift_quarter(rec["period"], -LAGS["Q"])))
            elif freq == "Y":
                prev = values.get((rec["scope_id"], str(int(rec["period"]) - 1)))
            else:
                prev = None
            growth = float("nan")
            if prev is not None and prev not in (0, 0.0) and not math.isnan(prev):
                growth = (rec["value"] / prev - 1.0) * 100.0
            latest_revenue[rec["scope_id"]] = (rec, growth)
    rows = []
    for zone_id in z["zone_id"]:
        rec = {"zone_id": zone_id, "firms": float("nan"), "firms_period": None,
               "firms_provenance": None, "firms_source": None, "firms_scope_label": None,
               "firms_scope_relation": None, "growth": float("nan"),
               "growth_period": None, "revenue_bn": float("nan")}
        for metric in (ZONE_FIRMS, COUNT_METRIC):
            last = latest_firms.get((zone_id, metric))
            if last is not None:
                rec.update(firms=float(last["value"]), firms_period=last["period"],
                           firms_provenance=last["provenance"], firms_source=last["source_title"],
                           firms_scope_label=last["scope_label"],
                           firms_scope_relation=last["scope_relation"])
                break
        if zone_id in latest_revenue:
            last, growth = latest_revenue[zone_id]
            rec.update(growth=growth, growth_period=last["period"],
                       revenue_bn=float(last["value"]) * 0.001)
        rows.append(rec)
    return z.merge(pd.DataFrame(rows), on="zone_id", how="left")
