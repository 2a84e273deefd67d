"""The drops of the load-paths benchmark (benchmarks/path_drops.py) do what the benchmark says
they do: loaded after a scale drop, the refresh adds one quarter and changes nothing else, and
the revised refresh changes the register rows and last-quarter revenue of one firm in twenty."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from benchmarks.path_drops import NEXT_QUARTER, write_next_quarter, write_revised_quarter
from etl.drops.load import load_drop
from etl.sample import write_scale_drop
from models.db import sqlite_path

FIRMS = 400


@pytest.fixture
def loaded(load_scale: Callable[[int, int], tuple[Engine, Path]]) -> tuple[Engine, Path]:
    return load_scale(FIRMS, 3)


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


def _recount(engine: Engine, run_id: int, periods: list[str]) -> object:
    """What a recount of every stored row of ``periods`` would change (nothing, if the load's
    sums were right)."""
    from etl.drops import derive

    path = sqlite_path(str(engine.url))
    assert path is not None
    with sqlite3.connect(path) as conn:
        recount = derive.refresh_aggregates(conn, run_id, revenue_periods=periods,
                                            count_periods=periods)
        conn.rollback()
    return recount


@pytest.mark.parametrize("revised", [False, True])
def test_the_refresh_and_the_revised_refresh_sum_as_a_full_recount(
        loaded: tuple[Engine, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        revised: bool) -> None:
    """The register resent whole: its view for the aggregates is made from the frame; the
    revised quarter's sums are the drop's rows (summed in the thread during the merge) plus
    the quarter's committed rows of other firms (read in the thread meanwhile). Both must be
    what a recount of every stored row gives."""
    from etl.drops import before_load, derive

    engine, drop = loaded
    out = tmp_path / "next" / NEXT_QUARTER
    drops = write_revised_quarter(drop, out, share=0.05) if revised else write_next_quarter(
        drop, out)
    read_back, committed = [], []
    real_read, real_committed = derive.read_register, before_load.committed_others

    def read(conn: sqlite3.Connection, where: str = "1 = 1") -> object:
        read_back.append(where)
        return real_read(conn, where)

    def others(*args: object) -> object:
        committed.append(real_committed(*args))  # type: ignore[arg-type]
        return committed[-1]

    def not_read(*args: object, **kwargs: object) -> object:
        raise AssertionError("the other runs' rows were read through the load's connection")

    monkeypatch.setattr(derive, "read_register", read)
    monkeypatch.setattr(before_load, "committed_others", others)
    monkeypatch.setattr(derive, "other_runs_revenue", not_read)
    result = load_drop(engine, drops, progress=False)
    monkeypatch.undo()
    assert result.changed
    assert read_back == []  # the register's firms are all the drop's: none read back
    if revised:
        # 2025Q2's rows of the firms not revised, committed by the first load.
        assert [len(c) for c in committed] == [FIRMS - FIRMS // 20]  # type: ignore[arg-type]
    else:
        assert committed == []  # a new quarter: the drop's rows are the whole of it
    assert _recount(engine, result.run_id, ["2025Q1", "2025Q2", NEXT_QUARTER]) == \
        derive.DeriveCounts(0, 0)
