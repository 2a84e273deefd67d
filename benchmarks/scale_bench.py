"""Scale benchmark: the quarterly load, every dashboard page and peak memory at 10k–1M firms.

Run (from the repository root)::

    python -m benchmarks.scale_bench                  # 10k, 100k and 1M; writes benchmarks/README.md
    python -m benchmarks.scale_bench --quick          # 10k only; writes nothing
    python -m benchmarks.scale_bench --sizes 10k,1M   # any sizes
    python -m benchmarks.scale_bench --profile        # also cProfile the largest load and slowest page

What it measures, at each size N (a drop of N enterprises with 8 quarters of revenue each, made
by ``etl.sample.write_scale_drop``, loaded into a database that already has the bundled
geography):

* **insert bound** -- the machine's limit, measured in the same run: the drop's rows, already in
  memory as Python tuples, inserted with sqlite3 ``executemany`` in one transaction into plain
  tables of the same columns (WAL, synchronous=NORMAL, the product's page size), in a child
  process.
* **load end to end** -- ``etl.drops.load_drop`` (read, validate, write, derive) followed by
  ``etl.forecasts.refresh_forecasts``, in a child process whose ``ru_maxrss`` is the
  load's peak memory; like the bound, the median of three runs. The figure that counts is the
  ratio load / bound.
* **pages** -- every page of the dashboard run server-side with ``streamlit.testing.v1.AppTest``
  in a child process: *cold* = the first visit after ``st.cache_data`` / ``st.cache_resource``
  were cleared (modules already imported, OS file cache warm), *warm* = the median of three
  reruns of the same page. Plus the enterprise explorer's queries called directly.
* **server memory** -- at the largest size, a real ``streamlit run`` server on 127.0.0.1 while
  Debian's Chromium (driven by the PyPI ``playwright`` package) opens every page; the peak RSS of
  the server's process tree is sampled with psutil. Without Chromium or playwright the AppTest
  child's peak RSS stands in as the server-side proxy (and the table says so).
* **aidash init** on the bundled data and **aidash forecast refresh**, as subprocesses.

Figures are ratios measured in one run; absolute times move with the machine.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.pages import VIEWS
from tests.local_server import CHROMIUM, CHROMIUM_ARGS, ServerDidNotStart, streamlit_server

ROOT = Path(__file__).resolve().parent.parent
README = Path(__file__).resolve().parent / "README.md"
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000,)
QUARTERS = 8
SEED = 20250630
RESULT_PREFIX = "BENCH-RESULT "

# Targets of the issue (at 1M enterprises).
# Marks a step timed in the loader's staging thread (it overlaps the main thread's steps).
THREAD_MARK = " [in a thread, overlapping]"
LOAD_RATIO_MAX = 2.5            # end to end within 2.5x of the executemany bound
PER_ROW_GROWTH_MAX = 1.10       # per-row cost 1M / 10k: no faster than linear (+10 % noise)
LOAD_RSS_MAX_MB = 2048.0
PAGE_WARM_MAX_S = 0.3
PAGE_COLD_MAX_S = 1.5
PAGE_GROWTH_MAX = 1.5           # "flat": page time at the largest size / at the smallest
EXPLORER_MAX_MS = 100.0
SERVER_RSS_MAX_MB = 1024.0
INIT_MAX_S = 30.0
REFRESH_MAX_S = 10.0

PAGES = VIEWS
# What each page shows once drawn in the browser (url_path → selector).
DRAWN = {
    "overview": '[data-testid="stPlotlyChart"]',
    "map": '[data-testid="stPlotlyChart"]',
    "trends": '[data-testid="stPlotlyChart"]',
    "enterprises": '[data-testid="stDataFrame"]',
    "sources": '[data-testid="stDataFrame"]',
}
WARM_RUNS = 3
# Cold page runs and bound runs per size: the median is reported (one run is at the mercy of
# whatever else the machine does at that moment).
COLD_RUNS = 3
BOUND_RUNS = 3
LOAD_RUNS = 3  # the load is measured like the bound: median of three
EXPLORER_RUNS = 5
APPTEST_TIMEOUT_S = 300
CHILD_TIMEOUT_S = 3600
PAGE_WAIT_MS = 120_000
RSS_SAMPLE_S = 0.05
TOP_FUNCTIONS = 15


# =============================================================================== helpers


def parse_size(text: str) -> int:
    """``10k`` → 10000, ``1M`` → 1000000, ``2500`` → 2500."""
    t = text.strip().lower().replace("_", "").replace(",", "")
    mult = 1
    if t.endswith("k"):
        mult, t = 1_000, t[:-1]
    elif t.endswith("m"):
        mult, t = 1_000_000, t[:-1]
    value = int(float(t) * mult)
    if value < 1:
        raise argparse.ArgumentTypeError(f"size must be at least 1: {text!r}")
    return value


def size_label(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def _mb(n_bytes: float) -> float:
    return n_bytes / (1024 * 1024)


def _maxrss_bytes() -> int:
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # KiB on Linux


def _err(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]


_LOADAVG: list[float] = []


def _log(msg: str) -> None:
    load = os.getloadavg()[0]
    _LOADAVG.append(load)
    print(f"[scale {time.strftime('%H:%M:%S')} load {load:.1f}] {msg}", file=sys.stderr,
          flush=True)


def _sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def run_child(kind: str, args: dict[str, Any], *, env: dict[str, str] | None = None) -> dict:
    """Run ``python -m benchmarks.scale_bench --child KIND ARGS`` and return its JSON result.

    A child that dies returns ``{"error": ...}`` with the tail of its stderr. The disks are
    synced first, so that no child pays for the write-back of what an earlier one wrote (a
    bound run leaves hundreds of megabytes of dirty pages).
    """
    os.sync()
    cmd = [sys.executable, "-m", "benchmarks.scale_bench", "--child", kind, json.dumps(args)]
    proc = subprocess.run(cmd, check=False, cwd=ROOT, env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX):])
    tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-6:]
    return {"error": f"child {kind} exited {proc.returncode}: " + " | ".join(tail)[-600:]}


def _emit(result: dict) -> None:
    print(RESULT_PREFIX + json.dumps(result, default=str), flush=True)


# =============================================================================== children


def child_bound(drop_dir: str, db_path: str) -> dict:
    """The machine's limit: the drop's rows, already in memory, inserted with executemany."""
    import pandas as pd

    from models.db import PAGE_SIZE

    drop = Path(drop_dir)
    db = Path(db_path)
    _remove_db(db)
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
    _remove_db(db)
    return {"seconds": seconds, "cpu_s": cpu, "rows": rows, "loadavg": loadavg,
            "rows_by_table": {n: len(r) for n, (_c, r) in tables.items()},
            "peak_rss": _maxrss_bytes()}


class _PhaseRss(threading.Thread):
    """Samples this process's RSS and charges each sample's peak to the innermost step."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        import psutil

        self.proc = psutil.Process()
        self.stack: list[str] = []
        self.peak: dict[str, int] = {}
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            rss = self.proc.memory_info().rss
            label = self.stack[-1] if self.stack else "outside the timed steps"
            self.peak[label] = max(self.peak.get(label, 0), rss)
            time.sleep(0.1)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)


