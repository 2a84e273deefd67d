"""A small version of the scale benchmark's path: generate a scale drop, load it, load it again.

``benchmarks/scale_bench.py`` runs the same path at 10k–1M enterprises; this keeps it working
at a size that takes a few seconds.
"""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from etl import credit_code
from etl.drops.load import load_drop
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
        "revenue_current": conn.execute("SELECT count(*) FROM enterprise_revenue").fetchone()[0],
        "revenue_all": conn.execute(
            "SELECT count(*) FROM enterprise_revenue_vintages").fetchone()[0],
        "observations": conn.execute("SELECT count(*) FROM observations").fetchone()[0],
        "versions": conn.execute("SELECT count(*) FROM enterprise_versions").fetchone()[0],
    }


@pytest.mark.slow
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
                                   WHERE period = '2025Q2')
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


# -- aggregates against an independent computation, bulk paths -----------------------------

_SCOPE_EXPR = {"city": "'310000'", "district": "CAST(e.district_adcode AS TEXT)",
               "zone": "e.zone_id", "segment": "e.segment"}
_QUARTER_END = """CASE substr(r.period, 6, 1) WHEN '1' THEN '-03-31' WHEN '2' THEN '-06-30'
                  WHEN '3' THEN '-09-30' ELSE '-12-31' END"""


def _expected_aggregates(conn: sqlite3.Connection) -> dict[tuple[str, str, str, str], float]:
    """Revenue sums and active-firm counts straight from the tables, by plain SQL joins."""
    out: dict[tuple[str, str, str, str], float] = {}
    for scope, expr in _SCOPE_EXPR.items():
        for sid, period, value in conn.execute(f"""
                SELECT {expr}, r.period, round(sum(r.revenue), 6)
                FROM enterprise_revenue r JOIN enterprises e ON e.credit_code = r.credit_code
                WHERE {expr} IS NOT NULL
                GROUP BY 1, 2"""):
            out[("enterprise_revenue", scope, sid, period)] = value
        periods = [p for (p,) in conn.execute(
            """SELECT DISTINCT period FROM observations WHERE metric = 'enterprise_count'
               AND superseded_by IS NULL""")]
        for period in periods:
            end = f"{period[:4]}" + {"1": "-03-31", "2": "-06-30", "3": "-09-30",
                                     "4": "-12-31"}[period[5]]
            for sid, n in conn.execute(f"""
                    SELECT {expr}, count(*) FROM enterprises e
                    WHERE e.status = 'active' AND {expr} IS NOT NULL
                      AND (e.founded IS NULL OR e.founded <= ?)
                    GROUP BY 1""", (end,)):
                out[("enterprise_count", scope, sid, period)] = float(n)
    return out


def _stored_aggregates(conn: sqlite3.Connection) -> dict[tuple[str, str, str, str], float]:
    return {(m, s, i, p): v for m, s, i, p, v in conn.execute(
        """SELECT metric, scope_type, scope_id, period, value FROM observations o
           JOIN sources s ON s.id = o.source_id
           WHERE s.key = 'derived:enterprise-aggregates' AND o.superseded_by IS NULL
             AND o.value != 0""")}


def _assert_aggregates_match(conn: sqlite3.Connection) -> None:
    expected, stored = _expected_aggregates(conn), _stored_aggregates(conn)
    assert set(stored) == set(expected)
    assert stored == {k: pytest.approx(v, abs=1e-6) for k, v in expected.items()}


