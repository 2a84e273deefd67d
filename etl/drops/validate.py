"""Validating a drop: every check, vectorised, collecting every problem before anything is written.

This is the *clean* step of the drop loader. :func:`validate_drop` takes the tables of
``etl.drops.read`` and the database connection (for the known zones, districts and segments, the
enterprises already loaded and the stored quarters that year-to-date figures build on) and
returns typed frames ready to write, plus every problem found. The loader writes nothing
unless the problem list is empty.

All checks run on whole columns (pandas and pyarrow compute); per-value Python runs only over
the distinct values of a column (periods, dates, invalid credit codes), so validation runs at a
few hundred thousand rows a second, whatever the size of the drop. The range checks are a pandera
schema built from ``data/column_map.csv``; its failure cases are turned into this module's own
report texts (``REASONS``), so the report never shows a library's wording.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pandera.pandas as pa_schema
import pyarrow as pa
import pyarrow.compute as pc

from etl import credit_code
from etl.drops import text_rules
from etl.drops.headers import ColumnMap, Table
from etl.drops.read import ReadResult
from models.periods import QUARTER_HINT, parse_period
from models.problems import REPORT_COLUMNS, Problem

# Money is stored in million CNY; six decimals are one yuan, finer than any source reports, and
# rounding there keeps sums and year-to-date differences free of binary noise (so an unchanged
# figure compares equal on a reload).
MONEY_DECIMALS = 6
# Excel's day zero for serial dates (the 1900 system, with its leap-year bug folded in).
EXCEL_EPOCH = date(1899, 12, 30)
EXCEL_SERIAL_RANGE = (20_000, 80_000)  # 1954-10-03 … 2119-01-10: plausibly a date, not a count
# Above this many codes to look up, reading every stored code beats chunked IN (…) queries.
BULK_LOOKUP_THRESHOLD = 20_000
SQL_CHUNK = 500

STATUS_VALUES = {"active": "active", "存续": "active", "在业": "active", "开业": "active",
                 "suspended": "suspended", "停业": "suspended", "歇业": "suspended",
                 "deregistered": "deregistered", "注销": "deregistered",
                 "movedout": "moved_out", "迁出": "moved_out"}
PROVENANCE_VALUES = {"reported": "reported", "报告": "reported", "上报": "reported",
                     "sample": "sample", "样例": "sample", "样本": "sample"}
BASIS_VALUES = {"quarterly": "quarterly", "当季": "quarterly", "本季": "quarterly",
                "ytd": "ytd", "累计": "ytd", "年初至今": "ytd"}

REASONS = {
    "missing": "required value is missing",
    "number": "not a number",
    "formula": "a formula, not a number: paste the values instead (Paste Special → Values)",
    "nonnegative": "must not be negative",
    "whole": "must be a whole number",
    "zone": "unknown zone: not in the zones table (data/zones.csv)",
    "district": "unknown district: expected one of the 16 district adcodes 310101…310151",
    "segment": "unknown segment: expected a code or Chinese name from data/segments.csv",
    "status": ("unknown status: expected active/存续, suspended/停业, deregistered/注销 or "
               "moved_out/迁出"),
    "provenance": "unknown provenance: expected reported or sample/样例",
    "basis": "unknown basis: expected quarterly/当季 or ytd/累计",
    "date": "not a date: use YYYY-MM-DD, YYYY/M/D or YYYY年M月D日",
    "unknown_enterprise": ("unknown enterprise: the credit code is neither in this drop's "
                           "enterprises file nor in the database"),
    "zone_ytd": ("zone metrics are stocks at the end of a quarter: give the quarter, not a "
                 "year-to-date period"),
    "no_values": "row has no metric values",
    "basis_conflict": "basis says quarterly but the period is year-to-date (1-n月)",
}


@dataclass
class Reference:
    """What the database knows that a drop is checked against."""

    zones: dict[str, str]
    districts: dict[str, int]
    segments: dict[str, str]
    metric_units: dict[str, str]

    @classmethod
    def load(cls, conn: sqlite3.Connection) -> Reference:
        """Read zones, districts, segments and metric units (accepting codes and names)."""
        zones: dict[str, str] = {}
        for zone_id, name_zh in conn.execute("SELECT zone_id, name_zh FROM zones"):
            zones[_key(zone_id)] = zone_id
            zones.setdefault(_key(name_zh), zone_id)
        districts: dict[str, int] = {}
        for adcode, name_zh, name_en in conn.execute(
                "SELECT adcode, name_zh, name_en FROM districts"):
            for spelling in (str(adcode), name_zh, name_en):
                districts.setdefault(_key(spelling), int(adcode))
        segments: dict[str, str] = {}
        for code, name_zh, name_en in conn.execute(
                "SELECT code, name_zh, name_en FROM segments"):
            for spelling in (code, name_zh, name_en):
                segments.setdefault(_key(spelling), code)
        units = dict(conn.execute("SELECT code, unit_en FROM metrics").fetchall())
        return cls(zones, districts, segments, units)


def _key(text: object) -> str:
    """How an enumerated value is matched: NFKC, lower case, no spaces or underscores."""
    return re.sub(r"[\s_\-]+", "", unicodedata.normalize("NFKC", str(text)).lower())


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


class Collector:
    """Problems found so far, as frames (one per check) rather than one object per problem."""

    def __init__(self, tables: list[Table]) -> None:
        self.tables = tables
        self.parts: list[pd.DataFrame] = []
        self.loose: list[Problem] = []

    def add(self, problem: Problem) -> None:
        self.loose.append(problem)

    @property
    def empty(self) -> bool:
        return not self.parts and not self.loose

    def rows(self, frame: pd.DataFrame, mask: pd.Series | np.ndarray, column: str | None,
             reason: str | pd.Series, value: pd.Series | None = None, *,
             claim: bool = False) -> None:
        """One problem per row of ``frame`` where ``mask`` holds.

        :param column: the canonical column (reported under the file's own header) or None.
        :param reason: one text for all, or a Series aligned with ``frame``.
        :param value: the values to report; default the raw values of ``column``.
        :param claim: these cells' problems are the only ones reported for them: the later
            checks' problems of the same cells are dropped (a cell refused for a control
            character or its length is not also "not a number", quoting it in full).
        """
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        sub = frame.loc[mask]
        if value is None:
            value = sub[column] if column is not None and column in sub else None
        else:
            value = value[mask] if len(value) == len(frame) else value
        part = pd.DataFrame({
            "_t": sub["_t"].to_numpy(),
            "row": sub["_row"].to_numpy(),
            "_column": column,
            "value": (value.astype(object).to_numpy() if isinstance(value, pd.Series)
                      else [None] * len(sub)),
            "reason": (reason[mask].to_numpy() if isinstance(reason, pd.Series) else reason),
        })
        if claim:
            part["_claim"] = True
        self.parts.append(part)

    def _unclaimed(self) -> list[pd.DataFrame]:
        """The parts without the problems of claimed cells (see :meth:`rows`)."""
        claimed = [p for p in self.parts if "_claim" in p]
        if not claimed:
            return self.parts
        keys = pd.concat([p[["_t", "row", "_column"]] for p in claimed]).drop_duplicates()
        keys["_claimed"] = True
        out = []
        for part in self.parts:
            if "_claim" in part:
                out.append(part.drop(columns="_claim"))
                continue
            hit = part.merge(keys, on=["_t", "row", "_column"], how="left")["_claimed"]
            out.append(part.loc[~hit.fillna(False).astype(bool).to_numpy()])
        return out

    def frame(self, file_order: list[str]) -> pd.DataFrame:
        """Every problem, sorted by file, sheet, row and column position, as report columns."""
        frames = []
        tables = self.tables
        for part in self._unclaimed():
            ts = part["_t"].to_numpy()
            headers = [(tables[t].headers.get(c, c) if isinstance(c, str) else None)
                       for t, c in zip(ts, part["_column"])]
            positions = [(list(tables[t].headers).index(c) if isinstance(c, str)
                          and c in tables[t].headers else 999)
                         for t, c in zip(ts, part["_column"])]
            frames.append(pd.DataFrame({
                "file": [tables[t].file for t in ts], "sheet": [tables[t].sheet for t in ts],
                "row": part["row"].to_numpy(), "column": headers,
                "value": part["value"].to_numpy(), "reason": part["reason"].to_numpy(),
                "_pos": positions,
            }))
        if self.loose:
            frames.append(pd.DataFrame({
                "file": [p.file for p in self.loose], "sheet": [p.sheet for p in self.loose],
                "row": [p.row for p in self.loose], "column": [p.column for p in self.loose],
                "value": [p.value for p in self.loose], "reason": [p.reason for p in self.loose],
                "_pos": [-1 if p.row in (None, 1) and p.column is None else 0
                         for p in self.loose],
            }))
        if not frames:
            return pd.DataFrame(columns=list(REPORT_COLUMNS))
        out = pd.concat(frames, ignore_index=True)
        order = {name: i for i, name in enumerate(file_order)}
        out["_file"] = out["file"].map(lambda f: order.get(f, len(order)))
        out["_sheet"] = out["sheet"].fillna("")
        out["_row"] = pd.to_numeric(out["row"], errors="coerce").fillna(0)
        out = out.sort_values(["_file", "file", "_sheet", "_row", "_pos"], kind="stable")
        out = out[list(REPORT_COLUMNS)].reset_index(drop=True)
        out["row"] = out["row"].astype("Int64")
        return out


def problems_as_list(frame: pd.DataFrame) -> list[Problem]:
    """The problem frame as :class:`Problem` objects (``row`` as int or None)."""
    out = []
    for file, sheet, row, column, value, reason in frame.itertuples(index=False, name=None):
        out.append(Problem(file, _none(sheet), None if pd.isna(row) else int(row),
                           _none(column), _none(value), reason))
    return out


def _none(v: object) -> str | None:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return None
    return str(v)


# ----------------------------------------------------------------------------- converters


def nfkc(series: pd.Series) -> pd.Series:
    """NFKC where a value has non-ASCII characters (full-width digits, letters, brackets)."""
    mask = series.notna() & ~series.str.isascii()
    if not mask.any():
        return series
    out = series.copy()
    out[mask] = series[mask].str.normalize("NFKC")
    return out


_THOUSANDS = r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$"


def to_number(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Numbers from text: NFKC, thousands separators dropped. Returns (float64, bad mask)."""
    text = nfkc(raw)
    commas = text.str.contains(",", regex=False).fillna(False).astype(bool)
    if commas.any():
        grouped = commas & text.str.match(_THOUSANDS).fillna(False).astype(bool)
        text = text.copy()
        text[grouped] = text[grouped].str.replace(",", "", regex=False)
    try:
        values = pd.Series(pc.cast(pa.array(text, type=pa.large_string()), pa.float64())
                           .to_numpy(zero_copy_only=False), index=raw.index)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        values = pd.to_numeric(text.astype(object), errors="coerce").astype("float64")
    # Hand pyarrow's scratch (the text copies, the cast) back before the next column.
    pa.default_memory_pool().release_unused()
    present = raw.notna().to_numpy()
    finite = np.isfinite(values.to_numpy(dtype="float64", na_value=np.nan))
    bad = pd.Series(present & ~finite, index=raw.index)
    if bad.any():
        values = values.where(~bad)
    return values, bad


