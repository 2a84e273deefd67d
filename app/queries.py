"""Every database read of the dashboard: an engine and filter values in, a DataFrame out.

No streamlit here. Values always go in as bound parameters; the few identifiers that vary
(sort columns) come from allow-lists. The big table (enterprises) is filtered, sorted, paged
and counted in SQL; only one page ever reaches pandas. Everything else reads small, already
aggregated observations.

Money comes out in billion CNY (column ``value_bn``), whatever unit a source used.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, replace
from datetime import date

import pandas as pd
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from app import search
from app.filters import MIN_SEARCH_CHARS, EnterpriseFilters, build_where, in_clause
from app.series_lines import computed_provenance, kind_columns, kinds
from models.db import sqlite_path
from models.errors import DatabaseDamaged, DatabaseMissing
from models.health import damage_reason
from models.tables import CITY_SCOPE_ID

# Tables the pages cannot do without; a database lacking one is "not built yet".
REQUIRED_TABLES = ("districts", "zones", "segments", "metrics", "observations", "etl_runs")
# Sort keys the enterprise table offers, mapped to SQL (never user text in ORDER BY).
SORT_COLUMNS = {
    "name_zh": "e.name_zh",
    "name_en": "e.name_en",
    "founded": "e.founded",
    "employees": "e.employees",
    "registered_capital": "e.registered_capital",
    "credit_code": "e.credit_code",
}
# Sort keys whose column is NOT NULL in the schema (no "NULLs last" term needed).
NOT_NULL_SORTS = frozenset({"name_zh", "credit_code"})
PAGE_SIZES = (25, 50, 100)
# A name search counts its matches up to here ("1,000+ matches"), then stops scanning.
SEARCH_COUNT_CAP = 1000
# A name matching more firms than this is searched in SQL instead (see enterprise_search_codes).
SEARCH_LOOKUP_MAX = 20_000
# A zone/district filter matching at least this many firms is checked while walking the sort
# index (the page is found after ~25 × register / matches rows) instead of sorted in full.
WALK_MIN_ROWS = 20_000
# Growth is shown year on year: four quarters back, or one year back.
LAGS = {"Q": 4, "Y": 1}
# Metric codes the overview cards read (the drop format and the derived metrics).
REVENUE = "enterprise_revenue"
COUNT = "enterprise_count"
ZONE_FIRMS = "zone_enterprises"
ZONE_MODELS = "zone_registered_foundation_models"
ZONE_PFLOPS = "zone_computing_pflops"
# Billion CNY per one unit of each money unit, by the words a unit string contains.
_MONEY_UNITS = (
    (re.compile(r"trillion", re.IGNORECASE), 1000.0),
    (re.compile(r"billion", re.IGNORECASE), 1.0),
    (re.compile(r"hundred million|100 million|亿", re.IGNORECASE), 0.1),
    (re.compile(r"ten thousand|10 thousand|万", re.IGNORECASE), 1e-5),
    (re.compile(r"million|百万", re.IGNORECASE), 0.001),
)
_MONEY_WORDS = re.compile(r"cny|rmb|yuan|元", re.IGNORECASE)


@dataclass(frozen=True)
class RunInfo:
    """The latest state of the database: what caches key on and what pages report."""

    token: str
    latest_run_id: int | None
    data_period: str | None
    loaded_at: str | None


# -- health ----------------------------------------------------------------------------------
def check_database(engine: Engine, url: str) -> None:
    """Raise :class:`DatabaseMissing` unless the database exists and has been built.

    :param engine: a (read-only) engine on ``url``.
    :param url: the SQLAlchemy URL, for the file check.
    :raises DatabaseMissing: ``missing`` (no file) or ``empty`` (no tables or no districts);
        the message is the reason code, pages translate it.
    :raises DatabaseDamaged: the file is not an SQLite database or is truncated.
    """
    path = sqlite_path(url)
    if path is not None and not path.exists():
        raise DatabaseMissing("missing")
    try:
        names = set(inspect(engine).get_table_names())
    except Exception as exc:
        reason = damage_reason(exc, path)
        if reason is not None:
            raise DatabaseDamaged(str(path or url), reason) from exc
        raise DatabaseMissing("missing") from exc
    if not set(REQUIRED_TABLES) <= names:
        raise DatabaseMissing("empty")
    with engine.connect() as conn:
        if conn.execute(text("SELECT COUNT(*) FROM districts")).scalar_one() == 0:
            raise DatabaseMissing("empty")


def run_info(engine: Engine) -> RunInfo:
    """The latest ETL run and data period; ``token`` changes whenever a run lands or is undone."""
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT MAX(id), COUNT(*), MAX(COALESCE(rolled_back_at, '')), "
            "MAX(COALESCE(finished_at, '')) FROM etl_runs")).one()
        latest = conn.execute(text(
            "SELECT id, finished_at FROM etl_runs WHERE status = 'succeeded' "
            "ORDER BY id DESC LIMIT 1")).one_or_none()
        period = conn.execute(text(
            "SELECT data_period FROM etl_runs WHERE status = 'succeeded' AND kind = 'drop' "
            "AND data_period IS NOT NULL ORDER BY id DESC LIMIT 1")).scalar_one_or_none()
        if period is None:
            period = conn.execute(text(
                "SELECT period FROM current_observations WHERE kind = 'actual' "
                "ORDER BY period_end DESC LIMIT 1")).scalar_one_or_none()
    token = f"{row[0]}|{row[1]}|{row[2]}|{row[3]}"
    return RunInfo(token=token, latest_run_id=latest[0] if latest else None,
                   data_period=period, loaded_at=str(latest[1]) if latest and latest[1] else None)


# -- units and periods -----------------------------------------------------------------------
def money_factor(unit: str | None) -> float | None:
    """Billion CNY per one ``unit`` (``million CNY`` → 0.001), or None if not money."""
    if not unit or not _MONEY_WORDS.search(unit):
        return None
    for pattern, factor in _MONEY_UNITS:
        if pattern.search(unit):
            return factor
    return 1e-9  # plain yuan


def period_freq(period: str) -> str:
    """``Q`` for ``2025Q2``, ``Y`` for ``2025``, ``M``/``D`` for months and days."""
    if re.fullmatch(r"\d{4}Q[1-4]", period):
        return "Q"
    if re.fullmatch(r"\d{4}", period):
        return "Y"
    if re.fullmatch(r"\d{4}-\d{2}", period):
        return "M"
    return "D"


def shift_quarter(period: str, quarters: int) -> str:
    """``2025Q2`` moved by ``quarters`` (negative goes back)."""
    index = int(period[:4]) * 4 + int(period[5]) - 1 + quarters
    return f"{index // 4}Q{index % 4 + 1}"


# -- reference lists -------------------------------------------------------------------------
def _read(engine: Engine, sql: str, params: dict | None = None) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(text(sql), conn, params=params or {})


def zones(engine: Engine) -> pd.DataFrame:
    """Every zone: id, names, kind, parent, district (names), coordinates."""
    return _read(engine, """
        SELECT z.zone_id, z.name_en, z.name_zh, z.kind, z.parent_zone_id, z.district_adcode,
               d.name_en AS district_en, d.name_zh AS district_zh, z.lon, z.lat
        FROM zones z JOIN districts d ON d.adcode = z.district_adcode
        ORDER BY CASE z.kind WHEN 'core4' THEN 0 WHEN 'core4-subsite' THEN 1 WHEN 'X' THEN 2
                 WHEN 'X_unconfirmed' THEN 3 ELSE 4 END, z.rowid""")


def districts(engine: Engine, *, with_geometry: bool = False) -> pd.DataFrame:
    """The 16 districts by adcode, with names (and GeoJSON geometry text if asked)."""
    geometry = ", geometry" if with_geometry else ""
    return _read(engine, f"SELECT adcode, name_en, name_zh, area_km2{geometry} "
                         "FROM districts ORDER BY adcode")


def segments(engine: Engine) -> pd.DataFrame:
    """Industry segments in their display order."""
    return _read(engine, "SELECT code, name_en, name_zh FROM segments ORDER BY sort_order, code")


def metrics(engine: Engine) -> pd.DataFrame:
    """The metric catalogue (names and units in both languages)."""
    return _read(engine, "SELECT code, name_en, name_zh, unit_en, unit_zh FROM metrics "
                         "ORDER BY code")


def scope_names(engine: Engine) -> pd.DataFrame:
    """Names of every scope a series can have: districts, zones and segments (city is added
    by the pages from the locale)."""
    return _read(engine, """
        SELECT 'district' AS scope_type, CAST(adcode AS TEXT) AS scope_id, name_en, name_zh
        FROM districts
        UNION ALL SELECT 'zone', zone_id, name_en, name_zh FROM zones
        UNION ALL SELECT 'segment', code, name_en, name_zh FROM segments""")


def metric_catalogue(engine: Engine, scope_type: str) -> pd.DataFrame:
    """Metrics that have current actual values at ``scope_type``: code, names, unit, basis,
    number of scopes and periods, latest period. Sorted by how widely a metric is covered."""
    return _read(engine, """
        SELECT o.metric AS code, m.name_en, m.name_zh, m.unit_en, m.unit_zh, o.basis,
               MIN(o.unit) AS unit, COUNT(DISTINCT o.scope_id) AS scopes,
               COUNT(DISTINCT o.period) AS periods, MAX(o.period_end) AS latest_end
        FROM current_observations o JOIN metrics m ON m.code = o.metric
        WHERE o.scope_type = :scope_type AND o.kind = 'actual'
        GROUP BY o.metric, o.basis
        ORDER BY COUNT(DISTINCT o.scope_id) * COUNT(DISTINCT o.period) DESC, o.metric""",
                 {"scope_type": scope_type})


def metric_periods(engine: Engine, metric: str, scope_type: str, basis: str) -> list[str]:
    """The periods (oldest first) with current actual values of one metric at a scope type."""
    df = _read(engine, """
        SELECT period, MAX(period_end) AS period_end FROM current_observations
        WHERE metric = :metric AND scope_type = :scope_type AND basis = :basis
          AND kind = 'actual'
        GROUP BY period ORDER BY period_end, period""",
               {"metric": metric, "scope_type": scope_type, "basis": basis})
    return df["period"].tolist()


# -- series ----------------------------------------------------------------------------------
_SERIES_COLUMNS = """o.id, o.metric, o.scope_type, o.scope_id, o.scope_label, o.scope_relation,
    o.period, o.period_end,
    o.value, o.unit, o.basis, o.kind, o.provenance, o.lower_bound, o.approximate,
    o.source_id, s.title AS source_title, s.published AS source_published,
    s.confidence AS source_confidence, o.etl_run_id"""


def _finish_series(df: pd.DataFrame) -> pd.DataFrame:
    df["period_end"] = pd.to_datetime(df["period_end"])
    df["lower_bound"] = df["lower_bound"].astype(bool)
    df["approximate"] = df["approximate"].astype(bool)
    factors = df["unit"].map(money_factor)
    df["value_bn"] = df["value"] * factors.astype("float64")
    return df


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
    df = _read(engine, f"""
        SELECT {_SERIES_COLUMNS}
        FROM series_of_record o JOIN sources s ON s.id = o.source_id
        WHERE {' AND '.join(where)}
        ORDER BY o.scope_id, o.period_end, o.period""", params)
    return _finish_series(df)


def values_at(engine: Engine, metric: str, scope_type: str, period: str,
              basis: str) -> pd.DataFrame:
    """One period's values of one metric for every scope of a type (the map's colours)."""
    df = _read(engine, f"""
        SELECT {_SERIES_COLUMNS}
        FROM series_of_record o JOIN sources s ON s.id = o.source_id
        WHERE o.metric = :metric AND o.scope_type = :scope_type AND o.period = :period
          AND o.basis = :basis AND o.kind = 'actual'
        ORDER BY o.scope_id""",
               {"metric": metric, "scope_type": scope_type, "period": period, "basis": basis})
    return _finish_series(df)


def city_reported(engine: Engine) -> pd.DataFrame:
    """Every reported, current, actual city figure (series of record) with source and metric
    names: the overview's cards and headline points come from here."""
    df = _read(engine, f"""
        SELECT {_SERIES_COLUMNS}, m.name_en, m.name_zh
        FROM series_of_record o JOIN sources s ON s.id = o.source_id
             JOIN metrics m ON m.code = o.metric
        WHERE o.scope_type = 'city' AND o.scope_id = :city AND o.provenance = 'reported'
          AND o.kind = 'actual'
        ORDER BY o.metric, o.period_end""", {"city": CITY_SCOPE_ID})
    return _finish_series(df)


