"""Cell converters: text columns of a drop into numbers, dates, quarters, codes and categoricals.

Each converter works on a whole column (pandas and pyarrow compute); per-value Python runs only
over the distinct values of a column (periods, dates, enumerations, invalid credit codes), so a
column of millions of rows converts in a fraction of a second. A converter returns the values
and what did not convert (a mask, or the reason per row); reporting it is the validator's job.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from etl import credit_code
from models.periods import QUARTER_HINT, parse_period, quarter_label

# Excel's day zero for serial dates (the 1900 system, with its leap-year bug folded in).
EXCEL_EPOCH = date(1899, 12, 30)
EXCEL_SERIAL_RANGE = (20_000, 80_000)  # 1954-10-03 … 2119-01-10: plausibly a date, not a count


def enum_key(text: object) -> str:
    """How an enumerated value is matched: NFKC, lower case, no spaces or underscores."""
    return re.sub(r"[\s_\-]+", "", unicodedata.normalize("NFKC", str(text)).lower())


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
    takes 2 s and 80 MB, or, when every value has the same number of bytes (credit codes),
    through numpy's sort of them as byte strings (a third faster again); anything else
    through pandas."""
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
    fixed = fixed_width(array)
    if fixed is not None:
        # Every value the same number of bytes (credit codes): sorted as numpy byte strings,
        # whose order is the bytes', which for UTF-8 is the code points'.
        present = np.argsort(fixed, kind="stable")
        ordered_bytes = fixed[present]
        first = np.ones(len(ordered_bytes), dtype=bool)
        first[1:] = ordered_bytes[1:] != ordered_bytes[:-1]
        codes = np.empty(len(array), dtype=np.int64)
        codes[present] = np.cumsum(first) - 1
        return codes, pd.Index(pd.array(_text_of(ordered_bytes[first]), dtype="str"))
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


def fixed_width(array: pa.Array) -> np.ndarray | None:
    """Arrow text whose values all have the same number of bytes (no missing value, no NUL
    byte, at most 64) as a numpy byte-string array over its buffer; None otherwise."""
    if array.null_count or not len(array):
        return None
    offsets = np.frombuffer(array.buffers()[1],
                            dtype=np.int64 if pa.types.is_large_string(array.type) else np.int32)[
        array.offset:array.offset + len(array) + 1]
    size = int(offsets[1] - offsets[0])
    if not 0 < size <= 64 or (np.diff(offsets) != size).any():
        return None
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
    if not data.all():  # a NUL byte: numpy's byte strings drop trailing ones
        return None
    return data.view(f"S{size}")


def _text_of(fixed: np.ndarray) -> pa.Array:
    """Numpy byte strings of one width (UTF-8, no NUL byte) as Arrow text, from their buffer."""
    size = fixed.dtype.itemsize
    offsets = np.arange(0, size * len(fixed) + 1, size, dtype=np.int64)
    return pa.Array.from_buffers(pa.large_string(), len(fixed),
                                 [None, pa.py_buffer(offsets), pa.py_buffer(fixed.tobytes())])


def distinct_categorical(codes: np.ndarray, categories: pd.Index) -> pd.Categorical:
    """``pd.Categorical.from_codes`` for categories that are distinct by construction (a
    factorisation's): pandas' own check that they are, a hash of every category (0.15 s at a
    million credit codes), is skipped through its fast path where pandas has one."""
    fast = getattr(pd.CategoricalDtype, "_from_fastpath", None)
    dtype = fast(categories, False) if fast is not None else pd.CategoricalDtype(categories)
    return pd.Categorical.from_codes(codes, dtype=dtype)


def spread(values: list[object], codes: np.ndarray) -> pd.Categorical:
    """A categorical (sorted categories) holding ``values[code]`` on each row (None where the
    code is -1 or the value is None): one small integer a row instead of a Python object."""
    cat_of_u, categories = pd.factorize(pd.Series(values, dtype=object), sort=True,
                                        use_na_sentinel=True)
    small = np.int8 if len(categories) < 127 else np.int32
    cat_of_u = np.append(cat_of_u, -1).astype(small)  # position -1: a missing value
    return pd.Categorical.from_codes(cat_of_u[codes],
                                     categories=pd.Index(categories, dtype="str"))


