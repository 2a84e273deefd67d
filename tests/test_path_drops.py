"""The drops of the load-paths benchmark (benchmarks/path_drops.py) do what the benchmark says
they do: loaded after a scale drop, the refresh adds one quarter and changes nothing else, and
the revised refresh changes the register rows and last-quarter revenue of one firm in twenty."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from benchmarks.path_drops import NEXT_QUARTER, write_next_quarter, write_revised_quarter
from etl.drops.load import load_drop
from etl.sample import write_scale_drop
from models.db import sqlite_path

FIRMS = 400


@pytest.fixture
def loaded(geo_engine: Engine, tmp_path: Path) -> tuple[Engine, Path]:
    drop = tmp_path / "2025Q2"
    write_scale_drop(drop, enterprises=FIRMS, quarters=2, seed=3)
    assert load_drop(geo_engine, drop, progress=False).changed
    return geo_engine, drop


def _count(engine: Engine, sql: str) -> int:
    path = sqlite_path(str(engine.url))
    assert path is not None
    with sqlite3.connect(path) as conn:
        return int(conn.execute(sql).fetchone()[0])


def _by_file(result: object) -> dict[str, tuple[int, int]]:
    return {f.file: (f.inserted, f.updated) for f in result.files}  # type: ignore[attr-defined]


def test_the_refresh_adds_a_quarter_and_changes_nothing_else(
        loaded: tuple[Engine, Path], tmp_path: Path) -> None:
    engine, drop = loaded
    result = load_drop(engine, write_next_quarter(drop, tmp_path / "next" / NEXT_QUARTER),
                       progress=False)
    assert _by_file(result) == {"enterprises.csv": (0, 0), "revenue.csv": (FIRMS, 0)}
    assert _count(engine, "SELECT count(*) FROM enterprise_revenue WHERE period = "
                          f"'{NEXT_QUARTER}'") == FIRMS
    assert _count(engine, "SELECT count(*) FROM enterprise_versions") == 0


def test_the_revised_refresh_changes_one_firm_in_twenty(
        loaded: tuple[Engine, Path], tmp_path: Path) -> None:
    engine, drop = loaded
    result = load_drop(engine, write_revised_quarter(drop, tmp_path / "rev" / NEXT_QUARTER,
                                                     share=0.05), progress=False)
    revised = FIRMS // 20
    assert _by_file(result) == {"enterprises.csv": (0, revised),
                                "revenue.csv": (FIRMS, revised)}
    assert _count(engine, "SELECT count(*) FROM enterprise_versions") == revised
    assert _count(engine, "SELECT count(*) FROM enterprise_revenue_versions "
                          "WHERE period = '2025Q2'") == revised


def test_a_share_outside_zero_to_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as err:
        write_revised_quarter(tmp_path, tmp_path / "out", share=1.5)
    assert str(err.value) == "share must be in (0, 1], not 1.5"


def test_new_firms_in_quarters_that_hold_rows_sum_as_a_full_recount(
        loaded: tuple[Engine, Path], tmp_path: Path) -> None:
    """A second register of new firms for the same quarters: no row of it can be stored, so
    its sums are made in the thread and added to the other runs' rows; they must be what a
    recount of every stored row gives."""
    from etl.drops import derive

    engine, _drop = loaded
    other = tmp_path / "other" / "2025Q2"
    write_scale_drop(other, enterprises=FIRMS // 2, quarters=2, seed=4)
    result = load_drop(engine, other, progress=False)
    assert _by_file(result)["revenue.csv"] == (FIRMS, 0)  # 200 firms x 2 quarters, all new
    path = sqlite_path(str(engine.url))
    assert path is not None
    with sqlite3.connect(path) as conn:
        periods = [p for (p,) in conn.execute(
            "SELECT DISTINCT period FROM enterprise_revenue ORDER BY period")]
        assert periods == ["2025Q1", "2025Q2"]
        recount = derive.refresh_aggregates(conn, result.run_id, revenue_periods=periods,
                                            count_periods=["2025Q2"])
        conn.rollback()
    assert recount == derive.DeriveCounts(0, 0)