def targets(engine: Engine, scope_type: str = "city",
            scope_id: str = CITY_SCOPE_ID) -> pd.DataFrame:
    """Current policy targets (kind 'target') with their source and, where a forecast of the
    latest vintage computed one, the probability of reaching them."""
    df = _read(engine, f"""
        SELECT {_SERIES_COLUMNS}, m.name_en, m.name_zh,
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
    return _finish_series(df)


def target_tracking(engine: Engine) -> pd.DataFrame:
    """For each target with a stored probability, the probability of the latest vintage (as
    :func:`targets` picks it) and what it was computed from: the method, the forecast's model
    and provenance, and the series that tracks the target with its names. The overview uses it
    to say whose chance this is (sample or not) and on which basis."""
    return _read(engine, """
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


# -- forecasts -------------------------------------------------------------------------------
ACCURACY_COLUMNS = ("backtest_mase", "backtest_cov80", "backtest_cov95")


def _accuracy_as_float(df: pd.DataFrame) -> pd.DataFrame:
    """Backtest accuracy is NULL for series too short to backtest: keep the columns numeric
    (NaN), so rounding and formatting work whatever the mix."""
    for col in ACCURACY_COLUMNS:
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
    return df


def forecasts(engine: Engine, metric: str, scope_type: str, scope_ids: list[str],
              basis: str, *, vintage_run_id: int | None = None) -> pd.DataFrame:
    """Forecast points of the latest vintage (or of ``vintage_run_id``) for several series,
    with each run's model and backtest accuracy."""
    clause, params = in_clause("fr.scope_id", [str(s) for s in scope_ids], "scope")
    params.update({"metric": metric, "scope_type": scope_type, "basis": basis})
    if vintage_run_id is None:
        vintage = """fr.vintage_run_id = (SELECT MAX(f2.vintage_run_id) FROM forecast_runs f2
                                          WHERE f2.series_key = fr.series_key)"""
    else:
        vintage = "fr.vintage_run_id = :vintage"
        params["vintage"] = vintage_run_id
    df = _read(engine, f"""
        SELECT fr.id AS forecast_id, fr.scope_id, fr.last_period, fr.vintage_run_id, fr.model,
               fr.method_note, fr.backtest_mase, fr.backtest_cov80, fr.backtest_cov95,
               fr.provenance, fr.created_at, fp.period, fp.period_end, fp.mean, fp.lo_80,
               fp.hi_80, fp.lo_95, fp.hi_95
        FROM forecast_runs fr JOIN forecast_points fp ON fp.forecast_id = fr.id
        WHERE fr.metric = :metric AND fr.scope_type = :scope_type AND fr.basis = :basis
          AND {clause} AND {vintage}
        ORDER BY fr.scope_id, fp.period_end""", params)
    df["period_end"] = pd.to_datetime(df["period_end"])
    return _accuracy_as_float(df)


def forecast_series(engine: Engine, metric: str, scope_type: str, scope_ids: list[str],
                    basis: str) -> pd.DataFrame:
    """Which of these scopes have stored forecasts, and how many vintages each (most first)."""
    clause, params = in_clause("scope_id", [str(s) for s in scope_ids], "scope")
    params.update({"metric": metric, "scope_type": scope_type, "basis": basis})
    return _read(engine, f"""
        SELECT scope_id, COUNT(DISTINCT vintage_run_id) AS vintages
        FROM forecast_runs
        WHERE metric = :metric AND scope_type = :scope_type AND basis = :basis AND {clause}
        GROUP BY scope_id ORDER BY COUNT(DISTINCT vintage_run_id) DESC, scope_id""", params)


def forecast_vintages(engine: Engine, metric: str, scope_type: str, scope_id: str,
                      basis: str) -> pd.DataFrame:
    """Every stored vintage of one series' forecast, oldest first (past forecasts vs actuals)."""
    df = _read(engine, """
        SELECT fr.id AS forecast_id, fr.vintage_run_id, fr.last_period, fr.model,
               fr.backtest_mase, fr.backtest_cov80, fr.backtest_cov95, fr.created_at,
               fp.period, fp.period_end, fp.mean, fp.lo_80, fp.hi_80, fp.lo_95, fp.hi_95
        FROM forecast_runs fr JOIN forecast_points fp ON fp.forecast_id = fr.id
        WHERE fr.metric = :metric AND fr.scope_type = :scope_type AND fr.scope_id = :scope_id
          AND fr.basis = :basis
        ORDER BY fr.vintage_run_id, fp.period_end""",
               {"metric": metric, "scope_type": scope_type, "scope_id": str(scope_id),
                "basis": basis})
    df["period_end"] = pd.to_datetime(df["period_end"])
    return _accuracy_as_float(df)


def forecast_accuracy(engine: Engine) -> pd.DataFrame:
    """Backtest accuracy of the latest vintage of every forecast series (methodology table)."""
    return _accuracy_as_float(_read(engine, """
        SELECT fr.metric, fr.scope_type, fr.scope_id, fr.basis, fr.model, fr.last_period,
               fr.vintage_run_id, fr.backtest_mase, fr.backtest_cov80, fr.backtest_cov95
        FROM forecast_runs fr
        WHERE fr.vintage_run_id = (SELECT MAX(f2.vintage_run_id) FROM forecast_runs f2
                                   WHERE f2.series_key = fr.series_key)
        ORDER BY fr.metric, fr.scope_type, fr.scope_id"""))


# -- transforms (pure) -----------------------------------------------------------------------
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


# -- overview --------------------------------------------------------------------------------
def latest_with_delta(df: pd.DataFrame) -> dict | None:
    """The latest row of one series and its change against the same period a year before
    (``delta_pct``) or, failing that, the previous row (``delta_pct_prev``)."""
    if df.empty:
        return None
    df = df.sort_values("period_end")
    last = df.iloc[-1].to_dict()
    # Compare like with like: a year-to-date figure against an annual one says nothing.
    if "basis" in df.columns:
        df = df[df["basis"] == last["basis"]]
    df = df[df["period"].map(period_freq) == period_freq(last["period"])]
    grown = add_growth(df)
    growth = grown.iloc[-1]["growth"]
    last["delta_pct"] = None if pd.isna(growth) else float(growth)
    last["delta_base_period"] = None
    if last["delta_pct"] is not None:
        freq = period_freq(last["period"])
        last["delta_base_period"] = (shift_quarter(last["period"], -4) if freq == "Q"
                                     else str(int(last["period"]) - 1))
    elif len(df) > 1:
        prev = df.iloc[-2]
        if prev["value"]:
            last["delta_pct"] = (last["value"] / prev["value"] - 1.0) * 100.0
            last["delta_base_period"] = prev["period"]
    return last


def zone_totals(engine: Engine, metric: str) -> pd.DataFrame:
    """A zone metric summed over top-level zones (sub-sites would count twice) per period,
    for periods every reporting top-level zone covers; provenance ``sample`` if any input is.
    Figures published for another area than the zone (``scope_relation``: the West Bund
    area's 34 models on the AI Tower) are not the zone's and are left out of the sum."""
    df = _read(engine, """
        SELECT o.period, MAX(o.period_end) AS period_end, SUM(o.value) AS value,
               MIN(o.unit) AS unit, COUNT(*) AS zones,
               SUM(CASE WHEN o.provenance = 'sample' THEN 1 ELSE 0 END) AS sample_rows,
               SUM(CASE WHEN o.provenance = 'reported' THEN 1 ELSE 0 END) AS reported_rows
        FROM series_of_record o JOIN zones z ON z.zone_id = o.scope_id
        WHERE o.metric = :metric AND o.scope_type = 'zone' AND o.kind = 'actual'
          AND z.parent_zone_id IS NULL AND o.basis = 'point' AND o.scope_relation IS NULL
        GROUP BY o.period ORDER BY MAX(o.period_end)""", {"metric": metric})
    if df.empty:
        return df
    full = df["zones"].max()
    df = df[df["zones"] == full].copy()
    df["scope_id"] = "zones"
    df["metric"] = metric
    df["provenance"] = ["sample" if s else ("reported" if r else "derived")
                        for s, r in zip(df["sample_rows"], df["reported_rows"])]
    df["period_end"] = pd.to_datetime(df["period_end"])
    df["value_bn"] = float("nan")
    return df.reset_index(drop=True)


def zones_glance(engine: Engine, as_of_end: date | None = None) -> pd.DataFrame:
    """One row per zone: firms (latest zone_enterprises, else enterprise_count), revenue growth
    year on year, and where the firm figure comes from, with the scope it was published for
    (``firms_scope_label``, ``firms_scope_relation``: a wider area is not the zone). ``as_of_end``
    caps the period."""
    cap = {"cap": (as_of_end or date(9999, 12, 31)).isoformat()}
    z = zones(engine)
    firms = _read(engine, """
        SELECT o.scope_id AS zone_id, o.metric, o.period, o.period_end, o.value, o.provenance,
               s.title AS source_title, s.published AS source_published, o.scope_label,
               o.scope_relation
        FROM series_of_record o JOIN sources s ON s.id = o.source_id
        WHERE o.scope_type = 'zone' AND o.kind = 'actual' AND o.metric IN (:m1, :m2)
          AND o.period_end <= :cap""", {"m1": ZONE_FIRMS, "m2": COUNT, **cap})
    revenue = _read(engine, """
        SELECT o.scope_id, o.period, o.period_end, o.value, o.provenance
        FROM series_of_record o
        WHERE o.scope_type = 'zone' AND o.kind = 'actual' AND o.metric = :m
          AND o.basis = 'quarterly' AND o.period_end <= :cap""", {"m": REVENUE, **cap})
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
        for metric in (ZONE_FIRMS, COUNT):
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


# -- enterprises -----------------------------------------------------------------------------
def enterprise_filter_options(engine: Engine) -> dict[str, int | None]:
    """The founding-year range of the register (for the slider); None when the table is empty."""
    # Two scalar subqueries, so each is one seek at an end of ix_enterprises_founded (a single
    # SELECT MIN(), MAX() scans the table).
    with engine.connect() as conn:
        lo, hi = conn.execute(text(
            "SELECT (SELECT MIN(founded) FROM enterprises), "
            "(SELECT MAX(founded) FROM enterprises)")).one()
    return {"founded_min": int(str(lo)[:4]) if lo else None,
            "founded_max": int(str(hi)[:4]) if hi else None}


def enterprise_count(engine: Engine, filters: EnterpriseFilters) -> int:
    """How many enterprises match ``filters`` (a separate COUNT, never a len() of rows)."""
    where, params = build_where(filters)
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT COUNT(*) FROM enterprises e {where}"),
                                params).scalar_one())


