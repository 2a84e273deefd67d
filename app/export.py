"""CSV and XLSX bytes of exactly what a page shows, safe to open in Excel.

* CSV is UTF-8 with a BOM (Excel on Chinese Windows otherwise guesses GBK) and CRLF lines.
* CSV text cells and column headers that start with ``=``, ``+``, ``-``, ``@`` or their
  full-width forms (``＝``, ``＋``, ``－``, ``＠``), after any leading whitespace, or with a tab or
  a carriage return, get a leading single quote, so a spreadsheet never runs them as formulas
  (OWASP "CSV injection"). Numeric columns are left alone: -3.5 stays the number -3.5.
* XLSX writes every text cell (headers, data, About) as a string cell, which no spreadsheet
  evaluates, so it needs no visible quote. Control characters a workbook cannot store
  (U+0000–U+001F but tab and line breaks) are written as ``\\xNN`` escapes, and the About sheet
  says how many cells held one: an older database may still hold them.
* XLSX has the data on the first sheet and an "About" sheet: sources, filters, data vintage
  (latest run id and data period) and time of export.
* File names say what and when: ``enterprises_zone-zhangjiang_ai_island_2025Q2_20261129-1530.csv``.

No streamlit here: the buttons that offer these bytes are :mod:`app.downloads`.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from datetime import datetime

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from app.i18n import Translator

# A cell starting with one of these, after any leading whitespace, is read as a formula (Excel
# and LibreOffice fold the full-width forms to ASCII as they parse).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")
# Whitespace that starts a formula-looking cell on its own (a tab or CR can end a CSV field).
FORMULA_PREFIXES = ("\t", "\r")
CSV_MIME = "text/csv"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_SHEET_NAME = 31  # Excel's limit


def neutralise_text(value: object) -> object:
    """``'=1+1`` for the text ``=1+1`` (or `` =1+1``, ``＝1+1``); anything that is not text is
    returned unchanged."""
    if isinstance(value, str) and (value.startswith(FORMULA_PREFIXES)
                                   or value.lstrip().startswith(FORMULA_TRIGGERS)):
        return "'" + value
    return value


def neutralise(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text columns and headers are safe from formula injection; numbers
    untouched."""
    out = df.copy()
    out.columns = [neutralise_text(str(c)) for c in out.columns]
    for col in out.columns:
        series = out[col]
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            continue
        if pd.api.types.is_datetime64_any_dtype(series):
            continue
        out[col] = series.map(neutralise_text, na_action="ignore")
    return out


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Dates as ISO text (no time zone surprises in either format)."""
    out = df.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%d")
    return out


def to_csv_bytes(df: pd.DataFrame) -> bytes:
    """UTF-8-with-BOM CSV of ``df`` (no index), formulas neutralised."""
    text = neutralise(_plain(df)).to_csv(index=False, lineterminator="\r\n")
    return ("\ufeff" + text).encode("utf-8")


def to_xlsx_bytes(df: pd.DataFrame, about: Sequence[tuple[str, str]], *,
                  sheet_name: str = "Data", about_sheet: str = "About") -> bytes:
    """An XLSX workbook: ``df`` on the first sheet, ``about`` (label, value) rows on "About".

    Every text cell is a string cell (never a formula) holding the text as shown, control
    characters escaped (:func:`storable`).
    """
    data = _plain(df)
    wb = Workbook()
    ws = wb.active
    ws.title = _sheet_title(sheet_name)
    _append_text_safe(ws, [str(c) for c in data.columns])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in data.itertuples(index=False):
        _append_text_safe(ws, [_cell(v) for v in row])
    for i, col in enumerate(data.columns, start=1):
        width = max([len(str(col))] + [len(str(v)) for v in data[col].head(200)]) + 2
        ws.column_dimensions[get_column_letter(i)].width = min(max(width, 8), 60)
    ws.freeze_panes = "A2"
    info = wb.create_sheet(_sheet_title(about_sheet))
    for label, value in about:
        _append_text_safe(info, [str(label), str(value)])
    for cell in info["A"]:
        cell.font = Font(bold=True)
    info.column_dimensions["A"].width = 28
    info.column_dimensions["B"].width = 90
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _append_text_safe(ws: Worksheet, values: list[object]) -> None:
    """Append one row; text goes in escaped (:func:`storable`) and typed as a string: openpyxl
    would otherwise make a text starting with ``=`` a formula cell."""
    ws.append([storable(v) if isinstance(v, str) else v for v in values])
    for cell in ws[ws.max_row]:
        if isinstance(cell.value, str):
            cell.data_type = "s"


def storable(text: str) -> str:
    """``text`` with every character a workbook cannot store (openpyxl's
    ``ILLEGAL_CHARACTERS_RE``: C0 controls but tab, LF and CR) written as ``\\xNN``."""
    return ILLEGAL_CHARACTERS_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def escaped_cells(df: pd.DataFrame) -> int:
    """How many cells (headers included) of ``df`` hold a character :func:`storable` escapes."""
    headers = sum(bool(ILLEGAL_CHARACTERS_RE.search(str(c))) for c in df.columns)
    cells = 0
    for col in df.columns:
        series = df[col]
        if series.dtype == object or pd.api.types.is_string_dtype(series):
            cells += sum(isinstance(v, str) and bool(ILLEGAL_CHARACTERS_RE.search(v))
                         for v in series)
    return headers + cells


def _cell(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, float) and pd.isna(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        try:
            return value.item()  # type: ignore[union-attr]
        except (ValueError, AttributeError):
            return str(value)
    return value


def _sheet_title(name: str) -> str:
    return re.sub(r"[\[\]:*?/\\]", "_", name)[:MAX_SHEET_NAME] or "Sheet"


def file_stem(what: str, scope: str, period: str | None, when: datetime) -> str:
    """``what_scope_period_YYYYMMDD-HHMM`` with only file-name-safe characters."""
    parts = [what, scope or "all", period or "", when.strftime("%Y%m%d-%H%M")]
    stem = "_".join(p for p in parts if p)
    return re.sub(r"[^A-Za-z0-9_+\-.]", "-", stem)


def about_rows(tr: Translator, *, title: str, filters: str, sources: str,
               run_id: int | None, data_period: str | None, exported_at: datetime,
               rows: int, sample: bool, escaped: int = 0) -> list[tuple[str, str]]:
    """The "About" sheet: what the table is, which filters made it, where the data comes from,
    the data vintage and when it was exported.

    :param escaped: cells holding control characters (:func:`escaped_cells`); when any, a row
        says they were written escaped, so nobody takes ``\\x07`` for the stored text.
    """
    out = [
        (tr("export.about_title"), title),
        (tr("export.about_filters"), filters or tr("export.no_filters")),
        (tr("export.about_sources"), sources or "—"),
        (tr("export.about_run"), str(run_id) if run_id is not None else "—"),
        (tr("export.about_period"), data_period or "—"),
        (tr("export.about_exported"), exported_at.strftime("%Y-%m-%d %H:%M:%S %z").strip()),
        (tr("export.about_rows"), str(rows)),
    ]
    if sample:
        out.append((tr("export.about_note"), tr("common.sample_badge")))
    if escaped:
        out.append((tr("export.about_control"), tr("export.control_escaped", cells=escaped)))
    return out