def _instrument_load(rss: _PhaseRss | None) -> dict[str, float]:
    """Wrap the loader's steps (module attributes, looked up at call time) with timers."""
    import functools

    import etl.drops.derive
    import etl.drops.load
    import etl.drops.merge
    import etl.drops.stage

    phases: dict[str, float] = {}

    def wrap(module: Any, name: str, label: str, *, threads_only: bool = False) -> None:
        fn = getattr(module, name, None)
        if fn is None or not callable(fn):
            return

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            # A step in the loader's staging thread overlaps the main thread's steps: its
            # time is reported on its own line and its memory is not charged to a step.
            main = threading.current_thread() is threading.main_thread()
            if main and threads_only:
                return fn(*args, **kwargs)
            name = label if main else label + THREAD_MARK
            if rss is not None and main:
                rss.stack.append(label)
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                phases[name] = phases.get(name, 0.0) + time.perf_counter() - t0
                if rss is not None and main:
                    rss.stack.pop()

        setattr(module, name, timed)

    wrap(etl.drops.load, "fingerprint", "hash files")
    wrap(etl.drops.load, "find_repeat", "repeat check")
    wrap(etl.drops.load, "read_tables", "read (parse files)")
    wrap(etl.drops.load, "validate_drop", "validate")
    wrap(etl.drops.load, "stage_frame", "stage: key order, Arrow → scratch file (ADBC)")
    wrap(etl.drops.stage, "create_indexes", "index rebuild")
    for name in ("merge_enterprises", "merge_revenue", "merge_observations"):
        wrap(etl.drops.merge, name, "merge SQL (join, insert)")
    wrap(etl.drops.derive, "refresh_aggregates", "derive aggregates")
    wrap(etl.drops.derive, "read_register", "derive aggregates")  # the loader reads it before
    # On the main thread it runs inside refresh_aggregates, timed there already.
    wrap(etl.drops.derive, "aggregate_rows", "derive aggregates", threads_only=True)
    return phases


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
    from etl.forecasts import refresh_forecasts
    from models.db import make_engine

    rss = _PhaseRss() if profile is None else None
    phases = _instrument_load(rss) if profile is None else {}
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
    if rss is not None:
        rss.start()
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        result = load_drop(engine, Path(drop_dir), progress=False)
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        out.update(error=_err(exc), traceback=traceback.format_exc()[-2000:],
                   peak_rss=_maxrss_bytes())
        return out
    t1, c1 = time.perf_counter(), time.process_time()
    out.update(load_s=t1 - t0, load_cpu_s=c1 - c0, run_id=result.run_id,
               rows_read=result.read, inserted=result.inserted, changed=result.changed,
               derived_inserted=result.derived_inserted)
    if rss is not None:
        rss.stack.append("forecast refresh")
    try:
        summary = refresh_forecasts(engine, vintage_run_id=result.run_id)
        out.update(forecast_series=summary.series)
    except Exception as exc:  # noqa: BLE001
        out.update(forecast_error=_err(exc))
    out.update(forecast_s=time.perf_counter() - t1, forecast_cpu_s=time.process_time() - c1,
               total_s=time.perf_counter() - t0, total_cpu_s=time.process_time() - c0,
               loadavg_after=os.getloadavg()[0])
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(str(profile))
    out["peak_rss"] = _maxrss_bytes()
    if rss is not None:
        rss.stop()
        out["phase_peak_rss"] = rss.peak
    if phases:
        # Index rebuilds run inside the merges: count them once.
        merge = "merge SQL (join, insert)"
        phases[merge] = max(0.0, phases.get(merge, 0.0) - phases.get("index rebuild", 0.0))
        # The staging thread's time overlaps the main thread's steps: not part of the sum.
        in_main = sum(v for k, v in phases.items() if not k.endswith(THREAD_MARK))
        phases["commit and bookkeeping"] = max(0.0, out["load_s"] - in_main)
        phases["forecast refresh"] = out["forecast_s"]
        out["phases"] = phases
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


def _explorer(db_path: Path) -> dict:
    """The enterprise explorer's count + page-1 queries, called as the Enterprises page does.

    The first of the runs is reported apart: for a name search it includes building the
    in-memory name index (once per data version and server process)."""
    from app.filters import EnterpriseFilters
    from app.queries import health, register
    from app.transforms import period_freq
    from models.db import make_engine

    engine = make_engine(_sqlite_url(db_path), read_only=True)
    info = health.run_info(engine)
    period = info.data_period if info.data_period and period_freq(
        info.data_period) == "Q" else None
    with sqlite3.connect(db_path) as conn:
        pair = conn.execute(
            """SELECT zone_id, segment FROM enterprises WHERE zone_id IS NOT NULL
               GROUP BY zone_id, segment ORDER BY count(*) DESC, zone_id, segment
               LIMIT 1""").fetchone()
        name = conn.execute(
            "SELECT name_zh FROM enterprises WHERE rowid >= (SELECT max(rowid) / 2 FROM "
            "enterprises) ORDER BY rowid LIMIT 1").fetchone()
    cases = {}
    if pair:
        cases["zone+segment"] = EnterpriseFilters(zones=(pair[0],), segments=(pair[1],))
    if name:
        # The firm's brand words (after 上海): a search for one company by name.
        term = name[0][2:6] if len(name[0]) > 6 else name[0]
        cases["name search"] = EnterpriseFilters(search=term)
    out: dict[str, Any] = {}
    for label, filters in cases.items():
        times, page_times, count_times = [], [], []
        total = rows = 0
        for _ in range(EXPLORER_RUNS):
            t0 = time.perf_counter()
            found = register.enterprise_total(engine, filters)
            total = found.total
            t1 = time.perf_counter()
            rows = len(register.enterprise_page(engine, filters, page=1, page_size=25,
                                                revenue_period=period, matches=found.matches))
            t2 = time.perf_counter()
            times.append(t2 - t0)
            count_times.append(t1 - t0)
            page_times.append(t2 - t1)
        out[label] = {"median_s": statistics.median(times), "first_s": times[0],
                      "count_median_s": statistics.median(count_times),
                      "page_median_s": statistics.median(page_times),
                      "matches": total, "rows": rows, "filters": repr(filters)}
    engine.dispose()
    return out