def enterprise_search_codes(engine: Engine, filters: EnterpriseFilters,
                            cap: int | None = None) -> tuple[str, ...]:
    """The credit codes (sorted) of the enterprises matching ``filters``, at most ``cap + 1``
    (default :data:`SEARCH_COUNT_CAP`): more than ``cap`` means "more than ``cap`` match" (the
    page shows "1,000+").

    A name search cannot use an index: the names are searched in memory
    (:mod:`app.search`), and the other filters are then checked on those firms only (primary
    key lookups). When the name matches more than :data:`SEARCH_LOOKUP_MAX` firms, one pass
    over the register stops at the cap instead (with matches that common it stops early). The
    Enterprises page counts with this and then sorts and pages only these rows
    (:func:`enterprise_page` ``matches=``).
    """
    cap = SEARCH_COUNT_CAP if cap is None else cap
    if cap < 1:
        raise ValueError(f"cap must be at least 1, not {cap}")
    term = filters.search.strip()
    hits = None
    if len(term) >= MIN_SEARCH_CHARS:
        names = search.name_index(engine, run_info(engine).token)
        hits = names.find(term, SEARCH_LOOKUP_MAX)
    if hits is not None:
        rest = replace(filters, search="")
        if rest.is_empty():
            return tuple(hits[:cap + 1])
        where, params = build_where(rest)
        params.update(hits=json.dumps(hits), cap=cap + 1)
        with engine.connect() as conn:
            # CROSS JOIN keeps the hits as the outer loop: one primary-key lookup each.
            codes = conn.execute(text(
                "SELECT e.credit_code FROM json_each(:hits) j CROSS JOIN enterprises e "
                f"ON e.credit_code = j.value {where} "
                "ORDER BY e.credit_code LIMIT :cap"), params).scalars()
            return tuple(codes)
    where, params = build_where(filters)
    params["cap"] = cap + 1
    with engine.connect() as conn:
        codes = conn.execute(text(
            f"SELECT e.credit_code FROM enterprises e {where} LIMIT :cap"), params).scalars()
        return tuple(sorted(codes))


