"""Reading a quarterly drop: find its files, detect their encoding, parse CSV and XLSX, map headers.

This is the *read* step of the drop loader (``etl.drops.load``). It turns every data file, or every
data sheet of a workbook, into a :class:`Table`: a DataFrame of stripped strings under the
canonical column names of ``data/column_map.csv``, with the spreadsheet row number of each row.
Nothing here converts types or looks at the database; that is ``etl.drops.validate``. Everything that
can be wrong with a file as a file (its name, its encoding, a truncated row, an unknown or
missing column) becomes a :class:`~models.problems.Problem` instead of an exception, so that one
run reports every problem of a drop.

Decisions worth knowing:

* Encoding: UTF-8 (with or without BOM) is tried strictly first, then GB18030 strictly (a
  superset of GBK and GB2312, what Excel on Chinese Windows writes). The rule is deterministic;
  charset-normalizer is only asked for a hint when neither decodes.
* CSV is parsed by pyarrow (multi-threaded, all columns as text). When pyarrow refuses a file,
  or the file has an odd number of quote characters (a quote opened and never closed, which
  pyarrow accepts at the end of a file), the file is read again with Python's csv module to
  say exactly which rows are wrong.
* XLSX is opened with ``data_only=False``: a formula cell yields its formula text, which is
  stored verbatim in a text column and reported in a number column. Cached results are never
  used: they may be stale, and files written by scripts have none.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import os
import re
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from defusedxml import DefusedXmlException
from openpyxl.utils.exceptions import InvalidFileException

from etl.drops import text_rules, workbook_limits
from etl.drops.drop_files import (
    UnsafeEntry,
    columns_problem,
    csv_size_problem,
    entry_problem,
    open_entry,
    read_entry,
)
from models.problems import Problem

COLUMN_MAP_PATH = Path(__file__).resolve().parents[2] / "data" / "column_map.csv"
# File stems of each kind, English and Chinese (docs/drop-format.md).
FILE_KINDS: dict[str, tuple[str, ...]] = {
    "enterprises": ("enterprises", "企业名录"),
    "revenue": ("revenue", "营业收入"),
    "zone_metrics": ("zone_metrics", "园区指标"),
}
KIND_ORDER = tuple(FILE_KINDS)
DATA_SUFFIXES = (".csv", ".xlsx")
SOURCE_JSON = "source.json"
REPORT_NAME = "rejections.csv"
# 4 MiB: large enough that hashing and decoding run at disk speed, small enough to stream.
READ_CHUNK = 1 << 22
# Bytes of the first record handed to the csv module to count the header's fields.
HEADER_PROBE = 1 << 16
UTF8_BOM = codecs.BOM_UTF8

REASON_EMPTY = "file is empty: it has no header row"
REASON_NO_ROWS = "file has a header row but no data rows"
REASON_SHEET_EMPTY = "sheet is empty: it has no header row"
# What a damaged workbook raises: a cut-off or non-zip file (BadZipFile, zlib.error, EOFError),
# a missing part (KeyError), broken XML (ParseError is a SyntaxError), unexpected contents
# (ValueError, TypeError, OSError) or openpyxl's own InvalidFileException.
XLSX_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, KeyError, SyntaxError, ValueError,
               TypeError, OSError, InvalidFileException)
REASON_BAD_XLSX = ("not a readable XLSX workbook (the file may be truncated): open it in Excel "
                   "and save it again, or export it as CSV")
REASON_XLS = "old Excel .xls format is not read: save the file as XLSX or CSV"
REASON_UNTERMINATED = ("unterminated quoted field: a \" opened in this row is never closed "
                       "(the file may be truncated)")


@dataclass(frozen=True)
class ColumnSpec:
    """One canonical column of one file kind, as ``data/column_map.csv`` describes it."""

    kind: str
    column: str
    header_zh: str
    required: bool
    dtype: str
    metric: str | None = None


@dataclass(frozen=True)
class ColumnMap:
    """The header spellings of every file kind: normalised header → (column, scale)."""

    specs: dict[str, dict[str, ColumnSpec]]
    headers: dict[str, dict[str, tuple[str, float]]]

    def match(self, kind: str, header: str) -> tuple[str, float] | None:
        """The canonical column and unit scale for ``header`` in a file of ``kind``, or None."""
        return self.headers[kind].get(header_key(header))

    def describe(self, kind: str, column: str) -> str:
        """``credit_code (统一社会信用代码)``: how a report names a column."""
        spec = self.specs[kind][column]
        return f"{column} ({spec.header_zh})" if spec.header_zh else column


def header_key(header: str) -> str:
    """A header as matched: NFKC (full-width brackets, spaces), lower case, no spaces,
    underscores or hyphens, so ``Credit Code``, ``credit_code`` and ``注册资本（万元）`` match."""
    text = unicodedata.normalize("NFKC", str(header)).lower()
    return re.sub(r"[\s_\-]+", "", text.replace("\ufeff", ""))


def load_column_map(path: Path = COLUMN_MAP_PATH) -> ColumnMap:
    """Read ``data/column_map.csv``.

    Columns: ``file_kind, column, header_zh, aliases, required, dtype, scale, metric``. A column
    may have several rows, one per unit: the English ``column`` name always means the stored
    unit (scale 1); ``header_zh`` and the ``|``-separated ``aliases`` of a row carry its scale
    (``注册资本(万元)`` → 0.01: 万元 to million CNY).

    :raises ValueError: if the map is inconsistent (an unknown kind, two columns sharing a
        spelling, a column whose rows disagree on required or dtype).
    """
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    specs: dict[str, dict[str, ColumnSpec]] = {k: {} for k in FILE_KINDS}
    headers: dict[str, dict[str, tuple[str, float]]] = {k: {} for k in FILE_KINDS}
    for rec in frame.to_dict("records"):
        kind, column = rec["file_kind"].strip(), rec["column"].strip()
        if kind not in FILE_KINDS:
            raise ValueError(f"{path.name}: unknown file_kind {kind!r}")
        spec = ColumnSpec(kind, column, rec["header_zh"].strip(),
                          rec["required"].strip().lower() == "yes", rec["dtype"].strip(),
                          rec.get("metric", "").strip() or None)
        old = specs[kind].get(column)
        if old is not None and (old.required, old.dtype) != (spec.required, spec.dtype):
            raise ValueError(f"{path.name}: rows for {kind}.{column} disagree on required/dtype")
        if old is None:
            specs[kind][column] = spec
        scale = float(rec["scale"] or 1)
        spellings = [(column, 1.0)] + [(h, scale) for h in
                                       [spec.header_zh, *rec["aliases"].split("|")] if h.strip()]
        for spelling, factor in spellings:
            key = header_key(spelling)
            seen = headers[kind].get(key)
            if seen is not None and seen != (column, factor) and not (
                    spelling == column and seen[0] == column):
                raise ValueError(f"{path.name}: header {spelling!r} of {kind} is ambiguous")
            if seen is None or spelling != column:
                headers[kind].setdefault(key, (column, factor))
    return ColumnMap(specs, headers)


@dataclass
class DropFile:
    """One file of a drop folder: its kind (from the name), checksum and encoding."""

    path: Path
    name: str
    kind: str | None
    size: int = 0
    sha256: str = ""
    encoding: str | None = None
    quotes: int = 0
    # (st_dev, st_ino) of the entry when the folder was listed: every open checks it.
    identity: tuple[int, int] | None = None

    def open(self) -> BinaryIO:
        """The file for reading, never through a link (see :func:`etl.drops.drop_files.open_entry`)."""
        return open_entry(self.path, self.identity)

    def read_bytes(self) -> bytes:
        return read_entry(self.path, self.identity)


@dataclass
class Table:
    """One CSV file, or one data sheet of a workbook, with its headers mapped.

    ``data`` holds stripped strings (missing values as NA) under canonical column names;
    ``rows`` the row number a spreadsheet shows for each (the header is row 1 in a CSV).
    ``headers`` maps each canonical column to the header as the file spells it, and ``scale``
    to the factor that turns its numbers into the stored unit.
    """

    file: str
    sheet: str | None
    kind: str
    data: pd.DataFrame
    rows: np.ndarray
    headers: dict[str, str]
    scale: dict[str, float]
    encoding: str | None
    sha256: str
    rows_read: int = 0


@dataclass
class ReadResult:
    """Everything read from a drop folder."""

    files: list[DropFile] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    source: dict[str, object] | None = None


def file_kind(name: str) -> str | None:
    """The kind of a data file from its stem: ``revenue.csv``, ``营业收入.xlsx`` or a stem
    that starts with one of those and a separator (``revenue_part2.csv``)."""
    stem = unicodedata.normalize("NFKC", Path(name).stem).strip().lower()
    for kind, stems in FILE_KINDS.items():
        for s in stems:
            if stem == s or (stem.startswith(s) and stem[len(s)] in "_- .（("):
                return kind
    return None


def discover(drop_dir: Path, *, ignore: tuple[Path, ...] = ()) -> tuple[list[DropFile],
                                                                         list[Problem]]:
    """The data files of a drop folder, enterprises first, and problems with file names.

    ``source.json``, an earlier ``rejections.csv``, hidden files, Excel lock files (``~$…``),
    other sub-folders and files that are neither CSV nor XLSX (a README) are not data and are left
    alone; a CSV or XLSX whose name is no known kind is a problem (a typo in a file name must
    not silently drop a file). An entry named like a data file must be a regular file of the
    folder (see :mod:`etl.drops.drop_files`): a link, FIFO, device, folder or hard-linked file is a
    problem, and is never opened.

    :param ignore: further paths that are not data (the rejection report about to be written).
    """
    ignored = {_entry_key(p) for p in ignore}
    files: list[DropFile] = []
    problems: list[Problem] = []
    for path in sorted(drop_dir.iterdir(), key=lambda p: p.name):
        name = path.name
        if (name.startswith((".", "~$")) or name == SOURCE_JSON or name == REPORT_NAME
                or _entry_key(path) in ignored):
            continue
        suffix = path.suffix.lower()
        if suffix not in (*DATA_SUFFIXES, ".xls"):
            continue
        try:
            st = path.lstat()
        except FileNotFoundError:  # removed while the folder was listed
            continue
        unsafe = entry_problem(st)
        if unsafe is not None:
            problems.append(Problem(name, None, None, None, None, unsafe))
            continue
        if suffix == ".xls":
            problems.append(Problem(name, None, None, None, None, REASON_XLS))
            continue
        kind = file_kind(name)
        if kind is None:
            names = ", ".join(f"{en}/{zh}" for en, zh in FILE_KINDS.values())
            problems.append(Problem(name, None, None, None, None,
                                    f"file name is not a known kind: name it {names} "
                                    "(.csv or .xlsx)"))
            continue
        size = (csv_size_problem(st.st_size) if suffix == ".csv"
                else workbook_limits.file_size_problem(st.st_size))
        if size is not None:
            problems.append(Problem(name, None, None, None, None, size))
            continue
        files.append(DropFile(path, name, kind, identity=(st.st_dev, st.st_ino)))
    files.sort(key=lambda f: (KIND_ORDER.index(f.kind or ""), f.name))
    if not files and not problems:
        problems.append(Problem(drop_dir.name, None, None, None, None,
                                "the folder holds no data file: expected enterprises, revenue "
                                "or zone_metrics as .csv or .xlsx"))
    return files, problems


def _entry_key(path: Path) -> Path:
    """A folder entry as compared with the paths to ignore: its folder resolved, its own name
    kept (a link is its own entry, not the file it points to)."""
    return path.parent.resolve() / path.name


def fingerprint(file: DropFile) -> Problem | None:
    """Hash the file and, for a CSV, find its encoding; a problem if the bytes do not decode.

    One streaming pass computes the SHA-256 and checks strict UTF-8 (``utf-8-sig`` when the
    file starts with a BOM); a second pass tries strict GB18030 only if that fails. A CSV that
    holds a NUL byte where it still reads as UTF-8 is no text file (binary, UTF-16 without a
    BOM, or a sparse file of zeros): the pass stops there rather than read the rest.
    """
    sha = hashlib.sha256()
    utf8 = _StrictDecoder("utf-8")
    first = True
    size = 0
    quotes = 0
    is_csv = file.path.suffix.lower() == ".csv"
    nul: int | None = None
    try:
        with file.open() as fh:
            while chunk := fh.read(READ_CHUNK):
                at = chunk.find(b"\0") if is_csv else -1
                start = size
                sha.update(chunk)
                size += len(chunk)
                quotes += chunk.count(b'"')
                if first and chunk.startswith(UTF8_BOM):
                    utf8.skip(len(UTF8_BOM))
                    chunk = chunk[len(UTF8_BOM):]
                first = False
                utf8.feed(chunk)
                # Where the bytes stop being UTF-8 first (UTF-16 with its BOM), the encoding
                # problem below says more than the NUL byte.
                if at >= 0 and (utf8.error is None or start + at < utf8.error):
                    nul = start + at
                    break
    except UnsafeEntry as exc:
        return Problem(file.name, None, None, None, None, exc.reason)
    if nul is not None:
        return _nul_problem(file, nul)
    utf8.finish()
    file.size, file.sha256, file.quotes = size, sha.hexdigest(), quotes
    if not is_csv:
        return None
    if utf8.error is None:
        file.encoding = "utf-8-sig" if utf8.skipped else "utf-8"
        return None
    gb = _StrictDecoder("gb18030")
    with file.open() as fh:
        while chunk := fh.read(READ_CHUNK):
            gb.feed(chunk)
            if gb.error is not None:
                break
    gb.finish()
    if gb.error is None:
        file.encoding = "gb18030"
        return None
    offset = max(utf8.error, gb.error)
    with file.open() as fh:
        head = fh.read(offset + 1)
    line = head.count(b"\n", 0, offset) + 1
    hint = _encoding_hint(file)
    return Problem(file.name, None, line, None, f"0x{head[offset]:02X}",
                   f"cannot be read as UTF-8 or GB18030: byte 0x{head[offset]:02X} at byte offset "
                   f"{offset} (line {line}) is not valid in either{hint}; save the file as UTF-8 "
                   "or GB18030")


def _nul_problem(file: DropFile, offset: int) -> Problem:
    """A CSV holding a NUL byte at ``offset``: text never does (only the bytes before it are
    read again, to count lines)."""
    with file.open() as fh:
        head = fh.read(min(offset, READ_CHUNK))
    line = head.count(b"\n") + 1 if offset <= READ_CHUNK else None
    where = f" (line {line})" if line is not None else ""
    return Problem(file.name, None, line, None, "0x00",
                   f"holds a NUL byte at byte offset {offset}{where}, which a text CSV never "
                   f"does (a binary file, or UTF-16 text){_encoding_hint(file)}; save the data "
                   "as CSV in UTF-8 or GB18030")


class _StrictDecoder:
    """An incremental strict decoder that remembers the byte offset of the first error."""

    def __init__(self, encoding: str) -> None:
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
        self.consumed = 0
        self.error: int | None = None
        self.skipped = 0

    def skip(self, n: int) -> None:
        self.consumed += n
        self.skipped += n

    def feed(self, chunk: bytes, final: bool = False) -> None:
        if self.error is not None:
            return
        try:
            self._decoder.decode(chunk, final)
        except UnicodeDecodeError as exc:
            # exc.object is what the decoder saw: its pending bytes, then this chunk.
            pending = len(exc.object) - len(chunk)
            self.error = self.consumed - pending + exc.start
        self.consumed += len(chunk)

    def finish(self) -> None:
        self.feed(b"", final=True)


# Encodings charset-normalizer may name that a drop plausibly arrives in, as a report names
# them. Its other guesses on a small file (cp775, mac_latin2 …) would mislead more than help.
_HINTS = {"cp1252": "Windows-1252 (Western)", "latin_1": "Latin-1 (Western)",
          "iso8859_15": "Latin-9 (Western)", "big5": "Big5 (traditional Chinese)",
          "cp950": "Big5 (traditional Chinese)", "shift_jis": "Shift-JIS (Japanese)",
          "cp932": "Shift-JIS (Japanese)", "euc_kr": "EUC-KR (Korean)",
          "cp949": "EUC-KR (Korean)", "utf_16": "UTF-16", "utf_16_le": "UTF-16",
          "utf_16_be": "UTF-16"}


def _encoding_hint(file: DropFile) -> str:
    """``' (it looks like UTF-16)'``: a UTF-16 BOM, else charset-normalizer's guess if it is
    a common encoding; otherwise nothing."""
    with file.open() as fh:
        head = fh.read(1 << 20)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return " (it looks like UTF-16, Excel's \"Unicode Text\")"
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(head).best()
    except Exception:  # noqa: BLE001  (a hint is a courtesy: never let it hide the problem)
        return ""
    if best is None or best.encoding not in _HINTS:
        return ""
    return f" (it looks like {_HINTS[best.encoding]})"


def read_source(drop_dir: Path) -> tuple[dict[str, object] | None, list[Problem]]:
    """The drop's ``source.json`` (title, publisher, published …), if there is one."""
    import json

    path = drop_dir / SOURCE_JSON
    if not os.path.lexists(path):
        return None, []
    try:
        doc = json.loads(read_entry(path).decode("utf-8-sig"))
    except UnsafeEntry as exc:
        return None, [Problem(SOURCE_JSON, None, None, None, None, exc.reason)]
    except UnicodeDecodeError:
        return None, [Problem(SOURCE_JSON, None, None, None, None,
                              "source.json is not UTF-8: save it as UTF-8")]
    except json.JSONDecodeError as exc:
        return None, [Problem(SOURCE_JSON, None, exc.lineno, None, None,
                              f"source.json is not valid JSON: {exc.msg} (line {exc.lineno}, "
                              f"column {exc.colno})")]
    if not isinstance(doc, dict):
        return None, [Problem(SOURCE_JSON, None, None, None, None,
                              "source.json must hold one JSON object such as "
                              '{"title": "…", "publisher": "…", "published": "2025-07-15"}')]
    if not str(doc.get("title") or "").strip():
        return None, [Problem(SOURCE_JSON, None, None, "title", None,
                              "source.json has no title")]
    return doc, []


