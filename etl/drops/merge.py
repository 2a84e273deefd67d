"""The set-based merges of a staged drop into the database (see :mod:`etl.drops.load`).

Each merge reads one stage table (``stage_<name>.<name>``, written by
:class:`etl.drops.stage.Stage`) and, inside the load's transaction, writes only what changed:
enterprises and revenue are upserted on their keys (the before-image of a changed row goes to
``enterprise_versions`` or ``enterprise_revenue_versions``), zone metrics get a new version
where a value changed (the old row is superseded by the run). When a drop brings only new
keys, the rows go straight in, and a write that at least doubles a table rebuilds its indexes
afterwards (:func:`etl.drops.stage.indexes_rebuilt`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from etl.drops.convert import sorted_factorize
from etl.drops.stage import indexes_rebuilt
from etl.drops.steps import Steps
from etl.drops.validate import ENTERPRISE_OPTIONAL
from models.dialect import PgConnection
from models.errors import AidashError


@dataclass(frozen=True)
class Staged:
    """One frame in the stage: its table (``stage_<name>.<name>``) and its rows per drop file."""

    table: str
    rows_by_file: dict[int, int]
    # Revenue: how many staged rows may be stored already, flagged ``cmp = 1`` in the stage
    # (see :func:`may_be_stored`); None when the stage has no flag and every row of a quarter
    # holding rows is compared.
    to_compare: int | None = None
    # Register: how many of the drop's rows were left out of the stage as equal to their
    # committed rows (``etl.drops.committed_register``); the stage holds the others.
    left_out: int = 0
    # Register: the drop's credit codes (staged or left out) as sorted 18-byte strings, if
    # known (``etl.drops.code_bytes``).
    codes: np.ndarray | None = field(default=None, compare=False)
    # Register: each staged row carries whether it is new or changed (``action``) and keeps
    # its indexed columns (``keys_kept``), its values being those to store (see
    # ``etl.drops.background.stage_changed``).
    classified: bool = False

    def inserted(self) -> dict[int, tuple[int, int]]:
        """(inserted, updated) per file when every row is new."""
        return {t: (n, 0) for t, n in self.rows_by_file.items()}


@dataclass(frozen=True)
class Written(Staged):
    """Rows written straight into their table (``etl.drops.pg_direct``): nothing to merge."""


ENT_COLUMNS = ("name_zh", "name_en", "zone_id", "district_adcode", "segment", "founded",
               "registered_capital", "employees", "status", "provenance")
# The register's columns that one of its indexes holds (models/tables.py, Enterprise).
ENT_INDEXED = ("name_zh", "zone_id", "district_adcode", "segment", "founded")


def resends_every_value(frame: pd.DataFrame) -> bool:
    """Whether the merge stores the frame's own values for each of its firms, whatever was
    stored before: every optional column given, and a status and a provenance on every row."""
    every_bit = (1 << len(ENTERPRISE_OPTIONAL)) - 1
    return bool(((frame["given"].to_numpy() & every_bit) == every_bit).all()
                and frame["status"].notna().all() and frame["provenance"].notna().all())


def merge_enterprises(conn: sqlite3.Connection, staged: Staged, *, run_id: int,
                      source_id: int, default_provenance: str,
                      steps: Steps | None = None) -> dict[int, tuple[int, int]]:
    """Upsert the register on the credit code; before-images of changed rows are versioned.

    A column the file does not have keeps the stored value (the ``given`` bit mask says which
    optional columns each row's file has); a new firm without a status is ``active``.
    When none of the drop's credit codes is in the register yet, the rows go straight from
    the stage into the register (no change detection needed). When the stage says already
    which rows are new or changed (``staged.classified``), they are written from it as they
    are.

    :param staged: the staged register in credit-code order (see
        :func:`etl.drops.background.stage_frame`).
    :param steps: the load's steps, to time an index rebuild.
    :returns: (inserted, updated) per table index ``t``.
    """
    table = staged.table
    check_references(conn, staged, "enterprises")
    all_cols = ", ".join(ENT_COLUMNS)
    params = {"run": run_id, "source": source_id, "prov": default_provenance}
    known = conn.execute(f"""SELECT EXISTS (SELECT 1 FROM {table} s
                             JOIN main.enterprises e ON e.credit_code = s.credit_code)""").fetchone()[0]
    if not known:
        exprs = _ent_exprs(stored=False)
        with indexes_rebuilt(conn, "enterprises", sum(staged.rows_by_file.values()),
                             steps=steps):
            conn.execute(f"""INSERT INTO main.enterprises (credit_code, {all_cols}, source_id,
                                etl_run_id)
                SELECT s.credit_code, {', '.join(exprs[c] for c in ENT_COLUMNS)}, :source, :run
                FROM {table} s ORDER BY s.rowid""", params)
        return staged.inserted()
    if staged.classified:
        # Each row new or changed already, with the values to store: read from the stage.
        return _write_register(conn, table, params, steps)
    exprs = _ent_exprs(stored=True)
    differs = " OR ".join(f"({exprs[c]}) IS NOT e.{c}" for c in ENT_COLUMNS)
    conn.execute("DROP TABLE IF EXISTS temp.ent_new")
    # A staged row equal to the stored one in every column is the same whatever its file
    # gave (a column not given keeps the stored value; status and provenance are never
    # NULL in the table): such rows, a register resent unchanged, are passed over by plain
    # comparisons before the per-column rules are worked out (at 1M firms about 40 % of the
    # statement's time).
    raw_same = " AND ".join(f"s.{c} IS e.{c}" for c in ENT_COLUMNS)
    # Whether a changed row keeps every indexed column: it is then updated without touching
    # the register's indexes (see below).
    keys_kept = " AND ".join(f"({exprs[c]}) IS e.{c}" for c in ENT_INDEXED)
    select = f"""
        SELECT s.t, s.credit_code, {', '.join(f'{x} AS {c}' for c, x in exprs.items())},
               CASE WHEN e.credit_code IS NULL THEN 'new'
                    WHEN {differs} THEN 'changed' ELSE 'same' END AS action,
               CASE WHEN e.credit_code IS NOT NULL AND {keys_kept} THEN 1 ELSE 0 END
                   AS keys_kept
        FROM {table} s LEFT JOIN main.enterprises e
          ON e.credit_code = s.credit_code
        WHERE NOT (e.credit_code IS NOT NULL AND {raw_same}) ORDER BY s.rowid"""
    # Only the rows that change anything: a register resent unchanged writes no temp table
    # of a million rows. Every statement below reads only 'new' and 'changed' rows.
    select = f"SELECT * FROM ({select}) AS staged WHERE action <> 'same'"
    conn.execute(f"CREATE TEMP TABLE ent_new AS {select}", params)
    counts = _write_register(conn, "temp.ent_new", params, steps)
    conn.execute("DROP TABLE temp.ent_new")
    return counts


def _write_register(conn: sqlite3.Connection, rows: str, params: dict[str, object],
                    steps: Steps | None) -> dict[int, tuple[int, int]]:
    """Write the register rows of table ``rows``, each new or changed (``action``), with the
    values to store and whether a changed one keeps its indexed columns (``keys_kept``): the
    before-images of changed rows versioned, changed rows updated, new rows inserted.

    :returns: (inserted, updated) per table index ``t``.
    """
    all_cols = ", ".join(ENT_COLUMNS)
    conn.execute(f"""INSERT INTO enterprise_versions (credit_code, superseded_by, {all_cols},
                        source_id, etl_run_id)
        SELECT e.credit_code, :run, {', '.join(f'e.{c}' for c in ENT_COLUMNS)}, e.source_id,
               e.etl_run_id
        FROM main.enterprises e JOIN {rows} n ON n.credit_code = e.credit_code
        WHERE n.action = 'changed'""", params)
    # A revision that keeps every indexed column (one more employee, a new status) sets only
    # the other columns, so that SQLite leaves the register's five indexes alone: setting
    # every column rewrote an entry in each of them per changed firm (at 1M firms with 5 %
    # revised, 2.7 s instead of 0.5 s, and as many more pages to write at commit).
    for kept, columns in ((0, ENT_COLUMNS),
                          (1, tuple(c for c in ENT_COLUMNS if c not in ENT_INDEXED))):
        conn.execute(f"""UPDATE main.enterprises
            SET {', '.join(f'{c} = n.{c}' for c in columns)}, source_id = :source,
                etl_run_id = :run
            FROM {rows} n
            WHERE n.credit_code = enterprises.credit_code AND n.action = 'changed'
              AND n.keys_kept = {kept}""", params)
    n_new = conn.execute(f"SELECT count(*) FROM {rows} WHERE action = 'new'").fetchone()[0]
    with indexes_rebuilt(conn, "enterprises", n_new, steps=steps):
        conn.execute(f"""INSERT INTO main.enterprises (credit_code, {all_cols}, source_id,
                            etl_run_id)
            SELECT credit_code, {all_cols}, :source, :run FROM {rows}
            WHERE action = 'new' ORDER BY rowid""", params)
    return file_counts(conn, f"SELECT t, {count_where('new')}, {count_where('changed')} "
                             f"FROM {rows} GROUP BY t")


def _ent_exprs(*, stored: bool) -> dict[str, str]:
    """The register columns a staged row ``s`` writes, over the stored row ``e`` (or, when
    ``stored`` is false, over no stored row: a new firm)."""
    bit = {c: 1 << i for i, c in enumerate(ENTERPRISE_OPTIONAL)}

    def old(c: str) -> str:
        return f"e.{c}" if stored else "NULL"

    exprs = {
        "name_zh": "s.name_zh",
        "district_adcode": "s.district_adcode",
        "segment": "s.segment",
        "status": f"coalesce(CASE WHEN (s.given & {bit['status']}) <> 0 THEN s.status END, "
                  f"{old('status')}, 'active')",
        "provenance": f"coalesce(CASE WHEN (s.given & {bit['provenance']}) <> 0 THEN s.provenance END, "
                      f"{old('provenance')}, :prov)",
    }
    for c in ("name_en", "zone_id", "founded", "registered_capital", "employees"):
        exprs[c] = f"CASE WHEN (s.given & {bit[c]}) <> 0 THEN s.{c} ELSE {old(c)} END"
    return exprs


REV_COLUMNS = ("period", "credit_code", "revenue", "from_ytd", "provenance")
# The revenue table's key, in its order: a drop's rows are staged in this order.
REV_KEY = ("period", "credit_code")


def key_order(frame: pd.DataFrame, keys: Sequence[str]) -> np.ndarray | None:
    """Row positions sorting ``frame`` by ``keys`` (stable, missing values last), as
    ``sort_values(keys, kind="stable")`` would order them, computed on integer codes; None
    when the frame is in that order already (files are usually written sorted)."""
    sort_keys = []
    for k in keys:
        column = frame[k]
        if (isinstance(column.dtype, pd.CategoricalDtype)
                and column.cat.categories.is_monotonic_increasing):
            codes = column.cat.codes.to_numpy().astype(np.int64)
            n = len(column.cat.categories)
        else:
            codes, uniques = sorted_factorize(column)
            n = len(uniques)
        sort_keys.append(np.where(codes < 0, n, codes))
    if _is_sorted(sort_keys):
        return None
    # One int64 key (the first key most significant), sorted stably: faster than np.lexsort.
    combined = np.zeros(len(frame), dtype=np.int64)
    for key in sort_keys:
        combined = combined * (int(key.max(initial=0)) + 1) + key
    return np.argsort(combined, kind="stable")


def _is_sorted(sort_keys: Sequence[np.ndarray]) -> bool:
    """Whether the rows are in lexicographic order of the integer keys (one linear pass)."""
    if not sort_keys or len(sort_keys[0]) < 2:
        return True
    ordered = np.zeros(len(sort_keys[0]) - 1, dtype=bool)  # strictly ordered on earlier keys
    for key in sort_keys:
        step = np.diff(key)
        if ((step < 0) & ~ordered).any():
            return False
        ordered |= step > 0
    return True


def stored_periods(conn: sqlite3.Connection, periods: Sequence[str]) -> list[str]:
    """The quarters among ``periods`` that hold revenue already (each quarter is one range of
    the table's key, so each check reads one row at most)."""
    return [p for p in periods if conn.execute(
        "SELECT EXISTS (SELECT 1 FROM main.enterprise_revenue WHERE period = ?)",
        (p,)).fetchone()[0]]


def revenue_stored(conn: sqlite3.Connection, periods: Sequence[str]) -> bool:
    """Whether any revenue of these quarters is stored (if not, a drop's rows of them go
    straight in and are then the whole of their quarters)."""
    return bool(stored_periods(conn, periods))


def may_be_stored(conn: sqlite3.Connection, frame: pd.DataFrame,
                  periods: Sequence[str]) -> np.ndarray:
    """Which of a drop's revenue rows may be stored already (1) and which cannot (0): only a
    row of a quarter that holds rows, for a firm with a row in one of those quarters, can.

    Worked out on the validated frame before it is staged (the flag is staged with it), so
    the merge compares those rows alone and writes the rest without a lookup: a register's
    first load onto quarters that hold a few thousand sample firms compares none of its
    millions of rows; a refresh restating last quarter for some firms compares only theirs.
    When the quarters hold at least as many rows as the drop brings to them, every drop row
    of those quarters is flagged without reading the stored firms.
    """
    flag = np.zeros(len(frame), dtype=np.int8)
    stored = stored_periods(conn, periods)
    in_stored = frame["period"].isin(stored).to_numpy() if stored else None
    if in_stored is None or not in_stored.any():
        return flag
    marks = ", ".join("?" * len(stored))
    in_quarters = int(in_stored.sum())
    stored_rows = conn.execute(
        f"SELECT count(*) FROM main.enterprise_revenue WHERE period IN ({marks})",
        list(stored)).fetchone()[0]
    if stored_rows >= in_quarters:
        # The quarters hold at least as many rows as the drop brings to them (a restatement
        # of some firms): comparing those rows costs less than reading every stored firm.
        flag[in_stored] = 1
        return flag
    known = [code for (code,) in conn.execute(
        f"SELECT DISTINCT credit_code FROM main.enterprise_revenue WHERE period IN ({marks})",
        list(stored))]
    flag[in_stored & frame["credit_code"].isin(known).to_numpy()] = 1
    return flag


def merge_revenue(conn: sqlite3.Connection, staged: Staged, periods: Sequence[str], *,
                  run_id: int) -> tuple[dict[int, tuple[int, int]], bool]:
    """Write new and changed quarters; the stored value a change replaces is kept in
    ``enterprise_revenue_versions``.

    When no revenue is stored yet for any quarter of the drop (the usual case: a drop brings
    the new quarter), every row is new: the rows go from the stage straight into
    ``enterprise_revenue``, with no change detection. Otherwise only the rows that may be
    stored already (``staged.to_compare``, see :func:`may_be_stored`) are compared with the
    stored ones; the rest go straight in.

    :param staged: the staged revenue in (period, credit code) order, the table's key order.
    :param periods: the quarters in the drop.
    :returns: (inserted, updated) per table index ``t``, and whether the drop's rows are now
        the only rows of its quarters (the fast path).
    """
    columns = ", ".join(REV_COLUMNS)
    check_references(conn, staged, "revenue")
    insert = f"""INSERT INTO main.enterprise_revenue ({columns}, etl_run_id)
                 SELECT {columns}, :run FROM {staged.table} s"""
    if not revenue_stored(conn, periods):
        # SQLite appends to its clustered table; PostgreSQL's heap has a primary key index,
        # rebuilt by one sort when the write at least doubles the table.
        with (indexes_rebuilt(conn, "enterprise_revenue", sum(staged.rows_by_file.values()),
                              primary_key=True)
              if isinstance(conn, PgConnection) else nullcontext()):
            conn.execute(f"{insert} ORDER BY s.rowid", {"run": run_id})
        return staged.inserted(), True
    if staged.to_compare == 0:
        # Quarters that hold rows, but none of this drop's firms: no row can conflict.
        conn.execute(f"{insert} ORDER BY s.rowid", {"run": run_id})
        return staged.inserted(), False
    flagged = staged.to_compare is not None
    conn.execute("DROP TABLE IF EXISTS temp.rev_chg")
    conn.execute(f"""CREATE TEMP TABLE rev_chg AS
        SELECT s.t, s.period, s.credit_code, s.revenue, s.from_ytd, s.provenance,
               CASE WHEN r.period IS NULL THEN 'new'
                    WHEN abs(r.revenue - s.revenue) > 1e-9 OR r.from_ytd IS NOT s.from_ytd
                         OR r.provenance IS NOT s.provenance THEN 'changed'
                    ELSE 'same' END AS action
        FROM {staged.table} s
        LEFT JOIN main.enterprise_revenue r
          ON r.period = s.period AND r.credit_code = s.credit_code
        {'WHERE s.cmp = 1' if flagged else ''}
        ORDER BY s.rowid""")
    conn.execute(f"""INSERT INTO main.enterprise_revenue_versions ({columns}, etl_run_id,
                         superseded_by)
        SELECT {', '.join(f'r.{c}' for c in REV_COLUMNS)}, r.etl_run_id, :run
        FROM temp.rev_chg c JOIN main.enterprise_revenue r
          ON r.period = c.period AND r.credit_code = c.credit_code
        WHERE c.action = 'changed' ORDER BY c.rowid""", {"run": run_id})
    # The stage is in key order: rows that cannot be stored yet go in without a conflict
    # check, then the compared rows that are new or changed (changed ones rewritten in place).
    if flagged:
        conn.execute(f"{insert} WHERE s.cmp = 0 ORDER BY s.rowid", {"run": run_id})
    conn.execute(f"""INSERT INTO main.enterprise_revenue ({columns}, etl_run_id)
        SELECT {columns}, :run FROM temp.rev_chg
        WHERE action IN ('new', 'changed') ORDER BY rowid
        ON CONFLICT (period, credit_code) DO UPDATE SET revenue = excluded.revenue,
            from_ytd = excluded.from_ytd, provenance = excluded.provenance,
            etl_run_id = excluded.etl_run_id""", {"run": run_id})
    compared = {int(t): (int(n), int(i or 0), int(u or 0)) for t, n, i, u in conn.execute(
        f"SELECT t, count(*), {count_where('new')}, {count_where('changed')} "
        "FROM temp.rev_chg GROUP BY t")}
    conn.execute("DROP TABLE temp.rev_chg")
    counts = {}
    for t, rows in staged.rows_by_file.items():
        n, new, changed = compared.get(t, (0, 0, 0))
        counts[t] = (rows - n + new, changed)  # uncompared rows are all new
    return counts, False


def merge_observations(conn: sqlite3.Connection, staged: Staged, *, run_id: int,
                       source_id: int) -> None:
    """Zone metrics: a new version where the value (or provenance) differs from the current
    value of the same series and quarter that an earlier drop wrote.

    :param staged: the staged zone metrics.
    """
    conn.execute("DROP TABLE IF EXISTS temp.obs_chg")
    conn.execute(f"""CREATE TEMP TABLE obs_chg AS
        SELECT s.*, o.id AS old_id,
               CASE WHEN o.id IS NULL THEN 'new'
                    WHEN abs(o.value - s.value) > 1e-9 OR o.provenance IS NOT s.provenance
                    THEN 'changed' ELSE 'same' END AS action
        FROM {staged.table} s
        LEFT JOIN main.observations o ON o.id = (
            SELECT max(o2.id) FROM main.observations o2
            JOIN main.sources src ON src.id = o2.source_id
            WHERE o2.metric = s.metric AND o2.scope_type = 'zone' AND o2.scope_id = s.scope_id
              AND o2.basis = 'point' AND o2.period_end = s.period_end
              AND o2.superseded_by IS NULL AND o2.period = s.period AND o2.kind = 'actual'
              AND src.key LIKE 'drop:%')""")
    conn.execute("""UPDATE main.observations SET superseded_by = :run
        WHERE id IN (SELECT old_id FROM temp.obs_chg WHERE action = 'changed')""",
                 {"run": run_id})
    conn.execute("""INSERT INTO main.observations (metric, scope_type, scope_id, scope_label,
                        period, period_end, period_label, value, unit, basis, kind, lower_bound,
                        approximate, provenance, method, source_id, etl_run_id, superseded_by)
        SELECT metric, 'zone', scope_id, NULL, period, period_end, period_label, value, unit,
               'point', 'actual', false, false, provenance, NULL, :source, :run, NULL
        FROM temp.obs_chg WHERE action IN ('new', 'changed')
        ORDER BY metric, scope_id, period""", {"run": run_id, "source": source_id})


def count_where(action: str) -> str:
    """SQL counting the rows whose ``action`` is ``action`` (both dialects)."""
    return f"sum(CASE WHEN action = '{action}' THEN 1 ELSE 0 END)"


# What the foreign keys of the register and revenue would check, as (column, parent table,
# parent key) per staged kind: on PostgreSQL they are not declared (models/dialect.py) and
# checked here, set-based, before the rows are written.
REFERENCES = {
    "enterprises": (("zone_id", "zones", "zone_id"), ("district_adcode", "districts", "adcode"),
                    ("segment", "segments", "code")),
    "revenue": (("credit_code", "enterprises", "credit_code"),),
}


def check_references(conn: sqlite3.Connection, staged: Staged, kind: str, *,
                     where: tuple[str, Sequence[object]] | None = None) -> None:
    """On PostgreSQL, refuse staged rows that reference a row that does not exist (the
    validator refuses such drops first: this is the database's own guarantee).

    :param staged: the rows to check (a stage table, or the written table itself).
    :param where: a condition on them (over ``s``) and its parameters: which rows to check.
    :raises AidashError: naming the first dangling value; nothing is written.
    """
    if not isinstance(conn, PgConnection):
        return  # SQLite declares the keys (and the validator has checked them)
    for column, parent, key in REFERENCES[kind]:
        # min(), not LIMIT 1: with a LIMIT the planner expects a dangling row early and
        # probes the parent's index once per staged row (9 s for 8M rows, against 2 s for a
        # hash anti-join of the whole stage).
        condition, params = where if where is not None else ("1 = 1", None)
        row = conn.execute(
            f"""SELECT min(s.{column}) FROM {staged.table} s WHERE s.{column} IS NOT NULL
                AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.{key} = s.{column})
                AND {condition}""", list(params) if params is not None else None).fetchone()
        if row is not None and row[0] is not None:
            raise AidashError(f"{kind}: {column} {row[0]!r} is not in {parent}; nothing was "
                              "loaded (report this: the validator should have refused it)")


def file_counts(conn: sqlite3.Connection, sql: str) -> dict[int, tuple[int, int]]:
    return {int(t): (int(i or 0), int(u or 0)) for t, i, u in conn.execute(sql)}


TEMP_TABLES = ("ent_new", "rev_chg", "obs_chg", "reg_others")


def drop_temp(conn: sqlite3.Connection) -> None:
    for name in TEMP_TABLES:
        conn.execute(f"DROP TABLE IF EXISTS temp.{name}")
