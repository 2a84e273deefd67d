"""A small version of the scale benchmark's path: generate a scale drop, load it, load it again.

``benchmarks/scale_bench.py`` runs the same path at 10k–1M enterprises; this keeps it working
at a size that takes a few seconds.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from etl.drops import load_drop
from etl.sample import write_scale_drop
from models.db import sqlite_path

ENTERPRISES = 6_000
QUARTERS = 8
SEED = 7


@pytest.fixture
def scale_drop(tmp_path: Path) -> Path:
    drop = tmp_path / "2025Q2"
    write_scale_drop(drop, enterprises=ENTERPRISES, quarters=QUARTERS, seed=SEED)
    return drop


def _db(engine: Engine) -> sqlite3.Connection:
    path = sqlite_path(str(engine.url))
    assert path is not None
    return sqlite3.connect(path)


def _counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {
        "enterprises": conn.execute("SELECT count(*) FROM enterprises").fetchone()[0],
        "revenue_current": conn.execute(
            "SELECT count(*) FROM enterprise_revenue WHERE superseded_by IS NULL").fetchone()[0],
        "revenue_all": conn.execute("SELECT count(*) FROM enterprise_revenue").fetchone()[0],
        "observations": conn.execute("SELECT count(*) FROM observations").fetchone()[0],
        "versions": conn.execute("SELECT count(*) FROM enterprise_versions").fetchone()[0],
    }


def test_scale_drop_loads_once_and_repeats_as_a_noop(geo_engine: Engine,
                                                     scale_drop: Path) -> None:
    first = load_drop(geo_engine, scale_drop, progress=False)
    assert first.changed and first.run_id is not None
    assert first.rejected == 0
    rows = ENTERPRISES * (1 + QUARTERS)
    assert first.read >= rows  # plus the zone metrics rows

    with _db(geo_engine) as conn:
        counts = _counts(conn)
        assert counts["enterprises"] == ENTERPRISES
        assert counts["revenue_current"] == counts["revenue_all"] == ENTERPRISES * QUARTERS
        assert conn.execute("SELECT count(DISTINCT period) FROM enterprise_revenue"
                            ).fetchone()[0] == QUARTERS
        # Derived aggregates: revenue sums for every quarter of the drop, at every scope level,
        # adding up to the firms' revenue; the firm count of the drop's quarter.
        derived = dict(conn.execute(
            """SELECT scope_type, count(DISTINCT period) FROM observations
               WHERE metric = 'enterprise_revenue' AND superseded_by IS NULL
               GROUP BY scope_type"""))
        assert {"city", "district", "zone", "segment"} <= set(derived)
        assert derived["city"] == QUARTERS
        city, firms = conn.execute(
            """SELECT sum(value), (SELECT sum(revenue) FROM enterprise_revenue
                                   WHERE period = '2025Q2' AND superseded_by IS NULL)
               FROM observations WHERE metric = 'enterprise_revenue' AND scope_type = 'city'
                 AND period = '2025Q2' AND superseded_by IS NULL""").fetchone()
        assert city == pytest.approx(firms, rel=1e-9)
        count = conn.execute(
            """SELECT value FROM observations WHERE metric = 'enterprise_count'
                 AND scope_type = 'city' AND period = '2025Q2'
                 AND superseded_by IS NULL""").fetchone()
        assert count is not None and count[0] == ENTERPRISES

    second = load_drop(geo_engine, scale_drop, progress=False)
    assert not second.changed
    assert second.repeat_of == first.run_id
    assert second.inserted == second.updated == 0
    with _db(geo_engine) as conn:
        assert _counts(conn) == counts
        statuses = [s for (s,) in conn.execute(
            "SELECT status FROM etl_runs WHERE kind = 'drop' ORDER BY id")]
        assert statuses == ["succeeded", "noop"]