# ------------------------------------------------------------------------------------ CSV


def read_csv_file(file: DropFile, column_map: ColumnMap) -> tuple[list[Table], list[Problem]]:
    """Parse one CSV file (its encoding already found by :func:`fingerprint`)."""
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


# ----------------------------------------------------------------------------------- XLSX


def read_xlsx_file(file: DropFile, column_map: ColumnMap) -> tuple[list[Table], list[Problem]]:
    """Every data sheet of a workbook: each sheet whose header row holds the kind's required
    columns; if none does, the first sheet (so that its problems are reported).

    The workbook is held to the limits of :mod:`etl.drops.workbook_limits` (its zip directory before
    openpyxl opens it, its sheets as they stream); one over a limit is a problem naming it.
    """
    assert file.kind is not None
    if file.size == 0:
        return [], [Problem(file.name, None, None, None, None, REASON_EMPTY)]
    try:
        with file.open() as fh:
            sheets = _workbook_sheets(fh)
    except UnsafeEntry as exc:
        return [], [Problem(file.name, None, None, None, None, exc.reason)]
    except workbook_limits.WorkbookTooLarge as exc:
        return [], [Problem(file.name, exc.sheet, exc.row, None, None, exc.reason)]
    except _SheetUnreadable as exc:
        return [], [Problem(file.name, exc.sheet, None, None, None, _xlsx_reason(exc))]
    except XLSX_ERRORS as exc:
        return [], [Problem(file.name, None, None, None, None, _xlsx_reason(exc))]
    required = [c for c, s in column_map.specs[file.kind].items() if s.required]
    chosen = [s for s in sheets if s[2] and _has_required(file.kind, s[2], required, column_map)]
    if not chosen:
        chosen = sheets[:1]
    tables: list[Table] = []
    problems: list[Problem] = []
    for title, header_row, header, records, rows in chosen:
        if not header:
            problems.append(Problem(file.name, title, None, None, None, REASON_SHEET_EMPTY))
            continue
        width = len(header)
        body = pd.DataFrame([r[:width] + [None] * (width - len(r)) for r in records],
                            columns=list(range(width)), dtype="str") if records else \
            pd.DataFrame({i: pd.Series([], dtype="str") for i in range(width)})
        table, header_problems = build_table(file, title, file.kind, header, body,
                                             np.asarray(rows, dtype=np.int64), column_map,
                                             header_row=header_row,
                                             column_label=_column_letter)
        problems.extend(header_problems)
        if table is not None:
            tables.append(table)
    return tables, problems


