"""app/i18n.py and the locale files: both languages complete, numbers formatted per language."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.i18n import Translator, get_translator, load_strings
from models import tables
from models.errors import DAMAGE_REASONS

ROOT = Path(__file__).resolve().parent.parent
CODE = [ROOT / "streamlit_app.py", *sorted((ROOT / "app").rglob("*.py"))]
LITERAL_KEY = re.compile(r"""\btr\(\s*["']([a-z_]+\.[A-Za-z0-9_\-]+)["']""")
# Keys built at run time: family prefix → the codes that must all be translated.
FAMILIES = {
    "provenance": tables.PROVENANCES,
    "zone_kind": tables.ZONE_KINDS,
    "basis": tables.BASES,
    "kind": tables.KINDS,
    "confidence": tables.CONFIDENCES,
    "status": tables.ENTERPRISE_STATUSES,
    "run_status": tables.RUN_STATUSES,
    "run_kind": tables.RUN_KINDS,
    "scope_type": ("city", "zone", "district", "segment"),
    "freq": ("Q", "Y"),
    "view": ("level", "growth", "share"),
    "size_band": ("micro", "small", "medium", "large", "xlarge", "unknown"),
    "overview.card": ("output", "growth", "firms", "models", "computing"),
    "overview.help": ("output", "growth", "firms", "models", "computing"),
    "sources.tab": ("facts", "conflicts", "runs", "method"),
    "enterprises.sort": ("name_zh", "name_en", "founded", "employees", "registered_capital",
                         "credit_code"),
    "errors.db": ("missing", "empty"),
    "errors.damaged": tuple(DAMAGE_REASONS),
    "charts.interval": ("80", "95"),
    "columns": ("growth_pct", "share_pct"),
    "methodology": ("bases", "provenance", "sample", "conflicts", "forecasts", "accuracy"),
}


def test_both_languages_have_the_same_keys() -> None:
    en, zh = set(load_strings("en")), set(load_strings("zh"))
    assert sorted(en - zh) == [] and sorted(zh - en) == []


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_key_used_in_code_exists(lang: str) -> None:
    strings = load_strings(lang)
    used = {key for path in CODE for key in LITERAL_KEY.findall(path.read_text("utf-8"))}
    assert len(used) > 150
    assert sorted(k for k in used if k not in strings) == []


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_built_key_exists(lang: str) -> None:
    """Keys assembled in code: ``provenance.sample`` or, under a dotted prefix,
    ``overview.card_firms``."""
    strings = load_strings(lang)
    keys = [f"{family}_{code}" if "." in family else f"{family}.{code}"
            for family, codes in FAMILIES.items() for code in codes]
    keys += [f"methodology.{section}_title" for section in FAMILIES["methodology"]]
    assert [k for k in keys if k not in strings] == []


@pytest.mark.parametrize(("lang", "billions", "expected"), [
    ("en", 400.0, "400.0 billion CNY"),
    ("zh", 400.0, "4,000 亿元"),
    ("en", 1234.5, "1,234 billion CNY"),
    ("zh", 0.172, "1.7 亿元"),
    ("en", None, "—"),
])
def test_money_in_each_language(lang: str, billions: float | None, expected: str) -> None:
    assert get_translator(lang).money(billions) == expected


@pytest.mark.parametrize(("lang", "period", "expected"), [
    ("en", "2025Q2", "2025 Q2"), ("zh", "2025Q2", "2025年第2季度"), ("zh", "2024", "2024年"),
    ("en", "2024-09", "2024-09"), ("en", None, "—"),
    ("zh", float("nan"), "—"),  # a zone without a firm count: a missing cell, not "nan"
])
def test_periods(lang: str, period: str | float | None, expected: str) -> None:
    assert get_translator(lang).period(period) == expected


def test_numbers_dates_and_times() -> None:
    en, zh = get_translator("en"), get_translator("zh")
    assert en.number(1234567.891, 1) == "1,234,567.9"
    assert en.number(13.20, 2, trim=True) == "13.2"
    assert en.percent(13.24, signed=True) == "+13.2%"
    assert zh.date("2025-05-07") == "2025年5月7日"
    assert en.date("2025-05-07") == "2025-05-07"
    assert en.timestamp("2025-08-12 14:05:11.000000") == "2025-08-12 22:05 (UTC+8)"
    assert zh.timestamp("2025-08-12 14:05:11.000000") == "2025年8月12日 22:05（北京时间）"


def test_names_from_the_database_follow_the_language() -> None:
    assert get_translator("zh").name("Pudong New Area", "浦东新区") == "浦东新区"
    assert get_translator("en").name("Pudong New Area", "浦东新区") == "Pudong New Area"
    assert get_translator("en").name(None, "浦东新区") == "浦东新区"
    assert get_translator("zh").label("provenance", "sample") == "样例"
    assert get_translator("zh").label("provenance", "unheard-of") == "unheard-of"


def test_sample_badge_wording() -> None:
    assert get_translator("en")("common.sample_badge") == "Sample data — generated, not real"
    assert get_translator("zh")("common.sample_badge") == "样例数据（生成，非真实）"


def test_unknown_language() -> None:
    with pytest.raises(ValueError) as info:
        load_strings("fr")
    assert str(info.value) == "unknown language 'fr'; use one of en, zh"
    assert Translator("fr").lang == "en"
