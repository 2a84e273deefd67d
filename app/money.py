"""Money units: how many billion CNY one unit is, in Python and in SQL.

Sources publish money in yuan, 万元, 亿元, million or billion CNY; the dashboard shows billion
CNY (column ``value_bn``) and converts for display in each language. A unit is money when it
names the currency (:data:`MONEY_WORDS`); the SQL test (:func:`money_unit_sql`) and the Python
one (:func:`money_factor`) use the same words.
"""

from __future__ import annotations

import re

# Words that make a unit a money unit (compared case-insensitively).
MONEY_WORDS = ("cny", "rmb", "yuan", "元")
# Billion CNY per one unit of each money unit, by the words a unit string contains.
MONEY_UNITS = (
    (re.compile(r"trillion", re.IGNORECASE), 1000.0),
    (re.compile(r"billion", re.IGNORECASE), 1.0),
    (re.compile(r"hundred million|100 million|亿", re.IGNORECASE), 0.1),
    (re.compile(r"ten thousand|10 thousand|万", re.IGNORECASE), 1e-5),
    (re.compile(r"million|百万", re.IGNORECASE), 0.001),
)
_MONEY_WORDS = re.compile("|".join(map(re.escape, MONEY_WORDS)), re.IGNORECASE)


def money_factor(unit: str | None) -> float | None:
    """Billion CNY per one ``unit`` (``million CNY`` → 0.001), or None if not money."""
    if not unit or not _MONEY_WORDS.search(unit):
        return None
    for pattern, factor in MONEY_UNITS:
        if pattern.search(unit):
            return factor
    return 1e-9  # plain yuan


def money_unit_sql(column: str) -> str:
    """An SQL condition true where ``column`` (a trusted column name) holds a money unit, as
    :func:`money_factor` decides it (SQLite's LIKE ignores the case of ASCII letters)."""
    return "(" + " OR ".join(f"{column} LIKE '%{word}%'" for word in MONEY_WORDS) + ")"
