"""Reading one fact's fields: its unit and markers, source key, publication date, kind and basis.

Small pure functions that :func:`etl.facts.clean_facts` applies to every row of the facts file;
they touch no database and raise nothing.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from models.periods import ParsedPeriod

# Markers in the unit column (the reference file writes "over X" as X + "lower bound").
LOWER_BOUND = re.compile(r"lower bound|\bover\b|more than|surpass|余", re.IGNORECASE)
APPROXIMATE = re.compile(r"approx|\babout\b|\bnearly\b|近", re.IGNORECASE)
_PARENS = re.compile(r"\([^()]*\)")
# Spellings of a unit in the facts file → the unit of the metric catalogue. Qualifiers such as
# "(备案)" or "; of which Xuhui 21" are dropped from the unit and kept in ``method``.
UNIT_ALIASES = {
    "AI projects": "projects",
    "P": "PFLOPS",
    "VC institutions": "institutions",
    "investment institutions": "institutions",
    "companies": "enterprises",
    "firms": "enterprises",
    "large-model-related enterprises": "enterprises",
    "leading AI enterprises": "enterprises",
    "large language models registered": "models",
    "models approved by CAC": "models",
    "registered large models": "models",
    "services registered": "services",
}
# Units of flows (a value per period: annual, quarterly or year-to-date). Every other unit is a
# stock at a date (basis ``point``).
FLOW_UNITS = ("billion CNY", "million CNY", "percent")
# Money amounts that are committed at one date (a signing, an event), not flows over a period.
POINT_AMOUNT_METRICS = frozenset({"investment", "zone_projects_investment",
                                  "zone_pipeline_investment"})
_ISO_PREFIX = re.compile(r"\d{4}(?:-\d{2}(?:-\d{2})?)?")


@dataclass(frozen=True)
class ParsedUnit:
    """A unit as published, read: the catalogue-style unit and the two markers."""

    unit: str
    lower_bound: bool
    approximate: bool
    published: str


def parse_unit(published: str) -> ParsedUnit:
    """Read a unit as the facts file writes it: base unit, lower-bound and approximate markers.

    ``"billion CNY (lower bound: 'over/more than')"`` → billion CNY, lower bound;
    ``"enterprises (approx., 'nearly 100'); >200 chain companies"`` → enterprises, approximate.
    Parenthesised qualifiers and anything after ``;`` leave the unit; spellings in
    :data:`UNIT_ALIASES` become the catalogue's unit.
    """
    base = _PARENS.sub(" ", published).split(";")[0]
    base = re.sub(r"\s+", " ", base).strip()
    return ParsedUnit(unit=UNIT_ALIASES.get(base, base),
                      lower_bound=bool(LOWER_BOUND.search(published)),
                      approximate=bool(APPROXIMATE.search(published)),
                      published=published)


def source_key(title: str, publication: str, published: str, quote: str) -> str:
    """Stable key of a source: the first 16 hex digits of SHA-256 over its four fields."""
    text = f"{title}\x1f{publication}\x1f{published}\x1f{quote}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def published_date(text: str) -> str | None:
    """The first ISO date, month or year in a source date (``undated (c. 2024-03/04)`` → 2024-03)."""
    m = _ISO_PREFIX.search(text)
    return m.group(0) if m else None


def fact_kind(metric: str, hint: str) -> str:
    """The observation kind of a fact from its metric code and its period's kind hint.

    A metric named as a target is a target whatever the period says ("2020 (end, expected)");
    otherwise the period's hint wins; otherwise ``planned_*`` metrics are plans, except a
    ``*_planned_full_year`` figure, which is a preliminary estimate of a year already over.
    """
    words = metric.split("_")
    if "target" in words:
        return "target"
    if hint != "actual":
        return hint
    if metric.endswith("planned_full_year"):
        return "estimate"
    if "planned" in words:
        return "plan"
    return "actual"


def fact_basis(metric: str, unit: str, period: ParsedPeriod) -> str | None:
    """The basis of a fact: range, ytd, annual, quarterly or point; None if a flow has no span.

    Flows (money per period, growth rates) take their span from the period; stocks (firms,
    models, people, areas, computing power) and committed amounts are points at the period's
    end, also when the period is a year-to-date range ("394 firms in 2025Q1-Q3" is the count at
    the end of Q3).
    """
    if period.basis == "range":
        return "range"
    if unit not in FLOW_UNITS or metric in POINT_AMOUNT_METRICS:
        return "point"
    if period.basis == "ytd":
        return "ytd"
    if period.freq == "Y":
        return "annual"
    if period.freq == "Q":
        return "quarterly"
    return None
