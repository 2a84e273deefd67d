"""Reading the periods that sources and drops write, into the canonical forms of the schema.

Canonical periods (see ``models/tables.py``): ``2024`` (year), ``2024Q3`` (quarter), ``2024-09``
(month), ``2024-09-30`` (day). Each comes with the ISO date it ends on, so periods of any length
sort together.

Two readers:

* :func:`parse_period` for the quarterly drops: a strict reader of the formats a statistics
  office or an Excel user writes (``2025Q2``, ``2025年2季度``, ``2025年1-6月`` …). Anything else
  raises ``ValueError`` with a message that says what to write instead.
* :func:`parse_fact_period` for the free-text periods of the reference facts
  (``2020 (end, expected)``, ``as reported 2024-01`` …): lenient, it also reads the kind hint
  (target, plan, estimate) and returns ``None`` when the text names no single reference period.

Year-to-date ranges (``2025年1-6月``, ``2025H1``, ``2024Q1-Q3``) become the quarter they end on
with ``basis='ytd'``: a figure for January–June is stored as period ``2025Q2``, basis ytd.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass
from datetime import date

# Years a period may name: wide enough for any statistics, narrow enough to catch typos
# (``0225Q2``, ``20252``) that a date library would accept.
MIN_YEAR, MAX_YEAR = 1900, 2100
QUARTER_END_MONTHS = (3, 6, 9, 12)
FREQS = ("Y", "Q", "M", "D")
KINDS = ("actual", "target", "plan", "estimate")

QUARTER_HINT = "use YYYYQn (2025Q2), YYYY年n季度 or YYYY年1-n月"
GENERAL_HINT = "use YYYYQn (2025Q2), YYYY年n季度, YYYY-MM or YYYY年1-n月"

# Chinese quarter numerals as written in 第二季度 / 二季度.
CHINESE_NUMERALS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
                    "九": 9, "〇": 0, "零": 0}
# Range dashes after NFKC: hyphen, en and em dash, wave dashes, and 至/到 ("1至6月").
_DASHES = re.compile(r"\s*[-‐‑‒–—―~〜〰至到]\s*")


@dataclass(frozen=True)
class ParsedPeriod:
    """A period in canonical form.

    :ivar period: ``YYYY``, ``YYYYQn``, ``YYYY-MM`` or ``YYYY-MM-DD``.
    :ivar period_end: the last day of the period.
    :ivar freq: ``Y``, ``Q``, ``M`` or ``D``.
    :ivar basis: ``ytd`` for a year-to-date range (January to the end of ``period``), ``range``
        for a multi-year span ending with ``period`` (``2018-2022``), else ``None``.
    :ivar kind: ``actual``, or the hint the text gives: ``target``, ``plan`` or ``estimate``.
    """

    period: str
    period_end: date
    freq: str
    basis: str | None = None
    kind: str = "actual"


# ----------------------------------------------------------------------- canonical builders


def month_end(year: int, month: int) -> date:
    """The last day of ``month`` in ``year``."""
    return date(year, month, calendar.monthrange(year, month)[1])


def year_period(year: int, basis: str | None = None, kind: str = "actual") -> ParsedPeriod:
    """The whole year ``year``; ``basis='range'`` for a span of years ending with it."""
    return ParsedPeriod(f"{year:04d}", date(year, 12, 31), "Y", basis, kind)


def quarter_period(year: int, quarter: int, basis: str | None = None,
                   kind: str = "actual") -> ParsedPeriod:
    """Quarter ``quarter`` (1–4) of ``year``; ``basis='ytd'`` for January to its end."""
    return ParsedPeriod(f"{year:04d}Q{quarter}", month_end(year, 3 * quarter), "Q", basis, kind)


# ----------------------------------------------------------------------- quarter arithmetic
# The one place that counts quarters: ``2025Q2`` ↔ (2025, 2) ↔ its first and last day.


def split_quarter(period: str) -> tuple[int, int]:
    """``2025Q2`` → ``(2025, 2)``.

    :raises ValueError: if ``period`` is not a canonical quarter.
    """
    if not re.fullmatch(r"\d{4}Q[1-4]", period):
        raise ValueError(f"{period!r} is not a quarter of the form YYYYQn")
    return int(period[:4]), int(period[5])


def quarter_label(year: int, quarter: int) -> str:
    """``(2025, 2)`` → ``2025Q2``."""
    return f"{year:04d}Q{quarter}"


def quarter_start(year: int, quarter: int) -> date:
    """The first day of quarter ``quarter`` of ``year``."""
    return date(year, 3 * quarter - 2, 1)


def quarter_end(year: int, quarter: int) -> date:
    """The last day of quarter ``quarter`` of ``year``."""
    return month_end(year, 3 * quarter)


def shift_quarter(period: str, quarters: int) -> str:
    """``2025Q2`` moved by ``quarters`` (negative goes back): ``shift_quarter("2025Q1", -1)``
    is ``2024Q4``."""
    year, quarter = split_quarter(period)
    index = year * 4 + quarter - 1 + quarters
    return quarter_label(index // 4, index % 4 + 1)


def quarter_range(first: str, last: str) -> list[str]:
    """Every quarter from ``first`` to ``last``, both included (empty if ``last`` is earlier)."""
    (y0, q0), (y1, q1) = split_quarter(first), split_quarter(last)
    return [shift_quarter(first, k) for k in range((y1 * 4 + q1) - (y0 * 4 + q0) + 1)]


def month_period(year: int, month: int, kind: str = "actual") -> ParsedPeriod:
    """Month ``month`` of ``year``."""
    return ParsedPeriod(f"{year:04d}-{month:02d}", month_end(year, month), "M", None, kind)


def day_period(day: date, kind: str = "actual") -> ParsedPeriod:
    """The single day ``day``."""
    return ParsedPeriod(day.isoformat(), day, "D", None, kind)


# ------------------------------------------------------------------------------ drop periods

_YEAR = r"(\d{4})"
_QUARTER = re.compile(rf"^{_YEAR}\s*-?\s*Q\s*(\d+)$", re.IGNORECASE)
_QUARTER_RANGE = re.compile(rf"^{_YEAR}\s*-?\s*Q\s*(\d+)\s*-\s*Q?\s*(\d+)$", re.IGNORECASE)
_QUARTER_ZH = re.compile(rf"^{_YEAR}\s*年\s*第?\s*([0-9一二三四五六七八九十〇零]+)\s*季度?$")
_HALF = re.compile(rf"^{_YEAR}\s*-?\s*H\s*(\d+)$", re.IGNORECASE)
_HALF_ZH = re.compile(rf"^{_YEAR}\s*年\s*([上下])半年$")
_MONTH_RANGE = re.compile(rf"^{_YEAR}(?:\s*年\s*|\s+)(\d{{1,2}})\s*-\s*(\d{{1,2}})\s*月?$")
_MONTH = re.compile(rf"^{_YEAR}\s*(?:[-/]\s*(\d{{1,2}})|年\s*(\d{{1,2}})\s*月)$")
_DAY = re.compile(rf"^{_YEAR}\s*(?:-(\d{{1,2}})-(\d{{1,2}})|/(\d{{1,2}})/(\d{{1,2}})"
                  rf"|年\s*(\d{{1,2}})\s*月\s*(\d{{1,2}})\s*日)$")
_YEAR_ONLY = re.compile(rf"^{_YEAR}\s*年?$")


def _normalise(text: str) -> str:
    """NFKC (full-width digits and letters, ～) and one ASCII hyphen for every range dash."""
    s = unicodedata.normalize("NFKC", text).strip()
    s = _DASHES.sub("-", s)
    return re.sub(r"\s+", " ", s)


def _number(token: str) -> int:
    if token.isdigit():
        return int(token)
    if len(token) == 1 and token in CHINESE_NUMERALS:
        return CHINESE_NUMERALS[token]
    return -1


def _check_year(original: str, year: int) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValueError(f"period '{original}' has year {year}, outside {MIN_YEAR}–{MAX_YEAR}")


def _quarter(original: str, year: int, token: str, basis: str | None = None) -> ParsedPeriod:
    q = _number(token)
    if not 1 <= q <= 4:
        raise ValueError(f"period '{original}' is not a quarter: {QUARTER_HINT}")
    return quarter_period(year, q, basis)


def _ytd_months(original: str, year: int, first: int, last: int) -> ParsedPeriod:
    for month in (first, last):
        if not 1 <= month <= 12:
            raise ValueError(f"period '{original}' has no month {month}: months run from 1 to 12")
    if first != 1:
        raise ValueError(f"period '{original}' is not year-to-date: a 1-n月 range must start in "
                         f"month 1 ({year}年1-{last}月)")
    if last not in QUARTER_END_MONTHS:
        raise ValueError(f"period '{original}' does not end a quarter: a 1-n月 range must end in "
                         f"month 3, 6, 9 or 12")
    return quarter_period(year, last // 3, "ytd")


def _day(original: str, year: int, month: int, day: int) -> ParsedPeriod:
    try:
        return day_period(date(year, month, day))
    except ValueError:
        raise ValueError(f"period '{original}' is not a calendar date") from None


def parse_period(text: str) -> ParsedPeriod:
    """Read one period as a quarterly drop writes it.

    Accepted (case, full-width characters and spaces do not matter):

    * quarters: ``2025Q2``, ``2025 Q2``, ``2025q2``, ``2025-Q2``, ``2025年2季度``,
      ``2025年第二季度``, ``2025年二季度``;
    * year-to-date, stored as the quarter it ends on with ``basis='ytd'``: ``2025年1-6月``
      (also with —, ～, ~ or 至), ``2025 1-6``, ``2025H1``, ``2025年上半年``, ``2024Q1-Q3``;
    * months ``2025-06``, ``2025/6``, ``2025年6月``; days ``2025-06-30``, ``2025/6/30``,
      ``2025年6月30日``; years ``2025``, ``2025年``.

    :param text: the cell as read.
    :returns: the canonical period (kind ``actual``).
    :raises ValueError: with a message naming the text and what to write instead, e.g.
        ``period '2025Q5' is not a quarter: use YYYYQn (2025Q2), YYYY年n季度 or YYYY年1-n月``.
    """
    original = str(text).strip()
    if not original:
        raise ValueError(f"period is empty: {GENERAL_HINT}")
    s = _normalise(original)

    if m := _QUARTER.match(s):
        _check_year(original, int(m[1]))
        return _quarter(original, int(m[1]), m[2])
    if m := _QUARTER_RANGE.match(s):
        year, first, last = int(m[1]), int(m[2]), int(m[3])
        _check_year(original, year)
        if not (1 <= first <= 4 and 1 <= last <= 4):
            raise ValueError(f"period '{original}' is not a quarter: {QUARTER_HINT}")
        if first != 1 or last < first:
            raise ValueError(f"period '{original}' is not year-to-date: a quarter range must "
                             f"start in Q1 ({year}Q1-Q{max(last, 1)})")
        return quarter_period(year, last, "ytd")
    if m := _QUARTER_ZH.match(s):
        _check_year(original, int(m[1]))
        return _quarter(original, int(m[1]), m[2])
    if (m := _HALF.match(s)) or (m := _HALF_ZH.match(s)):
        year = int(m[1])
        _check_year(original, year)
        if m[2] in ("1", "上"):
            return quarter_period(year, 2, "ytd")
        if m[2] in ("2", "下"):
            raise ValueError(f"period '{original}' is not year-to-date: only the first half "
                             f"(H1, January–June) can be read, as {year}Q2 year-to-date")
        raise ValueError(f"period '{original}' is not a half-year: use {year}H1")
    if m := _MONTH_RANGE.match(s):
        _check_year(original, int(m[1]))
        return _ytd_months(original, int(m[1]), int(m[2]), int(m[3]))
    if m := _MONTH.match(s):
        year, month = int(m[1]), int(m[2] or m[3])
        _check_year(original, year)
        if not 1 <= month <= 12:
            raise ValueError(f"period '{original}' has no month {month}: months run from 1 to 12")
        return month_period(year, month)
    if m := _DAY.match(s):
        year = int(m[1])
        _check_year(original, year)
        month, day = next((int(m[i]), int(m[i + 1])) for i in (2, 4, 6) if m[i])
        return _day(original, year, month, day)
    if m := _YEAR_ONLY.match(s):
        _check_year(original, int(m[1]))
        return year_period(int(m[1]))
    raise ValueError(f"period '{original}' is not recognised: {GENERAL_HINT}")


# ------------------------------------------------------------------------------ fact periods

# One period token inside free text: a range of years, a quarter (range), a half, a day, a
# month or a year. The longest forms come first.
_TOKEN = re.compile(
    r"(?<!\d)(\d{4})(?:-(\d{4})(?!\d)"            # 2018-2022
    r"|(?:Q[1-4](?:-Q[1-4])?|H[12])(?![0-9A-Za-z])"  # 2025Q1, 2024Q1-Q3, 2025H1
    r"|-\d{2}-\d{2}(?!\d)"                        # 2025-03-31
    r"|-\d{2}(?!\d))?(?!\d)",                     # 2025-03
    re.IGNORECASE)
_AMBIGUOUS = re.compile(r"likely\s+\d{4}\s+or\s+\d{4}", re.IGNORECASE)
_LIKELY = re.compile(r"likely\s+(\d{4})(?!\d)", re.IGNORECASE)
_AS_REPORTED = re.compile(
    r"as\s+(?:reported|stated)\s+(?:c\.\s*)?(?:early\s+)?(\d{4}(?:-\d{2}(?:-\d{2})?)?)(?!\d)",
    re.IGNORECASE)
_PARENS = re.compile(r"\([^()]*\)")


def fact_kind_hint(text: str) -> str:
    """``target``, ``plan``, ``estimate`` or ``actual``, from words in a fact's period text."""
    low = text.lower()
    if re.search(r"\btarget", low):
        return "target"
    if re.search(r"\bplan\b|when fully built", low):
        return "plan"
    if re.search(r"\bexpected\b|\bestimated?\b", low):
        return "estimate"
    return "actual"


