"""The checks every column kind gets: required values, numbers, enumerations, codes, periods,
ranges and duplicate keys.

:class:`ColumnChecks` holds what a drop is checked against and the problems found so far; each
method converts one column of a stacked frame (:func:`stack_tables`), reports what is wrong
with it and returns the typed values. The per-kind checks that use them are
:class:`etl.drops.validate.Validator`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa

from etl.drops import text_rules
from etl.drops.collector import Collector
from etl.drops.convert import (
    QuarterPeriod,
    check_codes,
    distinct_categorical,
    enum_key,
    factorize,
    lookup,
    normalise_code,
    parse_drop_period,
    sorted_factorize,
    spread,
    to_number,
)
from etl.drops.headers import ColumnMap, Table
from etl.drops.lookups import Reference
from etl.drops.read import ReadResult
from etl.drops.schema import PROVENANCE_VALUES, REASONS, range_schema, run_schema


def stack_tables(tables: list[Table], kind: str, columns: Iterable[str]) -> pd.DataFrame | None:
    """Every table of a kind, stacked, with ``_t`` (table index) and ``_row`` (row number)."""
    parts = []
    for ti, t in enumerate(tables):
        if t.kind != kind or t.data.empty:
            continue
        # Built from the columns themselves (no copy of the whole table first): at 8M rows
        # every extra copy of the text columns costs hundreds of megabytes.
        data = t.data
        cols = {c: data[c] if c in data else pd.Series(np.nan, index=data.index, dtype="str")
                for c in columns}
        # 32-bit: row numbers and table indexes are small, and at 8M rows each 64-bit column
        # costs 64 MB.
        cols["_t"] = pd.Series(np.full(len(data), ti, dtype=np.int32), index=data.index)
        cols["_row"] = pd.Series(t.rows.astype(np.int32), index=data.index)
        parts.append(pd.DataFrame(cols, index=data.index))
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0].reset_index(drop=True)
    return pd.concat(parts, ignore_index=True)


def per_table(frame: pd.DataFrame, values: Mapping[int, object]) -> pd.Series:
    """Each row's value of ``values`` (keyed by table index): a per-file fact spread to rows."""
    return frame["_t"].map(values)


def _number_reason(raw: pd.Series) -> pd.Series:
    """``formula`` for text starting with '=', else ``not a number``."""
    formula = raw.str.startswith("=").fillna(False).astype(bool)
    return pd.Series(np.where(formula, REASONS["formula"], REASONS["number"]), index=raw.index)


