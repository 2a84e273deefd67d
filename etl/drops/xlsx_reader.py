"""Reading the data sheets of an XLSX workbook into :class:`~etl.drops.headers.Table` objects.

The workbook is opened with ``data_only=False``: a formula cell yields its formula text, which
is stored verbatim in a text column and reported in a number column. Cached results are never
used: they may be stale, and files written by scripts have none. The workbook is held to the
limits of :mod:`etl.drops.workbook_limits` before and while it is read.
"""

from __future__ import annotations

import zipfile
import zlib
from datetime import date, datetime, time
from typing import BinaryIO

import numpy as np
import pandas as pd
from defusedxml import DefusedXmlException
from openpyxl.utils.exceptions import InvalidFileException

from etl.drops import workbook_limits
from etl.drops.drop_files import UnsafeEntry
from etl.drops.files import DropFile
from etl.drops.headers import REASON_EMPTY, ColumnMap, Table, build_table
from models.problems import Problem

REASON_SHEET_EMPTY = "sheet is empty: it has no header row"
# What a damaged workbook raises: a cut-off or non-zip file (BadZipFile, zlib.error, EOFError),
# a missing part (KeyError), broken XML (ParseError is a SyntaxError), unexpected contents
# (ValueError, TypeError, OSError) or openpyxl's own InvalidFileException.
XLSX_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, KeyError, SyntaxError, ValueError,
               TypeError, OSError, InvalidFileException)
REASON_BAD_XLSX = ("not a readable XLSX workbook (the file may be truncated): open it in Excel "
                   "and save it again, or export it as CSV")


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