def _one_array(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """An Arrow array in one piece (a ChunkedArray's chunks combined)."""
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def isin(values: pd.Series, allowed: Iterable[str] | np.ndarray | pd.api.extensions.ExtensionArray
         ) -> pd.Series:
    """``values.isin(allowed)`` through a pyarrow hash set (pandas' arrow-string isin walks a
    Python list). Missing values are never in."""
    # Arrays (numpy, pandas' Arrow strings, an Index) convert as a whole; only other iterables
    # are walked in Python.
    array_like = (np.ndarray, pd.api.extensions.ExtensionArray, pd.Index, pd.Series)
    items = allowed if isinstance(allowed, array_like) else list(allowed)
    # Each side in its own Arrow text type (no copy into a wider one unless they differ).
    value_set = _one_array(pa.array(pd.Series(items, dtype="str").dropna()))
    arr = _one_array(pa.array(values.astype("str")))
    if value_set.type != arr.type:
        value_set, arr = value_set.cast(pa.large_string()), arr.cast(pa.large_string())
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


def parse_dates(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Dates from text, :func:`parse_date` once per distinct value: (``datetime64[s]``, NaT
    where missing or not a date; the ISO text, None there). The text is made per distinct date
    too: formatting a million dates row by row costs a third of a second."""
    codes, uniques = factorize(nfkc(raw))
    parsed = [parse_date(u) for u in uniques.tolist()]
    when = np.array([*(np.datetime64(p, "s") if p else np.datetime64("NaT", "s")
                       for p in parsed), np.datetime64("NaT", "s")], dtype="datetime64[s]")
    iso = np.array([*(p.isoformat() if p else None for p in parsed), None], dtype=object)
    return (pd.Series(when[codes], index=raw.index),
            pd.Series(iso[codes], index=raw.index, dtype=object))


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
        return QuarterPeriod(quarter_label(parsed.period_end.year, quarter), parsed.period_end,
                             False)
    what = {"Y": "a year", "M": "a month", "D": "a day"}.get(parsed.freq, "not a quarter")
    return f"period '{text}' is {what}, not a quarter: {QUARTER_HINT}"


def check_codes(codes: pd.Series) -> pd.Series:
    """The reason each credit code is invalid (None where valid), computed on whole columns.

    Every present code is checked at once (:func:`etl.credit_code.valid_mask`, a few integer
    operations per character: cheaper than finding the distinct codes first, since a register's
    codes are distinct anyway); only the distinct invalid ones go through
    :func:`etl.credit_code.problem` for its exact reason.
    """
    present = codes.notna().to_numpy(dtype=bool)
    if not present.any():
        return pd.Series(None, index=codes.index, dtype=object)
    ok = credit_code.valid_mask(codes[present].astype("str"))
    if ok.all():
        return pd.Series(None, index=codes.index, dtype=object)
    invalid = pd.unique(codes[present][~ok].astype(object).to_numpy())
    bad = {u: r for u in invalid.tolist() if (r := credit_code.problem(u)) is not None}
    if not bad:
        return pd.Series(None, index=codes.index, dtype=object)
    return map_unique(codes, bad.get)


def normalise_code(raw: pd.Series) -> pd.Series:
    """Credit codes as compared and stored: NFKC (full-width digits) and upper case."""
    return nfkc(raw).str.upper()


def lookup(raw: pd.Series, table: Mapping[str, object]) -> tuple[pd.Series, pd.Series]:
    """Map values through ``table`` (keys as :func:`enum_key` makes them); (mapped, unknown mask)."""
    mapped = map_unique(raw, lambda u: table.get(enum_key(u)))
    unknown = raw.notna() & mapped.isna()
    return mapped, unknown
