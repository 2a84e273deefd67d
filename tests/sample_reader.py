"""A reader for sample drops, written from docs/drop-format.md (not with the loader).

The sample tests read the generated files back with it, so they check the files themselves.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections import defaultdict
from datetime import datetime
from pathlib import Path

DISTRICTS = {310101, 310104, 310105, 310106, 310107, 310109, 310110, 310112, 310113, 310114,
             310115, 310116, 310117, 310118, 310120, 310151}
LABELS = [f"{y}Q{q}" for y in range(2019, 2026) for q in range(1, 5)][:26]

KINDS = {"enterprises": "enterprises", "企业名录": "enterprises", "revenue": "revenue",
         "营业收入": "revenue", "zone_metrics": "zone_metrics", "园区指标": "zone_metrics"}
ZH_COLUMNS = {
    "统一社会信用代码": "credit_code", "企业名称": "name_zh", "英文名称": "name_en",
    "园区代码": "zone_id", "行政区划代码": "district_code", "细分领域": "segment",
    "成立日期": "founded", "注册资本(万元)": "registered_capital", "从业人员": "employees",
    "经营状态": "status", "数据性质": "provenance", "报告期": "period",
    "营业收入(万元)": "revenue", "统计口径": "basis", "企业数": "firms",
    "大模型企业数": "foundation_model_firms", "备案大模型数": "registered_models",
    "投资机构数": "investment_institutions", "算力(PFLOPS)": "computing_pflops",
}
SEGMENT_ZH = {"大模型": "foundation_models", "智能芯片与算力": "chips_computing",
              "智能机器人与具身智能": "robotics_embodied", "智能网联汽车": "intelligent_vehicles",
              "人工智能应用": "applications", "数据与基础设施": "data_infrastructure"}
STATUS_ZH = {"存续": "active", "停业": "suspended", "注销": "deregistered", "迁出": "moved_out"}


def _cell(value: object) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def read_file(path: Path) -> tuple[list[dict[str, str]], bool]:
    """Rows with English column names, and whether the headers were Chinese (万元 units)."""
    if path.suffix == ".xlsx":
        from openpyxl import load_workbook

        ws = load_workbook(path, read_only=True).worksheets[0]
        table = [[_cell(v) for v in row] for row in ws.iter_rows(values_only=True)]
    else:
        raw = path.read_bytes()
        if raw.startswith(b"\xef\xbb\xbf"):
            text = raw.decode("utf-8-sig")
        else:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("gb18030")
        table = list(csv.reader(io.StringIO(text, newline="")))
    header, body = table[0], table[1:]
    chinese = header[0] in ZH_COLUMNS
    names = [ZH_COLUMNS.get(h, h) for h in header]
    return [dict(zip(names, row)) for row in body], chinese


def drop_files(folder: Path) -> dict[str, Path]:
    return {KINDS[p.stem]: p for p in sorted(folder.iterdir()) if p.stem in KINDS}


def parse_period(text: str) -> tuple[tuple[int, int], bool]:
    """(year, quarter) and whether the figure is year-to-date."""
    if m := re.fullmatch(r"(\d{4})Q([1-4])", text):
        return (int(m[1]), int(m[2])), False
    if m := re.fullmatch(r"(\d{4})年([1-4])季度", text):
        return (int(m[1]), int(m[2])), False
    if m := re.fullmatch(r"(\d{4})-(\d{2})", text):
        return (int(m[1]), (int(m[2]) + 2) // 3), False
    if m := re.fullmatch(r"(\d{4})年1-(\d{1,2})月", text):
        assert int(m[2]) % 3 == 0, text
        return (int(m[1]), int(m[2]) // 3), True
    raise AssertionError(f"unknown period {text!r}")


def thousand_cny(value: str, chinese: bool) -> int:
    """Revenue as integer thousand CNY: English files are in million CNY, Chinese in 万元."""
    return round(float(value) * (10 if chinese else 1000))


def quarterly_revenue(root: Path) -> dict[tuple[str, tuple[int, int]], int]:
    """Every firm's revenue per quarter after loading all drops in order (last figure wins;
    year-to-date figures minus the earlier quarters of that year)."""
    values: dict[tuple[str, tuple[int, int]], int] = {}
    for label in LABELS:
        rows, chinese = read_file(drop_files(root / label)["revenue"])
        parsed = [(r["credit_code"], *parse_period(r["period"]), thousand_cny(r["revenue"],
                                                                                chinese))
                  for r in rows]
        for code, (y, q), ytd, value in sorted(parsed, key=lambda p: p[1]):
            if ytd:
                value -= sum(values.get((code, (y, k)), 0) for k in range(1, q))
            values[(code, (y, q))] = value
    return values


def annual_totals_million(values: dict[tuple[str, tuple[int, int]], int],
                          ) -> tuple[dict[int, float], dict[tuple[int, int], float]]:
    by_q: dict[tuple[int, int], float] = defaultdict(float)
    for (_, yq), thousand in values.items():
        by_q[yq] += thousand / 1000
    by_y: dict[int, float] = defaultdict(float)
    for (y, _), million in by_q.items():
        by_y[y] += million
    return dict(by_y), dict(by_q)


def xlsx_content(path: Path) -> tuple[object, ...]:
    """What an XLSX holds: member names and times, properties, every sheet's cells.

    Compared instead of bytes where another environment may serialise or deflate differently
    (a different zlib, or lxml installed).
    """
    from openpyxl import load_workbook

    with zipfile.ZipFile(path) as zf:
        members = [(i.filename, i.date_time) for i in zf.infolist()]
    wb = load_workbook(path)
    props = (wb.properties.creator, wb.properties.created, wb.properties.modified)
    cells = [(ws.title, [[(c.value, c.number_format) for c in row] for row in ws.iter_rows()])
             for ws in wb.worksheets]
    return members, props, cells

