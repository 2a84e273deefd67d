"""app/money.py: money units to billion CNY, the same in Python and in SQL."""

from __future__ import annotations

import sqlite3

import pytest

from app.money import money_factor, money_unit_sql

UNITS = ["billion CNY", "billion CNY (lower bound: 'over/more than')", "million CNY", "亿元",
         "万元", "percent", "enterprises", "Billion RMB", "yuan", "PFLOPS", ""]


# -- money_factor --------------------------------------------------------------------
@pytest.mark.parametrize(("unit", "factor"), [
    ("billion CNY", 1.0),
    ("billion CNY (lower bound: 'over/more than')", 1.0),
    ("million CNY", 0.001),
    ("亿元", 0.1),
    ("万元", 1e-5),
    ("percent", None),
    ("enterprises", None),
    (None, None),
])
def test_money_factor(unit: str | None, factor: float | None) -> None:
    assert money_factor(unit) == factor


def test_sql_and_python_agree_on_what_is_money() -> None:
    conn = sqlite3.connect(":memory:")
    money = [conn.execute(f"SELECT {money_unit_sql('?1')}", (unit,)).fetchone()[0] == 1
             for unit in UNITS]
    conn.close()
    assert money == [money_factor(unit) is not None for unit in UNITS]