def _settle() -> None:
    """Wait for the name index the Enterprises page builds in the background (app.search.warm),
    so that it does not run under the next page's timing; its cost is the explorer's first
    name search, reported on its own."""
    for thread in threading.enumerate():
        if thread.name == "aidash-name-index":
            thread.join(timeout=120)


def _page_problems(at: Any) -> str | None:
    """Exceptions and st.error messages the run showed, if any."""
    problems = [str(getattr(e.proto, "message", ""))[:200] for e in at.exception]
    for e in at.error:
        try:
            problems.append(str(e.value)[:200])
        except Exception:  # noqa: BLE001
            problems.append(str(getattr(e.proto, "body", "error"))[:200])
    return "; ".join(problems) if problems else None


def _compile_cost(*paths: str) -> float:
    """What compiling the scripts costs (AppTest recompiles them every run; a server caches
    the bytecode in its ScriptCache), magic included as Streamlit does it."""
    from streamlit.runtime.scriptrunner import magic

    t0 = time.perf_counter()
    for path in paths:
        body = Path(path).read_text(encoding="utf-8")
        compile(magic.add_magic(body, path), path, "exec", dont_inherit=True, optimize=-1)
    return time.perf_counter() - t0


def _profile_next_thread(profiler: Any) -> None:
    """Enable ``profiler`` in the next thread that starts (cProfile sees one thread only)."""

    def hook(_frame: Any, _event: str, _arg: Any) -> None:
        sys.setprofile(None)
        threading.setprofile(None)
        profiler.enable()

    threading.setprofile(hook)


def child_pages(db_path: str, profile_dir: str | None = None) -> dict:
    """Every page with AppTest, cold and warm, then the explorer's queries."""
    os.environ["AIDASH_DATABASE_URL"] = _sqlite_url(Path(db_path))
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    script = str(ROOT / "streamlit_app.py")
    out: dict[str, Any] = {"pages": {}}

    def fresh() -> Any:
        return AppTest.from_file(script, default_timeout=APPTEST_TIMEOUT_S)

    def clear() -> None:
        st.cache_data.clear()
        st.cache_resource.clear()

    # A fresh process: imports and an empty cache (what the first visitor after a restart pays).
    t0 = time.perf_counter()
    at = fresh()
    at.run()
    out["first_run_s"] = time.perf_counter() - t0
    out["first_run_error"] = _page_problems(at)
    # Import every page's modules once, so "cold" below is the cache, not the imports.
    for path in PAGES.values():
        at.switch_page(path).run()
    _settle()
    for name, path in PAGES.items():
        rec: dict[str, Any] = {}
        try:
            cold = []
            for _ in range(COLD_RUNS):
                at = fresh()
                at.run()
                _settle()
                clear()
                t0 = time.perf_counter()
                at.switch_page(path).run()
                cold.append(time.perf_counter() - t0)
                _settle()
            rec["cold_s"] = statistics.median(cold)
            rec["cold_all_s"] = cold
            rec["error"] = _page_problems(at)
            rec["title"] = at.title[0].value if len(at.title) else None
            warm = []
            for _ in range(WARM_RUNS):
                t0 = time.perf_counter()
                at.run()
                warm.append(time.perf_counter() - t0)
                _settle()
            rec["warm_s"] = statistics.median(warm)
            rec["compile_s"] = _compile_cost(script, str(ROOT / path))
            rec["warm_all_s"] = warm
            rec["error"] = rec["error"] or _page_problems(at)
        except Exception as exc:  # noqa: BLE001
            rec["error"] = _err(exc)
        out["pages"][name] = rec
    try:
        out["explorer"] = _explorer(Path(db_path))
    except Exception as exc:  # noqa: BLE001
        out["explorer_error"] = _err(exc)
    if profile_dir:
        import cProfile

        timed = {n: r for n, r in out["pages"].items()
                 if "cold_s" in r and "warm_s" in r and not r.get("error")}
        if timed:
            for mode in ("cold", "warm"):
                name = max(timed, key=lambda n: timed[n][f"{mode}_s"])
                at = fresh()
                at.run()
                at.switch_page(PAGES[name]).run()
                if mode == "cold":
                    clear()
                # AppTest runs the script in a thread of its own: profile that thread.
                profiler = cProfile.Profile()
                _profile_next_thread(profiler)
                at.run()
                threading.setprofile(None)
                prof_path = Path(profile_dir) / f"page_{mode}_{name}.prof"
                profiler.dump_stats(str(prof_path))
                out.setdefault("profiles", {})[mode] = {"page": name, "file": str(prof_path)}
    out["peak_rss"] = _maxrss_bytes()
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
    return {"seconds": seconds, "undone": undone, "peak_rss": _maxrss_bytes()}


CHILDREN: dict[str, Callable[..., dict]] = {"bound": child_bound, "load": child_load,
                                            "pages": child_pages, "rollback": child_rollback}


# =============================================================================== server RSS


class _RssSampler(threading.Thread):
    """Samples the RSS of a process and all its descendants until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        import psutil

        self.proc = psutil.Process(pid)
        self.peak = 0
        self.last = 0
        self._stop_event = threading.Event()

    def tree_rss(self) -> int:
        import psutil

        total = 0
        try:
            procs = [self.proc, *self.proc.children(recursive=True)]
        except psutil.Error:
            return 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.last = self.tree_rss()
            self.peak = max(self.peak, self.last)
            time.sleep(RSS_SAMPLE_S)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)


def measure_server(db_path: Path) -> dict:
    """Peak RSS of a real ``streamlit run`` server while Chromium opens every page twice."""
    if not Path(CHROMIUM).exists():
        return {"error": f"no Chromium at {CHROMIUM}"}
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        return {"error": f"playwright not importable: {exc}"}
    out: dict[str, Any] = {"pages": {}}
    try:
        with streamlit_server(_sqlite_url(db_path)) as (base, proc):
            sampler = _RssSampler(proc.pid)
            out["rss_started"] = sampler.tree_rss()
            sampler.start()
            try:
                with sync_playwright() as pw:
                    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                 args=CHROMIUM_ARGS)
                    try:
                        for visit in ("first", "again"):
                            for name, selector in DRAWN.items():
                                out["pages"].setdefault(name, {})[visit] = _visit(
                                    browser, f"{base}/{name}", selector)
                    finally:
                        browser.close()
                time.sleep(0.5)
            except Exception as exc:  # noqa: BLE001
                out["error"] = _err(exc)
            finally:
                sampler.stop()
                out["rss_peak"] = sampler.peak
                out["rss_end"] = sampler.last
    except ServerDidNotStart as exc:
        return {"error": str(exc)[-500:]}
    out["method"] = "streamlit run + Chromium (playwright), RSS of the server process tree"
    return out


def _visit(browser: Any, url: str, selector: str) -> dict:
    """Open ``url`` in a fresh context and wait until ``selector`` has drawn and the app is
    idle."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    t0 = time.perf_counter()
    try:
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_selector(selector, timeout=PAGE_WAIT_MS)
        page.wait_for_function(
            "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
            timeout=PAGE_WAIT_MS)
        return {"drawn_s": time.perf_counter() - t0,
                "exceptions": page.locator('[data-testid="stException"]').count()}
    except Exception as exc:  # noqa: BLE001
        return {"error": _err(exc)}
    finally:
        context.close()


