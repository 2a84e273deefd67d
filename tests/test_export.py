"""app/export.py: CSV for Excel (BOM, no formulas) and XLSX with an About sheet."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import datetime, timedelta, timezone

import openpyxl
import pandas as pd
import pytest
from python_calamine import CalamineWorkbook

from app import export
from app.i18n import get_translator

FRAME = pd.DataFrame({
    "name": ["=1+1", "+cmd", "-2", "@SUM(A1)", "\tTab", "\rCR", "plain", "a=b"],
    "change": [-3.5, 2.0, -1.0, 0.0, 1.5, -0.25, 9.0, 1.0],
    "count": [1, -2, 3, 4, 5, 6, 7, 8],
})


def test_csv_has_a_bom_and_neutralised_formulas() -> None:
    data = export.to_csv_bytes(FRAME)
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert text.split("\r\n") == [
        "name,change,count",
        "'=1+1,-3.5,1",
        "'+cmd,2.0,-2",
        "'-2,-1.0,3",
        "'@SUM(A1),0.0,4",
        "'\tTab,1.5,5",
        "\"'\rCR\",-0.25,6",
        "plain,9.0,7",
        "a=b,1.0,8",
        "",
    ]


def test_numbers_stay_numbers() -> None:
    back = pd.read_csv(io.BytesIO(export.to_csv_bytes(FRAME)), encoding="utf-8-sig")
    assert back["change"].dtype == "float64" and back["count"].dtype == "int64"
    assert back["change"].tolist() == FRAME["change"].tolist()


@pytest.mark.parametrize(("value", "expected"), [
    ("=A1", "'=A1"), ("-", "'-"), ("abc", "abc"), (-5, -5), (None, None), ("", ""),
    ("  =A1", "'  =A1"), ("\u3000+1", "'\u3000+1"), ("\n@x", "'\n@x"), (" a=b", " a=b"),
    ("\uff1dSUM(A1)", "'\uff1dSUM(A1)"), ("\uff0b1", "'\uff0b1"), ("\uff0d1", "'\uff0d1"),
    ("\uff20x", "'\uff20x"), ("   ", "   "),
])
def test_neutralise_text(value: object, expected: object) -> None:
    assert export.neutralise_text(value) == expected


def test_xlsx_has_data_and_about_sheets() -> None:
    about = export.about_rows(get_translator("en"), title="Enterprise register",
                              filters="Zones: Zhangjiang AI Island", sources="register",
                              run_id=3, data_period="2025Q2",
                              exported_at=datetime(2026, 11, 29, 15, 30,
                                                   tzinfo=timezone(timedelta(hours=8))),
                              rows=len(FRAME), sample=True)
    book = openpyxl.load_workbook(io.BytesIO(export.to_xlsx_bytes(FRAME, about)))
    assert book.sheetnames == ["Data", "About"]
    data = book["Data"]
    assert [c.value for c in data[1]] == ["name", "change", "count"]
    assert data["A2"].value == "=1+1" and data["A2"].data_type == "s"
    assert data["B2"].value == -3.5 and data["C3"].value == -2
    rows = {r[0]: r[1] for r in book["About"].iter_rows(values_only=True)}
    assert rows == {
        "Table": "Enterprise register", "Filters": "Zones: Zhangjiang AI Island",
        "Sources": "register", "Latest ETL run": "3", "Data period": "2025Q2",
        "Exported at": "2026-11-29 15:30:00 +0800", "Rows": "8",
        "Note": "Sample data — generated, not real",
    }


def test_dates_are_written_as_iso_text() -> None:
    df = pd.DataFrame({"period_end": pd.to_datetime(["2025-06-30"]), "v": [1.0]})
    assert export.to_csv_bytes(df).decode("utf-8-sig").splitlines()[1] == "2025-06-30,1.0"


def test_file_names_say_what_and_when() -> None:
    when = datetime(2026, 11, 29, 15, 30)
    assert export.file_stem("enterprises", "zone-zhangjiang_ai_island", "2025Q2", when) == (
        "enterprises_zone-zhangjiang_ai_island_2025Q2_20261129-1530")
    assert export.file_stem("map", "", None, when) == "map_all_20261129-1530"
    assert export.file_stem("x", "a b/c", "2025Q2", when) == "x_a-b-c_2025Q2_20261129-1530"


# Regression (issue 10): headers, whitespace before a trigger and full-width triggers passed.
HOSTILE = pd.DataFrame({
    '=HYPERLINK("http://x")': [" =1+1", "＝1+1"],
    " @head": ["＋cmd", "－2"],
    "＠sum": ["＠SUM(A1)", "plain"],
    "n": [1, -2],
})


def test_csv_neutralises_headers_whitespace_and_full_width_triggers() -> None:
    text = export.to_csv_bytes(HOSTILE).decode("utf-8-sig")
    assert text.split("\r\n") == [
        '"\'=HYPERLINK(""http://x"")",\' @head,\'＠sum,n',
        "' =1+1,'＋cmd,'＠SUM(A1),1",
        "'＝1+1,'－2,plain,-2",
        "",
    ]


def _xlsx_cells(data: bytes) -> dict[str, list[list[object]]]:
    """Every sheet's values as an independent reader (calamine) sees them. A formula cell
    reads as empty there (no cached value), so a formula can never pass for its text."""
    book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    return {name: book.get_sheet_by_name(name).to_python() for name in book.sheet_names}


def _formula_elements(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return [f"{name}: {m}" for name in z.namelist() if name.startswith("xl/worksheets/")
                for m in re.findall(r"<(?:\w+:)?f[ >].*?</(?:\w+:)?f>", z.read(name).decode())]


def test_xlsx_writes_every_text_as_a_string_cell_without_a_quote() -> None:
    about = [("=title", "+1 filter"), ("＠note", " -2")]
    data = export.to_xlsx_bytes(HOSTILE, about)
    assert _formula_elements(data) == []
    assert _xlsx_cells(data) == {
        "Data": [['=HYPERLINK("http://x")', " @head", "＠sum", "n"],
                 [" =1+1", "＋cmd", "＠SUM(A1)", 1.0],
                 ["＝1+1", "－2", "plain", -2.0]],
        "About": [["=title", "+1 filter"], ["＠note", " -2"]],
    }
    types = {(ws.title, c.coordinate): c.data_type
             for ws in openpyxl.load_workbook(io.BytesIO(data)).worksheets
             for row in ws.iter_rows() for c in row}
    assert sorted(k for k, t in types.items() if t != "s") == [
        ("Data", "D2"), ("Data", "D3")]


def test_control_characters_are_escaped_and_the_about_sheet_says_so() -> None:
    """Regression (issue 10): a name with U+0007 or U+001F, loaded before loads refused them,
    made the XLSX export raise openpyxl's IllegalCharacterError."""
    df = pd.DataFrame({"name\x1f": ["Bell\x07Ltd", "fine", "tab\tand\nline"], "v": [1, 2, 3]})
    assert export.escaped_cells(df) == 2
    notes = {
        "en": ("Control characters", ("2 cell(s) held control characters a workbook cannot "
               "store; they are written as \\xNN (for example \\x07 for U+0007).")),
        "zh": ("控制字符", ("有 2 个单元格含工作簿无法保存的控制字符，已写成 \\xNN 的形式"
               "（如 U+0007 写作 \\x07）。")),
    }
    for lang, note in notes.items():
        about = export.about_rows(get_translator(lang), title="=t\x00", filters="", sources="",
                                  run_id=None, data_period=None,
                                  exported_at=datetime(2026, 11, 29, 15, 30), rows=3,
                                  sample=False, escaped=export.escaped_cells(df))
        assert about[-1] == note
        cells = _xlsx_cells(export.to_xlsx_bytes(df, about))
        assert cells["Data"] == [["name\\x1f", "v"], ["Bell\\x07Ltd", 1.0], ["fine", 2.0],
                                 ["tab\tand\nline", 3.0]]
        assert cells["About"][0][1] == "=t\\x00" and cells["About"][-1] == list(note)
    assert export.to_csv_bytes(df).decode("utf-8-sig").split("\r\n")[:2] == [
        "name\x1f,v", "Bell\x07Ltd,1"]
