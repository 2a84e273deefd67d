"""app/transforms.py: annual totals, growth year on year and shares, on small frames."""

from __future__ import annotations

import pandas as pd
import pytest

from app.transforms import add_growth, add_share, period_freq, to_annual
from models.periods import shift_quarter


# -- the year-on-year lag -----------------------------------------------------------------
@pytest.mark.parametrize(("period", "moved", "expected"), [
    ("2025Q2", -4, "2024Q2"), ("2025Q1", -1, "2024Q4"), ("2024Q4", 1, "2025Q1"),
])
def test_shift_quarter(period: str, moved: int, expected: str) -> None:
    assert shift_quarter(period, moved) == expected


@pytest.mark.parametrize(("period", "freq"), [
    ("2025Q2", "Q"), ("2025", "Y"), ("2025-06", "M"), ("2025-06-30", "D"),
])
def test_period_freq(period: str, freq: str) -> None:
    assert period_freq(period) == freq


# -- transforms ---------------------------------------------------------------------------
def _frame(rows: list[tuple[str, str, float]], provenance: str = "sample") -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["scope_id", "period", "value"])
    df["period_end"] = pd.to_datetime(
        [pd.Period(p.replace("Q", "-Q") if "Q" in p else p, freq="Q" if "Q" in p else "Y")
         .end_time.date() for p in df["period"]])
    df["value_bn"] = df["value"] / 1000
    df["provenance"] = provenance
    return df


def test_to_annual_sums_complete_years_of_flows() -> None:
    df = _frame([("a", "2023Q4", 1.0)] + [("a", f"2024Q{q}", float(q)) for q in range(1, 5)])
    out = to_annual(df, flow=True)
    assert out[["period", "value"]].to_dict("records") == [{"period": "2024", "value": 10.0}]


def test_to_annual_takes_the_last_quarter_of_stocks() -> None:
    df = _frame([("a", "2024Q3", 5.0), ("a", "2024Q4", 7.0), ("a", "2025Q1", 8.0)])
    out = to_annual(df, flow=False)
    assert out[["period", "value"]].to_dict("records") == [
        {"period": "2024", "value": 7.0}, {"period": "2025", "value": 8.0}]


def test_to_annual_keeps_monthly_stocks() -> None:
    df = _frame([("a", "2024Q4", 7.0)])
    extra = df.assign(period="2025-06", period_end=pd.Timestamp("2025-06-30"), value=9.0)
    out = to_annual(pd.concat([df, extra], ignore_index=True), flow=False)
    assert out[["period", "value"]].to_dict("records") == [
        {"period": "2024", "value": 7.0}, {"period": "2025", "value": 9.0}]


def test_growth_is_year_on_year() -> None:
    df = _frame([("a", "2024Q1", 100.0), ("a", "2024Q2", 50.0), ("a", "2025Q1", 110.0),
                 ("b", "2024", 10.0), ("b", "2025", 8.0)])
    out = add_growth(df)
    assert out["growth"].isna().tolist() == [True, True, False, True, False]
    assert out["growth"].dropna().round(6).tolist() == [10.0, -20.0]


def test_share_uses_the_city_total_then_the_sum() -> None:
    df = _frame([("a", "2024Q1", 25.0), ("b", "2024Q1", 25.0), ("a", "2024Q2", 30.0),
                 ("b", "2024Q2", 10.0)])
    totals = pd.DataFrame({"period": ["2024Q1"], "value": [100.0]})
    assert add_share(df, totals)["share"].tolist() == [25.0, 25.0, 75.0, 25.0]
