"""The catalogue of bad drops: each is rejected with its exact problems, and nothing changes.

Every case in ``tests/fixtures/drops/bad/`` is loaded on top of the base drop
``good/2025Q1``. A rejected case must report exactly the listed problems (file, sheet, row,
column, value, reason) and leave every data table as it was; the accepted ones (BOM, CRLF,
formula-looking text, full-width digits) must load.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from backends import connect, dump
from fixtures.make_fixtures import BAD, C1, C2, C4, C6, DATA_TABLES, FORMULA, TODAY, UNKNOWN
from sqlalchemy.engine import Engine

from etl.drops.csv_reader import REASON_UNTERMINATED
from etl.drops.headers import REASON_EMPTY, REASON_NO_ROWS
from etl.drops.load import load_drop
from etl.drops.xlsx_reader import REASON_BAD_XLSX
from models.errors import DropRejected
from models.problems import Problem

REVENUE_COLUMNS = ("credit_code (统一社会信用代码), period (报告期), revenue (营业收入(万元)), "
                   "basis (统计口径), provenance (数据性质)")


def _bad_digit(code: str) -> str:
    from fixtures.make_fixtures import _bad_digit as bad

    return bad(code)


def P(file: str, row: int | None, column: str | None, value: str | None, reason: str,
      sheet: str | None = None) -> Problem:
    return Problem(file, sheet, row, column, value, reason)


REJECTED: dict[str, list[Problem]] = {
    "latin1": [P("enterprises.csv", 2, None, "0xE9",
                 "cannot be read as UTF-8 or GB18030: byte 0xE9 at byte offset 86 (line 2) is "
                 "not valid in either; save the file as UTF-8 or GB18030")],
    "missing_column": [P("revenue.csv", None, "revenue", None,
                         "missing required column revenue (营业收入(万元))")],
    "extra_column": [P("revenue.csv", 1, "remarks", None,
                       f"unknown column: expected one of {REVENUE_COLUMNS}")],
    "duplicate_key": [P("revenue.csv", 4, "credit_code", C1,
                        f"duplicate key (credit_code {C1}, period 2025Q2): already in "
                        "revenue.csv row 2")],
    "bad_check_digit": [P("revenue.csv", 2, "credit_code", _bad_digit(C1),
                          f"check digit is {_bad_digit(C1)[-1]}, GB 32100-2015 requires "
                          f"{C1[-1]}")],
    "negative_value": [P("revenue.csv", 2, "revenue", "-5", "must not be negative")],
    "text_in_number": [
        P("revenue.csv", 2, "revenue", "abc", "not a number"),
        P("revenue.csv", 3, "revenue", "=A1*2",
          "a formula, not a number: paste the values instead (Paste Special → Values)"),
    ],
    "unknown_zone": [P("zone_metrics.csv", 2, "zone_id", "atlantis",
                       "unknown zone: not in the zones table (data/zones.csv)")],
    "malformed_period": [P("revenue.csv", 2, "period", "2025Q5",
                           "period '2025Q5' is not a quarter: use YYYYQn (2025Q2), YYYY年n季度 "
                           "or YYYY年1-n月")],
    "future_period": [P("revenue.csv", 2, "period", "2025Q3",
                        "period 2025Q3 has not ended yet (it ends 2025-09-30; today is "
                        "2025-08-15)")],
    "empty_file": [P("revenue.csv", None, None, None, REASON_EMPTY)],
    "zero_byte": [P("revenue.csv", None, None, None, REASON_EMPTY)],
    "header_only": [P("revenue.csv", None, None, None, REASON_NO_ROWS)],
    "truncated_csv": [P("revenue.csv", 4, None, None,
                        "row has too few fields: 2, the header has 3 (the file may be "
                        "truncated)")],
    "unterminated_quote": [P("revenue.csv", 4, None, None, REASON_UNTERMINATED)],
    "truncated_xlsx": [P("revenue.xlsx", None, None, None, REASON_BAD_XLSX)],
    "unknown_enterprise": [P("revenue.csv", 2, "credit_code", UNKNOWN,
                             "unknown enterprise: the credit code is neither in this drop's "
                             "enterprises file nor in the database")],
    "negative_ytd": [P("revenue.csv", 2, "revenue", "5",
                       "year-to-date revenue 5 million CNY is less than the total through "
                       "2025Q1 (10 million CNY), so 2025Q2 would be negative")],
    "unknown_file_name": [P("revenu.csv", None, None, None,
                            "file name is not a known kind: name it enterprises/企业名录, "
                            "revenue/营业收入, zone_metrics/园区指标 (.csv or .xlsx)")],
    # Every check of one row at once, and problems in two files: all are collected.
    "many_problems": [
        P("enterprises.csv", 2, "name_zh", None, "required value is missing"),
        P("enterprises.csv", 2, "zone_id", "nowhere",
          "unknown zone: not in the zones table (data/zones.csv)"),
        P("enterprises.csv", 2, "district_code", "310199",
          "unknown district: expected one of the 16 district adcodes 310101…310151"),
        P("enterprises.csv", 2, "segment", "quantum",
          "unknown segment: expected a code or Chinese name from data/segments.csv"),
        P("enterprises.csv", 2, "founded", "2025-13-01",
          "not a date: use YYYY-MM-DD, YYYY/M/D or YYYY年M月D日"),
        P("enterprises.csv", 2, "registered_capital", "-1", "must not be negative"),
        P("enterprises.csv", 2, "employees", "2.5", "must be a whole number"),
        P("enterprises.csv", 2, "status", "open",
          "unknown status: expected active/存续, suspended/停业, deregistered/注销 or "
          "moved_out/迁出"),
        P("enterprises.csv", 2, "provenance", "guess",
          "unknown provenance: expected reported or sample/样例"),
        P("enterprises.csv", 3, "credit_code", C6,
          f"duplicate key (credit_code {C6}): already in enterprises.csv row 2"),
        P("enterprises.csv", 3, "founded", "2026-01-01",
          "date is in the future (today is 2025-08-15)"),
        P("revenue.csv", 3, "credit_code", "ABC",
          "credit code must have 18 characters, this one has 3"),
    ],
}

ACCEPTED = ("bom", "crlf", "formula_text", "full_width")


pytestmark = pytest.mark.both_backends


def _db(engine: Engine) -> Path:
    return Path(engine.url.database or "")


def _runs(engine: Engine) -> list[tuple]:
    with connect(engine) as conn:
        return conn.execute("SELECT id, status, rows_read, rows_rejected FROM etl_runs "
                            "ORDER BY id").fetchall()


def test_every_fixture_case_is_in_the_catalogue() -> None:
    assert sorted(p.name for p in BAD.iterdir()) == sorted([*REJECTED, *ACCEPTED])


@pytest.mark.parametrize("case", sorted(REJECTED))
def test_bad_drop_is_rejected_with_exact_problems(base: Engine, case: str,
                                                  tmp_path: Path) -> None:
    before = dump(base, DATA_TABLES)
    runs_before = _runs(base)
    report = tmp_path / "rejections.csv"
    with pytest.raises(DropRejected) as info:
        load_drop(base, BAD / case, today=TODAY, report_path=report)
    assert info.value.problems == REJECTED[case]
    assert dump(base, DATA_TABLES) == before
    # The only write: one 'rejected' run.
    runs = _runs(base)
    assert runs[:-1] == runs_before
    assert runs[-1][1] == "rejected"
    # The report lists the same problems, UTF-8 with BOM.
    raw = report.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with report.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["file", "sheet", "row", "column", "value", "reason"]
    assert len(rows) == len(REJECTED[case]) + 1
    assert [r[5] for r in rows[1:]] == [p.reason for p in REJECTED[case]]


@pytest.mark.parametrize("case", ACCEPTED)
def test_accepted_variants_load(base: Engine, case: str) -> None:
    result = load_drop(base, BAD / case, today=TODAY)
    assert result.changed
    assert result.rejected == 0


def test_bom_and_crlf_give_the_same_rows(base: Engine) -> None:
    load_drop(base, BAD / "bom", today=TODAY)
    with connect(base) as conn:
        rows = conn.execute("SELECT credit_code, period, revenue FROM enterprise_revenue "
                            "WHERE period = '2025Q2' ORDER BY credit_code").fetchall()
    assert rows == sorted([(C1, "2025Q2", 12.0), (C2, "2025Q2", 260.0)])
    # The CRLF file holds the same values: loading it changes nothing.
    result = load_drop(base, BAD / "crlf", today=TODAY)
    assert (result.inserted, result.updated, result.changed) == (0, 0, False)


def test_formula_text_is_stored_verbatim_and_names_are_trimmed(base: Engine) -> None:
    load_drop(base, BAD / "formula_text", today=TODAY)
    with connect(base) as conn:
        row = conn.execute("SELECT name_zh, name_en, founded, employees FROM enterprises "
                           "WHERE credit_code = ?", (C4,)).fetchone()
        versions = conn.execute("SELECT name_en FROM enterprise_versions "
                                "WHERE credit_code = ?", (C4,)).fetchall()
    # Columns the file does not have (founded, employees) keep their stored values.
    assert row == ("上海徐汇应用软件有限公司", FORMULA, "2023-11-30", 15)
    assert versions == [("Xuhui Apps Ltd.",)]


def test_full_width_digits_are_normalised(base: Engine) -> None:
    load_drop(base, BAD / "full_width", today=TODAY)
    with connect(base) as conn:
        rows = conn.execute("SELECT credit_code, period, revenue FROM enterprise_revenue "
                            "WHERE period = '2025Q2'").fetchall()
    assert rows == [(C1, "2025Q2", 12.5)]


def test_report_neutralises_formulas_for_excel(base: Engine, tmp_path: Path) -> None:
    report = tmp_path / "r.csv"
    with pytest.raises(DropRejected):
        load_drop(base, BAD / "text_in_number", today=TODAY, report_path=report)
    with report.open(encoding="utf-8-sig", newline="") as fh:
        values = [r["value"] for r in csv.DictReader(fh)]
    assert values == ["abc", "'=A1*2"]


def test_rejection_summary_counts_and_next_step(base: Engine, tmp_path: Path) -> None:
    report = tmp_path / "r.csv"
    with pytest.raises(DropRejected) as info:
        load_drop(base, BAD / "many_problems", today=TODAY, report_path=report)
    lines = info.value.summary.splitlines()
    assert lines[0] == "Drop many_problems rejected: 12 problems in 2 files."
    assert lines[1] == "  enterprises.csv: 1 × required value is missing"
    assert "First problems:" in lines
    assert lines[lines.index("First problems:") + 1] == (
        "  enterprises.csv row 2, column name_zh: required value is missing")
    assert lines[-1] == (f"Nothing was loaded. Fix the rows listed in {report} and run the "
                         "load again.")
    assert info.value.report_path == str(report)
    with connect(base) as conn:
        status, rejected, message = conn.execute(
            "SELECT status, rows_rejected, message FROM etl_runs ORDER BY id DESC").fetchone()
    assert (status, rejected) == ("rejected", 3)
    assert message == info.value.summary


def test_default_report_goes_into_the_drop_folder(base: Engine, tmp_path: Path) -> None:
    import shutil

    drop = tmp_path / "2025Q2"
    shutil.copytree(BAD / "negative_value", drop)
    with pytest.raises(DropRejected) as info:
        load_drop(base, drop, today=TODAY)
    assert (drop / "rejections.csv").is_file()
    assert info.value.report_path.endswith("rejections.csv")
    # The report is not mistaken for data on the next attempt.
    (drop / "revenue.csv").write_text("credit_code,period,revenue\n"
                                      f"{C1},2025Q2,5\n", encoding="utf-8")
    assert load_drop(base, drop, today=TODAY).inserted == 1