def _revise(drop: Path, out: Path) -> Path:
    """A second drop: the last two quarters of revenue for every firm, both revised for one
    firm in five, and three new firms in the register."""
    import pandas as pd

    out.mkdir(parents=True)
    revenue = pd.read_csv(drop / "revenue.csv", dtype=str)
    revenue = revenue[revenue["period"].isin(["2025Q1", "2025Q2"])].reset_index(drop=True)
    revised = (revenue.index // 2) % 5 == 0  # two rows per firm, in firm order
    revenue.loc[revised, "revenue"] = (revenue.loc[revised, "revenue"].astype(float) + 1.0
                                       ).round(3).astype(str)
    revenue.to_csv(out / "revenue.csv", index=False)
    (out / "source.json").write_bytes((drop / "source.json").read_bytes())
    # Three new firms: founded inside 2025Q1, on the last day of 2025Q2, and one suspended.
    rng = random.Random(3)
    firms = pd.read_csv(drop / "enterprises.csv", dtype=str).head(3).copy()
    firms["credit_code"] = [credit_code.make(rng, 310115) for _ in range(3)]
    firms["founded"] = ["2025-02-10", "2025-06-30", "2024-05-01"]
    firms["status"] = ["active", "active", "suspended"]
    firms.to_csv(out / "enterprises.csv", index=False)
    return out


@pytest.mark.slow
def test_aggregates_equal_a_plain_sql_computation_on_both_paths(
        geo_engine: Engine, scale_drop: Path, tmp_path: Path) -> None:
    # The first load takes the bulk path (its rows are the whole of their quarters: the
    # aggregates come from the drop's own rows); the revision reads the stored rows.
    load_drop(geo_engine, scale_drop, progress=False)
    with _db(geo_engine) as conn:
        _assert_aggregates_match(conn)
        before = dict(conn.execute(
            """SELECT period, value FROM observations WHERE metric = 'enterprise_revenue'
               AND scope_type = 'city' AND superseded_by IS NULL"""))
    result = load_drop(geo_engine, _revise(scale_drop, tmp_path / "fix" / "2025Q2"),
                       progress=False)
    assert result.updated == 2 * ENTERPRISES // 5
    with _db(geo_engine) as conn:
        _assert_aggregates_match(conn)
        after = dict(conn.execute(
            """SELECT period, value FROM observations WHERE metric = 'enterprise_revenue'
               AND scope_type = 'city' AND superseded_by IS NULL"""))
    assert {p for p in before if before[p] != after[p]} == {"2025Q1", "2025Q2"}
    with _db(geo_engine) as conn:
        counts = dict(conn.execute(
            """SELECT period, value FROM observations WHERE metric = 'enterprise_count'
               AND scope_type = 'city' AND superseded_by IS NULL"""))
    assert (counts["2024Q4"], counts["2025Q1"], counts["2025Q2"]) == (
        ENTERPRISES, ENTERPRISES + 1, ENTERPRISES + 2)


@pytest.mark.slow
def test_bulk_load_rebuilds_the_indexes_it_dropped(geo_engine: Engine, scale_drop: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from etl.drops import stage as staging

    monkeypatch.setattr(staging, "REBUILD_MIN_ROWS", 1)
    rebuilt: list[str] = []
    real = staging.create_indexes

    def spy(conn: sqlite3.Connection, ddl: list[tuple[str, str]]) -> None:
        rebuilt.extend(name for name, _sql in ddl)
        real(conn, ddl)

    monkeypatch.setattr(staging, "create_indexes", spy)
    with _db(geo_engine) as conn:
        schema = sorted(conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"))
    load_drop(geo_engine, scale_drop, progress=False)
    assert {"ix_enterprises_zone", "ix_enterprises_name_zh"} <= set(rebuilt)
    with _db(geo_engine) as conn:
        assert sorted(conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        ) == schema
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        _assert_aggregates_match(conn)


@pytest.mark.slow
def test_the_stage_file_is_gone_after_a_load_and_after_a_failed_one(
        geo_engine: Engine, scale_drop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from etl.drops import derive

    folder = sqlite_path(str(geo_engine.url)).parent  # type: ignore[union-attr]
    before = set(folder.iterdir())
    load_drop(geo_engine, scale_drop, progress=False)

    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(derive, "refresh_aggregates", boom)
    with pytest.raises(RuntimeError, match="disk on fire"):
        load_drop(geo_engine, _revise(scale_drop, folder / "fix" / "2025Q2"), progress=False)
    left = {p.name for p in set(folder.iterdir()) - before}
    assert left == {"fix"}


def _dump(engine: Engine) -> list[tuple]:
    with _db(engine) as conn:
        return [(t, conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
                for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                         "ORDER BY name")]


@pytest.mark.slow
def test_a_failed_merge_stops_the_revenue_staging_thread(
        geo_engine: Engine, scale_drop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Revenue is staged in a thread while the register is merged: when the merge fails, the
    staging stops at its next batch, and the load leaves nothing behind."""
    import threading

    from etl.drops import merge
    from etl.drops import stage as staging

    monkeypatch.setattr(staging, "BATCH", 1_000)  # 48 batches of revenue
    staged_batches: list[int] = []
    real_put = staging.Stage.put

    def counting_put(self: staging.Stage, name: str, *args: object, **kwargs: object) -> str:
        if name == "revenue":
            kwargs["on_batch"] = staged_batches.append
        return real_put(self, name, *args, **kwargs)  # type: ignore[arg-type]

    def failing_merge(*_a: object, **_k: object) -> None:
        # Fails while the staging thread is still at its first batches.
        while not staged_batches:
            threading.Event().wait(0.001)
        raise RuntimeError("register merge failed")

    monkeypatch.setattr(staging.Stage, "put", counting_put)
    monkeypatch.setattr(merge, "merge_enterprises", failing_merge)
    folder = sqlite_path(str(geo_engine.url)).parent  # type: ignore[union-attr]
    before_files = set(folder.iterdir())
    before = _dump(geo_engine)
    with pytest.raises(RuntimeError, match="register merge failed"):
        load_drop(geo_engine, scale_drop, progress=False)
    assert 0 < len(staged_batches) < ENTERPRISES * QUARTERS // 1_000
    assert [t.name for t in threading.enumerate() if t.name.startswith("aidash-stage")] == []
    assert set(folder.iterdir()) == before_files
    after = _dump(geo_engine)
    assert [r for r in after if r[0] != "etl_runs"] == [r for r in before if r[0] != "etl_runs"]


@pytest.mark.slow
def test_a_failure_in_the_staging_thread_fails_the_load(
        geo_engine: Engine, scale_drop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from etl.drops import stage as staging

    real = staging._arrow_whole

    def failing(series: object) -> object:
        if getattr(series, "name", None) == "revenue":
            raise MemoryError("no room for revenue")
        return real(series)  # type: ignore[arg-type]

    monkeypatch.setattr(staging, "_arrow_whole", failing)
    before = _dump(geo_engine)
    with pytest.raises(MemoryError, match="no room for revenue"):
        load_drop(geo_engine, scale_drop, progress=False)
    after = _dump(geo_engine)
    assert [r for r in after if r[0] != "etl_runs"] == [r for r in before if r[0] != "etl_runs"]
    with _db(geo_engine) as conn:
        assert conn.execute("SELECT status, message FROM etl_runs ORDER BY id DESC LIMIT 1"
                            ).fetchone() == ("failed", "MemoryError: no room for revenue")


@pytest.mark.slow
def test_the_aggregates_of_a_new_quarter_are_summed_beside_its_insert(
        geo_engine: Engine, scale_drop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A drop whose quarters are not stored yet has its revenue summed in the second thread
    while the main thread inserts it; a revision of stored quarters has its rows summed there
    too, during the merge, in case every one is written, but most are resent unchanged: the
    stored rows are summed instead, in the main thread."""
    import threading

    from etl.drops import derive

    threads: list[str] = []
    real = derive.aggregate_rows

    def spy(*args: object) -> list[tuple[object, ...]]:
        threads.append(threading.current_thread().name)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(derive, "aggregate_rows", spy)
    load_drop(geo_engine, scale_drop, progress=False)
    assert len(threads) == 1 and threads[0].startswith("aidash-stage")
    folder = sqlite_path(str(geo_engine.url)).parent  # type: ignore[union-attr]
    load_drop(geo_engine, _revise(scale_drop, folder / "fix" / "2025Q2"), progress=False)
    assert len(threads) == 3 and threads[1].startswith("aidash-stage")
    assert threads[2] == "MainThread"


def test_every_loader_step_has_a_line_in_the_benchmark() -> None:
    """The scale benchmark reads the loader's on_step hook: every step the loader can report
    has its line in the report, so a new step cannot vanish from the benchmark's table."""
    from benchmarks.loader_timers import STEP_LABELS
    from etl.drops.steps import Step

    assert set(STEP_LABELS) == set(Step)


def test_the_benchmark_timers_sum_a_real_load(geo_engine: Engine, scale_drop: Path) -> None:
    """Timed through the hook: every main-thread step of a real load lands on a line, the
    merges without the index rebuilds inside them, and the lines add up to the load."""
    import time

    from benchmarks.loader_timers import COMMIT_STEP, FORECAST_STEP, THREAD_MARK, LoaderTimers
    from etl.drops.steps import Step

    timers = LoaderTimers(sample_rss=False)
    t0 = time.perf_counter()
    load_drop(geo_engine, scale_drop, progress=False, on_step=timers.on_step)
    load_s = time.perf_counter() - t0
    phases = timers.phases(load_s, forecast_s=0.0)
    assert {"hash files", "read (parse files)", "validate", "merge SQL (join, insert)",
            COMMIT_STEP} <= set(phases)
    merges = sum(t.seconds for t in timers.timings if t.step is Step.MERGE)
    rebuilds = sum(t.seconds for t in timers.timings if t.step is Step.INDEX_REBUILD)
    assert phases["merge SQL (join, insert)"] == pytest.approx(merges - rebuilds)
    in_main = sum(v for k, v in phases.items() if not k.endswith(THREAD_MARK)
                  and k != FORECAST_STEP)
    reported = sum(t.seconds for t in timers.timings if not t.in_thread) - rebuilds
    assert in_main == pytest.approx(max(load_s, reported))


def test_the_paths_benchmark_records_its_command_without_the_folder_it_kept_files_in(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from benchmarks import paths_bench

    written: list[str] = []
    monkeypatch.setattr(paths_bench, "run", lambda sizes, runs, workdir: None)
    monkeypatch.setattr(paths_bench, "render", lambda result: "table")
    monkeypatch.setattr(paths_bench, "write_section",
                        lambda text, command, result: written.append(command))
    paths_bench.main(["--workdir", str(tmp_path), "--runs", "1"])
    paths_bench.main(["--workdir", str(tmp_path)])
    assert written == ["python -m benchmarks.paths_bench --runs 1",
                       "python -m benchmarks.paths_bench"]
