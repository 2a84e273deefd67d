"""Reading drop files (etl.drops.read and its files, csv_reader, xlsx_reader, headers):
discovery, encodings, CSV and XLSX parsing, header mapping."""

from __future__ import annotations

import codecs
from datetime import date, datetime, time
from pathlib import Path

import pytest
from fixtures.make_fixtures import BAD, C1, C2, C5, C6, FORMULA, GOOD

from etl.drops import files
from etl.drops.csv_reader import REASON_UNTERMINATED
from etl.drops.files import REASON_XLS, DropFile, discover, file_kind, fingerprint
from etl.drops.headers import REASON_EMPTY, REASON_NO_ROWS, header_key, load_column_map
from etl.drops.read import ReadResult, read_drop
from etl.drops.xlsx_reader import REASON_BAD_XLSX, cell_text
from models.problems import Problem

COLUMN_MAP = load_column_map()


def _file(path: Path) -> DropFile:
    f = DropFile(path, path.name, file_kind(path.name))
    assert fingerprint(f) is None
    return f


def _records(result: ReadResult, index: int = 0) -> list[dict]:
    table = result.tables[index]
    return [{k: v for k, v in rec.items() if isinstance(v, str)}
            for rec in table.data.to_dict("records")]


# ------------------------------------------------------------------------------ discovery


@pytest.mark.parametrize(("name", "kind"), [
    ("enterprises.csv", "enterprises"), ("Revenue.XLSX", "revenue"),
    ("营业收入.csv", "revenue"), ("企业名录.xlsx", "enterprises"), ("园区指标.csv", "zone_metrics"),
    ("revenue_part2.csv", "revenue"), ("zone_metrics-2025Q2.csv", "zone_metrics"),
    ("revenu.csv", None), ("revenues.csv", None), ("notes.csv", None)])
def test_file_kind_from_the_name(name: str, kind: str | None) -> None:
    assert file_kind(name) == kind


def test_discover_orders_files_and_skips_what_is_not_data(tmp_path: Path) -> None:
    for name in ("zone_metrics.csv", "revenue.csv", "enterprises.xlsx", "source.json",
                 "rejections.csv", "README.txt", ".hidden.csv", "~$enterprises.xlsx",
                 "old.xls", "typo.csv", "my_report.csv"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    files, problems = discover(tmp_path, ignore=(tmp_path / "my_report.csv",))
    assert [f.name for f in files] == ["enterprises.xlsx", "revenue.csv", "zone_metrics.csv"]
    assert problems == [
        Problem("old.xls", None, None, None, None, REASON_XLS),
        Problem("typo.csv", None, None, None, None,
                "file name is not a known kind: name it enterprises/企业名录, revenue/营业收入, "
                "zone_metrics/园区指标 (.csv or .xlsx)"),
    ]


def test_an_empty_folder_is_a_problem(tmp_path: Path) -> None:
    drop = tmp_path / "2025Q2"
    drop.mkdir()
    assert read_drop(drop).problems == [Problem(
        "2025Q2", None, None, None, None, "the folder holds no data file: expected enterprises, "
        "revenue or zone_metrics as .csv or .xlsx")]


# ------------------------------------------------------------------------------ encodings


@pytest.mark.parametrize(("path", "encoding"), [
    (GOOD / "2025Q1" / "enterprises.csv", "utf-8"),
    (GOOD / "2025Q1" / "revenue.csv", "utf-8-sig"),
    (GOOD / "2025Q2_ytd" / "营业收入.csv", "gb18030"),
])
def test_encoding_detection(path: Path, encoding: str) -> None:
    assert _file(path).encoding == encoding


def test_undecodable_file_names_the_byte_offset(tmp_path: Path) -> None:
    path = tmp_path / "revenue.csv"
    path.write_bytes(b"credit_code,period,revenue\nx,2025Q1,1\n" + b"\xff\xfe,1\n")
    f = DropFile(path, path.name, "revenue")
    assert fingerprint(f) == Problem(
        "revenue.csv", None, 3, None, "0xFF",
        "cannot be read as UTF-8 or GB18030: byte 0xFF at byte offset 38 (line 3) is not valid "
        "in either; save the file as UTF-8 or GB18030")


def test_utf16_gets_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "revenue.csv"
    path.write_bytes(codecs.BOM_UTF16_LE + "credit_code,period\n".encode("utf-16-le"))
    problem = fingerprint(DropFile(path, path.name, "revenue"))
    assert problem is not None
    assert "(it looks like UTF-16, Excel's \"Unicode Text\")" in problem.reason


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64])
def test_error_offset_is_exact_across_read_chunks(tmp_path: Path, chunk: int,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "READ_CHUNK", chunk)
    path = tmp_path / "revenue.csv"
    good = "名称,期间\n上海,2025Q1\n".encode()
    path.write_bytes(codecs.BOM_UTF8 + good + b"\xe4\xb8" + b",\n")
    problem = fingerprint(DropFile(path, path.name, "revenue"))
    assert problem is not None and problem.value == "0xE4"
    assert f"byte offset {3 + len(good)} (line 3)" in problem.reason
    # A valid multi-byte character split over chunks is fine.
    path.write_bytes(codecs.BOM_UTF8 + good)
    assert fingerprint(DropFile(path, path.name, "revenue")) is None


