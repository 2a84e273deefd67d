"""The drop's column map, and a parsed file's header mapped onto canonical columns.

``data/column_map.csv`` names every column of every file kind, its Chinese header, its other
spellings and their units; :func:`load_column_map` reads it into a :class:`ColumnMap`.
:func:`build_table` matches a file's (or sheet's) header row against it and makes the
:class:`Table` the validator checks: stripped strings under canonical column names, with the
spreadsheet row number of each row. An unknown, repeated or missing column becomes a
:class:`~models.problems.Problem`, never an exception.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from etl.drops import text_rules
from etl.drops.files import FILE_KINDS, DropFile
from models.problems import Problem

COLUMN_MAP_PATH = Path(__file__).resolve().parents[2] / "data" / "column_map.csv"

REASON_EMPTY = "file is empty: it has no header row"
REASON_NO_ROWS = "file has a header row but no data rows"


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
