"""Aggregates recomputed on every load: enterprise revenue and active firms by scope.

For each quarter a drop touched, :func:`refresh_aggregates` recomputes

* ``enterprise_revenue``: the sum of the current revenue rows of that quarter (million CNY,
  basis ``quarterly``), and
* ``enterprise_count``: the enterprises in the register with status ``active`` and founded on
  or before the quarter's end (basis ``point``),

by city (``310000``), district, zone and segment, from the enterprise's current register entry.
The register's dimensions are read once (one row per firm) and numbered; the revenue rows of
the touched quarters (the drop's own rows when they are the whole of their quarters, else the
stored current rows) are summed by (quarter, dimension number) with ``numpy.bincount``, so the
cost is one pass over the quarter's rows and one over the register. The few hundred sums go
into a temp table, and SQL rolls them up to the four scope levels and compares them with the
current values.

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

import numpy as np
import pandas as pd

from etl.drops.code_bytes import CODE_LEN, positions
from etl.drops.founded_by import UNKNOWN_DATE, founded_by
from models.errors import AidashError
from models.metrics import COUNT_METRIC, REVENUE_METRIC
from models.periods import quarter_end, split_quarter
from models.tables import CITY_SCOPE_ID

DERIVED_SOURCE_KEY = "derived:enterprise-aggregates"
DERIVED_SOURCE = {
    "key": DERIVED_SOURCE_KEY,
    "title": "Aggregates of the enterprise register and revenue (computed on load)",
    "publisher": "aidash ETL (etl.drops.derive)",
    "confidence": "medium",
    "caveat": ("Sums and counts over the enterprises in the loaded drops only; firm counts of "
               "past quarters use the register as it stood when they were computed."),
    "provenance": "derived",
}
# Differences below this are float noise, not revisions (values are rounded to 6 decimals).
TOLERANCE = 1e-9
SCOPES = (  # scope_type, expression over the base table, filter
    ("city", f"CAST('{CITY_SCOPE_ID}' AS TEXT)", "1 = 1"),
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
    """``2025Q2`` → ``2025-06-30``."""
    return quarter_end(*split_quarter(period)).isoformat()


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


REGISTER_COLUMNS = ("credit_code", "district", "zone", "segment", "sample", "active",
                    "founded_by")
BASE_COLUMNS = ("metric", "period", "district", "zone", "segment", "value", "n", "n_ytd",
                "any_sample")
REVENUE_COLUMNS = ("credit_code", "period", "revenue", "from_ytd", "provenance")
DIMS = ["district", "zone", "segment"]


_CODE_LEN = CODE_LEN


def read_register(conn: sqlite3.Connection, where: str = "1 = 1") -> pd.DataFrame:
    """The register's dimensions, one row per enterprise, read once for both metrics.

    ``founded_by`` is the end of the quarter the firm was founded in ('0000-00-00' when the
    date is unknown: counted in every quarter), so "founded by the quarter's end" is a
    comparison of ISO date texts. ``dim`` numbers the (district, zone, segment, sample)
    tuples.

    The columns come back from SQLite as one text each (fields concatenated in one scan),
    not as a Python tuple per firm: at a million firms 1.4 s instead of 2.4 s.

    :param where: which firms (SQL over the table's columns; default every one).
    """
    codes, dims, active, founded, n = conn.execute(f"""
        SELECT group_concat(credit_code, ''),
               group_concat(coalesce(CAST(district_adcode AS TEXT), '') || '|'
                            || coalesce(zone_id, '') || '|' || coalesce(segment, '') || '|'
                            || CASE WHEN provenance = 'sample' THEN '1' ELSE '0' END,
                            char(10)),
               group_concat(CASE WHEN status = 'active' THEN '1' ELSE '0' END, ''),
               group_concat(coalesce(CAST(founded AS TEXT), '{UNKNOWN_DATE}'), ''),
               count(*)
        FROM enterprises WHERE {where}""").fetchone()
    if not n:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in (*REGISTER_COLUMNS, "dim")})
    code_bytes = codes.encode("ascii", errors="replace")
    dim_texts = dims.split("\n")
    if (len(code_bytes) != n * _CODE_LEN or len(dim_texts) != n or len(active) != n
            or len(founded) != n * 10):
        raise AidashError("the register holds a credit code that is not 18 ASCII characters "
                          "or a date that is not ISO; the database is inconsistent (run "
                          "`aidash etl history` and roll the last load back)")
    dim, tuples = pd.factorize(pd.Series(dim_texts, dtype=object), sort=False)
    del dim_texts
    parts = pd.Series(tuples, dtype=object).str.split("|", expand=True)
    parts.columns = ["district", "zone", "segment", "sample"]
    parts["district"] = pd.to_numeric(parts["district"].replace("", None)).astype("Int64")
    parts["zone"] = parts["zone"].replace("", None)
    parts["sample"] = parts["sample"] == "1"
    register = parts.iloc[dim].reset_index(drop=True)
    register.insert(0, "credit_code",
                    np.frombuffer(code_bytes, dtype=f"S{_CODE_LEN}").astype(f"U{_CODE_LEN}"))
    register["active"] = np.frombuffer(active.encode("ascii"), dtype=np.uint8) == ord("1")
    register["founded_by"] = founded_by(np.frombuffer(founded.encode("ascii", errors="replace"),
                                                       dtype="S10"))
    register["dim"] = dim
    return register


def register_of(firms: pd.DataFrame) -> pd.DataFrame:
    """What :func:`read_register` would read back from a register that holds exactly
    ``firms``, made from them in memory (a first load, which wrote the whole register).

    :param firms: one row per firm, in any order, with the values stored:
        credit_code, district_adcode, zone_id, segment, founded (ISO text or missing),
        status, provenance.
    """
    district = pd.array(firms["district_adcode"], dtype="Int64")
    zone = firms["zone_id"].astype(object)
    zone = zone.where(zone.notna(), None)
    sample = (firms["provenance"] == "sample").to_numpy(dtype=bool)
    # The segment as the values it holds (not converted to another kind of text).
    segment = firms["segment"].reset_index(drop=True)
    parts = pd.DataFrame({"district": district, "zone": zone.reset_index(drop=True),
                          "segment": segment, "sample": sample})
    dim = _dims(parts)
    register = parts.reset_index(drop=True)
    register.insert(0, "credit_code", firms["credit_code"].reset_index(drop=True))
    register["active"] = (firms["status"] == "active").to_numpy(dtype=bool)
    founded = firms["founded"].astype(object)
    founded = founded.where(founded.notna(), UNKNOWN_DATE).to_numpy(dtype="S10")
    register["founded_by"] = founded_by(founded)
    register["dim"] = dim
    return register


def register_beside(conn: sqlite3.Connection, view: pd.DataFrame,
                    codes: np.ndarray) -> pd.DataFrame | None:
    """What :func:`read_register` would read back, from ``view`` (what :func:`register_of`
    made of firms the table holds with exactly those values) and the stored firms that are
    not in it, read back alone. Only the credit codes of the whole table are read (the sample
    firms beside a register of a million, say, are a few thousand).

    :param codes: the credit codes of ``view``, sorted, as 18-byte strings
        (:func:`etl.drops.code_bytes.codes_of` its stage table, or
        :func:`etl.drops.code_bytes.sorted_codes`).
    :returns: None when the table does not hold every firm of ``view``.
    """
    # In key order (the primary key's index), so that the codes are looked up in order.
    blob, n = conn.execute("""SELECT group_concat(credit_code, ''), count(*) FROM (
                                  SELECT credit_code FROM enterprises ORDER BY credit_code
                              ) AS stored""").fetchone()
    if not n:
        return None
    raw = blob.encode("ascii", errors="replace")
    if len(raw) != n * _CODE_LEN or len(codes) != len(view) or not len(codes):
        return None
    stored = np.frombuffer(raw, dtype=f"S{_CODE_LEN}")
    found = codes[np.minimum(np.searchsorted(codes, stored), len(codes) - 1)] == stored
    if int(found.sum()) != len(view):
        return None
    if found.all():
        return view
    conn.execute("DROP TABLE IF EXISTS temp.reg_others")
    conn.execute("CREATE TEMP TABLE reg_others (credit_code TEXT PRIMARY KEY)")
    conn.executemany("INSERT INTO temp.reg_others VALUES (?)",
                     ((c.decode("ascii"),) for c in stored[~found]))
    others = read_register(conn, "credit_code IN (SELECT credit_code FROM temp.reg_others)")
    conn.execute("DROP TABLE temp.reg_others")
    return joined(view, others)


def joined(first: pd.DataFrame, *rest: pd.DataFrame) -> pd.DataFrame:
    """Registers made apart (:func:`read_register`, :func:`register_of`) as one, its
    ``dim`` numbering the tuples of all of them as :func:`_dims` of the whole would. Only
    one row per tuple of ``first`` is numbered again with the others (``first`` a million
    firms, the rest a few thousand), and ``first``'s numbers are mapped."""
    heads = first.drop_duplicates("dim")
    dims = _dims(pd.concat([heads, *rest], ignore_index=True))
    renumber = np.zeros(int(first["dim"].max()) + 1 if len(first) else 0, dtype=np.int64)
    renumber[heads["dim"].to_numpy()] = dims[:len(heads)]
    register = pd.concat([p.drop(columns="dim") for p in (first, *rest)], ignore_index=True)
    register["dim"] = np.concatenate([renumber[first["dim"].to_numpy()], dims[len(heads):]])
    return register


def _dims(parts: pd.DataFrame) -> np.ndarray:
    """A number per (district, zone, segment, sample) tuple, in order of first appearance
    (as the factorised texts of :func:`read_register`): one integer key per row, from each
    column's own numbering."""
    key = np.zeros(len(parts), dtype=np.int64)
    for column in ("district", "zone", "segment", "sample"):
        codes, uniques = pd.factorize(parts[column])
        key = key * (len(uniques) + 1) + (codes.astype(np.int64) + 1)
    return pd.factorize(key)[0]


def _stored_revenue(conn: sqlite3.Connection, periods: list[str]) -> pd.DataFrame:
    """The revenue rows of ``periods`` as stored (each quarter is one range of the table)."""
    return pd.concat([_revenue_rows(conn, "period = ?", [period]) for period in periods],
                     ignore_index=True)


def _revenue_rows(conn: sqlite3.Connection, where: str, params: list[object]) -> pd.DataFrame:
    """Stored revenue rows matching ``where``, with a boolean ``sample`` for the provenance."""
    rows = conn.execute(f"""SELECT credit_code, period, revenue, from_ytd, provenance = 'sample'
                            FROM enterprise_revenue WHERE {where}""", params).fetchall()
    return pd.DataFrame.from_records(rows, columns=["credit_code", "period", "revenue",
                                                    "from_ytd", "sample"])


def other_runs_revenue(conn: sqlite3.Connection, drop_rows: int, periods: list[str],
                       run_id: int, *, all_written: bool = False) -> pd.DataFrame | None:
    """After run ``run_id`` merged ``drop_rows`` revenue rows into ``periods``, the stored
    rows of those quarters that other runs wrote, when every row of the drop was new or
    changed (each then carries ``run_id``, so the two sets are apart and together are every
    current row); None when some were resent unchanged and kept their earlier run.

    Far fewer rows than the quarters hold when a large drop lands in quarters a small one
    filled (a register's first load onto the bundled sample), so the aggregates need not
    read every row of them back.

    :param all_written: every row of the drop is known to be new (none could be stored
        before), so the count of the rows this run wrote is not taken again.
    """
    marks = ", ".join("?" * len(periods))
    if not all_written:  # else known: every row of the drop was new (not counted again)
        written = conn.execute(f"""SELECT count(*) FROM enterprise_revenue
                                   WHERE period IN ({marks}) AND etl_run_id = ?""",
                               [*periods, run_id]).fetchone()[0]
        if written != drop_rows:
            return None
    return _revenue_rows(conn, f"period IN ({marks}) AND etl_run_id <> ?", [*periods, run_id])


def _revenue_base(register: pd.DataFrame, revenue: pd.DataFrame) -> pd.DataFrame:
    """Revenue sums by (quarter, district, zone, segment): one grouped pass over the rows.

    :param revenue: current revenue rows (credit_code, period, revenue, from_ytd, and a
        boolean ``sample``); every credit code is in the register (a foreign key).
    """
    codes = revenue["credit_code"]
    if isinstance(codes.dtype, pd.CategoricalDtype):
        # Look each distinct code up once, then index by the category codes.
        position = positions(register["credit_code"], codes.cat.categories)
        cat_codes = codes.cat.codes.to_numpy()
        row_pos = np.where(cat_codes < 0, -1, position[cat_codes])
    else:
        row_pos = positions(register["credit_code"], codes)
    if (row_pos < 0).any():
        missing = codes.iloc[int(np.flatnonzero(row_pos < 0)[0])]
        raise AidashError(f"revenue of {missing} has no register entry; the database is "
                          "inconsistent (run `aidash etl history` and roll the last load back)")
    dim = register["dim"].to_numpy()[row_pos]
    # One integer key per (quarter, dimension tuple); sums and counts by bincount.
    period_code, periods = pd.factorize(revenue["period"])
    n_dims = int(register["dim"].max()) + 1
    key = period_code.astype(np.int64) * n_dims + dim
    size = len(periods) * n_dims
    value = np.bincount(key, weights=revenue["revenue"].to_numpy(dtype="float64"),
                        minlength=size)
    n = np.bincount(key, minlength=size)
    n_ytd = np.bincount(key, weights=revenue["from_ytd"].to_numpy(dtype="float64"),
                        minlength=size)
    n_sample = np.bincount(key, weights=revenue["sample"].to_numpy(dtype="float64"),
                           minlength=size)
    present = np.flatnonzero(n)
    dims = register.drop_duplicates("dim").set_index("dim")[DIMS + ["sample"]]
    base = dims.loc[present % n_dims].reset_index(drop=True)
    base["period"] = np.asarray(periods, dtype=object)[present // n_dims]
    base["value"] = value[present]
    base["n"] = n[present]
    base["n_ytd"] = n_ytd[present].astype(np.int64)
    base["any_sample"] = (n_sample[present] > 0) | base["sample"].astype(bool).to_numpy()
    base["metric"] = REVENUE_METRIC
    return base


def _count_base(register: pd.DataFrame, periods: list[str]) -> pd.DataFrame:
    """Active firms founded by each quarter's end, by (district, zone, segment)."""
    active = register[register["active"].astype(bool)]
    buckets = active.groupby(DIMS + ["founded_by"], dropna=False, sort=True).agg(
        n=("credit_code", "size"), any_sample=("sample", "max")).reset_index()
    parts = []
    for period in periods:
        upto = buckets[buckets["founded_by"] <= _quarter_end(period)]
        part = upto.groupby(DIMS, dropna=False, sort=True).agg(
            n=("n", "sum"), any_sample=("any_sample", "max")).reset_index()
        part["period"] = period
        parts.append(part)
    counts = pd.concat(parts, ignore_index=True)
    counts["value"] = counts["n"].astype("float64")
    counts["n_ytd"] = 0
    counts["metric"] = COUNT_METRIC
    return counts


def _base_rows(frame: pd.DataFrame) -> list[tuple[object, ...]]:
    """``agg_base`` rows as Python values (NaN and NA as NULL)."""
    out = frame[list(BASE_COLUMNS)].astype(object)
    out = out.where(pd.notna(out), None)
    rows: list[tuple[object, ...]] = []
    for rec in out.itertuples(index=False, name=None):
        metric, period, district, zone, segment, value, n, n_ytd, any_sample = rec
        rows.append((metric, period, None if district is None else int(district), zone,
                     segment, float(value), int(n), int(n_ytd), int(bool(any_sample))))
    return rows


def aggregate_rows(register: pd.DataFrame, revenue_rows: pd.DataFrame | None,
                   revenue_periods: list[str], count_periods: list[str]) -> list[tuple[object, ...]]:
    """Revenue sums and firm counts by (metric, quarter, district, zone, segment), the rows
    of ``temp.agg_base``; pure (no database), so a caller may compute them in another thread.

    :param register: as :func:`read_register` returns it.
    :param revenue_rows: every current revenue row of ``revenue_periods`` (credit_code,
        period, revenue, from_ytd and provenance or a boolean ``sample``).
    """
    bases = []
    if revenue_periods and revenue_rows is not None and len(revenue_rows):
        if "sample" not in revenue_rows:
            revenue_rows = revenue_rows.assign(
                sample=(revenue_rows["provenance"] == "sample").to_numpy())
        bases.append(_revenue_base(register, revenue_rows))
    if count_periods and len(register):
        bases.append(_count_base(register, sorted(set(count_periods))))
    return [row for base in bases for row in _base_rows(base)]


def refresh_aggregates(conn: sqlite3.Connection, run_id: int, *, revenue_periods: list[str],
                       count_periods: list[str], revenue_rows: pd.DataFrame | None = None,
                       register: pd.DataFrame | None = None,
                       base_rows: list[tuple[object, ...]] | None = None) -> DeriveCounts:
    """Recompute the aggregates of the given quarters inside the caller's transaction.

    :param conn: the load's connection, in its open write transaction.
    :param run_id: the run the new versions belong to.
    :param revenue_periods: quarters whose revenue sums to recompute.
    :param count_periods: quarters whose firm counts to recompute.
    :param revenue_rows: every current revenue row of ``revenue_periods`` (columns
        credit_code, period, revenue, from_ytd, provenance), when the caller holds them (a
        load that brought those quarters whole); read from the database when None.
    :param register: the register as :func:`read_register` returned it, when the caller read
        it already (after the last change to the register); read here when None.
    :param base_rows: what :func:`aggregate_rows` returns for these quarters, when the caller
        computed it already (then ``register`` and ``revenue_rows`` are not used).
    :raises AidashError: if the metric catalogue lacks the two derived metrics.
    """
    if not revenue_periods and not count_periods:
        return DeriveCounts()
    units = _units(conn)
    source_id = ensure_derived_source(conn)
    for name in ("agg_periods", "agg_base", "agg_new", "agg_chg"):
        conn.execute(f"DROP TABLE IF EXISTS temp.{name}")
    conn.execute("CREATE TEMP TABLE agg_periods (metric TEXT, period TEXT, period_end DATE)")
    conn.executemany("INSERT INTO temp.agg_periods VALUES (?, ?, ?)",
                     [(REVENUE_METRIC, p, _quarter_end(p)) for p in sorted(set(revenue_periods))]
                     + [(COUNT_METRIC, p, _quarter_end(p)) for p in sorted(set(count_periods))])
    conn.execute("""
        CREATE TEMP TABLE agg_base (metric TEXT, period TEXT, district INTEGER, zone TEXT,
                                    segment TEXT, value REAL, n INTEGER, n_ytd INTEGER,
                                    any_sample INTEGER)""")
    if base_rows is None:
        if register is None:
            register = read_register(conn)
        if revenue_periods and revenue_rows is None:
            revenue_rows = _stored_revenue(conn, sorted(set(revenue_periods)))
        base_rows = aggregate_rows(register, revenue_rows, revenue_periods, count_periods)
    del register, revenue_rows
    if base_rows:
        conn.executemany(f"INSERT INTO temp.agg_base VALUES ({', '.join('?' * 9)})", base_rows)
    del base_rows
    conn.execute("""
        CREATE TEMP TABLE agg_new (metric TEXT, scope_type TEXT, scope_id TEXT, period TEXT,
                                   value REAL, n INTEGER, n_ytd INTEGER, provenance TEXT)""")
    for scope_type, expr, where in SCOPES:
        conn.execute(f"""
            INSERT INTO temp.agg_new
            SELECT metric, '{scope_type}', {expr}, period, ROUND(SUM(value), 6), SUM(n),
                   SUM(n_ytd), CASE WHEN MAX(any_sample) > 0 THEN 'sample' ELSE 'derived' END
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
               'actual', false, false, c.provenance,
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
        "SELECT coalesce(sum(CASE WHEN action = 'new' THEN 1 ELSE 0 END), 0), "
        "coalesce(sum(CASE WHEN action = 'changed' THEN 1 ELSE 0 END), 0) "
        "FROM temp.agg_chg").fetchone()
    for name in ("agg_periods", "agg_base", "agg_new", "agg_chg"):
        conn.execute(f"DROP TABLE IF EXISTS temp.{name}")
    if not conn.execute("SELECT 1 FROM observations WHERE source_id = ? LIMIT 1",
                        (source_id,)).fetchone():
        conn.execute("DELETE FROM sources WHERE id = ?", (source_id,))
    return DeriveCounts(int(inserted), int(updated))