def _xlsx_reason(exc: BaseException) -> str:
    """Why a workbook could not be read: entity declarations (refused by defusedxml, which
    openpyxl re-raises as a ValueError of its own), or damage."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, DefusedXmlException):
            return workbook_limits.REASON_XML_ENTITIES
        seen = seen.__cause__ or seen.__context__
    return REASON_BAD_XLSX


class _SheetUnreadable(Exception):
    """A sheet's XML is damaged (the workbook's directory and other parts are fine)."""

    def __init__(self, sheet: str) -> None:
        super().__init__(sheet)
        self.sheet = sheet


def _workbook_sheets(fh: BinaryIO) -> list[tuple[str, int, list[str], list[list[str | None]],
                                                 list[int]]]:
    """Every sheet of an open workbook file as :func:`_sheet_rows` reads it.

    :raises WorkbookTooLarge: over a limit of :mod:`etl.drops.workbook_limits`.
    :raises _SheetUnreadable: a sheet's XML is damaged.
    """
    from openpyxl import load_workbook

    workbook_limits.check_archive(fh)
    fh.seek(0)
    wb = load_workbook(fh, read_only=True, data_only=False)
    try:
        sheets = []
        for ws in wb.worksheets:
            try:
                sheets.append((ws.title, *_sheet_rows(ws)))
            except workbook_limits.WorkbookTooLarge:
                raise
            except XLSX_ERRORS as exc:
                raise _SheetUnreadable(ws.title) from exc
        return sheets
    finally:
        wb.close()


def _sheet_rows(ws) -> tuple[int, list[str], list[list[str | None]], list[int]]:  # type: ignore[no-untyped-def]
    """(header row number, header, data rows as text, their row numbers) of one sheet.

    The sheet's declared size (its ``<dimension ref>``) is not trusted: a wrong one would cut
    rows off or, huge, make openpyxl pad every row to it. The rows are read as they are in the
    sheet, and each row with a value is held to the sheet limits.
    """
    header: list[str] = []
    header_row = 0
    records: list[list[str | None]] = []
    rows: list[int] = []
    ws.reset_dimensions()
    for number, values in enumerate(ws.iter_rows(min_row=1, values_only=True), start=1):
        cells = [cell_text(v) for v in values]
        width = len(cells)
        while width and cells[width - 1] is None:
            width -= 1
        if width:
            workbook_limits.check_sheet_row(ws.title, number, width)
        if not header:
            if any(c is not None for c in cells):
                while cells and cells[-1] is None:
                    cells.pop()
                header = [c or "" for c in cells]
                header_row = number
            continue
        if all(c is None for c in cells):
            continue
        records.append(cells)
        rows.append(number)
    return header_row, header, records, rows


def cell_text(value: object) -> str | None:
    """A cell as the text a CSV export would hold: numbers without a spurious ``.0``, dates as
    ISO dates, formulas as their formula text (never evaluated)."""
    if value is None:
        return None
    text_attr = getattr(value, "text", None)  # ArrayFormula / DataTableFormula objects
    if text_attr is not None and not isinstance(value, str):
        value = text_attr
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(" ")
    if isinstance(value, date | time):
        return value.isoformat()
    text = str(value).strip()
    return text or None


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


def _has_required(kind: str, header: list[str], required: list[str],
                  column_map: ColumnMap) -> bool:
    found = {m[0] for h in header if h and (m := column_map.match(kind, h)) is not None}
    return all(c in found for c in required)


# -------------------------------------------------------------------------------- headers


def build_table(file: DropFile, sheet: str | None, kind: str, header: list[str],
                body: pd.DataFrame, rows: np.ndarray, column_map: ColumnMap, *,
                header_row: int,
                column_label: Callable[[int], str] | None = None,
                had_bad_rows: bool = False,
                ) -> tuple[Table | None, list[Problem]]:
    """Map a header onto canonical columns and keep the rows that are not blank.

    Problems: an unknown header (a typo, or a column the drop format does not have), two
    headers naming the same column, values under an empty header, a missing required column,
    and no data rows at all.
    """
    label = column_label or (lambda i: f"column {i + 1}")
    problems: list[Problem] = []
    keep: dict[int, str] = {}
    headers: dict[str, str] = {}
    scale: dict[str, float] = {}
    specs = column_map.specs[kind]
    for i, raw in enumerate(header):
        text = (raw or "").replace("\ufeff", "").strip()
        if not text:
            if i in body.columns and body[i].notna().any():
                problems.append(Problem(file.name, sheet, header_row, label(i), None,
                                        "column has values but no header"))
            continue
        found = column_map.match(kind, text)
        if found is None:
            expected = ", ".join(column_map.describe(kind, c) for c in specs)
            # The header as a report shows it: cut short and with control characters escaped
            # (a hostile header must not carry 100,000 characters into the report).
            problems.append(Problem(file.name, sheet, header_row, text_rules.shown(text), None,
                                    f"unknown column: expected one of {expected}"))
            continue
        column, factor = found
        if column in headers:
            problems.append(Problem(file.name, sheet, header_row, text, None,
                                    f"column {column} appears twice (also as "
                                    f"'{headers[column]}')"))
            continue
        keep[i] = column
        headers[column] = text
        scale[column] = factor
    for column, spec in specs.items():
        if spec.required and column not in headers:
            problems.append(Problem(file.name, sheet, None, column, None,
                                    f"missing required column {column_map.describe(kind, column)}"))
    # Built from the columns themselves, not a copy of the whole frame (at 8M rows every
    # copy of the text columns costs hundreds of megabytes).
    data = (pd.DataFrame({keep[i]: body[i] for i in keep}, index=body.index, copy=False)
            if keep else pd.DataFrame(index=body.index))
    # Blank rows are skipped (their numbers still count); a row with values only under an
    # unknown header is a row, reported through its missing values.
    nonblank = np.zeros(len(body), dtype=bool)
    for i in body.columns:
        nonblank |= body[i].notna().to_numpy()
    if nonblank.all():
        data = data.reset_index(drop=True)
    else:
        data = data.loc[nonblank].reset_index(drop=True)
    kept_rows = rows[nonblank]
    if len(data) == 0 and not had_bad_rows:
        problems.append(Problem(file.name, sheet, None, None, None, REASON_NO_ROWS))
    table = Table(file.name, sheet, kind, data, kept_rows, headers, scale, file.encoding,
                  file.sha256, rows_read=len(data))
    return table, problems


def read_drop(drop_dir: Path, *, column_map: ColumnMap | None = None,
              ignore: tuple[Path, ...] = (),
              on_file: Callable[[DropFile], None] | None = None) -> ReadResult:
    """Read every data file of a drop folder (files are hashed first: see :func:`fingerprint`).

    :param ignore: paths in the folder that are not data (the report about to be written).
    :param on_file: called after each file is read (progress display).
    """
    column_map = column_map or load_column_map()
    result = ReadResult()
    result.files, result.problems = discover(drop_dir, ignore=ignore)
    result.source, source_problems = read_source(drop_dir)
    result.problems.extend(source_problems)
    for file in result.files:
        problem = fingerprint(file)
        if problem is not None:
            result.problems.append(problem)
    result.tables, problems = read_tables(result.files, column_map, on_file=on_file)
    result.problems.extend(problems)
    return result


def read_tables(files: list[DropFile], column_map: ColumnMap, *,
                on_file: Callable[[DropFile], None] | None = None,
                ) -> tuple[list[Table], list[Problem]]:
    """Parse fingerprinted files into tables (files that did not decode are skipped)."""
    tables: list[Table] = []
    problems: list[Problem] = []
    for file in files:
        try:
            if file.path.suffix.lower() == ".csv":
                if file.encoding is None:
                    continue
                got, found = read_csv_file(file, column_map)
            else:
                got, found = read_xlsx_file(file, column_map)
        except UnsafeEntry as exc:  # replaced by a link or another file since it was hashed
            got, found = [], [Problem(file.name, None, None, None, None, exc.reason)]
        tables.extend(got)
        problems.extend(found)
        # pyarrow's allocator keeps freed blocks (the raw text of the file just parsed) for
        # reuse; hand them back so that they do not add to the peak of the steps that follow.
        pa.default_memory_pool().release_unused()
        if on_file is not None:
            on_file(file)
    return tables, problems
