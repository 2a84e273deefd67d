"""app/export.py: CSV for Excel (BOM, no formulas) and XLSX with an About sheet."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import openpyxl
import pandas as pd
import pytest

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
    assert data["A2"].value == "'=1+1" and data["A2"].data_type == "s"
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
