"""Numbers as a briefing writes them, on top of the dashboard's formats (:mod:`app.i18n`):
money in billion CNY in English and in 亿元 in Chinese (:meth:`Translator.money`), counts with
thousands separators in English and in 万 from ten thousand up in Chinese, signed changes.
"""

from __future__ import annotations

import math

from app.i18n import Translator

# One 万 is ten thousand: Chinese counts from there up are written in 万.
WAN = 10_000


def missing(value: float | None) -> bool:
    """True for None or NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def count(tr: Translator, value: float | None) -> str:
    """A count: ``12,345`` in English, ``1.2万`` in Chinese (``9,876`` below ten thousand)."""
    if missing(value):
        return "—"
    assert value is not None
    if tr.lang == "zh" and abs(value) >= WAN:
        return tr.number(value / WAN, 1, trim=True) + "万"
    return tr.number(value)


def signed_count(tr: Translator, value: float | None) -> str:
    """A change in a count with its sign: ``+12``, ``−3``."""
    if missing(value):
        return "—"
    assert value is not None
    text = count(tr, abs(value))
    return ("+" if value >= 0 else "−") + text


def change(tr: Translator, pct: float | None, decimals: int = 1) -> str:
    """A percentage change with its sign (``+13.2%``)."""
    return tr.percent(pct, decimals, signed=True)


def money(tr: Translator, billions: float | None, *, bound: bool = False,
          approximate: bool = False) -> str:
    """Money given in billion CNY, with ``≥`` or ``≈`` where the source says over or about."""
    prefix = "≥ " if bound else ("≈ " if approximate else "")
    return prefix + tr.money(billions)