# =============================================================================== CLI commands


def _aidash() -> list[str]:
    script = Path(sys.executable).parent / "aidash"
    return [str(script)] if script.exists() else [sys.executable, "-m", "etl"]


def measure_cli(workdir: Path) -> dict:
    """``aidash init`` on the bundled data, then ``aidash forecast refresh`` on its result."""
    db = workdir / "init" / "ai_industry.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {}
    env = {k: v for k, v in os.environ.items() if k != "AIDASH_DATABASE_URL"}
    for label, args in (("init", ["init", "--db", str(db), "--force"]),
                        ("refresh", ["forecast", "refresh", "--db", str(db)])):
        t0 = time.perf_counter()
        proc = subprocess.run(_aidash() + args, check=False, cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=CHILD_TIMEOUT_S)
        seconds = time.perf_counter() - t0
        if proc.returncode == 0:
            out[label] = {"seconds": seconds,
                          "summary": (proc.stdout.strip().splitlines() or [""])[-1][:300]}
        else:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            out[label] = {"seconds": seconds,
                          "error": f"exit {proc.returncode}: " + " | ".join(tail)[-400:]}
            if label == "init":
                out["refresh"] = {"error": "not run: aidash init failed"}
                break
    shutil.rmtree(db.parent, ignore_errors=True)
    return out


# =============================================================================== the run


@dataclass
class SizeResult:
    n: int
    drop_s: float = 0.0
    bound: dict = field(default_factory=dict)
    load: dict = field(default_factory=dict)
    pages: dict = field(default_factory=dict)
    refresh_bound: dict = field(default_factory=dict)
    refresh: dict = field(default_factory=dict)
    rollback: dict = field(default_factory=dict)


@dataclass
class Report:
    sizes: list[int]
    results: dict[int, SizeResult] = field(default_factory=dict)
    server: dict = field(default_factory=dict)
    cli: dict = field(default_factory=dict)
    profiles: dict = field(default_factory=dict)
    loadavg: list[float] = field(default_factory=list)
    started: str = ""
    seconds: float = 0.0
    table: str = ""
    details: str = ""


def build_base(path: Path) -> None:
    """An empty database with the bundled geography: what every size starts from."""
    from etl.geography import load_geography
    from models.db import create_db_and_tables, make_engine

    _remove_db(path)
    engine = make_engine(path)
    create_db_and_tables(engine)
    load_geography(engine, ROOT / "data")
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()


NEXT_QUARTER = "2025Q3"


