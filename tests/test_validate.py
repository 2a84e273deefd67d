"""Validating a drop (etl.drops.validate) on tables built in memory: each rule and its exact report.

The tables are what the read step hands over (stripped strings under canonical column names,
with spreadsheet row numbers); the database is an in-memory SQLite holding only what the
validator reads: zones, districts, segments, metric units, stored enterprises and revenue.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from etl import credit_code
from etl.drops.collector import problems_as_list
from etl.drops.files import DropFile
from etl.drops.headers import Table, load_column_map
from etl.drops.read import ReadResult
from etl.drops.schema import REASONS
from etl.drops.text_rules import CELL_LIMIT, NAME_LIMIT
from etl.drops.validate import ValidDrop, validate_drop
from models.periods import QUARTER_HINT
from models.problems import Problem

TODAY = date(2025, 8, 15)
COLUMN_MAP = load_column_map()
_rng = random.Random(11)
# Valid codes: two firms of this drop's register, one stored by an earlier drop, one nowhere.
FIRM_A, FIRM_B, STORED, NOWHERE = (credit_code.make(_rng, a)
                                   for a in (310104, 310115, 310112, 310101))
ENT = "enterprises.csv"
REV = "revenue.csv"
ZONES = "zone_metrics.csv"


@pytest.fixture(scope="module")
def conn() -> Iterator[sqlite3.Connection]:
    """The reference lists and one stored firm with revenue for 2025Q1 (40 million CNY)."""
    db = sqlite3.connect(":memory:")
    db.executescript("""
        CREATE TABLE zones (zone_id TEXT, name_zh TEXT);
        CREATE TABLE districts (adcode INTEGER, name_zh TEXT, name_en TEXT);
        CREATE TABLE segments (code TEXT, name_zh TEXT, name_en TEXT);
        CREATE TABLE metrics (code TEXT, unit_en TEXT);
        CREATE TABLE enterprises (credit_code TEXT);
        CREATE TABLE enterprise_revenue (credit_code TEXT, period TEXT, revenue REAL);
        INSERT INTO zones VALUES ('westbund_ai_tower', '西岸智塔');
        INSERT INTO districts VALUES (310104, '徐汇区', 'Xuhui District'),
                                     (310115, '浦东新区', 'Pudong New Area');
        INSERT INTO segments VALUES ('foundation_models', '大模型', 'Foundation models');
        INSERT INTO metrics VALUES ('zone_enterprises', 'firms'),
                                   ('zone_computing_pflops', 'PFLOPS');
    """)
    db.execute("INSERT INTO enterprises VALUES (?)", (STORED,))
    db.execute("INSERT INTO enterprise_revenue VALUES (?, '2025Q1', 40.0)", (STORED,))
    yield db
    db.close()


def _table(kind: str, file: str, rows: list[dict[str, str | None]], *,
           headers: dict[str, str] | None = None, scale: dict[str, float] | None = None,
           sheet: str | None = None) -> Table:
    """A table as the read step makes it: the header is row 1, data from row 2."""
    columns = list(dict.fromkeys(c for r in rows for c in r))
    data = pd.DataFrame({c: pd.Series([r.get(c) for r in rows], dtype="str") for c in columns})
    return Table(file, sheet, kind, data, np.arange(2, len(rows) + 2, dtype=np.int64),
                 headers or {c: c for c in columns}, scale or {c: 1.0 for c in columns},
                 "utf-8", "")


def _firm(code: str | None, **values: str | None) -> dict[str, str | None]:
    row: dict[str, str | None] = {"credit_code": code, "name_zh": "上海测试科技有限公司",
                                  "district_code": "310104", "segment": "foundation_models"}
    row.update(values)
    return row


def _validate(conn: sqlite3.Connection, *tables: Table) -> ValidDrop:
    names = list(dict.fromkeys(t.file for t in tables))
    read = ReadResult(files=[DropFile(Path(n), n, None) for n in names], tables=list(tables))
    return validate_drop(read, COLUMN_MAP, conn, today=TODAY)


def _problems(conn: sqlite3.Connection, *tables: Table) -> list[Problem]:
    return problems_as_list(_validate(conn, *tables).problems)


def test_a_clean_drop_has_no_problems_and_typed_frames(conn: sqlite3.Connection) -> None:
    valid = _validate(conn, _table("enterprises", ENT, [
        _firm(FIRM_A, zone_id="西岸智塔", founded="2020/7/8", registered_capital="1,000.5",
              employees="30", status="存续"),
        _firm(FIRM_B.lower(), district_code="浦东新区", segment="大模型")]),
        _table("revenue", REV, [{"credit_code": FIRM_A, "period": "2025年2季度", "revenue": "12"},
                                {"credit_code": STORED, "period": "2025Q2", "revenue": "3.5"}]))
    assert valid.ok
    assert valid.enterprises is not None and valid.revenue is not None
    ent = valid.enterprises
    assert ent["credit_code"].tolist() == [FIRM_A, FIRM_B]
    assert ent["zone_id"].tolist() == ["westbund_ai_tower", None]
    assert ent["district_adcode"].tolist() == [310104, 310115]
    assert ent["founded"].tolist()[0] == "2020-07-08"
    assert ent["registered_capital"].tolist()[0] == 1000.5
    assert ent["status"].tolist() == ["active", None]
    assert ent["provenance"].tolist() == ["reported", "reported"]
    rev = valid.revenue
    assert rev["period"].astype(str).tolist() == ["2025Q2", "2025Q2"]
    assert rev["revenue"].tolist() == [12.0, 3.5]
    assert valid.revenue_periods == ["2025Q2"]
    assert valid.data_period == "2025Q2"


# ------------------------------------------------------------------------- required values


def test_a_missing_required_value_is_reported(conn: sqlite3.Connection) -> None:
    assert _problems(conn, _table("enterprises", ENT, [
        _firm(FIRM_A, name_zh=None), _firm(FIRM_B, segment=None)])) == [
        Problem(ENT, None, 2, "name_zh", None, REASONS["missing"]),
        Problem(ENT, None, 3, "segment", None, REASONS["missing"]),
    ]


def test_a_missing_value_is_reported_under_the_files_own_header(
        conn: sqlite3.Connection) -> None:
    rows = [{"credit_code": FIRM_A, "period": "2025Q1", "revenue": None}]
    table = _table("revenue", "营业收入.csv", rows,
                   headers={"credit_code": "统一社会信用代码", "period": "报告期",
                            "revenue": "营业收入(万元)"},
                   scale={"credit_code": 1.0, "period": 1.0, "revenue": 0.01})
    assert _problems(conn, _table("enterprises", ENT, [_firm(FIRM_A)]), table) == [
        Problem("营业收入.csv", None, 2, "营业收入(万元)", None, REASONS["missing"]),
    ]


# --------------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(("value", "reason"), [
    ("abc", REASONS["number"]),
    ("12,34", REASONS["number"]),  # a comma that is no thousands separator
    ("=B2*100", REASONS["formula"]),
    ("-5", REASONS["nonnegative"]),
])
def test_a_bad_number_is_reported(conn: sqlite3.Connection, value: str, reason: str) -> None:
    assert _problems(conn, _table("enterprises", ENT, [
        _firm(FIRM_A, registered_capital=value)])) == [
        Problem(ENT, None, 2, "registered_capital", value, reason),
    ]


@pytest.mark.parametrize(("value", "reason"), [
    ("-3", REASONS["nonnegative"]),
    ("2.5", REASONS["whole"]),
])
def test_a_count_must_be_whole_and_not_negative(conn: sqlite3.Connection, value: str,
                                               reason: str) -> None:
    assert _problems(conn, _table("enterprises", ENT, [_firm(FIRM_A, employees=value)])) == [
        Problem(ENT, None, 2, "employees", value, reason),
    ]


def test_numbers_are_read_with_separators_full_width_digits_and_unit_scale(
        conn: sqlite3.Connection) -> None:
    table = _table("revenue", REV, [
        {"credit_code": FIRM_A, "period": "2025Q1", "revenue": "1,234,500"},
        {"credit_code": FIRM_B, "period": "2025Q1", "revenue": "１２００"}],
        scale={"credit_code": 1.0, "period": 1.0, "revenue": 0.01})
    valid = _validate(conn, _table("enterprises", ENT, [_firm(FIRM_A), _firm(FIRM_B)]), table)
    assert valid.ok
    assert valid.revenue is not None
    assert valid.revenue["revenue"].tolist() == [12345.0, 12.0]


# --------------------------------------------------------------------------------- periods


@pytest.mark.parametrize(("period", "reason"), [
    ("2025Q5", ("period '2025Q5' is not a quarter: use YYYYQn (2025Q2), YYYY年n季度 or "
                "YYYY年1-n月")),
    ("2025-05", f"period '2025-05' is a month, not a quarter: {QUARTER_HINT}"),
    ("2025", f"period '2025' is a year, not a quarter: {QUARTER_HINT}"),
    ("2025Q3", "period 2025Q3 has not ended yet (it ends 2025-09-30; today is 2025-08-15)"),
])
def test_a_bad_or_future_period_is_reported(conn: sqlite3.Connection, period: str,
                                            reason: str) -> None:
    assert _problems(conn, _table("enterprises", ENT, [_firm(FIRM_A)]),
                     _table("revenue", REV, [{"credit_code": FIRM_A, "period": period,
                                              "revenue": "1"}])) == [
        Problem(REV, None, 2, "period", period, reason),
    ]


def test_zone_metrics_refuse_a_year_to_date_period(conn: sqlite3.Connection) -> None:
    assert _problems(conn, _table("zone_metrics", ZONES, [
        {"zone_id": "westbund_ai_tower", "period": "2025年1-6月", "firms": "12"}])) == [
        Problem(ZONES, None, 2, "period", "2025年1-6月", REASONS["zone_ytd"]),
    ]


def test_quarterly_basis_with_a_year_to_date_period_is_a_conflict(
        conn: sqlite3.Connection) -> None:
    assert _problems(conn, _table("enterprises", ENT, [_firm(FIRM_A)]),
                     _table("revenue", REV, [{"credit_code": FIRM_A, "period": "2025年1-6月",
                                              "revenue": "30", "basis": "当季"}])) == [
        Problem(REV, None, 2, "basis", "当季", REASONS["basis_conflict"]),
    ]


# -------------------------------------------------------------------------- duplicate keys


def test_a_repeated_key_is_reported_with_the_row_it_repeats(conn: sqlite3.Connection) -> None:
    assert _problems(
        conn, _table("enterprises", ENT, [_firm(FIRM_A)]),
        _table("revenue", REV, [{"credit_code": FIRM_A, "period": "2025Q1", "revenue": "1"},
                                {"credit_code": FIRM_A, "period": "2025Q2", "revenue": "2"}]),
        _table("revenue", "revenue_part2.csv", [
            {"credit_code": FIRM_A, "period": "2025 Q1", "revenue": "3"}])) == [
        Problem("revenue_part2.csv", None, 2, "credit_code", FIRM_A,
                f"duplicate key (credit_code {FIRM_A}, period 2025Q1): already in revenue.csv "
                "row 2"),
    ]


def test_a_register_repeat_names_the_sheet(conn: sqlite3.Connection) -> None:
    assert _problems(conn, _table("enterprises", "enterprises.xlsx",
                                  [_firm(FIRM_A), _firm(FIRM_A.lower())], sheet="名录")) == [
        Problem("enterprises.xlsx", "名录", 3, "credit_code", FIRM_A.lower(),
                f"duplicate key (credit_code {FIRM_A}): already in enterprises.xlsx sheet 名录 "
                "row 2"),
    ]


# --------------------------------------------------------------------------- check digits


def test_invalid_credit_codes_are_reported_with_their_reason(conn: sqlite3.Connection) -> None:
    right = FIRM_A[17]
    wrong = next(c for c in credit_code.ALPHABET if c != right)
    assert _problems(conn, _table("enterprises", ENT, [
        _firm(FIRM_A[:17] + wrong), _firm(FIRM_A[:17]), _firm(FIRM_A[:16] + "I" + right)])) == [
        Problem(ENT, None, 2, "credit_code", FIRM_A[:17] + wrong,
                f"check digit is {wrong}, GB 32100-2015 requires {right}"),
        Problem(ENT, None, 3, "credit_code", FIRM_A[:17],
                "credit code must have 18 characters, this one has 17"),
        Problem(ENT, None, 4, "credit_code", FIRM_A[:16] + "I" + right,
                "credit code contains characters outside GB 32100 (digits and capitals without "
                "I, O, Z, S, V): I"),
    ]


def test_revenue_codes_are_checked_too(conn: sqlite3.Connection) -> None:
    bad = FIRM_B[:17] + next(c for c in credit_code.ALPHABET if c != FIRM_B[17])
    assert _problems(conn, _table("revenue", REV, [
        {"credit_code": bad, "period": "2025Q1", "revenue": "1"}])) == [
        Problem(REV, None, 2, "credit_code", bad,
                f"check digit is {bad[17]}, GB 32100-2015 requires {FIRM_B[17]}"),
    ]


# ------------------------------------------------------------------- unknown references


def test_unknown_zone_district_segment_and_status(conn: sqlite3.Connection) -> None:
    assert _problems(conn, _table("enterprises", ENT, [
        _firm(FIRM_A, zone_id="nowhere", district_code="310199", segment="quantum",
              status="bankrupt", provenance="guess")])) == [
        # In the order of the file's columns.
        Problem(ENT, None, 2, "district_code", "310199", REASONS["district"]),
        Problem(ENT, None, 2, "segment", "quantum", REASONS["segment"]),
        Problem(ENT, None, 2, "zone_id", "nowhere", REASONS["zone"]),
        Problem(ENT, None, 2, "status", "bankrupt", REASONS["status"]),
        Problem(ENT, None, 2, "provenance", "guess", REASONS["provenance"]),
    ]


def test_zone_metrics_with_an_unknown_zone_or_no_values(conn: sqlite3.Connection) -> None:
    assert _problems(conn, _table("zone_metrics", ZONES, [
        {"zone_id": "nowhere", "period": "2025Q1", "firms": "3"},
        {"zone_id": "westbund_ai_tower", "period": "2025Q1", "firms": None}])) == [
        Problem(ZONES, None, 2, "zone_id", "nowhere", REASONS["zone"]),
        Problem(ZONES, None, 3, None, None, REASONS["no_values"]),
    ]


def test_revenue_of_an_enterprise_in_neither_drop_nor_database(
        conn: sqlite3.Connection) -> None:
    assert _problems(conn, _table("enterprises", ENT, [_firm(FIRM_A)]),
                     _table("revenue", REV, [
                         {"credit_code": FIRM_A, "period": "2025Q1", "revenue": "1"},
                         {"credit_code": STORED, "period": "2025Q1", "revenue": "2"},
                         {"credit_code": NOWHERE, "period": "2025Q1", "revenue": "3"},
                         {"credit_code": NOWHERE, "period": "2025Q2", "revenue": "4"}])) == [
        Problem(REV, None, 4, "credit_code", NOWHERE, REASONS["unknown_enterprise"]),
        Problem(REV, None, 5, "credit_code", NOWHERE, REASONS["unknown_enterprise"]),
    ]


def test_a_register_row_with_problems_still_makes_its_revenue_known(
        conn: sqlite3.Connection) -> None:
    assert _problems(conn, _table("enterprises", ENT, [_firm(NOWHERE, segment="quantum")]),
                     _table("revenue", REV, [
                         {"credit_code": NOWHERE, "period": "2025Q1", "revenue": "1"}])) == [
        Problem(ENT, None, 2, "segment", "quantum", REASONS["segment"]),
    ]


# --------------------------------------------------------------------------- year to date


def test_year_to_date_figures_become_quarter_values(conn: sqlite3.Connection) -> None:
    valid = _validate(conn, _table("enterprises", ENT, [_firm(FIRM_A)]),
                      _table("revenue", REV, [
                          # the drop's own Q1, then January–June
                          {"credit_code": FIRM_A, "period": "2025Q1", "revenue": "10"},
                          {"credit_code": FIRM_A, "period": "2025年1-6月", "revenue": "25"},
                          # Q1 stored (40), January–June in the drop
                          {"credit_code": STORED, "period": "2025H1", "revenue": "100"}]))
    assert valid.ok
    assert valid.revenue is not None
    rev = valid.revenue
    assert rev["period"].astype(str).tolist() == ["2025Q1", "2025Q2", "2025Q2"]
    assert rev["revenue"].tolist() == [10.0, 15.0, 60.0]
    assert rev["from_ytd"].tolist() == [0, 1, 1]


def test_a_year_to_date_figure_below_the_total_before_it(conn: sqlite3.Connection) -> None:
    assert _problems(conn, _table("revenue", REV, [
        {"credit_code": STORED, "period": "2025年1-6月", "revenue": "30.5"}])) == [
        Problem(REV, None, 2, "revenue", "30.5",
                "year-to-date revenue 30.5 million CNY is less than the total through 2025Q1 "
                "(40 million CNY), so 2025Q2 would be negative"),
    ]


# ----------------------------------------------------------- control characters, lengths


def test_control_characters_and_over_long_values_claim_their_cells(
        conn: sqlite3.Connection) -> None:
    long_name = "名" * (NAME_LIMIT + 1)
    long_capital = "1" * (CELL_LIMIT + 1)
    assert _problems(conn, _table("enterprises", ENT, [
        _firm(FIRM_A, name_zh="上海\x07测试"),
        _firm(FIRM_B, name_zh=long_name, registered_capital=long_capital),
        _firm(STORED, registered_capital="12\t5")])) == [
        Problem(ENT, None, 2, "name_zh", "上海\\x07测试",
                "holds a control character (U+0007): delete it; a cell holds one line of "
                "printable text"),
        Problem(ENT, None, 3, "name_zh", "名" * 50 + "…",
                f"too long: {NAME_LIMIT + 1:,} characters, this column allows at most "
                f"{NAME_LIMIT:,}"),
        Problem(ENT, None, 3, "registered_capital", "1" * 50 + "…",
                f"too long: {CELL_LIMIT + 1:,} characters, this column allows at most "
                f"{CELL_LIMIT:,}"),
        # Claimed by the control character: not also "not a number".
        Problem(ENT, None, 4, "registered_capital", "12\\x095",
                "holds a control character (U+0009, a tab): delete it; a cell holds one line "
                "of printable text"),
    ]


# ------------------------------------------------------------------------------- dates


@pytest.mark.parametrize(("value", "reason"), [
    ("2020-02-30", REASONS["date"]),
    ("last year", REASONS["date"]),
    ("2025-09-01", "date is in the future (today is 2025-08-15)"),
])
def test_a_bad_or_future_date_is_reported(conn: sqlite3.Connection, value: str,
                                          reason: str) -> None:
    assert _problems(conn, _table("enterprises", ENT, [_firm(FIRM_A, founded=value)])) == [
        Problem(ENT, None, 2, "founded", value, reason),
    ]


def test_revenue_cells_are_quoted_as_written_once_their_columns_are_typed(
        conn: sqlite3.Connection) -> None:
    """Revenue's text columns are kept as categoricals of their texts once typed, and the
    files' own text is let go (at 8M rows, hundreds of megabytes): later checks still quote
    each cell as its file wrote it."""
    revenue = _table("revenue", REV, [
        {"credit_code": NOWHERE.lower(), "period": "2025年1季度", "revenue": "1",
         "provenance": "样例"},
        {"credit_code": FIRM_A, "period": "2025年1-6月", "revenue": "2", "basis": "当季"}])
    read = ReadResult(files=[DropFile(Path(n), n, None) for n in (ENT, REV)],
                      tables=[_table("enterprises", ENT, [_firm(FIRM_A)]), revenue])
    valid = validate_drop(read, COLUMN_MAP, conn, today=TODAY)
    assert problems_as_list(valid.problems) == [
        Problem(REV, None, 2, "credit_code", NOWHERE.lower(), REASONS["unknown_enterprise"]),
        Problem(REV, None, 3, "basis", "当季", REASONS["basis_conflict"]),
    ]
    assert revenue.data.empty and not len(revenue.rows)
