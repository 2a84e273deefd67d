"""etl.fact_fields: one fact's unit and markers, publication date and kind."""

from __future__ import annotations

import pytest

from etl.fact_fields import ParsedUnit, fact_kind, parse_unit, published_date


@pytest.mark.parametrize(("metric", "hint", "kind"), [
    ("target_ai_industry_scale", "actual", "target"),
    ("zone_enterprises_target", "estimate", "target"),
    ("zone_area", "plan", "plan"),
    ("planned_cabinets", "actual", "plan"),
    ("ai_industry_scale_planned_full_year", "actual", "estimate"),
    ("ai_industry_scale", "actual", "actual"),
    ("ai_industry_scale", "estimate", "estimate"),
])
def test_fact_kind(metric: str, hint: str, kind: str) -> None:
    assert fact_kind(metric, hint) == kind


@pytest.mark.parametrize(("published", "expected"), [
    ("billion CNY", ParsedUnit("billion CNY", False, False, "billion CNY")),
    ("billion CNY (lower bound: 'over/more than')",
     ParsedUnit("billion CNY", True, False, "billion CNY (lower bound: 'over/more than')")),
    ("percent (lower bound: 'over')",
     ParsedUnit("percent", True, False, "percent (lower bound: 'over')")),
    ("enterprises (lower bound: '1000余家')",
     ParsedUnit("enterprises", True, False, "enterprises (lower bound: '1000余家')")),
    ("PFLOPS (lower bound: 'surpassed')",
     ParsedUnit("PFLOPS", True, False, "PFLOPS (lower bound: 'surpassed')")),
    ("square metres (building area, 'over')",
     ParsedUnit("square metres", True, False, "square metres (building area, 'over')")),
    ("people (more than)", ParsedUnit("people", True, False, "people (more than)")),
    ("people (approx., 'nearly')", ParsedUnit("people", False, True, "people (approx., 'nearly')")),
    ("percent (approx., 'about')",
     ParsedUnit("percent", False, True, "percent (approx., 'about')")),
    ("billion CNY (approx.: '近千亿元')",
     ParsedUnit("billion CNY", False, True, "billion CNY (approx.: '近千亿元')")),
    ("enterprises (approx., 'nearly 100'); >200 chain companies",
     ParsedUnit("enterprises", False, True,
                "enterprises (approx., 'nearly 100'); >200 chain companies")),
    ("P (PFLOPS; lower bound)", ParsedUnit("PFLOPS", True, False, "P (PFLOPS; lower bound)")),
    ("companies (lower bound)", ParsedUnit("enterprises", True, False, "companies (lower bound)")),
    # "≈61%" is about the share, not the value: not a marker.
    ("registered (备案) large models (≈61% of Shanghai)",
     ParsedUnit("models", False, False, "registered (备案) large models (≈61% of Shanghai)")),
    ("models (备案); of which Xuhui 21",
     ParsedUnit("models", False, False, "models (备案); of which Xuhui 21")),
    ("million square metres", ParsedUnit("million square metres", False, False,
                                         "million square metres")),
])
def test_parse_unit(published: str, expected: ParsedUnit) -> None:
    assert parse_unit(published) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("2025-05-07", "2025-05-07"), ("undated (probably 2019-01)", "2019-01"), ("c. 2020", "2020"),
    ("2026-01-13 (white paper released 2026-01-08)", "2026-01-13"), ("undated", None),
])
def test_published_date(text: str, expected: str | None) -> None:
    assert published_date(text) == expected