def _median_bound(drop: Path, db_path: Path) -> dict:
    """The executemany bound, run :data:`BOUND_RUNS` times: the run with the median time."""
    runs = [run_child("bound", {"drop_dir": str(drop), "db_path": str(db_path)})
            for _ in range(BOUND_RUNS)]
    timed = sorted((r for r in runs if r.get("seconds")), key=lambda r: r["seconds"])
    if not timed:
        return runs[0]
    median = dict(timed[len(timed) // 2])
    median["all_seconds"] = [r["seconds"] for r in timed]
    return median


def _median_load(drop: Path, base: Path, db: Path) -> dict:
    """The load end to end, run :data:`LOAD_RUNS` times, each onto a fresh copy of ``base``:
    the run with the median time (measured like the bound). ``db`` is left loaded."""
    runs = []
    for _ in range(LOAD_RUNS):
        _remove_db(db)
        shutil.copyfile(base, db)
        runs.append(run_child("load", {"db_path": str(db), "drop_dir": str(drop)}))
        if not runs[-1].get("total_s"):
            return runs[-1]  # an error: report it
    ordered = sorted(runs, key=lambda r: r["total_s"])
    median = dict(ordered[len(ordered) // 2])
    median["all_total_s"] = [r["total_s"] for r in ordered]
    return median


def write_next_quarter(drop: Path, out: Path) -> Path:
    """The usual quarterly drop after a scale drop: the register resent unchanged and every
    firm's revenue for the next quarter (its last quarter's figure + 2 %)."""
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    revenue = pd.read_csv(drop / "revenue.csv", dtype=str, keep_default_na=False)
    last = revenue["period"].max()
    revenue = revenue[revenue["period"] == last].copy()
    revenue["period"] = NEXT_QUARTER
    revenue["revenue"] = (revenue["revenue"].astype(float) * 1.02).round(3).map("{:.3f}".format)
    revenue.to_csv(out / "revenue.csv", index=False)
    for name in ("enterprises.csv", "source.json"):
        shutil.copyfile(drop / name, out / name)
    return out


def run_benchmark(args: argparse.Namespace) -> Report:
    from etl.sample import write_scale_drop

    sizes = sorted(set(args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)))
    report = Report(sizes=sizes, started=_dt.datetime.now().strftime("%Y-%m-%d %H:%M"))
    start = time.perf_counter()
    own_workdir = args.workdir is None
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="aidash-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    _log(f"working in {workdir}")
    try:
        base = workdir / "base.db"
        build_base(base)
        largest_db = None
        for n in sizes:
            label = size_label(n)
            res = report.results.setdefault(n, SizeResult(n))
            drop = workdir / f"drop_{label}" / "2025Q2"
            _log(f"{label}: writing the drop")
            t0 = time.perf_counter()
            write_scale_drop(drop, enterprises=n, quarters=QUARTERS, seed=SEED)
            res.drop_s = time.perf_counter() - t0
            _log(f"{label}: insert bound (executemany)")
            res.bound = _median_bound(drop, workdir / f"bound_{label}.db")
            db = workdir / f"db_{label}.db"
            _log(f"{label}: load end to end")
            res.load = _median_load(drop, base, db)
            _log(f"{label}: load {res.load.get('load_s', float('nan')):.1f} s, forecasts "
                 f"{res.load.get('forecast_s', float('nan')):.1f} s, bound "
                 f"{res.bound.get('seconds', float('nan')):.1f} s "
                 f"{res.load.get('error') or res.load.get('forecast_error') or ''}")
            _log(f"{label}: pages (AppTest)")
            res.pages = run_child("pages", {"db_path": str(db)})
            largest_db = db
            if n == sizes[-1]:
                _log(f"{label}: quarterly refresh (the next quarter onto the loaded database)")
                nxt = write_next_quarter(drop, workdir / f"next_{label}" / NEXT_QUARTER)
                res.refresh_bound = _median_bound(nxt, workdir / "bound_next.db")
                refreshed = workdir / f"refresh_{label}.db"
                _remove_db(refreshed)
                shutil.copyfile(db, refreshed)
                res.refresh = run_child("load", {"db_path": str(refreshed),
                                                 "drop_dir": str(nxt)})
                if res.refresh.get("run_id"):
                    _log(f"{label}: rolling the quarterly refresh back")
                    res.rollback = run_child("rollback", {"db_path": str(refreshed),
                                                          "run_id": res.refresh["run_id"]})
                _remove_db(refreshed)
                shutil.rmtree(nxt.parent, ignore_errors=True)
            if args.profile and n == sizes[-1]:
                prof_db = workdir / f"profile_{label}.db"
                shutil.copyfile(base, prof_db)
                _log(f"{label}: profiling the load")
                load_prof = workdir / f"load_{label}.prof"
                prof = run_child("load", {"db_path": str(prof_db), "drop_dir": str(drop),
                                          "profile": str(load_prof)})
                report.profiles["load"] = {"file": str(load_prof), "size": label,
                                           "seconds": prof.get("total_s"),
                                           "statements": prof.get("statements"),
                                           "error": prof.get("error")}
                _remove_db(prof_db)
                _log(f"{label}: profiling the slowest pages")
                pages_prof = run_child("pages", {"db_path": str(db),
                                                 "profile_dir": str(workdir)})
                for mode, rec in (pages_prof.get("profiles") or {}).items():
                    report.profiles[f"page_{mode}"] = {**rec, "size": label}
            elif n != sizes[-1]:
                _remove_db(db)
                shutil.rmtree(drop.parent, ignore_errors=True)
        if largest_db is not None and not args.no_server:
            _log(f"{size_label(sizes[-1])}: streamlit server + Chromium, RSS")
            report.server = measure_server(largest_db)
            report.server["size"] = sizes[-1]
        if not args.no_cli:
            _log("aidash init and aidash forecast refresh on the bundled data")
            report.cli = measure_cli(workdir)
        if report.profiles:
            report.details += render_profiles(report.profiles)
    finally:
        report.seconds = time.perf_counter() - start
        report.loadavg = list(_LOADAVG)
        if own_workdir and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return report


# =============================================================================== rendering


def _fmt_s(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s"


def _verdict(ratio: float | None, limit: float, at_target: bool) -> str:
    if ratio is None:
        return "error"
    ok = ratio <= limit
    if at_target:
        return "met" if ok else "MISSED"
    return "(met)" if ok else "(missed)"


def build_rows(report: Report) -> list[list[str]]:
    """The table: one row per size × measure (value, bound, ratio, target, result)."""
    rows: list[list[str]] = []
    target_n = report.sizes[-1] if report.sizes else None

    def add(size: str, measure: str, value: str, bound: str = "—", ratio: float | None = None,
            target: str = "—", limit: float | None = None, at_target: bool = True,
            error: str | None = None, incomplete: bool = False) -> None:
        if error:
            rows.append([size, measure, f"error: {error}"[:160], bound, "—", target, "error"])
            return
        result = "info" if limit is None else _verdict(ratio, limit, at_target)
        if incomplete:
            result = "incomplete"
        rows.append([size, measure, value, bound, "—" if ratio is None else f"{ratio:.2f}",
                     target, result])

    for n in report.sizes:
        res = report.results.get(n)
        if res is None:
            continue
        s = size_label(n)
        at = n == target_n
        b, ld, pg = res.bound, res.load, res.pages
        rows_total = b.get("rows") or ld.get("rows_read")
        by = b.get("rows_by_table") or {}
        add(s, "rows in the drop", f"{rows_total:,} ({by.get('enterprises', 0):,} firms + "
            f"{by.get('revenue', 0):,} revenue + {by.get('zone_metrics', 0):,} zone)"
            if rows_total else "—")
        bound_s = b.get("seconds")
        add(s, "insert bound: executemany, 1 transaction (median of 3 runs)",
            f"{_fmt_s(bound_s)} ({rows_total / bound_s / 1000:,.0f}k rows/s; "
            f"cpu {_fmt_s(b.get('cpu_s'))}; runs "
            + ", ".join(_fmt_s(x) for x in b.get("all_seconds", [bound_s])) + ")"
            if bound_s and rows_total else "—", error=b.get("error"))
        e2e = ld.get("total_s")
        err = ld.get("error") or (None if e2e else "no result")
        fc_note = f"; forecasts failed: {ld['forecast_error']}" if ld.get("forecast_error") else ""
        cpu_ratio = (ld["total_cpu_s"] / b["cpu_s"]) if ld.get("total_cpu_s") and b.get(
            "cpu_s") else None
        runs = ld.get("all_total_s")
        add(s, f"load end to end (read, validate, write, forecasts; median of {LOAD_RUNS} runs)",
            f"{_fmt_s(e2e)} (load {_fmt_s(ld.get('load_s'))} + forecasts "
            f"{_fmt_s(ld.get('forecast_s'))}; cpu {_fmt_s(ld.get('total_cpu_s'))}"
            + (f", cpu ratio {cpu_ratio:.1f}" if cpu_ratio else "")
            + (f"; runs {', '.join(_fmt_s(x) for x in runs)}" if runs else "") + f"{fc_note})",
            bound=_fmt_s(bound_s), ratio=e2e / bound_s if e2e and bound_s else None,
            target=f"≤ {LOAD_RATIO_MAX}× bound", limit=LOAD_RATIO_MAX, at_target=at, error=err,
            incomplete=bool(ld.get("forecast_error")))
        if e2e and rows_total:
            add(s, "load cost per row", f"{e2e / rows_total * 1e6:.2f} µs end to end, "
                f"{ld['load_s'] / rows_total * 1e6:.2f} µs load_drop alone"
                + (f" (bound {bound_s / rows_total * 1e6:.2f} µs)" if bound_s else ""))
        rss = ld.get("peak_rss")
        worst = ""
        if ld.get("phase_peak_rss"):
            step, _top = max(ld["phase_peak_rss"].items(), key=lambda kv: kv[1])
            worst = f" (highest during: {step})"
        add(s, "load peak RSS (child ru_maxrss)", f"{_mb(rss):,.0f} MB{worst}" if rss else "—",
            bound=f"{LOAD_RSS_MAX_MB:,.0f} MB",
            ratio=_mb(rss) / LOAD_RSS_MAX_MB if rss else None, target="< 2 GB",
            limit=1.0, at_target=at, error=None if rss else ld.get("error", "no result"))
        if pg.get("error"):
            add(s, "pages (AppTest)", "", error=pg["error"])
        rf, rb = res.refresh, res.refresh_bound
        if rf or rb:
            r_s, rb_s = rf.get("total_s"), rb.get("seconds")
            add(s, "quarterly refresh: register resent unchanged + next quarter's revenue, "
                "onto the loaded database",
                f"{_fmt_s(r_s)} for {rb.get('rows', 0):,} rows (load {_fmt_s(rf.get('load_s'))}"
                f" + forecasts {_fmt_s(rf.get('forecast_s'))}; peak RSS "
                f"{_mb(rf.get('peak_rss') or 0):,.0f} MB; {rf.get('inserted', 0):,} rows "
                "inserted)" if r_s else "—",
                bound=_fmt_s(rb_s), ratio=r_s / rb_s if r_s and rb_s else None,
                error=rf.get("error") or rb.get("error"))
        if res.rollback:
            add(s, "rollback of that quarterly refresh (aidash etl rollback)",
                f"{_fmt_s(res.rollback.get('seconds'))}" if res.rollback.get("seconds") else "—",
                error=res.rollback.get("error"))
        add(s, "first AppTest run, fresh process (imports + empty cache)",
            _fmt_s(pg.get("first_run_s")))
        for name in PAGES:
            rec = (pg.get("pages") or {}).get(name, {})
            for mode, limit_s in (("cold", PAGE_COLD_MAX_S), ("warm", PAGE_WARM_MAX_S)):
                v = rec.get(f"{mode}_s")
                shown = _fmt_s(v)
                if v is not None and rec.get("compile_s") is not None:
                    shown += f" (of which script compile {rec['compile_s'] * 1000:.0f} ms)"
                add(s, f"page {name}, {mode}", shown, bound=_fmt_s(limit_s),
                    ratio=v / limit_s if v is not None else None, target=f"< {limit_s} s",
                    limit=1.0, at_target=at,
                    error=rec.get("error") or (None if v is not None else "no result"))
        ex = pg.get("explorer") or {}
        for label in ("zone+segment", "name search"):
            rec = ex.get(label)
            if rec is None:
                if pg and not pg.get("error"):
                    add(s, f"explorer {label}: count + page 1", "",
                        error=pg.get("explorer_error", "no result"))
                continue
            v = rec["median_s"]
            add(s, f"explorer {label}: count + page 1",
                f"{v * 1000:.1f} ms (count {rec['count_median_s'] * 1000:.1f} + page "
                f"{rec['page_median_s'] * 1000:.1f}; {rec['matches']:,} matches; first run "
                f"{rec['first_s'] * 1000:.0f} ms"
                + (", building the name index" if label == "name search" else "") + ")",
                bound=f"{EXPLORER_MAX_MS:.0f} ms", ratio=v * 1000 / EXPLORER_MAX_MS,
                target="< 100 ms", limit=1.0, at_target=at)
        prss = pg.get("peak_rss")
        if prss:
            add(s, "AppTest process peak RSS (server-side proxy)", f"{_mb(prss):,.0f} MB")
    # growth across sizes
    if len(report.sizes) > 1:
        lo, hi = report.sizes[0], report.sizes[-1]
        tag = f"{size_label(hi)}/{size_label(lo)}"
        rl, rh = report.results.get(lo), report.results.get(hi)

        def per_row(r: SizeResult | None, key: str) -> float | None:
            if r is None:
                return None
            rows_total = r.bound.get("rows") or r.load.get("rows_read")
            v = r.load.get(key)
            return v / rows_total if v and rows_total else None

        for key, what in (("total_s", "end to end"), ("load_s", "load_drop alone")):
            a, c = per_row(rl, key), per_row(rh, key)
            add(tag, f"load per-row cost growth, {what} (linear = 1.0)",
                f"{c / a:.2f}×" if a and c else "—", ratio=c / a if a and c else None,
                target=f"≤ {PER_ROW_GROWTH_MAX} (no faster than linear)",
                limit=PER_ROW_GROWTH_MAX, error=None if a and c else "missing load result")
        for name in PAGES:
            for mode in ("cold", "warm"):
                ra = (rl.pages.get("pages") or {}).get(name, {}) if rl else {}
                rb = (rh.pages.get("pages") or {}).get(name, {}) if rh else {}
                x, y = ra.get(f"{mode}_s"), rb.get(f"{mode}_s")
                problem = ("page errored at " + ", ".join(
                    size_label(n) for n, r in ((lo, ra), (hi, rb)) if r.get("error"))
                    if ra.get("error") or rb.get("error") else None)
                add(tag, f"page {name}, {mode}: growth", f"{y / x:.2f}×" if x and y else "—",
                    ratio=y / x if x and y else None, target=f"≤ {PAGE_GROWTH_MAX} (flat)",
                    limit=PAGE_GROWTH_MAX,
                    error=problem or (None if x and y else "missing page result"))
    # server memory
    if report.server:
        sv = report.server
        s = size_label(sv.get("size", report.sizes[-1]))
        peak = sv.get("rss_peak")
        page_errors = [f"{n} {v}: {r['error']}" for n, rec in (sv.get("pages") or {}).items()
                       for v, r in rec.items() if r.get("error")]
        page_errors += [f"{n} {v}: exception shown" for n, rec in (sv.get("pages") or {}).items()
                        for v, r in rec.items() if r.get("exceptions")]
        note = f" (after start {_mb(sv['rss_started']):,.0f} MB)" if sv.get("rss_started") else ""
        if page_errors:
            note += "; page errors: " + "; ".join(page_errors)[:200]
        add(s, "server peak RSS, every page opened twice in Chromium",
            f"{_mb(peak):,.0f} MB{note}" if peak else "—", bound=f"{SERVER_RSS_MAX_MB:,.0f} MB",
            ratio=_mb(peak) / SERVER_RSS_MAX_MB if peak else None, target="< 1 GB", limit=1.0,
            error=None if peak else sv.get("error", "no result"))
    elif report.results:
        # No real server: the AppTest child's peak RSS at the largest size is the proxy.
        n = report.sizes[-1]
        prss = report.results[n].pages.get("peak_rss") if n in report.results else None
        add(size_label(n), "server peak RSS (proxy: AppTest process, every page)",
            f"{_mb(prss):,.0f} MB" if prss else "—", bound=f"{SERVER_RSS_MAX_MB:,.0f} MB",
            ratio=_mb(prss) / SERVER_RSS_MAX_MB if prss else None, target="< 1 GB",
            limit=1.0, error=None if prss else "no result")
    for key, measure, limit_s in (("init", "aidash init (bundled data)", INIT_MAX_S),
                                  ("refresh", "aidash forecast refresh (all series)",
                                   REFRESH_MAX_S)):
        rec = report.cli.get(key)
        if rec is None:
            continue
        v = rec.get("seconds")
        add("bundled", measure, _fmt_s(v), bound=f"{limit_s:.0f} s",
            ratio=v / limit_s if v is not None and not rec.get("error") else None,
            target=f"< {limit_s:.0f} s", limit=1.0, error=rec.get("error"))
    return rows


def render_table(rows: list[list[str]]) -> str:
    head = ["size", "measure", "value", "bound", "ratio", "target", "result"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(c.replace("|", "/") for c in r) + " |")
    return "\n".join(lines)


def render_phases(report: Report) -> str:
    """Where the load's time goes, per size (seconds and share of end to end)."""
    sizes = [n for n in report.sizes if report.results.get(n) and
             report.results[n].load.get("phases")]
    if not sizes:
        return ""
    names: list[str] = []
    for n in sizes:
        for k in report.results[n].load["phases"]:
            if k not in names:
                names.append(k)
    lines = ["| load step | " + " | ".join(size_label(n) for n in sizes) + " |",
             "|---|" + "---:|" * len(sizes)]
    for k in names:
        cells = []
        for n in sizes:
            ld = report.results[n].load
            v = ld["phases"].get(k)
            cells.append("—" if v is None else f"{v:.2f} s ({v / ld['total_s'] * 100:.0f} %)")
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    lines.append("| **end to end** | " + " | ".join(
        f"{report.results[n].load['total_s']:.2f} s" for n in sizes) + " |")
    if any(k.endswith(THREAD_MARK) for k in names):
        lines += ["", (f"Steps marked{THREAD_MARK} ran in the loader's second thread (the "
                       "register staged while revenue is validated, revenue while the "
                       "register is merged and its indexes rebuilt, the aggregates summed "
                       "while revenue is inserted), at the same time as the main thread's "
                       "steps; they are not part of the end-to-end sum.")]
    if any(report.results[n].load.get("phase_peak_rss") for n in sizes):
        steps: list[str] = []
        for n in sizes:
            for k in report.results[n].load.get("phase_peak_rss") or {}:
                if k not in steps:
                    steps.append(k)
        lines += ["", "Peak RSS of the load's process while each step ran (sampled every 0.1 s):",
                  "", "| load step | " + " | ".join(size_label(n) for n in sizes) + " |",
                  "|---|" + "---:|" * len(sizes)]
        for k in steps:
            cells = []
            for n in sizes:
                v = (report.results[n].load.get("phase_peak_rss") or {}).get(k)
                cells.append("—" if v is None else f"{_mb(v):,.0f} MB")
            lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_profiles(profiles: dict) -> str:
    """Top functions of each cProfile run, by own time and by cumulative time in project code."""
    import pstats

    parts = []
    for key, rec in profiles.items():
        path = rec.get("file")
        if not path or not Path(path).exists():
            parts.append(f"\n{key}: no profile ({rec.get('error')})")
            continue
        st = pstats.Stats(path)
        total = max(st.total_tt, 1e-9)  # type: ignore[attr-defined]
        entries = st.stats  # type: ignore[attr-defined]
        rows = []
        for (file, line, fn), (_cc, nc, tt, ct, _callers) in entries.items():
            rows.append((file, line, fn, nc, tt, ct))

        def where(file: str, line: int, fn: str) -> str:
            fn = re.sub(r" at 0x[0-9a-f]+", "", fn)
            if "TimedConnection." in fn:
                return "sqlite3 " + fn.split("TimedConnection.")[-1].rstrip(">") + " (C)"
            if "site-packages" in file:
                return f"{file.split('site-packages/')[-1]}:{fn}"
            try:
                rel = Path(file).resolve().relative_to(ROOT)
                return f"{rel}:{fn}"
            except ValueError:
                pass
            return f"{Path(file).name}:{fn}" if file != "~" else fn

        title = f"{key} ({rec.get('size')}{', page ' + rec['page'] if rec.get('page') else ''}," \
                f" profiled total {total:.2f} s)"
        out = [f"\n### Profile: {title}", "", "Own time (tottime), top functions:", "",
               "| function | calls | own s | share |", "|---|---:|---:|---:|"]
        for file, line, fn, nc, tt, _ct in sorted(rows, key=lambda r: -r[4])[:TOP_FUNCTIONS]:
            out.append(f"| {where(file, line, fn)} | {nc:,} | {tt:.2f} | {tt / total * 100:.1f} % |")
        out += ["", "Cumulative time in project code (etl/, models/, app/):", "",
                "| function | calls | cum s | share |", "|---|---:|---:|---:|"]
        mine = [r for r in rows if any(f"{os.sep}{d}{os.sep}" in r[0]
                                       for d in ("etl", "models", "app"))
                and str(ROOT) in r[0]]
        for file, line, fn, nc, _tt, ct in sorted(mine, key=lambda r: -r[5])[:TOP_FUNCTIONS]:
            out.append(f"| {where(file, line, fn)} | {nc:,} | {ct:.2f} | {ct / total * 100:.1f} % |")
        if rec.get("statements"):
            out += ["", ("SQL statements by time (each statement of the load timed on its "
                         "sqlite3 connection):"), "", "| statement | calls | s | share |",
                    "|---|---:|---:|---:|"]
            for st_rec in rec["statements"]:
                sql = st_rec["sql"].replace("|", "/")
                out.append(f"| `{sql}` | {st_rec['calls']:,} | {st_rec['seconds']:.2f} | "
                           f"{st_rec['seconds'] / total * 100:.1f} % |")
        parts.append("\n".join(out))
    return "\n".join(parts) + "\n"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import psutil

        mem = f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM"
    except ImportError:
        mem = "RAM unknown"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"{cpu}, {cores} cores, {mem}; {platform.system()} {platform.machine()}; "
            f"Python {platform.python_version()}; SQLite {sqlite3.sqlite_version}")


def finish(report: Report) -> Report:
    report.table = render_table(build_rows(report))
    phases = render_phases(report)
    if phases:
        report.details = "Where the load's time goes (step timers around etl.drops.load' functions):" \
                         "\n\n" + phases + "\n" + report.details
    return report


README_INTRO = """# Benchmarks

`make bench` runs `python -m benchmarks.run_all`: the forecast benchmark
(`benchmarks/forecast_bench.py`, its own results in `FORECAST_RESULTS.md`) and then the scale
benchmark (`benchmarks/scale_bench.py`). These are measurements, not tests: figures are ratios
measured in one run against a bound measured in the same run, because absolute times move with
the machine. `tests/test_scale_smoke.py` is the small test of the same path.

```
python -m benchmarks.run_all                      # forecast benchmark + scale at 10k, 100k, 1M
python -m benchmarks.run_all --quick              # quick forecast run + scale at 10k (no file written)
python -m benchmarks.scale_bench --sizes 10k,1M   # the scale benchmark alone, any sizes
python -m benchmarks.scale_bench --profile        # plus cProfile of the largest load and slowest page
```

## What the scale benchmark measures

At each size N: one drop of N enterprises with 8 quarters of revenue each
(`etl.sample.write_scale_drop`, so 9·N + a few hundred rows), loaded into a copy of a database
that already holds the bundled geography.

| measure | how | target (at 1M) |
|---|---|---|
| insert bound | the drop's rows, already in memory as tuples, inserted with sqlite3 `executemany` in one transaction into plain tables of the same columns (WAL, synchronous=NORMAL, the page size `models.db.PAGE_SIZE` the product's databases use), in a child process; the median of three runs | — (the machine's limit) |
| load end to end | `etl.drops.load_drop` (read, validate, write, derive) + `etl.forecasts.refresh_forecasts`, in a child process, each run onto a fresh copy of the database; the median of three runs (its step timers and memory are that run's) | ≤ 2.5 × bound |
| load per-row cost | end to end / rows, at each size; growth = per-row at the largest size / at the smallest | ≤ 1.1 (no faster than linear, 10 % noise allowance) |
| load peak RSS | `ru_maxrss` of the load's child process (includes the interpreter and imports) | < 2 GB |
| quarterly refresh | at the largest size, on a copy of the loaded database: the usual next drop (the register resent unchanged, every firm's revenue for 2025Q3), end to end, against its own executemany bound; the register takes the change-detection path and the new quarter is appended to the revenue table | — (info) |
| page cold | every page run server-side with `streamlit.testing.v1.AppTest`: first visit after `st.cache_data`/`st.cache_resource` were cleared (modules already imported, OS file cache warm); median of three such visits | < 1.5 s |
| page warm | median of three reruns of the same page | < 0.3 s |
| (both) | the Enterprises page starts building the in-memory name index in a background thread; the benchmark waits for it after each run so that it does not overlap the next timing (its cost is the explorer's first name search, shown in that row) | |
| page growth | page time at the largest size / at the smallest ("flat") | ≤ 1.5 |
| explorer | `app.queries.enterprise_total` + `enterprise_page` (page 1 of 25) as the Enterprises page calls them: the largest zone+segment pair, and a name search (a firm's brand words); median of 5 (the first run, which builds the in-memory name index for a search, is shown apart) | < 100 ms |
| server peak RSS | at the largest size, `streamlit run` on 127.0.0.1 (free port, headless) while Debian's Chromium (PyPI `playwright`) opens every page twice in fresh sessions; psutil samples the RSS of the server's process tree every 50 ms. Without Chromium the AppTest child's `ru_maxrss` is the server-side proxy, and the row says so | < 1 GB |
| aidash init / forecast refresh | the console script as a subprocess on the bundled data (wall time, including interpreter start) | < 30 s / < 10 s |

Results at sizes below the largest are shown in parentheses: the targets are stated at 1M.
"""


def _load_note(loadavg: list[float]) -> str:
    """The machine's 1-minute load average over the run, and what it means for the figures."""
    if not loadavg:
        return "load average not sampled"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    text = f"1-minute load average at the steps {min(loadavg):.1f}–{max(loadavg):.1f}"
    if max(loadavg) > (cores or 1):
        text += (f" (above the {cores} cores at times: other work on the machine inflated some "
                 "wall times; the cpu figures are less affected)")
    return text


def write_readme(report: Report, command: str, extra: list[tuple[str, str]] | None = None) -> None:
    parts = [README_INTRO, "## Latest results", "",
             f"Command: `{command}` (from the repository root)  ",
             f"Date: {report.started}  ",
             f"Machine: {machine()}  ",
             f"Total run: {report.seconds:.0f} s; {_load_note(report.loadavg)}", "",
             report.table, ""]
    if report.details:
        parts += [report.details.strip(), ""]
    for title, text in extra or []:
        parts += [f"## {title}", "", text.strip(), ""]
    README.write_text("\n".join(parts), encoding="utf-8")


def build_parser(prog: str = "python -m benchmarks.scale_bench") -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=lambda s: [parse_size(x) for x in s.split(",") if x.strip()],
                    help="comma-separated enterprise counts, e.g. 10k,100k,1M "
                         "(default 10k,100k,1M)")
    ap.add_argument("--quick", action="store_true", help="10k only; README not written")
    ap.add_argument("--profile", action="store_true",
                    help="also cProfile the largest load and the slowest page")
    ap.add_argument("--no-server", action="store_true",
                    help="skip the real streamlit server + Chromium memory run")
    ap.add_argument("--no-cli", action="store_true",
                    help="skip aidash init / aidash forecast refresh")
    ap.add_argument("--no-write", action="store_true", help="do not write benchmarks/README.md")
    ap.add_argument("--workdir", help="where drops and databases go (default: a temp dir, "
                                      "removed afterwards)")
    ap.add_argument("--keep", action="store_true", help="keep the temp working dir")
    ap.add_argument("--child", nargs=2, metavar=("KIND", "JSON"), help=argparse.SUPPRESS)
    return ap


def should_write(args: argparse.Namespace) -> bool:
    return not (args.no_write or (args.quick and not args.sizes))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.child:
        kind, payload = args.child
        os.chdir(ROOT)
        try:
            result = CHILDREN[kind](**json.loads(payload))
        except Exception as exc:  # noqa: BLE001
            result = {"error": _err(exc), "traceback": traceback.format_exc()[-2000:]}
        _emit(result)
        return 0
    report = finish(run_benchmark(args))
    print("\nScale benchmark\n")
    print(report.table)
    if report.details:
        print("\n" + report.details)
    if should_write(args):
        command = "python -m benchmarks.scale_bench" + (
            " " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
        write_readme(report, command.strip())
        print(f"wrote {README.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