def _token_period(token: re.Match[str]) -> ParsedPeriod:
    if token[2]:  # a span of years: 2018-2022
        first, last = int(token[1]), int(token[2])
        if last <= first:
            raise ValueError(f"period '{token[0]}' is not a span of years")
        return year_period(last, "range")
    return parse_period(token[0])


def _start(p: ParsedPeriod) -> date:
    """First day of a single period (not a ytd or range span)."""
    year = int(p.period[:4])
    if p.freq == "Y":
        return date(year, 1, 1)
    if p.freq == "Q":
        return date(year, 3 * int(p.period[5]) - 2, 1)
    if p.freq == "M":
        return date(year, int(p.period[5:7]), 1)
    return p.period_end


def _within(inner: ParsedPeriod, outer: ParsedPeriod) -> bool:
    return _start(outer) <= inner.period_end <= outer.period_end


def parse_fact_period(text: str) -> ParsedPeriod | None:
    """Read the free-text period of a reference fact.

    The first period token outside parentheses is the reference period (tokens inside
    parentheses count only when there is none outside: ``plan (as of 2022-01)``). Then:

    * ``likely 2024`` names the reference year of an undated report; ``likely 2022 or 2023``
      names none, and the result is ``None``;
    * ``as reported 2025-05`` / ``as stated 2026-01-27`` inside the reference period makes it
      more precise (``2025 (as reported 2025-05)`` → ``2025-05``); a later report date
      (``2018 (as reported early 2019)``) leaves the period alone;
    * ``early 2024`` → ``2024Q1``; ``2020 (mid-year)`` → ``2020Q2``;
    * ``YTD`` on a quarter-end month → that quarter, ``basis='ytd'`` (``2021-09 (YTD)`` →
      ``2021Q3``); ``2025H1`` and ``2024Q1-Q3`` are year-to-date as in :func:`parse_period`;
    * ``2018-2022`` → ``2022`` with ``basis='range'``;
    * words give the kind: ``target`` → target, ``plan``/``when fully built`` → plan,
      ``expected`` → estimate, else actual.

    :param text: the period as published (kept by the caller as ``period_label``).
    :returns: the period, or ``None`` when the text names no single reference period.
    """
    s = _normalise(text)
    kind = fact_kind_hint(s)
    if _AMBIGUOUS.search(s):
        return None
    if m := _LIKELY.search(s):
        parsed = year_period(int(m[1]))
    else:
        outside = _PARENS.sub(" ", s)
        token = _TOKEN.search(outside)
        before = outside[: token.start()] if token else ""
        token = token or _TOKEN.search(s)
        if token is None:
            return None
        parsed = _token_period(token)
        if parsed.freq == "Y" and parsed.basis is None:
            if re.search(r"\bearly\s*$", before, re.IGNORECASE):
                parsed = quarter_period(int(parsed.period), 1)
            elif re.search(r"\bmid-year\b", s, re.IGNORECASE):
                parsed = quarter_period(int(parsed.period), 2)
        if (reported := _AS_REPORTED.search(s)) and parsed.basis is None:
            as_of = parse_period(reported[1])
            if _within(as_of, parsed) and FREQS.index(as_of.freq) > FREQS.index(parsed.freq):
                parsed = as_of
        if re.search(r"\bytd\b", s, re.IGNORECASE) and parsed.freq == "M":
            month = parsed.period_end.month
            if month in QUARTER_END_MONTHS:
                parsed = quarter_period(parsed.period_end.year, month // 3, "ytd")
            else:
                parsed = ParsedPeriod(parsed.period, parsed.period_end, "M", "ytd")
    return ParsedPeriod(parsed.period, parsed.period_end, parsed.freq, parsed.basis, kind)