@dataclass(frozen=True)
class EnterpriseTotal:
    """How many firms the explorer's filters match, as the Enterprises page shows it."""

    total: int  # exact, or SEARCH_COUNT_CAP when over_cap
    over_cap: bool  # a name search matched more than SEARCH_COUNT_CAP ("1,000+")
    matches: tuple[str, ...] | None  # a search's matching codes, for enterprise_page


def enterprise_total(engine: Engine, filters: EnterpriseFilters) -> EnterpriseTotal:
    """Count the firms ``filters`` match: through an index without a name search; with one,
    by finding its matches once (:func:`enterprise_search_codes`, capped), which the page
    then sorts and pages without searching again."""
    if not filters.search.strip():
        return EnterpriseTotal(enterprise_count(engine, filters), False, None)
    matches = enterprise_search_codes(engine, filters)
    if len(matches) > SEARCH_COUNT_CAP:
        return EnterpriseTotal(SEARCH_COUNT_CAP, True, None)
    return EnterpriseTotal(len(matches), False, matches)


def _broad_area(engine: Engine, filters: EnterpriseFilters) -> bool:
    """True if the filters pick zones or districts but no segment, and those match at least
    :data:`WALK_MIN_ROWS` enterprises (counted through the zone/district index, stopping there)."""
    if not (filters.zones or filters.districts) or filters.segments:
        return False
    where, params = build_where(EnterpriseFilters(zones=filters.zones,
                                                  districts=filters.districts))
    params["n"] = WALK_MIN_ROWS
    with engine.connect() as conn:
        n = conn.execute(text(f"SELECT COUNT(*) FROM (SELECT 1 FROM enterprises e {where} "
                              "LIMIT :n)"), params).scalar_one()
    return n >= WALK_MIN_ROWS