def _number_reason(raw: pd.Series) -> pd.Series:
    """``formula`` for text starting with '=', else ``not a number``."""
    formula = raw.str.startswith("=").fillna(False).astype(bool)
    return pd.Series(np.where(formula, REASONS["formula"], REASONS["number"]), index=raw.index)


def map_unique(raw: pd.Series, convert: Callable[[str], object]) -> pd.Series:
    """Apply ``convert`` once per distinct value (periods, dates: few distinct values) and
    spread the results with numpy (missing values map to None)."""
    codes, uniques = pd.factorize(raw, use_na_sentinel=True)
    results = np.empty(len(uniques) + 1, dtype=object)
    results[:-1] = [convert(u) for u in uniques]
    results[-1] = None
    return pd.Series(results[codes], index=raw.index, dtype=object)


def factorize(raw: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """``pd.factorize`` (codes in order of first appearance, -1 for missing; the distinct
    values), through pyarrow's dictionary encoding for arrow-backed text: pandas' own costs
    tens of bytes a row, which at 8M revenue rows is hundreds of megabytes."""
    if isinstance(raw.dtype, pd.StringDtype) and raw.dtype.storage == "pyarrow":
        arr = pa.array(raw.array)  # the column's own arrow data, not a copy
        encoded = pc.dictionary_encode(arr)
        if isinstance(encoded, pa.ChunkedArray):
            encoded = (encoded.combine_chunks() if encoded.num_chunks
                       else pa.array([], type=pa.dictionary(pa.int32(), arr.type)))
        codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
        uniques = pd.Series(encoded.dictionary.to_pandas(), dtype="str")
        del encoded
        pa.default_memory_pool().release_unused()
        return codes, uniques
    codes, uniques = pd.factorize(raw, use_na_sentinel=True)
    return codes, pd.Series(uniques, dtype=object)


def sorted_factorize(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """``pd.factorize(values, sort=True, use_na_sentinel=True)``: codes (-1 for a missing
    value) into the distinct values in code point order. Text goes through Arrow's sort,
    which at a million credit codes takes 0.3 s and a few MB where pandas' sorted factorize
    takes 2 s and 80 MB; anything else through pandas."""
    array = None
    if pd.api.types.is_string_dtype(values.dtype) and len(values):
        with suppress(pa.ArrowInvalid, pa.ArrowTypeError):  # not all text: pandas does it
            array = pa.array(values.array if isinstance(values.dtype, pd.StringDtype)
                             else values, from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if array is None or not (pa.types.is_string(array.type)
                             or pa.types.is_large_string(array.type)):
        codes, uniques = pd.factorize(values, sort=True, use_na_sentinel=True)
        return np.asarray(codes, dtype=np.int64), pd.Index(uniques)
    present = pc.array_sort_indices(array, null_placement="at_end").to_numpy()
    present = present[:len(array) - array.null_count]
    ordered = array.take(present)
    first = np.ones(len(ordered), dtype=bool)  # where a new distinct value starts
    if len(ordered) > 1:
        first[1:] = pc.not_equal(ordered.slice(1), ordered.slice(0, len(ordered) - 1)
                                 ).to_numpy(zero_copy_only=False)
    codes = np.full(len(array), -1, dtype=np.int64)
    codes[present] = np.cumsum(first) - 1
    return codes, pd.Index(ordered.filter(pa.array(first)).to_pandas())


def _spread(values: list[object], codes: np.ndarray) -> pd.Categorical:
    """A categorical (sorted categories) holding ``values[code]`` on each row (None where the
    code is -1 or the value is None): one small integer a row instead of a Python object."""
    cat_of_u, categories = pd.factorize(pd.Series(values, dtype=object), sort=True,
                                        use_na_sentinel=True)
    small = np.int8 if len(categories) < 127 else np.int32
    cat_of_u = np.append(cat_of_u, -1).astype(small)  # position -1: a missing value
    return pd.Categorical.from_codes(cat_of_u[codes],
                                     categories=pd.Index(categories, dtype="str"))


def isin(values: pd.Series, allowed: Iterable[str] | np.ndarray | pd.api.extensions.ExtensionArray
         ) -> pd.Series:
    """``values.isin(allowed)`` through a pyarrow hash set (pandas' arrow-string isin walks a
    Python list). Missing values are never in."""
    # Arrays (numpy, pandas' Arrow strings, an Index) convert as a whole; only other iterables
    # are walked in Python.
    array_like = (np.ndarray, pd.api.extensions.ExtensionArray, pd.Index, pd.Series)
    items = allowed if isinstance(allowed, array_like) else list(allowed)
    value_set = pa.array(pd.Series(items, dtype="str").dropna(), type=pa.large_string())
    arr = pa.array(values.astype("str"), type=pa.large_string())
    found = pc.is_in(arr, value_set=value_set, skip_nulls=True).fill_null(False)
    return pd.Series(found.to_numpy(zero_copy_only=False), index=values.index)


_DATE_FORMS = (
    re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"),
    re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$"),
)


def parse_date(text: str) -> date | None:
    """A date as drops write it (see docs/drop-format.md), or None."""
    s = unicodedata.normalize("NFKC", text).strip()
    for form in _DATE_FORMS:
        if m := form.match(s):
            try:
                return date(int(m[1]), int(m[2]), int(m[3]))
            except ValueError:
                return None
    if s.isdigit() and EXCEL_SERIAL_RANGE[0] <= int(s) <= EXCEL_SERIAL_RANGE[1]:
        return EXCEL_EPOCH + timedelta(days=int(s))
    return None


@dataclass(frozen=True)
class QuarterPeriod:
    """A drop period read into a quarter: canonical, its end, year-to-date or not."""

    period: str
    period_end: date
    ytd: bool


def parse_drop_period(text: str) -> QuarterPeriod | str:
    """A quarter, a year-to-date range or a quarter-end month; else the reason text.

    ``2025-06`` is the second quarter (the form Excel users write for "the quarter to June");
    other months, years and days are not quarters.
    """
    try:
        parsed = parse_period(text)
    except ValueError as exc:
        return str(exc)
    if parsed.freq == "Q":
        return QuarterPeriod(parsed.period, parsed.period_end, parsed.basis == "ytd")
    if parsed.freq == "M" and parsed.period_end.month % 3 == 0:
        quarter = parsed.period_end.month // 3
        return QuarterPeriod(f"{parsed.period_end.year}Q{quarter}", parsed.period_end, False)
    what = {"Y": "a year", "M": "a month", "D": "a day"}.get(parsed.freq, "not a quarter")
    return f"period '{text}' is {what}, not a quarter: {QUARTER_HINT}"


def check_codes(codes: pd.Series) -> pd.Series:
    """The reason each credit code is invalid (None where valid), computed on whole columns.

    The check character (GB 32100-2015) is verified with numpy over the 18-character codes;
    only the invalid ones go through :func:`etl.credit_code.problem` for its exact reason.
    """
    uniques = pd.Series(codes.dropna().unique(), dtype="str")
    if uniques.empty:
        return pd.Series(None, index=codes.index, dtype=object)
    ok = np.zeros(len(uniques), dtype=bool)
    lengths = uniques.str.len().to_numpy()
    ascii_ = uniques.str.isascii().to_numpy(dtype=bool)
    cand = np.flatnonzero((lengths == credit_code.CODE_LENGTH) & ascii_)
    if len(cand):
        # The candidates' text as one (n, 18) byte matrix, small integers throughout: a
        # million distinct codes must not become a million Python strings or int64 matrices.
        chosen = pa.array(uniques.iloc[cand], type=pa.large_string())
        chosen = pa.concat_arrays([chosen])  # fresh buffers, offsets from 0
        offsets = np.frombuffer(chosen.buffers()[1], dtype=np.int64)[:len(chosen) + 1]
        width = credit_code.CODE_LENGTH
        if offsets[0] == 0 and offsets[-1] == width * len(chosen):
            raw = np.frombuffer(chosen.buffers()[2], dtype=np.uint8)[:width * len(chosen)]
        else:
            raw = np.frombuffer("".join(chosen.to_pylist()).encode("ascii"), dtype=np.uint8)
        raw = raw.reshape(-1, width)
        lookup = np.full(256, -1, dtype=np.int8)
        for i, ch in enumerate(credit_code.ALPHABET):
            lookup[ord(ch)] = i
        values = lookup[raw]
        del raw, chosen
        allowed = (values >= 0).all(axis=1)
        total = np.zeros(len(values), dtype=np.int64)
        for j, w in enumerate(credit_code.WEIGHTS):
            total += values[:, j].astype(np.int64) * w
        expected = (31 - total % 31) % 31
        ok[cand] = allowed & (values[:, width - 1] == expected)
        del values, total, expected
    bad = {u: r for u in uniques[~ok].tolist() if (r := credit_code.problem(u)) is not None}
    if not bad:
        return pd.Series(None, index=codes.index, dtype=object)
    return map_unique(codes, bad.get)


def normalise_code(raw: pd.Series) -> pd.Series:
    """Credit codes as compared and stored: NFKC (full-width digits) and upper case."""
    return nfkc(raw).str.upper()


def _lookup(raw: pd.Series, table: Mapping[str, object]) -> tuple[pd.Series, pd.Series]:
    """Map values through ``table`` (keys as :func:`_key` makes them); (mapped, unknown mask)."""
    mapped = map_unique(raw, lambda u: table.get(_key(u)))
    unknown = raw.notna() & mapped.isna()
    return mapped, unknown


# ------------------------------------------------------------------------------- schemas


def range_schema(column_map: ColumnMap, kind: str,
                 today: date) -> tuple[pa_schema.DataFrameSchema, dict[tuple[str, int], str]]:
    """The pandera schema of a kind's typed frame: the range checks of its columns.

    Numbers and counts must not be negative, counts must be whole, dates and periods must not
    lie in the future. Returns the schema and the name of each (column, check number): a key
    of :data:`REASONS` or ``future_date``/``future_period``, which the report words itself.
    """
    columns: dict[str, pa_schema.Column] = {}
    names: dict[tuple[str, int], str] = {}
    limit = pd.Timestamp(today)

    def add(column: str, checks: list[tuple[str, pa_schema.Check]]) -> None:
        columns[column] = pa_schema.Column(checks=[c for _, c in checks], nullable=True,
                                           required=False)
        for i, (name, _) in enumerate(checks):
            names[(column, i)] = name

    for column, spec in column_map.specs[kind].items():
        checks: list[tuple[str, pa_schema.Check]] = []
        if spec.dtype in ("number", "int"):
            checks.append(("nonnegative", pa_schema.Check.ge(0)))
        if spec.dtype == "int":
            checks.append(("whole", pa_schema.Check(lambda s: (s % 1) == 0)))
        if spec.dtype == "date":
            checks.append(("future_date", pa_schema.Check(lambda s: s <= limit)))
        if checks:
            add(column, checks)
    add("period_end", [("future_period", pa_schema.Check(lambda s: s <= limit))])
    return pa_schema.DataFrameSchema(columns, strict=False), names


def run_schema(schema: pa_schema.DataFrameSchema, names: dict[tuple[str, int], str],
               typed: pd.DataFrame) -> pd.DataFrame:
    """Failure cases of ``schema`` on ``typed``: columns ``index``, ``column``, ``check`` (the
    check's name in ``names``)."""
    try:
        schema.validate(typed, lazy=True)
    except pa_schema.errors.SchemaErrors as exc:
        fc = exc.failure_cases.dropna(subset=["index", "check_number"])
        checks = [names[(str(c), int(n))] for c, n in zip(fc["column"], fc["check_number"])]
        return pd.DataFrame({"index": fc["index"].to_numpy(), "column": fc["column"].to_numpy(),
                             "check": checks})
    return pd.DataFrame(columns=["index", "column", "check"])


# -------------------------------------------------------------------------------- frames


def _frame(tables: list[Table], kind: str, columns: Iterable[str]) -> pd.DataFrame | None:
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


def _per_table(frame: pd.DataFrame, values: Mapping[int, object]) -> pd.Series:
    return frame["_t"].map(values)


class Validator:
    """Runs every check of one drop; see :func:`validate_drop`."""

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

    # -- shared column checks ------------------------------------------------------------

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
                has_column = _per_table(frame, {i: name in t.headers
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
        scale = _per_table(frame, scales)
        return values * scale.astype("float64")

    def enum(self, frame: pd.DataFrame, column: str, table: Mapping[str, object],
             reason: str) -> pd.Series:
        mapped, unknown = _lookup(frame[column], table)
        self.problems.rows(frame, unknown, column, reason)
        return mapped

    def codes(self, frame: pd.DataFrame, *, compact: bool = False) -> pd.Series:
        """Normalised credit codes, invalid ones reported and left out (NA).

        :param compact: return a categorical (sorted categories): each distinct text is
            normalised and checked once, and the rows hold integer codes, not text (8M revenue
            rows repeat each code eight times).
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
        pa.default_memory_pool().release_unused()
        return pd.Series(pd.Categorical.from_codes(cat_of_u[raw_codes], categories=categories),
                         index=frame.index)

    def periods(self, frame: pd.DataFrame, *, compact: bool = False,
                ) -> tuple[pd.Series, pd.Series, pd.Series]:
        """(canonical period, period end, ytd flag) of the ``period`` column.

        :param compact: the canonical period as a categorical (sorted categories) rather than
            one Python object per row.
        """
        period, end, ytd = self._compact_periods(frame)
        return (period if compact else period.astype(object)), end, ytd

    def _compact_periods(self, frame: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
        """:meth:`periods` with the canonical period as a categorical; per-row work is integer
        indexing only."""
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
        return (pd.Series(_spread(period, codes), index=frame.index),
                pd.Series(end[codes], index=frame.index),
                pd.Series(ytd[codes], index=frame.index))

    def _compact_enum(self, frame: pd.DataFrame, column: str, table: Mapping[str, object],
                      reason: str, default: object = None) -> pd.Series:
        """:meth:`enum` as a categorical (``default`` where the value is missing)."""
        codes, uniques = factorize(frame[column])
        mapped: list[object] = [table.get(_key(u)) for u in uniques]
        unknown_u = np.array([m is None for m in mapped] + [False], dtype=bool)
        self.problems.rows(frame, unknown_u[codes], column, reason)
        values = [default if m is None else m for m in mapped]
        return pd.Series(_spread([*values, default], np.where(codes < 0, len(values), codes)),
                         index=frame.index)

    def provenance(self, frame: pd.DataFrame) -> pd.Series:
        mapped = self.enum(frame, "provenance", PROVENANCE_VALUES, REASONS["provenance"])
        return mapped.fillna(self.default_provenance)

    def ranges(self, kind: str, frame: pd.DataFrame, typed: pd.DataFrame) -> None:
        """The pandera range checks, reported in this module's words."""
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
        if n and key.max() < (1 << 31) - 1:
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

    def enterprises(self) -> pd.DataFrame | None:
        cols = list(self.map.specs["enterprises"])
        frame = _frame(self.tables, "enterprises", cols)
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
        founded = map_unique(nfkc(frame["founded"]), parse_date)
        self.problems.rows(frame, frame["founded"].notna() & founded.isna(), "founded",
                           REASONS["date"])
        typed["founded"] = pd.to_datetime(founded)
        typed["registered_capital"] = self.number(frame, "registered_capital").round(
            MONEY_DECIMALS)
        typed["employees"] = self.number(frame, "employees")
        typed["status"] = self.enum(frame, "status", STATUS_VALUES, REASONS["status"])
        typed["provenance"] = self.provenance(frame)
        self.ranges("enterprises", frame, typed)
        self.duplicates(frame, typed, ["credit_code"])
        bits = {i: sum(1 << b for b, c in enumerate(ENTERPRISE_OPTIONAL)
                       if c in t.headers) for i, t in enumerate(self.tables)}
        typed["given"] = _per_table(frame, bits).astype("int64")
        typed["founded"] = typed["founded"].dt.strftime("%Y-%m-%d")
        typed["employees"] = typed["employees"].round().astype("Int64")
        typed["_t"] = frame["_t"]
        typed["_row"] = frame["_row"]
        typed["_raw_code"] = frame["credit_code"]
        return typed

    def revenue(self, enterprise_codes: pd.Series | None) -> pd.DataFrame | None:
        cols = list(self.map.specs["revenue"])
        frame = _frame(self.tables, "revenue", cols)
        if frame is None:
            return None
        self.required(frame, "revenue")
        # Compact columns (8M rows): credit code and period as categoricals (integer codes),
        # provenance as a categorical; the period end only while the range checks need it.
        typed = pd.DataFrame(index=frame.index)
        typed["credit_code"] = self.codes(frame, compact=True)
        period, end, ytd_period = self.periods(frame, compact=True)
        typed["period"] = period
        typed["period_end"] = end
        del period, end
        revenue = self.number(frame, "revenue")
        typed["revenue"] = np.round(revenue.to_numpy(dtype="float64", copy=True), MONEY_DECIMALS)
        del revenue
        basis = self._compact_enum(frame, "basis", BASIS_VALUES, REASONS["basis"])
        conflict = ytd_period & (basis == "quarterly")
        self.problems.rows(frame, conflict, "basis", REASONS["basis_conflict"])
        typed["ytd"] = ytd_period | (basis == "ytd").fillna(False).astype(bool)
        del basis, conflict, ytd_period
        typed["provenance"] = self._compact_enum(frame, "provenance", PROVENANCE_VALUES,
                                                 REASONS["provenance"], self.default_provenance)
        self.ranges("revenue", frame, typed)
        del typed["period_end"]
        dup = self.duplicates(frame, typed, ["credit_code", "period"])
        self.unknown_enterprises(frame, typed, enterprise_codes)
        typed["_t"] = frame["_t"]
        typed["_row"] = frame["_row"]
        return self.year_to_date(frame, typed, dup)

    def unknown_enterprises(self, frame: pd.DataFrame, typed: pd.DataFrame,
                            enterprise_codes: pd.Series | None) -> None:
        codes = typed["credit_code"]
        if isinstance(codes.dtype, pd.CategoricalDtype):
            self._unknown_compact(frame, codes, enterprise_codes)
            return
        candidates = codes.notna()
        if enterprise_codes is not None:
            candidates &= ~isin(codes, enterprise_codes.dropna().unique())
        wanted = codes[candidates].unique()
        if len(wanted) == 0:
            return
        stored = stored_codes(self.conn, list(wanted))
        missing = candidates & ~isin(codes, sorted(stored))
        self.problems.rows(frame, missing, "credit_code", REASONS["unknown_enterprise"])

    def _unknown_compact(self, frame: pd.DataFrame, codes: pd.Series,
                         enterprise_codes: pd.Series | None) -> None:
        """:meth:`unknown_enterprises` on a categorical: each distinct code looked up once."""
        categories = pd.Series(codes.cat.categories, dtype="str")
        row_codes = codes.cat.codes.to_numpy()
        present = row_codes >= 0
        used = np.zeros(len(categories), dtype=bool)
        used[row_codes[present]] = True
        candidates = used.copy()
        if enterprise_codes is not None:
            candidates &= ~isin(categories, enterprise_codes.dropna().unique()).to_numpy()
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
        # The usable rows as text (the categoricals' codes mean nothing to merge and pivot).
        work = typed.loc[usable, ["credit_code", "period", "revenue", "ytd"]]
        work["credit_code"] = work["credit_code"].astype("str")
        work["period"] = work["period"].astype("str")
        work["_year"] = work["period"].str[:4]
        work["_q"] = pd.to_numeric(work["period"].str[5], errors="coerce")
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
                f"{year}Q{n - 1} ({_fmt(p)} million CNY), so {year}Q{n} would be negative"
                for y, p, year, n in zip(ytd_rows["revenue"].to_numpy()[negative],
                                         prev_values[negative],
                                         ytd_rows["_year"].to_numpy()[negative], q[negative])]
            self.problems.rows(frame, mask, "revenue", reason)
        typed.loc[ytd_rows.index, "revenue"] = quarter_values
        return typed

    def zone_metrics(self) -> pd.DataFrame | None:
        specs = self.map.specs["zone_metrics"]
        cols = list(specs)
        frame = _frame(self.tables, "zone_metrics", cols)
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


def _fmt(x: float) -> str:
    """A money figure for a report: up to six decimals, no trailing zeros."""
    return f"{x:,.6f}".rstrip("0").rstrip(".")


def stored_codes(conn: sqlite3.Connection, codes: list[str]) -> set[str]:
    """Which of ``codes`` are in the enterprises table."""
    if len(codes) > BULK_LOOKUP_THRESHOLD:
        have = {c for (c,) in conn.execute("SELECT credit_code FROM enterprises")}
        return have.intersection(codes)
    found: set[str] = set()
    for i in range(0, len(codes), SQL_CHUNK):
        chunk = codes[i:i + SQL_CHUNK]
        marks = ",".join("?" * len(chunk))
        found.update(c for (c,) in conn.execute(
            f"SELECT credit_code FROM enterprises WHERE credit_code IN ({marks})", chunk))
    return found


def stored_quarters(conn: sqlite3.Connection, groups: pd.DataFrame) -> pd.DataFrame:
    """Current stored revenue of the first three quarters of each (credit_code, year) in
    ``groups``, as a frame indexed by (credit_code, _year) with columns 1…4."""
    years = sorted(groups["_year"].unique())
    periods = [f"{y}Q{q}" for y in years for q in (1, 2, 3)]
    marks = ",".join("?" * len(periods))
    rows = conn.execute(
        f"SELECT credit_code, period, revenue FROM enterprise_revenue WHERE period IN ({marks})",
        periods).fetchall()
    if not rows:
        return pd.DataFrame(index=pd.MultiIndex.from_frame(groups), columns=range(1, 5),
                            dtype="float64")
    stored = pd.DataFrame(rows, columns=["credit_code", "period", "revenue"])
    stored["_year"] = stored["period"].str[:4]
    stored["_q"] = stored["period"].str[5].astype(int)
    stored = stored.merge(groups, on=["credit_code", "_year"])
    return stored.pivot(index=["credit_code", "_year"], columns="_q", values="revenue")


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
    default_provenance = PROVENANCE_VALUES.get(_key(source.get("provenance", "")), "reported")
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