# ------------------------------------------------------------------------------------ CSV


def test_csv_values_are_stripped_and_rows_numbered(tmp_path: Path) -> None:
    drop = tmp_path / "d"
    drop.mkdir()
    (drop / "revenue.csv").write_bytes(
        b"credit_code , period,revenue\r\n"
        b" A ,2025Q1,  1 \r\n"
        b"\r\n"
        b",,\r\n"
        b'B,2025Q1,"2\r\nx"\r\n'
        b"C,2025Q1,\r\n")
    result = read_drop(drop)
    assert result.problems == []
    table = result.tables[0]
    assert table.headers == {"credit_code": "credit_code", "period": "period",
                             "revenue": "revenue"}
    assert table.rows.tolist() == [2, 5, 6]
    assert table.data.to_dict("records")[0] == {"credit_code": "A", "period": "2025Q1",
                                                "revenue": "1"}
    assert table.data.loc[1, "revenue"] == "2\r\nx"
    assert table.data["revenue"].isna().tolist() == [False, False, True]


def test_wrong_width_rows_are_reported_and_the_rest_kept(tmp_path: Path) -> None:
    drop = tmp_path / "d"
    drop.mkdir()
    (drop / "revenue.csv").write_text(
        "credit_code,period,revenue\nA,2025Q1,1\nB,2025Q1,2,3\nC,2025Q1,3\nD,2025Q1\n",
        encoding="utf-8")
    result = read_drop(drop)
    assert result.problems == [
        Problem("revenue.csv", None, 3, None, None,
                "row has too many fields: 4, the header has 3: a value holds an unquoted comma, "
                "or the row has extra cells"),
        Problem("revenue.csv", None, 5, None, None,
                "row has too few fields: 2, the header has 3 (the file may be truncated)"),
    ]
    assert result.tables[0].rows.tolist() == [2, 4]


def test_unterminated_quote_at_the_end(tmp_path: Path) -> None:
    drop = tmp_path / "d"
    drop.mkdir()
    (drop / "revenue.csv").write_text('credit_code,period,revenue\nA,2025Q1,1\nB,2025Q1,"2\n',
                                      encoding="utf-8")
    result = read_drop(drop)
    assert result.problems == [Problem("revenue.csv", None, 3, None, None,
                                       REASON_UNTERMINATED)]
    assert result.tables[0].rows.tolist() == [2]


def test_quote_inside_a_field_is_literal(tmp_path: Path) -> None:
    drop = tmp_path / "d"
    drop.mkdir()
    (drop / "enterprises.csv").write_text(
        'credit_code,name_zh,district_code,segment\nA,5" 屏幕公司,310104,applications\n',
        encoding="utf-8")
    result = read_drop(drop)
    assert result.problems == []
    assert result.tables[0].data.loc[0, "name_zh"] == '5" 屏幕公司'


@pytest.mark.parametrize(("content", "reason"), [
    (b"", REASON_EMPTY), (b"\r\n\r\n", REASON_EMPTY), (b"\xef\xbb\xbf", REASON_EMPTY),
    (b"credit_code,period,revenue\n", REASON_NO_ROWS),
    (b"credit_code,period,revenue\n,,\n\n", REASON_NO_ROWS)])
def test_empty_files(tmp_path: Path, content: bytes, reason: str) -> None:
    drop = tmp_path / "d"
    drop.mkdir()
    (drop / "revenue.csv").write_bytes(content)
    assert read_drop(drop).problems == [Problem("revenue.csv", None, None, None, None, reason)]