def _nulls_last_codes(engine: Engine, where: str, params: dict, column: str, direction: str,
                      offset: int, limit: int) -> tuple[str, ...]:
    """The credit codes of one page in the order ``column IS NULL, column, credit_code``,
    read as two queries SQLite can answer from an index on ``column`` without sorting the
    register: the rows with a value, then (on the page where they run out) the NULL rows."""
    both = f"{where} AND " if where else "WHERE "
    with engine.connect() as conn:
        valued = list(conn.execute(text(
            f"SELECT e.credit_code FROM enterprises e {both}{column} IS NOT NULL "
            f"ORDER BY {column} {direction}, e.credit_code {direction} "
            "LIMIT :lim OFFSET :off"), {**params, "lim": limit, "off": offset}).scalars())
        if len(valued) == limit:
            return tuple(valued)
        if valued:
            null_offset = 0
        else:
            n_valued = conn.execute(text(
                f"SELECT COUNT(*) FROM enterprises e {both}{column} IS NOT NULL"),
                params).scalar_one()
            null_offset = offset - n_valued
        nulls = conn.execute(text(
            f"SELECT e.credit_code FROM enterprises e {both}{column} IS NULL "
            f"ORDER BY e.credit_code {direction} LIMIT :lim OFFSET :off"),
            {**params, "lim": limit - len(valued), "off": max(null_offset, 0)}).scalars()
        return tuple(valued) + tuple(nulls)


