"""The pages child: every dashboard page under ``streamlit.testing.v1.AppTest``, cold and warm,
then the enterprise explorer's queries called as the Enterprises page calls them."""

from __future__ import annotations

import os
import sqlite3
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

from app.access import ANALYST
from app.pages import VIEWS
from benchmarks.scale_shared import ROOT, err, maxrss_bytes, sqlite_url

PAGES = VIEWS
WARM_RUNS = 3
# Cold page runs per size: the median is reported (one run is at the mercy of whatever else
# the machine does at that moment).
COLD_RUNS = 3
EXPLORER_RUNS = 5
APPTEST_TIMEOUT_S = 300


def _explorer(db_path: Path) -> dict:
    """The enterprise explorer's count + page-1 queries, called as the Enterprises page does.

    The first of the runs is reported apart: for a name search it includes building the
    in-memory name index (once per data version and server process)."""
    from app.filters import EnterpriseFilters
    from app.queries import health, register
    from app.transforms import period_freq
    from models.db import make_engine

    engine = make_engine(sqlite_url(db_path), read_only=True)
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
            found = register.enterprise_total(engine, filters, role=ANALYST)
            total = found.total
            t1 = time.perf_counter()
            rows = len(register.enterprise_page(engine, filters, page=1, page_size=25,
                                                revenue_period=period, matches=found.matches,
                                                    role=ANALYST))
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
    os.environ["AIDASH_DATABASE_URL"] = sqlite_url(Path(db_path))
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
            rec["error"] = err(exc)
        out["pages"][name] = rec
    try:
        out["explorer"] = _explorer(Path(db_path))
    except Exception as exc:  # noqa: BLE001
        out["explorer_error"] = err(exc)
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
    out["peak_rss"] = maxrss_bytes()
    return out
