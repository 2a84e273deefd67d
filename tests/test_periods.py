"""models.periods: drop periods, free-text fact periods, quarter arithmetic."""

from __future__ import annotations

import csv
from datetime import date

import pytest

from models.periods import (
    ParsedPeriod,
    fact_kind_hint,
    month_end,
    parse_fact_period,
    parse_period,
    quarter_end,
    quarter_range,
    quarter_start,
    shift_quarter,
    split_quarter,
)
from tests.conftest import DATA_DIR

Q2_25 = ParsedPeriod("2025Q2", date(2025, 6, 30), "Q")
YTD_Q2_25 = ParsedPeriod("2025Q2", date(2025, 6, 30), "Q", "ytd")


@pytest.mark.parametrize(("text", "expected"), [
    # quarters
    ("2025Q2", Q2_25),
    ("2025 Q2", Q2_25),
    ("2025q2", Q2_25),
    ("2025-Q2", Q2_25),
    (" 2025Q2 ", Q2_25),
    ("２０２５Ｑ２", Q2_25),
    ("2025年2季度", Q2_25),
    ("2025年第2季度", Q2_25),
    ("2025年第二季度", Q2_25),
    ("2025年二季度", Q2_25),
    ("2025 年 第二 季度", Q2_25),
    ("2024Q1", ParsedPeriod("2024Q1", date(2024, 3, 31), "Q")),
    ("2024年第三季度", ParsedPeriod("2024Q3", date(2024, 9, 30), "Q")),
    ("2024年第四季度", ParsedPeriod("2024Q4", date(2024, 12, 31), "Q")),
    # year to date → the quarter it ends on
    ("2025年1-6月", YTD_Q2_25),
    ("2025年1—6月", YTD_Q2_25),
    ("2025年1–6月", YTD_Q2_25),
    ("2025年1～6月", YTD_Q2_25),
    ("2025年1~6月", YTD_Q2_25),
    ("2025年1〜6月", YTD_Q2_25),
    ("2025年1至6月", YTD_Q2_25),
    ("2025年1-6", YTD_Q2_25),
    ("2025 1-6", YTD_Q2_25),
    ("2025H1", YTD_Q2_25),
    ("2025h1", YTD_Q2_25),
    ("2025年上半年", YTD_Q2_25),
    ("2025Q1-Q2", YTD_Q2_25),
    ("2025年1-3月", ParsedPeriod("2025Q1", date(2025, 3, 31), "Q", "ytd")),
    ("2025年1-9月", ParsedPeriod("2025Q3", date(2025, 9, 30), "Q", "ytd")),
    ("2025年1-12月", ParsedPeriod("2025Q4", date(2025, 12, 31), "Q", "ytd")),
    ("2024Q1-Q3", ParsedPeriod("2024Q3", date(2024, 9, 30), "Q", "ytd")),
    ("2024Q1-3", ParsedPeriod("2024Q3", date(2024, 9, 30), "Q", "ytd")),
    ("2024Q1-Q1", ParsedPeriod("2024Q1", date(2024, 3, 31), "Q", "ytd")),
    # months stay months
    ("2025-06", ParsedPeriod("2025-06", date(2025, 6, 30), "M")),
    ("2025-6", ParsedPeriod("2025-06", date(2025, 6, 30), "M")),
    ("2025/06", ParsedPeriod("2025-06", date(2025, 6, 30), "M")),
    ("2025年6月", ParsedPeriod("2025-06", date(2025, 6, 30), "M")),
    ("2024-02", ParsedPeriod("2024-02", date(2024, 2, 29), "M")),
    ("2023-02", ParsedPeriod("2023-02", date(2023, 2, 28), "M")),
    # days and years
    ("2025-06-30", ParsedPeriod("2025-06-30", date(2025, 6, 30), "D")),
    ("2025/6/3", ParsedPeriod("2025-06-03", date(2025, 6, 3), "D")),
    ("2025年6月3日", ParsedPeriod("2025-06-03", date(2025, 6, 3), "D")),
    ("2025", ParsedPeriod("2025", date(2025, 12, 31), "Y")),
    ("2025年", ParsedPeriod("2025", date(2025, 12, 31), "Y")),
])
def test_parse_period_reads_every_drop_format(text: str, expected: ParsedPeriod) -> None:
    assert parse_period(text) == expected


HINT = "use YYYYQn (2025Q2), YYYY年n季度 or YYYY年1-n月"
GENERAL = "use YYYYQn (2025Q2), YYYY年n季度, YYYY-MM or YYYY年1-n月"


