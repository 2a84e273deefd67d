"""The seeded test database: made-up figures are sample, reported ones are published facts."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

from etl.fact_fields import published_date
from models.periods import parse_fact_period
from tests.conftest import DATA_DIR
from tests.seed import SRC_SAMPLE

FACTS_CSV = DATA_DIR / "reference" / "shanghai_ai_facts.csv"
SCOPE_MAP_CSV = DATA_DIR / "reference" / "scope_map.csv"

pytest_plugins = ["dashboard_fixtures"]


def _reference_keys() -> set[tuple]:
    """(metric, scope type, scope id, period, value, source title, publication, date, quote) of
    every row of the reference facts file whose value is a number."""
    with SCOPE_MAP_CSV.open(encoding="utf-8") as fh:
        scopes = {r["scope_text"]: (r["scope_type"], r["scope_id"]) for r in csv.DictReader(fh)}
    keys = set()
    with FACTS_CSV.open(encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            period = parse_fact_period(r["period"])
            try:
                value = float(r["value"].replace(",", ""))
            except ValueError:
                continue
            if period is None or r["zone_or_scope"] not in scopes:
                continue
            keys.add((r["metric"], *scopes[r["zone_or_scope"]], period.period, value,
                      r["source_title"], r["source_url_or_publication"] or None,
                      published_date(r["source_date"]), r["quote"] or None))
    return keys


def _rows(path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def test_every_reported_figure_is_a_row_of_the_reference(seeded_db_path: Path) -> None:
    reported = _rows(seeded_db_path, """
        SELECT o.metric, o.scope_type, o.scope_id, o.period, o.value, s.title,
               s.url_or_publication, s.published, s.quote
        FROM observations o JOIN sources s ON s.id = o.source_id
        WHERE o.provenance = 'reported' ORDER BY o.id""")
    assert len(reported) >= 10
    reference = _reference_keys()
    assert [r for r in reported if r not in reference] == []


def test_made_up_figures_are_sample_and_cite_the_sample_source(seeded_db_path: Path) -> None:
    # Nothing cites a real-looking source unless it is reported, and nothing reported cites
    # the sample generator.
    mixed = _rows(seeded_db_path, """
        SELECT o.metric, o.scope_id, o.period, o.provenance, s.provenance
        FROM observations o JOIN sources s ON s.id = o.source_id
        WHERE o.provenance != s.provenance""")
    assert mixed == []
    assert _rows(seeded_db_path, "SELECT id, provenance, caveat FROM sources "
                                 "WHERE provenance = 'sample'") == [
        (SRC_SAMPLE, "sample", "Generated, not real.")]