def test_gb18030_chinese_headers_and_scale() -> None:
    result = read_drop(GOOD / "2025Q2_ytd")
    assert result.problems == []
    table = result.tables[0]
    assert table.headers == {"credit_code": "统一社会信用代码", "period": "报告期",
                             "revenue": "营业收入(万元)", "basis": "统计口径",
                             "provenance": "数据性质"}
    assert table.scale["revenue"] == 0.01
    assert _records(result)[0] == {"credit_code": C1, "period": "2025年1-6月", "revenue": "2500",
                                   "basis": "累计"}


def test_header_problems(tmp_path: Path) -> None:
    drop = tmp_path / "d"
    drop.mkdir()
    (drop / "revenue.csv").write_text(
        "Credit Code,报告期,营业收入（万元）,revenue,,Remark\nA,2025Q1,1,2,x,y\n",
        encoding="utf-8")
    result = read_drop(drop)
    assert result.problems == [
        Problem("revenue.csv", None, 1, "revenue", None,
                "column revenue appears twice (also as '营业收入（万元）')"),
        Problem("revenue.csv", None, 1, "column 5", None, "column has values but no header"),
        Problem("revenue.csv", None, 1, "Remark", None,
                "unknown column: expected one of credit_code (统一社会信用代码), period (报告期), "
                "revenue (营业收入(万元)), basis (统计口径), provenance (数据性质)"),
    ]
    assert result.tables[0].scale == {"credit_code": 1.0, "period": 1.0, "revenue": 0.01}


@pytest.mark.parametrize(("header", "key"), [
    ("Credit Code", "creditcode"), ("credit_code", "creditcode"), ("注册资本（万元）", "注册资本(万元)"),
    ("\ufeff统一社会信用代码 ", "统一社会信用代码"), ("算力 (PFLOPS)", "算力(pflops)")])
def test_header_key(header: str, key: str) -> None:
    assert header_key(header) == key


# ----------------------------------------------------------------------------------- XLSX


def test_xlsx_reads_data_sheets_only_and_keeps_formulas_as_text() -> None:
    result = read_drop(GOOD / "2025Q2_xlsx")
    assert result.problems == []
    assert [(t.file, t.sheet, t.rows.tolist()) for t in result.tables] == [
        ("企业名录.xlsx", "企业名录", [2, 3]), ("revenue.xlsx", "营业收入", [2])]
    first, second = result.tables[0].data.to_dict("records")
    assert first["credit_code"] == C6
    assert first["founded"] == "2024-07-01"       # an Excel date cell
    assert first["district_code"] == "310115"     # an integer cell, no ".0"
    assert first["registered_capital"] == "5000"
    assert second["credit_code"] == C5
    assert second["name_en"] == FORMULA           # the formula text, never evaluated
    assert result.tables[1].data.loc[0, "revenue"] == "1234.5"
    assert all(f.encoding is None and len(f.sha256) == 64 for f in result.files)


def test_truncated_xlsx() -> None:
    result = read_drop(BAD / "truncated_xlsx")
    assert result.problems == [Problem("revenue.xlsx", None, None, None, None, REASON_BAD_XLSX)]


def test_xlsx_without_a_matching_sheet_reports_the_first(tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.title = "Sheet1"
    wb.active.append(["code", "period"])
    wb.active.append([C2, "2025Q1"])
    wb.save(tmp_path / "revenue.xlsx")
    result = read_drop(tmp_path)
    assert [p.reason.split(":")[0] for p in result.problems] == [
        "unknown column", "missing required column credit_code (统一社会信用代码)",
        "missing required column revenue (营业收入(万元))"]
    assert {p.sheet for p in result.problems} == {"Sheet1"}


@pytest.mark.parametrize(("value", "text"), [
    (None, None), ("  x ", "x"), ("", None), (12, "12"), (12.0, "12"), (12.5, "12.5"),
    (913100001234567890, "913100001234567890"), (True, "TRUE"),
    (datetime(2024, 7, 1), "2024-07-01"), (datetime(2024, 7, 1, 9, 30), "2024-07-01 09:30:00"),
    (date(2024, 7, 1), "2024-07-01"), (time(9, 30), "09:30:00"), ("=SUM(A1:A3)", "=SUM(A1:A3)")])
def test_cell_text(value: object, text: str | None) -> None:
    assert cell_text(value) == text