@pytest.mark.parametrize(("text", "message"), [
    ("2025Q5", f"period '2025Q5' is not a quarter: {HINT}"),
    ("2025Q0", f"period '2025Q0' is not a quarter: {HINT}"),
    ("2025 q12", f"period '2025 q12' is not a quarter: {HINT}"),
    ("2025年5季度", f"period '2025年5季度' is not a quarter: {HINT}"),
    ("2025年第五季度", f"period '2025年第五季度' is not a quarter: {HINT}"),
    ("2025年第十季度", f"period '2025年第十季度' is not a quarter: {HINT}"),
    ("2024Q1-Q5", f"period '2024Q1-Q5' is not a quarter: {HINT}"),
    ("2024Q2-Q3", ("period '2024Q2-Q3' is not year-to-date: a quarter range must start in Q1 "
                  "(2024Q1-Q3)")),
    ("2025年2-6月", ("period '2025年2-6月' is not year-to-date: a 1-n月 range must start in "
                   "month 1 (2025年1-6月)")),
    ("2025年4—6月", ("period '2025年4—6月' is not year-to-date: a 1-n月 range must start in "
                   "month 1 (2025年1-6月)")),
    ("2025年1-5月", ("period '2025年1-5月' does not end a quarter: a 1-n月 range must end in "
                   "month 3, 6, 9 or 12")),
    ("2025 1-7", ("period '2025 1-7' does not end a quarter: a 1-n月 range must end in month 3, "
                 "6, 9 or 12")),
    ("2025年1-13月", "period '2025年1-13月' has no month 13: months run from 1 to 12"),
    ("2025H2", ("period '2025H2' is not year-to-date: only the first half (H1, January–June) "
               "can be read, as 2025Q2 year-to-date")),
    ("2025年下半年", ("period '2025年下半年' is not year-to-date: only the first half (H1, "
                   "January–June) can be read, as 2025Q2 year-to-date")),
    ("2025H3", "period '2025H3' is not a half-year: use 2025H1"),
    ("2025-13", "period '2025-13' has no month 13: months run from 1 to 12"),
    ("2025-00", "period '2025-00' has no month 0: months run from 1 to 12"),
    ("2025-02-30", "period '2025-02-30' is not a calendar date"),
    ("1850Q2", "period '1850Q2' has year 1850, outside 1900–2100"),
    ("2025Q2 revised", f"period '2025Q2 revised' is not recognised: {GENERAL}"),
    ("Q2 2025", f"period 'Q2 2025' is not recognised: {GENERAL}"),
    ("25Q2", f"period '25Q2' is not recognised: {GENERAL}"),
    ("二〇二五年二季度", f"period '二〇二五年二季度' is not recognised: {GENERAL}"),
    ("", f"period is empty: {GENERAL}"),
    ("   ", f"period is empty: {GENERAL}"),
])
def test_parse_period_rejects_malformed_input_with_exact_message(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_period(text)
    assert str(info.value) == message


@pytest.mark.parametrize(("text", "expected"), [
    ("2024", ("2024", date(2024, 12, 31), "Y", None, "actual")),
    ("2025Q1", ("2025Q1", date(2025, 3, 31), "Q", None, "actual")),
    ("2025-03", ("2025-03", date(2025, 3, 31), "M", None, "actual")),
    ("2025-03-31", ("2025-03-31", date(2025, 3, 31), "D", None, "actual")),
    ("2025H1", ("2025Q2", date(2025, 6, 30), "Q", "ytd", "actual")),
    ("2024Q1-Q3", ("2024Q3", date(2024, 9, 30), "Q", "ytd", "actual")),
    ("2025Q1-Q3", ("2025Q3", date(2025, 9, 30), "Q", "ytd", "actual")),
    ("2020 (end)", ("2020", date(2020, 12, 31), "Y", None, "actual")),
    ("2020 (end, expected)", ("2020", date(2020, 12, 31), "Y", None, "estimate")),
    ("2020 (mid-year)", ("2020Q2", date(2020, 6, 30), "Q", None, "actual")),
    ("2018 (as reported early 2019)", ("2018", date(2018, 12, 31), "Y", None, "actual")),
    ("2025 (as reported 2025-05)", ("2025-05", date(2025, 5, 31), "M", None, "actual")),
    ("2026-01 (as stated 2026-01-27)", ("2026-01-27", date(2026, 1, 27), "D", None, "actual")),
    ("2025 (target)", ("2025", date(2025, 12, 31), "Y", None, "target")),
    ("2020 (target set 2017-11)", ("2020", date(2020, 12, 31), "Y", None, "target")),
    ("2025 (3-year target from 2022-08)", ("2025", date(2025, 12, 31), "Y", None, "target")),
    ("2023 (end, target)", ("2023", date(2023, 12, 31), "Y", None, "target")),
    ("2021-2025 (14th FYP target)", ("2025", date(2025, 12, 31), "Y", "range", "target")),
    ("2018-2022", ("2022", date(2022, 12, 31), "Y", "range", "actual")),
    ("c. 2029 (10-year target from 2019)", ("2029", date(2029, 12, 31), "Y", None, "target")),
    ("2021-09 (YTD, incomplete statistics)", ("2021Q3", date(2021, 9, 30), "Q", "ytd", "actual")),
    ("2021-08 (YTD)", ("2021-08", date(2021, 8, 31), "M", "ytd", "actual")),
    ("c. 2025", ("2025", date(2025, 12, 31), "Y", None, "actual")),
    ("c. 2025-12-23", ("2025-12-23", date(2025, 12, 23), "D", None, "actual")),
    ("c. early 2024 (undated)", ("2024Q1", date(2024, 3, 31), "Q", None, "actual")),
    ("as reported 2024-01", ("2024-01", date(2024, 1, 31), "M", None, "actual")),
    ("as reported c. 2025 (undated)", ("2025", date(2025, 12, 31), "Y", None, "actual")),
    ("as reported c. 2025 (likely 2024)", ("2024", date(2024, 12, 31), "Y", None, "actual")),
    ("plan (as of 2022-01)", ("2022-01", date(2022, 1, 31), "M", None, "plan")),
    ("2019-07 (plan)", ("2019-07", date(2019, 7, 31), "M", None, "plan")),
    ("2023-02 (when fully built)", ("2023-02", date(2023, 2, 28), "M", None, "plan")),
    ("2025-07 (WAIC 2025)", ("2025-07", date(2025, 7, 31), "M", None, "actual")),
    ("2024-03 (<6 months after opening)", ("2024-03", date(2024, 3, 31), "M", None, "actual")),
    ("2020-03-31 (signing)", ("2020-03-31", date(2020, 3, 31), "D", None, "actual")),
    ("2024-09 (c.)", ("2024-09", date(2024, 9, 30), "M", None, "actual")),
])
def test_parse_fact_period(text: str, expected: tuple[object, ...]) -> None:
    parsed = parse_fact_period(text)
    assert parsed is not None
    assert (parsed.period, parsed.period_end, parsed.freq, parsed.basis, parsed.kind) == expected


@pytest.mark.parametrize("text", [
    "latest full year as of 2024-01 (likely 2022 or 2023)",
    "undated",
    "",
])
def test_parse_fact_period_returns_none_without_one_reference_period(text: str) -> None:
    assert parse_fact_period(text) is None


def test_every_period_of_the_reference_facts_parses() -> None:
    with (DATA_DIR / "reference" / "shanghai_ai_facts.csv").open(encoding="utf-8") as fh:
        periods = sorted({row["period"] for row in csv.DictReader(fh)})
    assert len(periods) == 76
    unread = [p for p in periods if parse_fact_period(p) is None]
    # The only period that names no single reference year (see data/reference/README.md).
    assert unread == ["latest full year as of 2024-01 (likely 2022 or 2023)"]
    for p in periods:
        parsed = parse_fact_period(p)
        if parsed is not None:
            # The canonical period round-trips through the strict reader.
            again = parse_period(parsed.period)
            assert (again.period, again.period_end, again.freq) == (
                parsed.period, parsed.period_end, parsed.freq), p


@pytest.mark.parametrize(("text", "kind"), [
    ("2025 (target)", "target"),
    ("2021-2025 (14th FYP target)", "target"),
    ("plan (as of 2022-01)", "plan"),
    ("2019-07 (plan)", "plan"),
    ("2023-02 (when fully built)", "plan"),
    ("2020 (end, expected)", "estimate"),
    ("2020 (estimated)", "estimate"),
    ("2020 (end)", "actual"),
    ("2023-01 (construction start)", "actual"),
    ("2024 (planning stage)", "actual"),
])
def test_fact_kind_hint(text: str, kind: str) -> None:
    assert fact_kind_hint(text) == kind


@pytest.mark.parametrize(("year", "month", "end"), [
    (2024, 2, date(2024, 2, 29)), (2025, 2, date(2025, 2, 28)), (2025, 12, date(2025, 12, 31)),
    (2025, 4, date(2025, 4, 30)),
])
def test_month_end(year: int, month: int, end: date) -> None:
    assert month_end(year, month) == end


@pytest.mark.parametrize(("period", "shift", "expected"), [
    ("2025Q2", 0, "2025Q2"), ("2025Q1", -1, "2024Q4"), ("2024Q4", 1, "2025Q1"),
    ("2025Q3", -8, "2023Q3"), ("0999Q1", 4, "1000Q1"),
])
def test_shift_quarter(period: str, shift: int, expected: str) -> None:
    assert shift_quarter(period, shift) == expected


def test_quarter_bounds_and_range() -> None:
    assert (quarter_start(2024, 1), quarter_end(2024, 1)) == (date(2024, 1, 1), date(2024, 3, 31))
    assert quarter_end(2025, 4) == date(2025, 12, 31)
    assert quarter_range("2024Q3", "2025Q2") == ["2024Q3", "2024Q4", "2025Q1", "2025Q2"]
    assert quarter_range("2025Q2", "2025Q1") == []


def test_split_quarter_refuses_other_periods() -> None:
    with pytest.raises(ValueError, match=r"^'2025-06' is not a quarter of the form YYYYQn$"):
        split_quarter("2025-06")