class ColumnChecks:
    """The column checks of one drop, and the problems they found (:attr:`problems`)."""

    def __init__(self, read: ReadResult, column_map: ColumnMap, reference: Reference,
                 conn: sqlite3.Connection, today: date, default_provenance: str) -> None:
        self.read = read
        self.tables = read.tables
        self.map = column_map
        self.ref = reference
        self.conn = conn
        self.today = today
        self.default_provenance = default_provenance
        self.problems = Collector(read.tables)
        for p in read.problems:
            self.problems.add(p)

    def text_cells(self) -> None:
        """Control characters and over-long values, in every cell of every table
        (:mod:`etl.drops.text_rules`); these cells get no other problem."""
        for ti, table in enumerate(self.tables):
            specs = self.map.specs[table.kind]
            for column in table.data.columns:
                limit = text_rules.limit_for(specs[column].dtype)
                found = text_rules.check_column(table.data[column], limit)
                if not found:
                    continue
                positions = np.array([p.position for p in found], dtype=np.int64)
                cells = pd.DataFrame({"_t": np.full(len(found), ti, dtype=np.int32),
                                      "_row": table.rows[positions].astype(np.int32)})
                self.problems.rows(cells, np.ones(len(found), dtype=bool), column,
                                   pd.Series([p.reason for p in found], dtype=object),
                                   pd.Series([p.value for p in found], dtype=object),
                                   claim=True)

    def required(self, frame: pd.DataFrame, kind: str) -> None:
        for name, spec in self.map.specs[kind].items():
            if spec.required and name in frame:
                has_column = per_table(frame, {i: name in t.headers
                                                for i, t in enumerate(self.tables)})
                self.problems.rows(frame, frame[name].isna() & has_column.astype(bool), name,
                                   REASONS["missing"])

    def number(self, frame: pd.DataFrame, column: str) -> pd.Series:
        values, bad = to_number(frame[column])
        if bad.any():
            self.problems.rows(frame, bad, column, _number_reason(frame[column].where(bad)))
        scales = {i: t.scale.get(column, 1.0) for i, t in enumerate(self.tables)}
        if all(v == 1.0 for v in scales.values()):
            return values
        scale = per_table(frame, scales)
        return values * scale.astype("float64")

    def enum(self, frame: pd.DataFrame, column: str, table: Mapping[str, object],
             reason: str) -> pd.Series:
        mapped, unknown = lookup(frame[column], table)
        self.problems.rows(frame, unknown, column, reason)
        return mapped

    def codes(self, frame: pd.DataFrame, *, compact: bool = False) -> pd.Series:
        """Normalised credit codes, invalid ones reported and left out (NA).

        :param compact: return a categorical (sorted categories): each distinct text is
            normalised and checked once, and the rows hold integer codes, not text (8M revenue
            rows repeat each code eight times). The frame's own column is then kept as a
            categorical of its texts too (:meth:`keep_compact`).
        """
        if compact:
            return self._compact_codes(frame)
        codes = normalise_code(frame["credit_code"])
        reasons = check_codes(codes)
        bad = reasons.notna()
        self.problems.rows(frame, bad, "credit_code", reasons.where(bad, ""))
        return codes.where(~bad)

    def _compact_codes(self, frame: pd.DataFrame) -> pd.Series:
        raw_codes, raw_uniques = factorize(frame["credit_code"])
        norm = normalise_code(raw_uniques.astype("str"))
        reasons = check_codes(norm)
        bad_u = reasons.notna().to_numpy()
        bad = np.append(bad_u, False)[raw_codes]  # code -1 (missing): the last entry
        if bad.any():
            row_reasons = np.full(len(frame), "", dtype=object)
            row_reasons[bad] = reasons.to_numpy()[raw_codes[bad]]
            self.problems.rows(frame, bad, "credit_code",
                               pd.Series(row_reasons, index=frame.index))
        # Distinct texts may normalise to the same code (full-width digits, lower case).
        cat_of_u, categories = sorted_factorize(norm.where(~bad_u))
        cat_of_u = np.append(cat_of_u, -1).astype(np.int32)  # position -1: a missing value
        del norm, reasons
        typed = pd.Series(distinct_categorical(cat_of_u[raw_codes], categories),
                          index=frame.index)
        self.keep_compact(frame, "credit_code", raw_codes, raw_uniques)
        return typed

    @staticmethod
    def keep_compact(frame: pd.DataFrame, column: str, codes: np.ndarray,
                     uniques: pd.Series) -> None:
        """Keep ``frame[column]``, once typed, as a categorical of its distinct texts (``codes``
        and ``uniques`` as :func:`etl.drops.convert.factorize` returned them): later checks
        quote the same raw values in their reports, and at 8M revenue rows the text of a
        credit code or a period costs 100-200 MB a column, the categorical a byte to four a
        row. (The stacked frame must hold the files' text alone for it to be freed: see
        :meth:`etl.drops.validate.Validator.revenue`.)"""
        frame[column] = distinct_categorical(codes, pd.Index(uniques))
        pa.default_memory_pool().release_unused()

    def periods(self, frame: pd.DataFrame, *, compact: bool = False,
                ) -> tuple[pd.Series, pd.Series, pd.Series]:
        """(canonical period, period end, ytd flag) of the ``period`` column.

        :param compact: the canonical period as a categorical (sorted categories) rather than
            one Python object per row.
        """
        period, end, ytd = self._compact_periods(frame, keep_compact=compact)
        return (period if compact else period.astype(object)), end, ytd

    def _compact_periods(self, frame: pd.DataFrame, *, keep_compact: bool = False,
                         ) -> tuple[pd.Series, pd.Series, pd.Series]:
        """:meth:`periods` with the canonical period as a categorical; per-row work is integer
        indexing only. ``keep_compact``: the frame's own column is then kept as a categorical
        of its texts (:meth:`keep_compact`)."""
        codes, uniques = factorize(frame["period"])
        parsed = [parse_drop_period(u) for u in uniques]
        n = len(parsed)
        end = np.full(n + 1, np.datetime64("NaT"), dtype="datetime64[ns]")
        ytd = np.zeros(n + 1, dtype=bool)
        period: list[object] = [None] * n
        error = np.empty(n + 1, dtype=object)
        for i, p in enumerate(parsed):
            if isinstance(p, QuarterPeriod):
                period[i], end[i], ytd[i] = p.period, np.datetime64(p.period_end), p.ytd
            else:
                error[i] = p
        bad_u = pd.notna(error)
        bad_u[-1] = False
        bad = bad_u[codes]
        if bad.any():
            reason = np.full(len(codes), "", dtype=object)
            reason[bad] = error[codes[bad]]
            self.problems.rows(frame, bad, "period", pd.Series(reason, index=frame.index))
        if keep_compact:
            self.keep_compact(frame, "period", codes, uniques)
        return (pd.Series(spread(period, codes), index=frame.index),
                pd.Series(end[codes], index=frame.index),
                pd.Series(ytd[codes], index=frame.index))

    def _compact_enum(self, frame: pd.DataFrame, column: str, table: Mapping[str, object],
                      reason: str, default: object = None) -> pd.Series:
        """:meth:`enum` as a categorical (``default`` where the value is missing); the frame's
        own column is kept as a categorical of its texts (:meth:`keep_compact`)."""
        codes, uniques = factorize(frame[column])
        mapped: list[object] = [table.get(enum_key(u)) for u in uniques]
        unknown_u = np.array([m is None for m in mapped] + [False], dtype=bool)
        self.problems.rows(frame, unknown_u[codes], column, reason)
        self.keep_compact(frame, column, codes, uniques)
        values = [default if m is None else m for m in mapped]
        return pd.Series(spread([*values, default], np.where(codes < 0, len(values), codes)),
                         index=frame.index)

    def provenance(self, frame: pd.DataFrame) -> pd.Series:
        mapped = self.enum(frame, "provenance", PROVENANCE_VALUES, REASONS["provenance"])
        return mapped.fillna(self.default_provenance)

    def ranges(self, kind: str, frame: pd.DataFrame, typed: pd.DataFrame) -> None:
        """The pandera range checks, reported in :mod:`etl.drops.schema`'s words."""
        schema, names = range_schema(self.map, kind, self.today)
        failures = run_schema(schema, names, typed)
        if failures.empty:
            return
        for (column, check), grp in failures.groupby(["column", "check"], sort=False):
            mask = np.zeros(len(frame), dtype=bool)
            mask[frame.index.get_indexer(grp["index"].astype("int64"))] = True
            if check == "future_period":
                ends = typed["period_end"].dt.date.astype(str)
                reason = ("period " + typed["period"].astype(str) + " has not ended yet (it ends "
                          + ends + "; today is " + self.today.isoformat() + ")")
                self.problems.rows(frame, mask, "period", reason)
            elif check == "future_date":
                self.problems.rows(frame, mask, str(column),
                                   f"date is in the future (today is {self.today.isoformat()})")
            else:
                self.problems.rows(frame, mask, str(column), REASONS[str(check)])

    def duplicates(self, frame: pd.DataFrame, typed: pd.DataFrame,
                   keys: list[str]) -> np.ndarray:
        """Rows whose key repeats an earlier row of the drop (any file of the same kind).

        The key is checked on integer codes (one factorisation per key column, combined), not
        on the text itself: at 8M revenue rows a frame of the key texts would cost hundreds of
        megabytes. Returns the mask of repeated rows (rows with a missing key part are never
        repeats).
        """
        n = len(typed)
        complete = np.ones(n, dtype=bool)
        key = np.zeros(n, dtype=np.int64)
        for k in keys:
            column = typed[k]
            if isinstance(column.dtype, pd.CategoricalDtype):
                codes = column.cat.codes.to_numpy()
                width = len(column.cat.categories)
            else:
                codes, uniques = factorize(column)
                width = len(uniques)
            complete &= codes >= 0
            if key.max(initial=0) >= (1 << 62) // (width + 1):
                key = pd.factorize(key)[0].astype(np.int64)  # keep the combined code small
            key *= width + 1
            key += codes
            key += 1
            del codes
        key[~complete] = -1
        span = int(key.max(initial=-1)) + 1
        # No key twice (the usual drop): one flag per possible key says so in linear time and a
        # byte per key, where sorting 8M revenue keys takes half a second. Only a wide key
        # space (more than a few keys per row) is left to the sort.
        if span <= max(4 * n, 1 << 20):
            seen = np.zeros(span + 1, dtype=bool)
            seen[key] = True  # an incomplete key (-1) marks the extra last flag
            if np.count_nonzero(seen[:span]) == np.count_nonzero(complete):
                return np.zeros(n, dtype=bool)
            del seen
        if n and span < (1 << 31):
            key = key.astype(np.int32)
        # Sorted (stable) equal keys are adjacent, first occurrence first.
        order = np.argsort(key, kind="stable")
        ordered = key[order]
        del key
        same = np.zeros(n, dtype=bool)
        same[1:] = ordered[1:] == ordered[:-1]
        same &= ordered >= 0
        del ordered
        dup = np.zeros(n, dtype=bool)
        dup[order[same]] = True
        if not dup.any():
            return dup
        # The first row of each key: the start of its run in sorted order.
        starts = np.maximum.accumulate(np.where(same, 0, np.arange(n)))
        first_of = np.empty(n, dtype=np.int64)
        first_of[order] = order[starts]
        first_idx = first_of[dup]
        del order, same, starts, first_of
        dup = pd.Series(dup, index=typed.index)
        where = [f"{self.tables[t].file}" + (f" sheet {self.tables[t].sheet}"
                                             if self.tables[t].sheet else "")
                 for t in frame["_t"].to_numpy()[first_idx]]
        rows = frame["_row"].to_numpy()[first_idx]
        key_values = [typed.loc[dup, k].astype(str).tolist() for k in keys]
        reason = pd.Series("", index=frame.index, dtype=object)
        reason[dup] = [
            "duplicate key (" + ", ".join(f"{k} {v}" for k, v in zip(keys, values))
            + f"): already in {w} row {r}"
            for values, w, r in zip(zip(*key_values), where, rows)]
        self.problems.rows(frame, dup, keys[0], reason)
        return dup.to_numpy()

    # -- kinds ---------------------------------------------------------------------------
