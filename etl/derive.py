"""Aggregates recomputed on every load: enterprise revenue and active firms by scope.

For each quarter a drop touched, :func:`refresh_aggregates` recomputes

* ``enterprise_revenue``: the sum of the current revenue rows of that quarter (million CNY,
  basis ``quarterly``), and
* ``enterprise_count``: the enterprises in the register with status ``active`` and founded on
  or before the quarter's end (basis ``point``),

by city (``310000``), district, zone and segment, from the enterprise's current register entry.
Everything is SQL: one GROUP BY over the current revenue rows of the touched quarters into a
small temp table (quarter × district × zone × segment), then roll-ups of that table, so the
cost is one pass over the quarter's rows however many enterprises there are.

The results are observations of the source ``derived:enterprise-aggregates``. Only values that
changed get a new version (the old one is superseded by the run); a scope that no longer has any
enterprise gets a zero. Provenance follows the inputs: ``sample`` if any input row (revenue or
register entry) is sample, else ``derived``.

Caveat: the register has no history, so a firm count for a past quarter is taken from the
register as it stands at load time (firms deregistered since are not counted).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from etl.errors import AidashError
from models.tables import CITY_SCOPE_ID

DERIVED_SOURCE_KEY = "derived:enterprise-aggregates"
DERIVED_SOURCE = {
    "key": DERIVED_SOURCE_KEY,
    "title": "Aggregates of the enterprise register and revenue (computed on load)",
    "publisher": "aidash ETL (etl.derive)",
    "confidence": "medium",
    "caveat": ("Sums and counts over the enterprises in the loaded drops only; firm counts of "
               "past quarters use the register as it stood when they were computed."),
    "provenance": "derived",
}
REVENUE_METRIC = "enterprise_revenue"
COUNT_METRIC = "enterprise_count"
# Differences below this are float noise, not revisions (values are rounded to 6 decimals).
TOLERANCE = 1e-9
SCOPES = (  # scope_type, expression over the base table, filter
    ("city", f"'{CITY_SCOPE_ID}'", "1"),
    ("district", "CAST(district AS TEXT)", "district IS NOT NULL"),
    ("zone", "zone", "zone IS NOT NULL"),
    ("segment", "segment", "segment IS NOT NULL"),
)


@dataclass(frozen=True)
class DeriveCounts:
    """Derived observations written by one load."""

    inserted: int = 0
    updated: int = 0


def _quarter_end(period: str) -> str:
    year, quarter = int(period[:4]), int(period[5])
    return {1: f"{year}-03-31", 2: f"{year}-06-30", 3: f"{year}-09-30",
            4: f"{year}-12-31"}[quarter]


def ensure_derived_source(conn: sqlite3.Connection) -> int:
    """The id of the derived-aggregates source, inserted if missing."""
    row = conn.execute("SELECT id FROM sources WHERE key = ?", (DERIVED_SOURCE_KEY,)).fetchone()
    if row:
        return int(row[0])
    cols = ", ".join(DERIVED_SOURCE)
    marks = ", ".join("?" * len(DERIVED_SOURCE))
    cur = conn.execute(f"INSERT INTO sources ({cols}) VALUES ({marks})",
                       tuple(DERIVED_SOURCE.values()))
    return int(cur.lastrowid or 0)


def _units(conn: sqlite3.Connection) -> dict[str, str]:
    units = dict(conn.execute("SELECT code, unit_en FROM metrics WHERE code IN (?, ?)",
                              (REVENUE_METRIC, COUNT_METRIC)).fetchall())
    missing = [m for m in (REVENUE_METRIC, COUNT_METRIC) if m not in units]
    if missing:
        raise AidashError(f"metric {', '.join(missing)} is missing from the metrics table; "
                          "rebuild the database with `aidash init`")
    return units


def _revenue_base(conn: sqlite3.Connection) -> None:
    """Revenue sums of the quarters by (district, zone, segment) into ``temp.agg_base``.

    One pass over the current revenue rows of the quarters (the period index finds them). The
    register's dimensions are first numbered: ``agg_dim`` holds the few distinct
    (district, zone, segment, sample) tuples, ``agg_key`` maps each credit code to its tuple's
    number, so the big GROUP BY sorts (quarter, small integer) records instead of the
    dimension texts, and each row needs one lookup in a small key-only table.
    """
    for name in ("agg_dim", "agg_key"):
        conn.execute(f"DROP TABLE IF EXISTS temp.{name}")
    conn.execute("""
        CREATE TEMP TABLE agg_dim AS
        SELECT district_adcode AS district, zone_id AS zone, segment,
               provenance = 'sample' AS sample
        FROM enterprises GROUP BY 1, 2, 3, 4""")
    conn.execute("CREATE INDEX temp.agg_dim_key ON agg_dim (district, zone, segment, sample)")
    conn.execute("""CREATE TEMP TABLE agg_key (credit_code TEXT PRIMARY KEY, k INTEGER NOT NULL)
                    WITHOUT ROWID""")
    conn.execute("""
        INSERT INTO temp.agg_key
        SELECT e.credit_code, d.rowid FROM enterprises e
        JOIN temp.agg_dim d ON d.district IS e.district_adcode AND d.zone IS e.zone_id
         AND d.segment IS e.segment AND d.sample IS (e.provenance = 'sample')
        ORDER BY e.credit_code""")
    conn.execute(f"""
        INSERT INTO temp.agg_base
        SELECT '{REVENUE_METRIC}', g.period, d.district, d.zone, d.segment, g.value, g.n,
               g.n_ytd, g.any_sample OR d.sample
        FROM (SELECT r.period, k.k, SUM(r.revenue) AS value, COUNT(*) AS n,
                     SUM(r.from_ytd) AS n_ytd, MAX(r.provenance = 'sample') AS any_sample
              FROM enterprise_revenue r
              JOIN temp.agg_key k ON k.credit_code = r.credit_code
              WHERE r.period IN (SELECT period FROM temp.agg_periods
                                 WHERE metric = '{REVENUE_METRIC}')
                AND r.superseded_by IS NULL
              GROUP BY r.period, k.k) g
        JOIN temp.agg_dim d ON d.rowid = g.k""")
    for name in ("agg_dim", "agg_key"):
        conn.execute(f"DROP TABLE temp.{name}")


def refresh_aggregates(conn: sqlite3.Connection, run_id: int, *, revenue_periods: list[str],
                       count_periods: list[str]) -> DeriveCounts:
    """Recompute the aggregates of the given quarters inside the caller's transaction.

    :param conn: the load's connection, in its open write transaction.
    :param run_id: the run the new versions belong to.
    :param revenue_periods: quarters whose revenue sums to recompute.
    :param count_periods: quarters whose firm counts to recompute.
    :raises AidashError: if the metric catalogue lacks the two derived metrics.
    """
    if not revenue_periods and not count_periods:
        return DeriveCounts()
    units = _units(conn)
    source_id = ensure_derived_source(conn)
    for name in ("agg_periods", "agg_base", "agg_new", "agg_chg"):
        conn.execute(f"DROP TABLE IF EXISTS temp.{name}")
    conn.execute("CREATE TEMP TABLE agg_periods (metric TEXT, period TEXT, period_end TEXT)")
    conn.executemany("INSERT INTO temp.agg_periods VALUES (?, ?, ?)",
                     [(REVENUE_METRIC, p, _quarter_end(p)) for p in sorted(set(revenue_periods))]
                     + [(COUNT_METRIC, p, _quarter_end(p)) for p in sorted(set(count_periods))])
    conn.execute("""
        CREATE TEMP TABLE agg_base (metric TEXT, period TEXT, district INTEGER, zone TEXT,
                                    segment TEXT, value REAL, n INTEGER, n_ytd INTEGER,
                                    any_sample INTEGER)""")
    if revenue_periods:
        _revenue_base(conn)
    # Firm counts: one pass over the register into (district, zone, segment, quarter founded)
    # buckets, then each quarter counts the buckets founded by its end (period ends are
    # quarter ends, so comparing a founding date's quarter end is exact).
    conn.execute(f"""
        INSERT INTO temp.agg_base
        SELECT '{COUNT_METRIC}', p.period, b.district, b.zone, b.segment, SUM(b.n), SUM(b.n), 0,
               MAX(b.any_sample)
        FROM temp.agg_periods p
        JOIN (SELECT district_adcode AS district, zone_id AS zone, segment,
                     CASE WHEN founded IS NULL THEN '0000-00-00'
                          ELSE substr(founded, 1, 4) || CASE
                               WHEN substr(founded, 6, 2) <= '03' THEN '-03-31'
                               WHEN substr(founded, 6, 2) <= '06' THEN '-06-30'
                               WHEN substr(founded, 6, 2) <= '09' THEN '-09-30'
                               ELSE '-12-31' END END AS founded_by,
                     COUNT(*) AS n, MAX(provenance = 'sample') AS any_sample
              FROM enterprises WHERE status = 'active'
              GROUP BY 1, 2, 3, 4) b ON b.founded_by <= p.period_end
        WHERE p.metric = '{COUNT_METRIC}'
        GROUP BY p.period, b.district, b.zone, b.segment""")
    conn.execute("""
        CREATE TEMP TABLE agg_new (metric TEXT, scope_type TEXT, scope_id TEXT, period TEXT,
                                   value REAL, n INTEGER, n_ytd INTEGER, provenance TEXT)""")
    for scope_type, expr, where in SCOPES:
        conn.execute(f"""
            INSERT INTO temp.agg_new
            SELECT metric, '{scope_type}', {expr}, period, ROUND(SUM(value), 6), SUM(n),
                   SUM(n_ytd), CASE WHEN MAX(any_sample) THEN 'sample' ELSE 'derived' END
            FROM temp.agg_base WHERE {where}
            GROUP BY metric, {expr}, period""")
    # Current derived values of the same quarters: compare, supersede, insert.
    conn.execute("""
        CREATE TEMP TABLE agg_chg AS
        SELECT n.metric, n.scope_type, n.scope_id, n.period, n.value, n.n, n.n_ytd,
               n.provenance, o.id AS old_id,
               CASE WHEN o.id IS NULL THEN 'new'
                    WHEN abs(o.value - n.value) > :tol OR o.provenance IS NOT n.provenance
                    THEN 'changed' ELSE 'same' END AS action
        FROM temp.agg_new n
        LEFT JOIN observations o
          ON o.metric = n.metric AND o.scope_type = n.scope_type AND o.scope_id = n.scope_id
         AND o.period = n.period AND o.superseded_by IS NULL AND o.source_id = :source
        UNION ALL
        SELECT o.metric, o.scope_type, o.scope_id, o.period, 0.0, 0, 0, o.provenance, o.id,
               CASE WHEN o.value = 0 THEN 'same' ELSE 'changed' END
        FROM observations o
        JOIN temp.agg_periods p ON p.metric = o.metric AND p.period = o.period
        WHERE o.source_id = :source AND o.superseded_by IS NULL
          AND NOT EXISTS (SELECT 1 FROM temp.agg_new n
                          WHERE n.metric = o.metric AND n.scope_type = o.scope_type
                            AND n.scope_id = o.scope_id AND n.period = o.period)""",
                 {"tol": TOLERANCE, "source": source_id})
    conn.execute("""
        UPDATE observations SET superseded_by = :run
        WHERE id IN (SELECT old_id FROM temp.agg_chg WHERE action = 'changed')""",
                 {"run": run_id})
    conn.execute(f"""
        INSERT INTO observations (metric, scope_type, scope_id, scope_label, period, period_end,
               period_label, value, unit, basis, kind, lower_bound, approximate, provenance,
               method, source_id, etl_run_id, superseded_by)
        SELECT c.metric, c.scope_type, c.scope_id, NULL, c.period, p.period_end, NULL, c.value,
               CASE c.metric WHEN '{REVENUE_METRIC}' THEN :rev_unit ELSE :cnt_unit END,
               CASE c.metric WHEN '{REVENUE_METRIC}' THEN 'quarterly' ELSE 'point' END,
               'actual', 0, 0, c.provenance,
               CASE c.metric
                 WHEN '{REVENUE_METRIC}' THEN printf(
                   'Derived on load (run %d): sum of the current quarterly revenue of %d '
                   || 'enterprise(s) in this %s, by their district, zone and segment in the '
                   || 'register%s.', :run, c.n, c.scope_type,
                   CASE WHEN c.n_ytd > 0 THEN printf('; %d of the figures were converted '
                        || 'from year-to-date values', c.n_ytd) ELSE '' END)
                 ELSE printf(
                   'Derived on load (run %d): enterprises in the register with status active '
                   || 'and founded on or before %s, in this %s.', :run, p.period_end,
                   c.scope_type)
               END,
               :source, :run, NULL
        FROM temp.agg_chg c
        JOIN temp.agg_periods p ON p.metric = c.metric AND p.period = c.period
        WHERE c.action IN ('new', 'changed')
        ORDER BY c.metric, c.scope_type, c.scope_id, c.period""",
                 {"run": run_id, "source": source_id, "rev_unit": units[REVENUE_METRIC],
                  "cnt_unit": units[COUNT_METRIC]})
    inserted, updated = conn.execute(
        "SELECT coalesce(sum(action = 'new'), 0), coalesce(sum(action = 'changed'), 0) "
        "FROM temp.agg_chg").fetchone()
    for name in ("agg_periods", "agg_base", "agg_new", "agg_chg"):
        conn.execute(f"DROP TABLE IF EXISTS temp.{name}")
    if not conn.execute("SELECT 1 FROM observations WHERE source_id = ? LIMIT 1",
                        (source_id,)).fetchone():
        conn.execute("DELETE FROM sources WHERE id = ?", (source_id,))
    return DeriveCounts(int(inserted), int(updated))