def enterprise_page(engine: Engine, filters: EnterpriseFilters, *, sort: str = "name_zh",
                    descending: bool = False, page: int = 1, page_size: int = 25,
                    revenue_period: str | None = None,
                    matches: tuple[str, ...] | None = None) -> pd.DataFrame:
    """One page of the enterprise register, filtered and sorted in SQL (LIMIT/OFFSET).

    :param sort: a key of :data:`SORT_COLUMNS`.
    :param page: 1-based page number.
    :param revenue_period: also show each firm's revenue in this quarter (joined for the page
        only, through the current-revenue index).
    :param matches: the credit codes of every row ``filters`` match, when known (from
        :func:`enterprise_search_codes`, at most :data:`SEARCH_COUNT_CAP`): only these rows are
        read (primary-key lookups) and sorted. Without it a name search first finds them itself
        when there are few; a broad one walks the sort column's index and stops at the page.
    :raises ValueError: for an unknown sort key or page size.
    """
    if sort not in SORT_COLUMNS:
        raise ValueError(f"unknown sort column {sort!r}; use one of {', '.join(SORT_COLUMNS)}")
    if page_size not in PAGE_SIZES:
        raise ValueError(f"page size must be one of {', '.join(map(str, PAGE_SIZES))}")
    direction = "DESC" if descending else "ASC"
    column = SORT_COLUMNS[sort]
    offset = (max(page, 1) - 1) * page_size
    if matches is None and filters.search.strip():
        found = enterprise_search_codes(engine, filters)
        if len(found) <= SEARCH_COUNT_CAP:
            matches = found
    # For the index-ordered sorts (name_zh, credit_code) a filter that matches many rows is
    # cheaper to check row by row while walking the sort index, stopping at the page, than to
    # read all its rows through its own index and sort them: "+column" keeps SQLite off that
    # index. A year range always (ix_enterprises_founded would hand over the range unsorted);
    # a zone or district without a segment when it matches at least WALK_MIN_ROWS rows.
    walk = sort in NOT_NULL_SORTS and matches is None
    where, params = build_where(filters, founded_index=not walk,
                                area_index=not (walk and _broad_area(engine, filters)))
    # NULLs last whatever the direction, then the primary key so pages never overlap. Columns
    # that cannot be NULL skip the "IS NULL" term, which would stop SQLite walking an index.
    if sort == "credit_code":
        order = f"e.credit_code {direction}"
    elif sort in NOT_NULL_SORTS:
        order = f"{column} {direction}, e.credit_code {direction}"
    else:
        order = f"{column} IS NULL, {column} {direction}, e.credit_code {direction}"
        if matches is None:
            # The same order in two index-friendly parts: rows with a value, then the NULLs.
            matches = _nulls_last_codes(engine, where, params, column, direction, offset,
                                        page_size)
            offset = 0
    source = "enterprises e"
    if matches is not None:
        # CROSS JOIN keeps json_each as the outer loop: look the matches up, never walk an index.
        source = "json_each(:matches) j CROSS JOIN enterprises e ON e.credit_code = j.value"
        params["matches"] = json.dumps(list(matches))
    params.update({"limit": page_size, "offset": offset, "rev_period": revenue_period or ""})
    df = _read(engine, f"""
        WITH page AS (
            SELECT e.credit_code, e.name_zh, e.name_en, e.zone_id, e.district_adcode,
                   e.segment, e.founded, e.employees, e.registered_capital, e.status,
                   e.provenance
            FROM {source} {where}
            ORDER BY {order}
            LIMIT :limit OFFSET :offset)
        SELECT p.*, r.revenue AS revenue_m,
               z.name_en AS zone_en, z.name_zh AS zone_zh,
               d.name_en AS district_en, d.name_zh AS district_zh,
               s.name_en AS segment_en, s.name_zh AS segment_zh
        FROM page p
        LEFT JOIN enterprise_revenue r ON r.credit_code = p.credit_code
             AND r.period = :rev_period
        LEFT JOIN zones z ON z.zone_id = p.zone_id
        LEFT JOIN districts d ON d.adcode = p.district_adcode
        LEFT JOIN segments s ON s.code = p.segment
        ORDER BY {order.replace('e.', 'p.')}""", params)
    return df


