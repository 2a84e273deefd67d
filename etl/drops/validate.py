"""Validating a drop: every check, vectorised, collecting every problem before anything is written.

This is the *clean* step of the drop loader. :func:`validate_drop` takes the tables of
``etl.drops.read`` and the database connection (for the known zones, districts and segments, the
enterprises already loaded and the stored quarters that year-to-date figures build on) and
returns typed frames ready to write, plus every problem found. The loader writes nothing
unless the problem list is empty.

:class:`Validator` runs the checks of each file kind (enterprises, revenue, zone metrics); the
column checks they share are :mod:`etl.drops.checks`, the converters :mod:`etl.drops.convert`,
the range rules and report texts :mod:`etl.drops.schema`, the database reads
:mod:`etl.drops.lookups`. All checks run on whole columns, so validation runs at a few hundred
thousand rows a second, whatever the size of the drop.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa

from etl.drops.checks import ColumnChecks, per_table, stack_tables
from etl.drops.convert import enum_key, isin, normalise_code, parse_dates
from etl.drops.headers import ColumnMap
from etl.drops.lookups import Reference, stored_codes, stored_quarters
from etl.drops.read import ReadResult
from etl.drops.schema import BASIS_VALUES, PROVENANCE_VALUES, REASONS, STATUS_VALUES
from models.periods import quarter_label, split_quarter
from models.problems import REPORT_COLUMNS

# Money is stored in million CNY; six decimals are one yuan, finer than any source reports, and
# rounding there keeps sums and year-to-date differences free of binary noise (so an unchanged
# figure compares equal on a reload).
MONEY_DECIMALS = 6


@dataclass
class ValidDrop:
    """A validated drop: frames ready to write (one row per database row), and the problems.

    ``enterprises``: credit_code, name_zh, name_en, zone_id, district_adcode, segment, founded,
    registered_capital, employees, status, provenance, ``given`` (bit mask of the optional
    columns the row's file has) and ``_t`` (index of its table).
    ``revenue``: credit_code, period, revenue (the quarter's own value), from_ytd,
    provenance, ``_t``. ``observations``: metric, scope_id, period, period_end, period_label,
    value, unit, provenance, ``_t``, ``_row``.
    """

    enterprises: pd.DataFrame | None = None
    revenue: pd.DataFrame | None = None
    observations: pd.DataFrame | None = None
    problems: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REPORT_COLUMNS))
    revenue_periods: list[str] = field(default_factory=list)
    data_period: str | None = None

    @property
    def ok(self) -> bool:
        return self.problems.empty


# Optional enterprise columns, in the order of the ``given`` bit mask (bit 0 = name_en …).
ENTERPRISE_OPTIONAL = ("name_en", "zone_id", "founded", "registered_capital", "employees",
                       "status", "provenance")


class Validator(ColumnChecks):
    """Runs every check of one drop, file kind by file kind; see :func:`validate_drop`."""

    def enterprises(self) -> pd.DataFrame | None:
        cols = list(self.map.specs["enterprises"])
        frame = stack_tables(self.tables, "enterprises", cols)
        if frame is None:
            return None
        self.required(frame, "enterprises")
        typed = pd.DataFrame(index=frame.index)
        typed["credit_code"] = self.codes(frame)
        typed["name_zh"] = frame["name_zh"]
        typed["name_en"] = frame["name_en"]
        typed["zone_id"] = self.enum(frame, "zone_id", self.ref.zones, REASONS["zone"])
        district = self.enum(frame, "district_code", self.ref.districts, REASONS["district"])
        typed["district_adcode"] = district.astype("Int64")
        typed["segment"] = self.enum(frame, "segment", self.ref.segments, REASONS["segment"])
        founded, founded_text = parse_dates(frame["founded"])
        self.problems.rows(frame, frame["founded"].notna() & founded.isna(), "founded",
                           REASONS["date"])
        typed["founded"] = founded
        typed["registered_capital"] = self.number(frame, "registered_capital").round(
            MONEY_DECIMALS)
        typed["employees"] = self.number(frame, "employees")
        typed["status"] = self.enum(frame, "status", STATUS_VALUES, REASONS["status"])
        typed["provenance"] = self.provenance(frame)
        self.ranges("enterprises", frame, typed)
        self.duplicates(frame, typed, ["credit_code"])
        bits = {i: sum(1 << b for b, c in enumerate(ENTERPRISE_OPTIONAL)
                       if c in t.headers) for i, t in enumerate(self.tables)}
        typed["given"] = per_table(frame, bits).astype("int64")
        typed["founded"] = founded_text
        typed["employees"] = typed["employees"].round().astype("Int64")
        typed["_t"] = frame["_t"]
        typed["_row"] = frame["_row"]
        typed["_raw_code"] = frame["credit_code"]
        return typed

    def revenue(self, enterprise_codes: pd.Series | None) -> pd.DataFrame | None:
        cols = list(self.map.specs["revenue"])
        frame = stack_tables(self.tables, "revenue", cols)
        if frame is None:
            return None
        # The stacked frame holds the files' text alone from here (nothing after reads the
        # tables' own), so that each column's text is freed once it is typed and kept compact
        # (ColumnChecks.keep_compact).
        for table in self.tables:
            if table.kind == "revenue":
                table.data, table.rows = table.data.iloc[:0], table.rows[:0]
        self.required(frame, "revenue")
        # Compact columns (8M rows): credit code and period as categoricals (integer codes),
        # provenance as a categorical; the period end only while the range checks need it.
        # The columns of few distinct values first: their text is then compact while the
        # credit codes and the numbers need their scratch.
        typed = pd.DataFrame(index=frame.index)
        period, end, ytd_period = self.periods(frame, compact=True)
        basis = self._compact_enum(frame, "basis", BASIS_VALUES, REASONS["basis"])
        provenance = self._compact_enum(frame, "provenance", PROVENANCE_VALUES,
                                        REASONS["provenance"], self.default_provenance)
        typed["credit_code"] = self.codes(frame, compact=True)
        typed["period"] = period
        typed["period_end"] = end
        del period, end
        revenue = self.number(frame, "revenue")
        typed["revenue"] = np.round(revenue.to_numpy(dtype="float64", copy=True), MONEY_DECIMALS)
        del revenue
        conflict = ytd_period & (basis == "quarterly")
        self.problems.rows(frame, conflict, "basis", REASONS["basis_conflict"])
        typed["ytd"] = ytd_period | (basis == "ytd").fillna(False).astype(bool)
        del basis, conflict, ytd_period
        typed["provenance"] = provenance
        del provenance
        self.ranges("revenue", frame, typed)
        del typed["period_end"]
        dup = self.duplicates(frame, typed, ["credit_code", "period"])
        self.unknown_enterprises(frame, typed["credit_code"], enterprise_codes)
        typed["_t"] = frame["_t"]
        typed["_row"] = frame["_row"]
        return self.year_to_date(frame, typed, dup)

    def unknown_enterprises(self, frame: pd.DataFrame, codes: pd.Series,
                            enterprise_codes: pd.Series | None) -> None:
        """Revenue rows whose credit code is neither in the drop's register
        (``enterprise_codes``) nor in the database.

        :param codes: the rows' codes as :meth:`codes` returns them with ``compact=True`` (a
            categorical): each distinct code is looked up once.
        """
        categories = pd.Series(codes.cat.categories, dtype="str")
        row_codes = codes.cat.codes.to_numpy()
        present = row_codes >= 0
        used = np.zeros(len(categories), dtype=bool)
        used[row_codes[present]] = True
        candidates = used.copy()
        if enterprise_codes is not None:
            # Repeated and missing codes are harmless in the set looked up (no unique(): at a
            # million codes finding the distinct ones costs more than the lookup).
            candidates &= ~isin(categories, enterprise_codes).to_numpy()
        wanted = categories[candidates]
        if len(wanted) == 0:
            return
        stored = stored_codes(self.conn, wanted.tolist())
        missing_u = candidates & ~isin(categories, sorted(stored)).to_numpy()
        missing = np.append(missing_u, False)[row_codes]  # code -1 (missing): the last entry
        self.problems.rows(frame, missing, "credit_code", REASONS["unknown_enterprise"])
        pa.default_memory_pool().release_unused()

    def year_to_date(self, frame: pd.DataFrame, typed: pd.DataFrame,
                     dup: np.ndarray) -> pd.DataFrame:
        """Quarter values from year-to-date figures: Q_n = YTD_n − YTD_{n−1}.

        The previous total comes from the drop's own year-to-date figure for the quarter
        before, else from the sum of that year's earlier quarters, each taken from the drop
        (a quarterly figure, or one converted here) or from the database. A quarter with no
        figure anywhere counts as zero: the firm was not founded or not active then.
        """
        # ``typed`` is this validator's own frame (no copy: at 8M rows a copy costs ~0.7 GB);
        # ``dup`` marks the rows whose (credit_code, period) repeats an earlier row.
        typed["from_ytd"] = typed["ytd"].astype("int8")
        usable = (typed["credit_code"].notna() & typed["period"].notna()
                  & typed["revenue"].notna())
        usable &= ~pd.Series(dup, index=typed.index)
        is_ytd = usable & typed["ytd"]
        if not is_ytd.any():
            return typed
        # The usable rows with the code as text (the categorical's codes mean nothing to merge
        # and pivot) and the period as year and quarter.
        work = typed.loc[usable, ["credit_code", "revenue", "ytd"]]
        work["credit_code"] = work["credit_code"].astype("str")
        work["_year"], work["_q"] = _year_quarter(typed.loc[usable, "period"])
        ytd_rows = work[work["ytd"]]
        groups = ytd_rows[["credit_code", "_year"]].drop_duplicates()
        involved = work.merge(groups, on=["credit_code", "_year"])
        del work
        cum_y = involved[involved["ytd"]].pivot(index=["credit_code", "_year"], columns="_q",
                                                values="revenue")
        drop_q = involved[~involved["ytd"]].pivot(index=["credit_code", "_year"], columns="_q",
                                                  values="revenue")
        keys = pd.MultiIndex.from_frame(groups)
        cum_y = cum_y.reindex(index=keys, columns=range(1, 5))
        drop_q = drop_q.reindex(index=keys, columns=range(1, 5))
        stored = stored_quarters(self.conn, groups).reindex(index=keys, columns=range(1, 5))
        # cumulative[k] = the year-to-date total through quarter k, as far as it is known
        cumulative = pd.DataFrame(0.0, index=keys, columns=range(5))
        for k in range(1, 5):
            quarter = drop_q[k].fillna(stored[k]).fillna(0.0)
            cumulative[k] = cum_y[k].fillna(cumulative[k - 1] + quarter)
        prev = cumulative.reindex(columns=range(5))
        idx = pd.MultiIndex.from_frame(ytd_rows[["credit_code", "_year"]])
        q = ytd_rows["_q"].astype(int).to_numpy()
        prev_values = prev.to_numpy()[prev.index.get_indexer(idx), q - 1]
        quarter_values = (ytd_rows["revenue"].to_numpy() - prev_values).round(MONEY_DECIMALS)
        negative = quarter_values < 0
        if negative.any():
            mask = pd.Series(False, index=frame.index)
            mask[ytd_rows.index[negative]] = True
            reason = pd.Series("", index=frame.index, dtype=object)
            reason[ytd_rows.index[negative]] = [
                f"year-to-date revenue {_fmt(y)} million CNY is less than the total through "
                f"{quarter_label(year, n - 1)} ({_fmt(p)} million CNY), so "
                f"{quarter_label(year, n)} would be negative"
                for y, p, year, n in zip(ytd_rows["revenue"].to_numpy()[negative],
                                         prev_values[negative],
                                         ytd_rows["_year"].to_numpy()[negative], q[negative])]
            self.problems.rows(frame, mask, "revenue", reason)
        typed.loc[ytd_rows.index, "revenue"] = quarter_values
        return typed

    def zone_metrics(self) -> pd.DataFrame | None:
        specs = self.map.specs["zone_metrics"]
        cols = list(specs)
        frame = stack_tables(self.tables, "zone_metrics", cols)
        if frame is None:
            return None
        self.required(frame, "zone_metrics")
        typed = pd.DataFrame(index=frame.index)
        typed["zone_id"] = self.enum(frame, "zone_id", self.ref.zones, REASONS["zone"])
        period, end, ytd = self.periods(frame)
        self.problems.rows(frame, ytd, "period", REASONS["zone_ytd"])
        typed["period"] = period
        typed["period_end"] = end
        metrics = {c: s.metric for c, s in specs.items() if s.metric}
        for column in metrics:
            typed[column] = self.number(frame, column)
        typed["provenance"] = self.provenance(frame)
        self.ranges("zone_metrics", frame, typed)
        self.duplicates(frame, typed, ["zone_id", "period"])
        empty = frame[list(metrics)].isna().all(axis=1)
        self.problems.rows(frame, empty, None, REASONS["no_values"])
        parts = []
        for column, metric in metrics.items():
            has = typed[column].notna()
            if not has.any():
                continue
            part = pd.DataFrame({
                "metric": metric, "scope_id": typed.loc[has, "zone_id"],
                "period": typed.loc[has, "period"],
                "period_end": typed.loc[has, "period_end"].dt.strftime("%Y-%m-%d"),
                "period_label": frame.loc[has, "period"],
                "value": typed.loc[has, column].astype("float64"),
                "unit": self.ref.metric_units.get(metric),
                "provenance": typed.loc[has, "provenance"],
                "_t": frame.loc[has, "_t"], "_row": frame.loc[has, "_row"],
            })
            parts.append(part)
        if not parts:
            return pd.DataFrame(columns=["metric", "scope_id", "period", "period_end",
                                         "period_label", "value", "unit", "provenance", "_t",
                                         "_row"])
        return pd.concat(parts, ignore_index=True)


def _year_quarter(period: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Year and quarter of each row of a categorical of canonical quarters (each distinct
    period split once, by :func:`models.periods.split_quarter`)."""
    split = np.array([split_quarter(p) for p in period.cat.categories],
                     dtype=np.int64).reshape(-1, 2)
    codes = period.cat.codes.to_numpy()
    return split[codes, 0], split[codes, 1]


def _fmt(x: float) -> str:
    """A money figure for a report: up to six decimals, no trailing zeros."""
    return f"{x:,.6f}".rstrip("0").rstrip(".")


def validate_drop(read: ReadResult, column_map: ColumnMap, conn: sqlite3.Connection, *,
                  today: date, folder_period: str | None = None,
                  on_register: Callable[[pd.DataFrame], None] | None = None) -> ValidDrop:
    """Check every table of a drop; return typed frames and every problem (none: loadable).

    :param read: the drop as :func:`etl.drops.read.read_drop` returned it.
    :param conn: a connection to the database (read only here).
    :param today: periods ending and dates after this day are in the future.
    :param folder_period: the quarter the folder is named for, if any (the data period of a
        drop with no periods in it).
    :param on_register: called with the validated register (``enterprises``) as soon as it
        is checked, if no problem has been found so far, while revenue and zone metrics are
        still to be checked (the loader starts staging it). The frame is not changed after.
    """
    source = read.source or {}
    default_provenance = PROVENANCE_VALUES.get(enum_key(source.get("provenance", "")), "reported")
    v = Validator(read, column_map, Reference.load(conn), conn, today, default_provenance)
    v.text_cells()
    out = ValidDrop()
    out.enterprises = v.enterprises()
    if (on_register is not None and out.enterprises is not None and len(out.enterprises)
            and v.problems.empty):
        on_register(out.enterprises)
    # Every code of the drop's register counts as "in this drop", even on a row with problems
    # (that row is reported already; its revenue should not be reported a second time).
    codes = (normalise_code(out.enterprises["_raw_code"]) if out.enterprises is not None
             else None)
    out.revenue = v.revenue(codes)
    out.observations = v.zone_metrics()
    file_order = [f.name for f in read.files]
    out.problems = v.problems.frame(file_order)
    periods: set[str] = set()
    if out.revenue is not None:
        out.revenue_periods = sorted(str(p) for p in out.revenue["period"].dropna().unique())
        periods.update(out.revenue_periods)
    if out.observations is not None:
        periods.update(out.observations["period"].dropna().unique())
    out.data_period = max(periods) if periods else folder_period
    return out
