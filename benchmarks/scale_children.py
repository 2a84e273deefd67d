"""The scale benchmark's child processes: the insert bound, the load, the rollback (and the
pages, in :mod:`benchmarks.scale_pages`).

Each measurement runs in a fresh interpreter, so that its ``ru_maxrss`` is its own peak memory
and no cache of an earlier one helps it::

    python -m benchmarks.scale_children KIND JSON   # prints one BENCH-RESULT line

:func:`run_child` starts one and reads its result back.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.loader_timers import LoaderTimers
from benchmarks.scale_pages import child_pages
from benchmarks.scale_shared import (
    BOUND_RUNS,
    LOAD_RUNS,
    ROOT,
    TOP_FUNCTIONS,
    err,
    maxrss_bytes,
    remove_db,
)

RESULT_PREFIX = "BENCH-RESULT "
CHILD_TIMEOUT_S = 3600


def run_child(kind: str, args: dict[str, Any], *, env: dict[str, str] | None = None) -> dict:
    """Run ``python -m benchmarks.scale_children KIND ARGS`` and return its JSON result.

    A child that dies returns ``{"error": ...}`` with the tail of its stderr. The disks are
    synced first, so that no child pays for the write-back of what an earlier one wrote (a
    bound run leaves hundreds of megabytes of dirty pages).
    """
    os.sync()
    cmd = [sys.executable, "-m", "benchmarks.scale_children", kind, json.dumps(args)]
    proc = subprocess.run(cmd, check=False, cwd=ROOT, env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX):])
    tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-6:]
    return {"error": f"child {kind} exited {proc.returncode}: " + " | ".join(tail)[-600:]}


def median_bound(drop: Path, db: Path) -> dict:
    """The executemany bound of ``drop``, run :data:`BOUND_RUNS` times: the run with the
    median time, with every run's seconds (``all_seconds``)."""
    runs = [run_child("bound", {"drop_dir": str(drop), "db_path": str(db)})
            for _ in range(BOUND_RUNS)]
    timed = sorted((r for r in runs if r.get("seconds")), key=lambda r: r["seconds"])
    if not timed:
        return runs[0]
    return {**timed[len(timed) // 2], "all_seconds": [r["seconds"] for r in timed]}


def median_load(drop: Path, base: Path, db: Path, runs: int = LOAD_RUNS) -> dict:
    """``drop`` loaded end to end ``runs`` times, each onto a fresh copy of ``base`` (measured
    like the bound): the run with the median time, with every run's (``all_total_s``); an
    error is returned as soon as one run fails. ``db`` is left holding the last run's result."""
    done = []
    for _ in range(runs):
        remove_db(db)
        shutil.copyfile(base, db)
        done.append(run_child("load", {"db_path": str(db), "drop_dir": str(drop)}))
        if not done[-1].get("total_s"):
            return done[-1]  # an error: report it
    ordered = sorted(done, key=lambda r: r["total_s"])
    return {**ordered[len(ordered) // 2], "all_total_s": [r["total_s"] for r in ordered]}


def emit(result: dict) -> None:
    print(RESULT_PREFIX + json.dumps(result, default=str), flush=True)



def child_bound(drop_dir: str, db_path: str) -> dict:
    """The machine's limit: the drop's rows, already in memory, inserted with executemany."""
    import pandas as pd

    from models.db import PAGE_SIZE

    drop = Path(drop_dir)
    db = Path(db_path)
    remove_db(db)
    typed = {"district_code": "int", "registered_capital": "float", "employees": "int",
             "revenue": "float", "firms": "int", "foundation_model_firms": "int",
             "registered_models": "int", "investment_institutions": "int",
             "computing_pflops": "float"}
    tables: dict[str, tuple[list[str], list[tuple]]] = {}
    for name in ("enterprises", "revenue", "zone_metrics"):
        path = drop / f"{name}.csv"
        if not path.exists():
            continue
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        columns = []
        for col in frame.columns:
            kind = typed.get(col)
            if kind == "int":
                columns.append(pd.to_numeric(frame[col]).astype("int64").tolist())
            elif kind == "float":
                columns.append(pd.to_numeric(frame[col]).astype("float64").tolist())
            else:
                columns.append([v if v != "" else None for v in frame[col].tolist()])
        tables[name] = (list(frame.columns), list(zip(*columns)))
        del frame, columns
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute(f"PRAGMA page_size={PAGE_SIZE}")  # the product's: same storage for both
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    for name, (cols, _rows) in tables.items():
        decl = ", ".join(f"{c} {'INTEGER' if typed.get(c) == 'int' else 'REAL' if typed.get(c) == 'float' else 'TEXT'}"
                         for c in cols)
        conn.execute(f"CREATE TABLE {name} ({decl})")
    rows = sum(len(r) for _c, r in tables.values())
    loadavg = os.getloadavg()[0]
    start, cpu = time.perf_counter(), time.process_time()
    conn.execute("BEGIN")
    for name, (cols, data) in tables.items():
        conn.executemany(f"INSERT INTO {name} VALUES ({', '.join('?' * len(cols))})", data)
    conn.execute("COMMIT")
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    conn.close()
    remove_db(db)
    return {"seconds": seconds, "cpu_s": cpu, "rows": rows, "loadavg": loadavg,
            "rows_by_table": {n: len(r) for n, (_c, r) in tables.items()},
            "peak_rss": maxrss_bytes()}



def _timed_engine(db_path: Path) -> tuple[Any, dict[str, list[float]]]:
    """An engine like ``models.db.make_engine`` whose sqlite3 connections time every statement
    (a ``sqlite3.Connection`` subclass passed as ``factory``); for the profiling run only."""
    from sqlalchemy import create_engine, event

    from models import db as mdb

    stats: dict[str, list[float]] = {}

    def note(sql: str, seconds: float) -> None:
        key = " ".join(str(sql).split())[:110]
        rec = stats.setdefault(key, [0, 0.0])
        rec[0] += 1
        rec[1] += seconds

    class TimedConnection(sqlite3.Connection):
        def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
            t0 = time.perf_counter()
            try:
                return super().execute(sql, *args)
            finally:
                note(sql, time.perf_counter() - t0)

        def executemany(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
            t0 = time.perf_counter()
            try:
                return super().executemany(sql, *args)
            finally:
                note("executemany: " + sql, time.perf_counter() - t0)

        def commit(self) -> None:
            t0 = time.perf_counter()
            try:
                super().commit()
            finally:
                note("COMMIT", time.perf_counter() - t0)

    engine = create_engine(mdb.resolve_url(db_path), connect_args={"factory": TimedConnection})
    event.listen(engine, "connect", mdb._set_sqlite_pragmas)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    return engine, stats



def child_load(db_path: str, drop_dir: str, profile: str | None = None) -> dict:
    """Load one drop end to end (load_drop, then refresh_forecasts) and time its steps.

    With ``profile`` (a file name) the run is under cProfile and every SQL statement is timed;
    its times are then not the benchmark's figures.
    """
    import psutil

    from etl.drops.load import load_drop
    from etl.forecast_ahead import ForecastsAhead
    from etl.forecasts import refresh_forecasts
    from models.db import make_engine

    # As `aidash etl load` runs it: the forecasts fitted while the load commits.
    ahead = ForecastsAhead()
    timers = LoaderTimers() if profile is None else None
    out: dict[str, Any] = {"rss_before": psutil.Process().memory_info().rss,
                           "loadavg_before": os.getloadavg()[0]}
    statements: dict[str, list[float]] = {}
    if profile:
        engine, statements = _timed_engine(Path(db_path))
    else:
        engine = make_engine(Path(db_path))
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    if timers is not None:
        timers.start()
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        result = load_drop(engine, Path(drop_dir), progress=False,
                           on_step=timers.on_step if timers is not None else None,
                           before_commit=ahead.start)
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        out.update(error=err(exc), traceback=traceback.format_exc()[-2000:],
                   peak_rss=maxrss_bytes())
        return out
    t1, c1 = time.perf_counter(), time.process_time()
    out.update(load_s=t1 - t0, load_cpu_s=c1 - c0, run_id=result.run_id,
               rows_read=result.read, inserted=result.inserted, changed=result.changed,
               derived_inserted=result.derived_inserted)
    try:
        summary = refresh_forecasts(engine, vintage_run_id=result.run_id,
                                    planned=ahead.take(result.run_id))
        out.update(forecast_series=summary.series)
    except Exception as exc:  # noqa: BLE001
        out.update(forecast_error=err(exc))
    out.update(forecast_s=time.perf_counter() - t1, forecast_cpu_s=time.process_time() - c1,
               total_s=time.perf_counter() - t0, total_cpu_s=time.process_time() - c0,
               loadavg_after=os.getloadavg()[0])
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(str(profile))
    out["peak_rss"] = maxrss_bytes()
    if timers is not None:
        timers.stop()
        # The load's reading processes count too: their RSS added to this one's, as sampled.
        out["peak_rss"] = max(out["peak_rss"], timers.tree_peak())
        out["phase_peak_rss"] = timers.peak_rss(load_end=t1)
        out["phases"] = timers.phases(out["load_s"], out["forecast_s"])
    if statements:
        top = sorted(statements.items(), key=lambda kv: -kv[1][1])[:TOP_FUNCTIONS]
        out["statements"] = [{"sql": k, "calls": int(n), "seconds": sec} for k, (n, sec) in top]
    engine.dispose()
    with sqlite3.connect(db_path) as conn:
        out["counts"] = {
            "enterprises": conn.execute("SELECT count(*) FROM enterprises").fetchone()[0],
            "enterprise_revenue": conn.execute(
                "SELECT count(*) FROM enterprise_revenue").fetchone()[0],
            "derived_observations": conn.execute(
                "SELECT count(*) FROM observations WHERE metric IN "
                "('enterprise_revenue', 'enterprise_count')").fetchone()[0],
        }
    return out



def child_rollback(db_path: str, run_id: int) -> dict:
    """Roll one run back (``aidash etl rollback``) and time it."""
    from etl.runs import rollback
    from models.db import make_engine

    engine = make_engine(Path(db_path))
    t0 = time.perf_counter()
    undone = rollback(engine, run_id)
    seconds = time.perf_counter() - t0
    engine.dispose()
    return {"seconds": seconds, "undone": undone, "peak_rss": maxrss_bytes()}


CHILDREN: dict[str, Callable[..., dict]] = {"bound": child_bound, "load": child_load,
                                            "pages": child_pages, "rollback": child_rollback}


def main(argv: list[str] | None = None) -> int:
    """Run one child (``KIND JSON``) and print its result; an error is a result too."""
    kind, payload = argv if argv is not None else sys.argv[1:]
    os.chdir(ROOT)
    try:
        result = CHILDREN[kind](**json.loads(payload))
    except Exception as exc:  # noqa: BLE001
        result = {"error": err(exc), "traceback": traceback.format_exc()[-2000:]}
    emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
