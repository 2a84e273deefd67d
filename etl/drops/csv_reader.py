"""Parsing a CSV data file into a :class:`~etl.drops.headers.Table`.

CSV is parsed by pyarrow (multi-threaded, all columns as text). When pyarrow refuses a file, or
the file has an odd number of quote characters (a quote opened and never closed, which pyarrow
accepts at the end of a file), the file is read again with Python's csv module to say exactly
which rows are wrong. The file's encoding was found before (:func:`etl.drops.files.fingerprint`).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from etl.drops.drop_files import columns_problem
from etl.drops.files import READ_CHUNK, DropFile
from etl.drops.headers import REASON_EMPTY, ColumnMap, Table, build_table
from models.problems import Problem

# Bytes of the first record handed to the csv module to count the header's fields.
HEADER_PROBE = 1 << 16
REASON_UNTERMINATED = ("unterminated quoted field: a \" opened in this row is never closed "
                       "(the file may be truncated)")


def read_csv_file(file: DropFile, column_map: ColumnMap) -> tuple[list[Table], list[Problem]]:
    """Parse one CSV file (its encoding already found by :func:`etl.drops.files.fingerprint`)."""
    assert file.kind is not None and file.encoding is not None
    if file.size == 0 or _only_blank(file):
        return [], [Problem(file.name, None, None, None, None, REASON_EMPTY)]
    too_wide = columns_problem(_header_fields(file))
    if too_wide is not None:
        return [], [Problem(file.name, None, 1, None, None, too_wide)]
    records, problems = _parse_csv_fast(file)
    if records is None:
        records, problems = _parse_csv_exact(file)
    header, body, rows = records
    table, header_problems = build_table(file, None, file.kind, header, body, rows, column_map,
                                         header_row=1, had_bad_rows=bool(problems))
    problems.extend(header_problems)
    return ([table] if table is not None else []), problems


def _header_fields(file: DropFile) -> int:
    """Fields of the header line, counted on its first :data:`READ_CHUNK` bytes at most (a
    quote left open in the header does not make this read the whole file)."""
    with file.open() as fh:
        head = fh.read(READ_CHUNK)
    line = head.split(b"\n", 1)[0].decode(file.encoding or "utf-8", errors="replace")
    return len(next(csv.reader([line.rstrip("\r")]), []))


def _only_blank(file: DropFile) -> bool:
    """True for a file of nothing but a BOM, spaces and line breaks."""
    if file.size > HEADER_PROBE:
        return False
    text = file.read_bytes().decode(file.encoding or "utf-8", errors="replace")
    return not text.replace("\ufeff", "").strip()


def _arrow_encoding(encoding: str) -> str:
    return "utf8" if encoding.startswith("utf-8") else encoding


def _parse_csv_fast(file: DropFile) -> tuple[tuple[list[str], pd.DataFrame, np.ndarray] | None,
                                             list[Problem]]:
    """pyarrow: every column as text. None when the file needs the exact, slower reader."""
    assert file.encoding is not None
    if file.quotes % 2:
        return None, []
    n_fields = _header_width(file)
    names = [f"f{i}" for i in range(n_fields)]
    try:
        tbl = pacsv.read_csv(
            file.open(),
            read_options=pacsv.ReadOptions(encoding=_arrow_encoding(file.encoding),
                                           column_names=names, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                 strings_can_be_null=False,
                                                 quoted_strings_can_be_null=False),
        )
    except pa.ArrowException:
        return None, []
    if tbl.num_rows == 0:
        return None, []
    header = [("" if v is None else str(v)) for v in tbl.slice(0, 1).to_pylist()[0].values()]
    n_body = tbl.num_rows - 1
    # Column by column, releasing each raw column once it is converted: at 8M rows the raw
    # text, its trimmed copy and the pandas column must not all exist for every column at once.
    raw_columns = tbl.columns
    del tbl
    cols: dict[int, pd.Series] = {}
    for i in range(len(raw_columns)):
        raw = raw_columns[i].slice(1)
        raw_columns[i] = None
        arr = pc.utf8_trim_whitespace(raw)
        del raw
        arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)
        cols[i] = pd.Series(arr.to_pandas(), name=i)
        del arr
    body = pd.DataFrame(cols) if cols else pd.DataFrame(index=range(n_body))
    del cols
    body.columns = list(range(len(body.columns)))
    rows = np.arange(2, n_body + 2, dtype=np.int64)
    return (header, body, rows), []


def _header_width(file: DropFile) -> int:
    """Number of fields of the header record, read with the csv module."""
    assert file.encoding is not None
    with (io.TextIOWrapper(file.open(), encoding=file.encoding, newline="") as fh,
          _csv_field_limit(file.size)):
        first = next(csv.reader(fh), [])
    return max(len(first), 1)


@contextmanager
def _csv_field_limit(chars: int) -> Iterator[None]:
    """Let the csv module read a field of up to ``chars`` characters while the block runs.

    Its default limit (131,072) ends in ``_csv.Error`` when a stray quote makes the rest of a
    large file one field; that field must be read to report the quote at the row where it
    opened (and an over-long value is refused by the validator, with its length).
    """
    old = csv.field_size_limit()
    csv.field_size_limit(max(old, chars + 1))
    try:
        yield
    finally:
        csv.field_size_limit(old)


def _parse_csv_exact(file: DropFile) -> tuple[tuple[list[str], pd.DataFrame, np.ndarray],
                                              list[Problem]]:
    """The csv module, record by record: says which rows have too few or too many fields and
    whether the last one leaves a quote open. Rows of the wrong width are left out."""
    assert file.encoding is not None
    text = file.read_bytes().decode(file.encoding)
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] = []
    body: list[list[str]] = []
    rows: list[int] = []
    problems: dict[int, Problem] = {}
    record_no = 0  # the header is record (and row) 1
    with _csv_field_limit(len(text)):
        for record in reader:
            record_no += 1
            if record_no == 1:
                header = record
                continue
            if not record or all(not v.strip() for v in record):
                continue
            if len(record) != len(header):
                if len(record) < len(header):
                    reason = (f"row has too few fields: {len(record)}, the header has "
                              f"{len(header)} (the file may be truncated)")
                else:
                    reason = (f"row has too many fields: {len(record)}, the header has "
                              f"{len(header)}: a value holds an unquoted comma, or the row has "
                              "extra cells")
                problems[record_no] = Problem(file.name, None, record_no, None, None, reason)
                continue
            body.append([v.strip() for v in record])
            rows.append(record_no)
    if _ends_inside_quotes(text):
        problems[record_no] = Problem(file.name, None, record_no, None, None, REASON_UNTERMINATED)
        if rows and rows[-1] == record_no:
            rows.pop()
            body.pop()
    columns = list(range(len(header)))
    if body:
        frame = pd.DataFrame(body, columns=columns, dtype="str").replace("", np.nan)
    else:
        frame = pd.DataFrame({i: pd.Series([], dtype="str") for i in columns})
    return (header, frame, np.asarray(rows, dtype=np.int64)), list(problems.values())


def _ends_inside_quotes(text: str) -> bool:
    """True when the text ends inside a quoted field (RFC 4180: a field that starts with a
    quote runs to the next quote that is not doubled; a quote inside a field is literal).

    Only the quote characters are visited, so this is fast unless nearly every byte is one.
    """
    quotes = [m.start() for m in re.finditer('"', text)]
    in_quotes = False
    k = 0
    while k < len(quotes):
        pos = quotes[k]
        if in_quotes:
            if k + 1 < len(quotes) and quotes[k + 1] == pos + 1:
                k += 2
                continue
            in_quotes = False
        elif pos == 0 or text[pos - 1] in ",\r\n":
            in_quotes = True
        k += 1
    return in_quotes