# -- sources and data ------------------------------------------------------------------------
def reported_facts(engine: Engine) -> pd.DataFrame:
    """Every current reported observation with its source, quote and confidence, and whether
    it is the series of record."""
    df = _read(engine, """
        SELECT o.id, o.metric, m.name_en, m.name_zh, o.scope_type, o.scope_id, o.scope_label,
               o.scope_relation, o.period,
               o.period_end, o.value, o.unit, m.unit_en, m.unit_zh, o.basis, o.kind,
               o.lower_bound, o.approximate, s.title AS source_title, s.publisher, s.url_or_publication, s.published,
               s.quote, s.confidence, s.caveat,
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


def etl_history(engine: Engine) -> pd.DataFrame:
    """Every ETL run, newest first."""
    return _read(engine, """
        SELECT id, kind, status, started_at, finished_at, data_period, drop_path, rows_read,
               rows_inserted, rows_updated, rows_rejected, message, rolled_back_at
        FROM etl_runs ORDER BY id DESC""")


def provenance_counts(engine: Engine) -> pd.DataFrame:
    """How many current observations there are by provenance (the methodology's first table)."""
    return _read(engine, """
        SELECT provenance, COUNT(*) AS observations, COUNT(DISTINCT metric) AS metrics,
               MIN(period) AS first_period, MAX(period) AS last_period
        FROM current_observations GROUP BY provenance ORDER BY provenance""")


# -- overview cards --------------------------------------------------------------------------
# How many reported output bases get a card (the most recent ones).
MAX_OUTPUT_CARDS = 2
# Money metrics that are not a measure of the industry's output (profit, plans, investment).
NOT_OUTPUT = re.compile(r"profit|planned|investment|target")
# Year-on-year growth of the industry as a whole (not of profit or of one sub-basis).
CITY_GROWTH = re.compile(r"^ai_industry_(?!profit).*growth_yoy$")


def overview_cards(engine: Engine) -> list[dict]:
    """The overview's KPI cards as plain dicts, each saying where its number comes from.

    Cards: the latest reported city output on each money basis (newest first, at most
    :data:`MAX_OUTPUT_CARDS`), the latest reported year-on-year growth (else the sample revenue
    growth), firms, registered models and computing power (sums over top-level zones, or the
    city's enterprise count). Keys: ``card``, ``metric``, ``name_en``, ``name_zh``, ``period``,
    ``value``, ``value_bn``, ``unit``, ``delta_pct``, ``delta_base_period``, ``provenance``,
    ``source_title``, ``source_published``, ``lower_bound``, ``approximate``.
    """
    cards: list[dict] = []
    reported = city_reported(engine)
    names = metrics(engine).set_index("code")
    money = reported[reported["value_bn"].notna()
                     & ~reported["metric"].str.contains(NOT_OUTPUT)]
    latest_money = []
    for metric, g in money.groupby("metric"):
        last = latest_with_delta(g)
        if last is not None:
            latest_money.append(last)
    latest_money.sort(key=lambda r: (r["period_end"], r["metric"]), reverse=True)
    for row in latest_money[:MAX_OUTPUT_CARDS]:
        cards.append({**row, "card": "output"})
    growth = reported[reported["metric"].str.contains(CITY_GROWTH)
                      & (reported["basis"] != "range")]
    if not growth.empty:
        row = growth.sort_values(["period_end", "metric"]).iloc[-1].to_dict()
        row.update(card="growth", delta_pct=None, delta_base_period=None)
        cards.append(row)
    else:
        revenue = series(engine, REVENUE, "city", [CITY_SCOPE_ID], basis="quarterly")
        grown = add_growth(revenue)
        if not grown.empty and grown["growth"].notna().any():
            row = grown[grown["growth"].notna()].iloc[-1].to_dict()
            row.update(card="growth", value=row["growth"], unit="percent", delta_pct=None,
                       delta_base_period=None, metric=REVENUE + "_growth")
            cards.append(row)
    firms = series(engine, COUNT, "city", [CITY_SCOPE_ID])
    if firms.empty:
        firms = zone_totals(engine, ZONE_FIRMS)
    for kind, frame in (("firms", firms), ("models", zone_totals(engine, ZONE_MODELS)),
                        ("computing", zone_totals(engine, ZONE_PFLOPS))):
        last = latest_with_delta(frame) if not frame.empty else None
        if last is None:
            continue
        last.setdefault("source_title", None)
        last.setdefault("source_published", None)
        last.setdefault("lower_bound", False)
        last.setdefault("approximate", False)
        last["card"] = kind
        cards.append(last)
    for card in cards:
        metric = card.get("metric")
        if metric in names.index:
            card["name_en"], card["name_zh"] = names.at[metric, "name_en"], names.at[
                metric, "name_zh"]
        else:
            card.setdefault("name_en", None)
            card.setdefault("name_zh", None)
    return cards
