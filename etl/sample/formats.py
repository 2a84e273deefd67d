"""How sample drop files are written: formats, headers, exact money text, CSV and XLSX bytes.

The drops come in the mix of formats real refreshes arrive in (UTF-8 CSV, UTF-8 with BOM,
GB18030 with Chinese headers and year-to-date revenue, XLSX); ``data/sample/README.md`` lists
which drop has which format. Every file is byte-for-byte the same for the same content.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta

from etl.xlsx import pinned_bytes
from models.periods import quarter_end

GENERATOR = "etl.sample (aidash sample generator)"
SAMPLE_NOTE = "SAMPLE DATA — generated, not real"

# Which drops deviate from plain UTF-8 CSV with English headers (see data/sample/README.md).
FORMAT_CSV_EN = "csv_en"          # UTF-8, LF, English headers, million CNY, 2025Q2
FORMAT_CSV_BOM = "csv_en_bom"     # UTF-8 with BOM, CRLF (Excel "CSV UTF-8"), dates 2021/6/3
FORMAT_CSV_ZH_YTD = "csv_zh_ytd"  # GB18030, CRLF, Chinese headers and file names, 万元, 1-n月
FORMAT_XLSX_ZH = "xlsx_zh"        # XLSX, Chinese headers, 万元, 2024年2季度, Excel dates
DROP_FORMATS: dict[str, str] = {
    "2019Q4": FORMAT_XLSX_ZH,
    "2020Q2": FORMAT_CSV_ZH_YTD,
    "2021Q2": FORMAT_CSV_BOM,
    "2021Q4": FORMAT_CSV_ZH_YTD,
    "2022Q1": FORMAT_XLSX_ZH,
    "2022Q3": FORMAT_CSV_ZH_YTD,
    "2023Q3": FORMAT_CSV_ZH_YTD,
    "2024Q2": FORMAT_XLSX_ZH,
    "2025Q1": FORMAT_CSV_ZH_YTD,
}

EN_HEADERS = {
    "enterprises": ("credit_code", "name_zh", "name_en", "zone_id", "district_code", "segment",
                    "founded", "registered_capital", "employees", "status", "provenance"),
    "revenue": ("credit_code", "period", "revenue", "provenance"),
    "zone_metrics": ("zone_id", "period", "firms", "foundation_model_firms",
                     "registered_models", "investment_institutions", "computing_pflops",
                     "provenance"),
}
ZH_HEADERS = {
    "enterprises": ("统一社会信用代码", "企业名称", "英文名称", "园区代码", "行政区划代码",
                    "细分领域", "成立日期", "注册资本(万元)", "从业人员", "经营状态", "数据性质"),
    "revenue": ("统一社会信用代码", "报告期", "营业收入(万元)", "统计口径", "数据性质"),
    "zone_metrics": ("园区代码", "报告期", "企业数", "大模型企业数", "备案大模型数",
                     "投资机构数", "算力(PFLOPS)", "数据性质"),
}
ZH_STEMS = {"enterprises": "企业名录", "revenue": "营业收入", "zone_metrics": "园区指标"}
# Every file name the bundled generator may write: stale ones are removed before a rewrite.
GENERATED_NAMES = {f"{stem}.{ext}" for kind in EN_HEADERS for stem in (kind, ZH_STEMS[kind])
                   for ext in ("csv", "xlsx")} | {"source.json"}


def published(yq: tuple[int, int]) -> date:
    """Drops arrive about six weeks after the quarter ends."""
    return quarter_end(*yq) + timedelta(days=45)


def money(value: int, decimals: int) -> str:
    """An integer count of 10**-decimals units as a fixed-point string (exact, no floats)."""
    if decimals == 0:
        return str(value)
    unit = 10 ** decimals
    return f"{value // unit}.{value % unit:0{decimals}d}"


def wan(thousand_cny: int) -> str:
    """Thousand CNY as 万元 with one decimal (1 万元 = 10 thousand CNY), exactly."""
    return money(thousand_cny, 1)


def csv_bytes(headers: Sequence[str], rows: Iterable[Sequence[object]], *, encoding: str,
              line_end: str) -> bytes:
    """A CSV file: a header line, then the rows, in ``encoding`` with ``line_end``."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator=line_end)
    writer.writerow(headers)
    writer.writerows(rows)
    return buf.getvalue().encode(encoding)


def xlsx_bytes(sheet: str, headers: Sequence[str], rows: Iterable[Sequence[object]],
               stamp: datetime) -> bytes:
    """An XLSX file whose bytes depend only on its content and ``stamp``."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(list(headers))
    for row in rows:
        ws.append(list(row))
    # openpyxl gives date cells the number format yyyy-mm-dd: a real Excel date.
    wb.properties.title = SAMPLE_NOTE
    return pinned_bytes(wb, stamp, GENERATOR)
