"""Translations and number formats for English and Chinese.

Every user-facing string lives in ``app/locales/<lang>.toml``; code refers to it by a dotted
key (``t("overview.title")``). Money is formatted in billion CNY in English and in 亿元 (100
million CNY) in Chinese; both use thousands separators. No streamlit import: pages pass the
language in, so charts, exports and tests use the same translator.
"""

from __future__ import annotations

import math
import tomllib
from datetime import UTC, date, datetime, timedelta, timezone
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
LANGS = ("en", "zh")
DEFAULT_LANG = "en"
# Plotly font stack: a CJK family must come first in Chinese or labels render as boxes.
FONT_FAMILY = {
    "en": "Inter, 'Source Sans Pro', 'Helvetica Neue', Arial, sans-serif",
    "zh": "'Microsoft YaHei', 'WenQuanYi Micro Hei', 'Noto Sans CJK SC', sans-serif",
}
# Shanghai has no daylight saving: stored UTC times are shown at UTC+8.
SHANGHAI = timezone(timedelta(hours=8))
# One 亿 is 100 million; one billion is ten 亿.
YI_PER_BILLION = 10.0


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in tree.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{full}."))
        else:
            out[full] = str(value)
    return out


@cache
def load_strings(lang: str) -> dict[str, str]:
    """All strings of one locale, flattened to dotted keys.

    :raises ValueError: for a language that has no locale file.
    """
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}; use one of {', '.join(LANGS)}")
    with (LOCALES_DIR / f"{lang}.toml").open("rb") as fh:
        return _flatten(tomllib.load(fh))


def normalise_lang(value: str | None) -> str:
    """``value`` if it is a supported language code, else the default."""
    return value if value in LANGS else DEFAULT_LANG


class Translator:
    """Strings and number formats of one language.

    :param lang: ``en`` or ``zh``.
    """

    def __init__(self, lang: str) -> None:
        self.lang = normalise_lang(lang)
        self._strings = load_strings(self.lang)

    # -- strings -------------------------------------------------------------------------
    def __call__(self, key: str, **kwargs: Any) -> str:
        """The string for ``key`` with ``{placeholders}`` filled in; the key itself if missing."""
        template = self._strings.get(key)
        if template is None:
            template = load_strings(DEFAULT_LANG).get(key, key)
        return template.format(**kwargs) if kwargs else template

    def has(self, key: str) -> bool:
        """True if this locale defines ``key``."""
        return key in self._strings

    @property
    def font_family(self) -> str:
        """The plotly font stack for this language."""
        return FONT_FAMILY[self.lang]

    def name(self, name_en: str | None, name_zh: str | None) -> str:
        """A database name in this language, falling back to the other one."""
        first, second = (name_zh, name_en) if self.lang == "zh" else (name_en, name_zh)
        return first or second or ""

    def label(self, group: str, code: str | None) -> str:
        """A translated code (``zone_kind.core4``); the code itself if unknown."""
        if code is None:
            return ""
        key = f"{group}.{code}"
        return self(key) if self.has(key) else str(code)

    # -- numbers -------------------------------------------------------------------------
    def number(self, value: float | None, decimals: int = 0, *, trim: bool = False) -> str:
        """``1,234.5`` with thousands separators; an em dash for a missing value.

        :param trim: drop trailing zeros of the decimals (``13.20`` → ``13.2``).
        """
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "—"
        text = f"{value:,.{decimals}f}"
        if trim and "." in text:
            text = text.rstrip("0").rstrip(".")
        return text

    def percent(self, value: float | None, decimals: int = 1, *, signed: bool = False) -> str:
        """A percentage given in percent (``13.2`` → ``13.2%``)."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "—"
        sign = "+" if signed else ""
        return f"{value:{sign},.{decimals}f}%"

    @property
    def money_unit(self) -> str:
        """The unit money is shown in: ``billion CNY`` or ``亿元``."""
        return self("units.money")

    def money_scale(self) -> float:
        """Factor from billion CNY to the display unit."""
        return YI_PER_BILLION if self.lang == "zh" else 1.0

    def money(self, billions: float | None, decimals: int | None = None) -> str:
        """Money given in billion CNY, in this language's unit (``400.0 billion CNY``,
        ``4,000 亿元``)."""
        if billions is None or (isinstance(billions, float) and math.isnan(billions)):
            return "—"
        value = billions * self.money_scale()
        if decimals is None:
            decimals = 0 if abs(value) >= 1000 else 1
        return self("units.money_fmt", value=self.number(value, decimals))

    # -- periods -------------------------------------------------------------------------
    def period(self, period: str | None, basis: str | None = None) -> str:
        """``2025Q2`` → ``2025 Q2`` / ``2025年第2季度``; ``2024`` → ``2024`` / ``2024年``.

        With ``basis="ytd"`` a quarter reads as the year to date: ``2025 Q1–Q3`` / ``2025年1—9月``.
        """
        if not isinstance(period, str) or not period:  # None, or NaN from a missing cell
            return "—"
        p = period
        if len(p) == 6 and p[4] == "Q" and basis == "ytd":
            return self("periods.ytd", year=p[:4], q=p[5], month=int(p[5]) * 3)
        if len(p) == 6 and p[4] == "Q":
            return self("periods.quarter", year=p[:4], q=p[5])
        if len(p) == 4 and p.isdigit():
            return self("periods.year", year=p)
        return p

    def date(self, value: date | str | None) -> str:
        """An ISO date, as written in this language (``2025-05-07`` / ``2025年5月7日``)."""
        if value is None or value == "":
            return "—"
        text = str(value)[:10]
        parts = text.split("-")
        if self.lang == "zh" and len(parts) == 3 and all(p.isdigit() for p in parts):
            return f"{int(parts[0])}年{int(parts[1])}月{int(parts[2])}日"
        if self.lang == "zh" and len(parts) == 2 and all(p.isdigit() for p in parts):
            return f"{int(parts[0])}年{int(parts[1])}月"
        return text


    def timestamp(self, value: object) -> str:
        """A stored UTC timestamp shown in Shanghai time (UTC+8, no daylight saving)."""
        if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
            return "—"
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            return str(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        local = moment.astimezone(SHANGHAI)
        return self("periods.timestamp", date=self.date(local.date().isoformat()),
                    time=local.strftime("%H:%M"))


@lru_cache(maxsize=4)
def get_translator(lang: str) -> Translator:
    """The (shared) translator for ``lang``."""
    return Translator(lang)
