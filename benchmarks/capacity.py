"""Capacity: how many people one dashboard server holds, as N concurrent sessions.

Run (from the repository root; ``make bench`` runs it last)::

    python -m benchmarks.capacity                       # N = 1, 5, 10, 20, 40 on the bundled
                                                        # data and 1M firms; 1 and 2 processes
    python -m benchmarks.capacity --quick               # N = 1, 5 on the bundled data only
    python -m benchmarks.capacity --levels 20 --data 1M --processes 2

For each database and number of server processes, ``streamlit run`` is started on 127.0.0.1
(open mode: no sign-in) and stopped afterwards. One session first opens every page (the
server's imports and caches are then warm, as on a server that has been up for a while); then,
at each N, N sessions start together and each opens the five pages in turn, ``--rounds`` times.
A session is ``benchmarks.st_client``: the browser's websocket protocol without a browser, so
the machine's cores go to the server. With several processes the sessions are dealt to them in
turn, as a proxy with sticky sessions would.

Per N: page time p50/p95 (from the rerun request to the script's ``script_finished``), errors,
server CPU (psutil, over each server's process tree: seconds per page view and the share of the
machine's cores) and peak RSS (summed over the processes), and the 1-minute load average.
The 1M database (``etl.sample.write_scale_drop`` loaded into the bundled geography, as the scale
benchmark does) is built once and kept under ``benchmarks/out/``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import math
import os
import shutil
import sys
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.scale_shared import ROOT, parse_size, remove_db, size_label, sqlite_url
from benchmarks.server_rss import TreeRss
from benchmarks.st_client import PageView, visit_pages

OUT = ROOT / "benchmarks" / "out"
# The five pages in navigation order, by URL path ("" is the default page, Overview).
PAGES = {"overview": "", "map": "map", "trends": "trends", "enterprises": "enterprises",
         "sources": "sources"}
LEVELS = (1, 5, 10, 20, 40)
QUICK_LEVELS = (1, 5)
DATASETS = ("bundled", "1M")
ROUNDS = 2  # each session opens the five pages this many times (10 page views per session)
P95_GOAL_S = 2.0
RSS_GOAL_MB = 2048.0
GOAL_SESSIONS = 20
# After the warm-up: idle means under this much server CPU in one second (seconds), and the
# wait ends after SETTLE_TIMEOUT_S whatever the servers do.
SETTLED_CPU_S = 0.05
SETTLE_TIMEOUT_S = 120.0
SCALE_SEED = 20250630  # the scale benchmark's seed: the same firms
SCALE_QUARTERS = 8


def _log(msg: str) -> None:
    print(f"[capacity {time.strftime('%H:%M:%S')} load {os.getloadavg()[0]:.1f}] {msg}",
          file=sys.stderr, flush=True)


# -- databases ---------------------------------------------------------------------------------

def bundled_db() -> Path:
    """``aidash init`` on the bundled data, built once under ``benchmarks/out/``."""
    from etl.build import build_database

    path = OUT / "capacity_bundled.db"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        tmp = OUT / "capacity_bundled.building.db"
        remove_db(tmp)
        build_database(str(tmp), data_dir=ROOT / "data")
        os.replace(tmp, path)
    return path


def scale_db(enterprises: int) -> Path:
    """The bundled geography plus a scale drop of ``enterprises`` firms, loaded and forecast;
    built once under ``benchmarks/out/`` (a million firms take a few minutes)."""
    from benchmarks.scale_bench import build_base
    from etl.drops.load import load_drop
    from etl.forecasts import refresh_forecasts
    from etl.sample import write_scale_drop
    from models.db import make_engine

    label = size_label(enterprises)
    path = OUT / f"capacity_{label}.db"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = OUT / f"capacity_{label}.building.db"
    drop = OUT / f"capacity_drop_{label}" / "2025Q2"
    _log(f"building the {label} database (kept as {path.relative_to(ROOT)})")
    build_base(tmp)
    write_scale_drop(drop, enterprises=enterprises, quarters=SCALE_QUARTERS, seed=SCALE_SEED)
    engine = make_engine(tmp)
    result = load_drop(engine, drop)
    refresh_forecasts(engine, vintage_run_id=result.run_id)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    shutil.rmtree(drop.parent, ignore_errors=True)
    os.replace(tmp, path)
    remove_db(tmp)
    return path


def database(name: str) -> Path:
    return bundled_db() if name == "bundled" else scale_db(parse_size(name))


# -- one level ---------------------------------------------------------------------------------

@dataclass
class Level:
    """N sessions at once against the server(s): what they saw and what the servers spent."""

    dataset: str
    processes: int
    sessions: int
    views: list[PageView] = field(default_factory=list)
    wall_s: float = 0.0
    server_cpu_s: float = 0.0
    peak_rss: int = 0
    loadavg: tuple[float, float] = (0.0, 0.0)  # 1-minute load average at the start, at the end
    client_cpu_s: float = 0.0

    def times(self) -> list[float]:
        return sorted(v.seconds for v in self.views if v.ok)

    def pct(self, q: float) -> float:
        t = self.times()
        if not t:
            return float("nan")
        return t[min(len(t) - 1, max(0, math.ceil(q * len(t)) - 1))]  # nearest rank

    @property
    def errors(self) -> int:
        return sum(not v.ok for v in self.views)

    @property
    def cpu_per_view_s(self) -> float:
        return self.server_cpu_s / max(1, len(self.views))


def _tree_cpu(pids: list[int]) -> float:
    import psutil

    total = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for p in procs:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
    return total


async def _sessions(bases: list[str], n: int, rounds: int) -> list[PageView]:
    paths = list(PAGES.values()) * rounds
    runs = [visit_pages(bases[i % len(bases)], paths, "lang=en") for i in range(n)]
    out: list[PageView] = []
    for views in await asyncio.gather(*runs, return_exceptions=True):
        if isinstance(views, BaseException):  # the session could not even connect
            out.append(PageView(page="connect", status=f"failed: {type(views).__name__}: "
                                                         f"{views}"[:200]))
        else:
            out.extend(views)
    return out


def run_level(bases: list[str], pids: list[int], dataset: str, n: int, rounds: int) -> Level:
    """N sessions at once, each opening the five pages ``rounds`` times."""
    level = Level(dataset=dataset, processes=len(bases), sessions=n)
    samplers = [TreeRss(pid) for pid in pids]
    for s in samplers:
        s.start()
    load0 = os.getloadavg()[0]
    cpu0, client0, t0 = _tree_cpu(pids), time.process_time(), time.perf_counter()
    try:
        level.views = asyncio.run(_sessions(bases, n, rounds))
    finally:
        level.wall_s = time.perf_counter() - t0
        level.server_cpu_s = _tree_cpu(pids) - cpu0
        level.client_cpu_s = time.process_time() - client0
        for s in samplers:
            s.stop()
        level.peak_rss = sum(s.peak for s in samplers)
        level.loadavg = (load0, os.getloadavg()[0])
    return level


def settle(pids: list[int], timeout_s: float = SETTLE_TIMEOUT_S) -> float:
    """Wait until the servers are idle: the work a first visit starts in the background (the
    explorer's name index, the database's quick check) is done once per server, not per view.
    The seconds it took."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout_s:
        before = _tree_cpu(pids)
        time.sleep(1.0)
        if _tree_cpu(pids) - before < SETTLED_CPU_S:
            break
    return time.perf_counter() - t0


def run_dataset(dataset: str, processes: int, levels: list[int], rounds: int) -> list[Level]:
    """Start ``processes`` servers over ``dataset``'s database, warm them, run every level."""
    from tests.local_server import streamlit_server

    db = database(dataset)
    out: list[Level] = []
    with ExitStack() as stack:
        servers = [stack.enter_context(streamlit_server(sqlite_url(db)))
                   for _ in range(processes)]
        bases = [base for base, _ in servers]
        pids = [proc.pid for _, proc in servers]
        _log(f"{dataset}, {processes} process(es): warming up")
        for base in bases:  # twice: a page's second view is the first from warm caches
            asyncio.run(visit_pages(base, list(PAGES.values()) * 2, "lang=en"))
        settle(pids)
        for n in levels:
            _log(f"{dataset}, {processes} process(es): {n} session(s)")
            level = run_level(bases, pids, dataset, n, rounds)
            _log(f"  p50 {level.pct(0.5):.2f} s, p95 {level.pct(0.95):.2f} s, "
                 f"errors {level.errors}, cpu/view {level.cpu_per_view_s * 1000:.0f} ms, "
                 f"rss {level.peak_rss / 2**20:.0f} MB")
            failures = Counter((v.exceptions or v.error_texts or [v.status])[0][:200]
                               for v in level.views if not v.ok)
            if failures:
                _log(f"  failures: {dict(failures)}")
            out.append(level)
    return out


# -- command line ------------------------------------------------------------------------------

def _int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def build_parser(prog: str = "python -m benchmarks.capacity") -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    add_arguments(ap)
    ap.add_argument("--quick", action="store_true",
                    help="N = 1, 5 on the bundled data, one process; nothing written")
    return ap


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The options ``benchmarks.run_all`` passes on (it has its own --quick)."""
    ap.add_argument("--levels", type=_int_list,
                    help="concurrent sessions, comma-separated (default 1,5,10,20,40)")
    ap.add_argument("--data", type=lambda s: [x.strip() for x in s.split(",") if x.strip()],
                    help="databases: 'bundled' and/or a firm count such as 1M "
                         "(default bundled,1M)")
    ap.add_argument("--processes", type=_int_list,
                    help="server processes to measure, comma-separated (default 1,2; "
                         "2 runs on the largest database only)")
    ap.add_argument("--rounds", type=int, default=ROUNDS,
                    help=f"times each session opens the five pages (default {ROUNDS})")
    ap.add_argument("--browser-check", action=argparse.BooleanOptionalAction, default=True,
                    help="time one session in Chromium against the client (default on)")
    ap.add_argument("--no-write", action="store_true", help="do not write benchmarks/README.md")


@dataclass
class Result:
    started: str
    levels: list[Level] = field(default_factory=list)
    browser: dict = field(default_factory=dict)
    seconds: float = 0.0


def run(args: argparse.Namespace, *, quick: bool = False) -> Result:
    levels = args.levels or list(QUICK_LEVELS if quick else LEVELS)
    datasets = args.data or (["bundled"] if quick else list(DATASETS))
    processes = args.processes or ([1] if quick else [1, 2])
    result = Result(started=_dt.datetime.now().strftime("%Y-%m-%d %H:%M"))
    t0 = time.perf_counter()
    for dataset in datasets:
        for p in processes:
            if p > 1 and dataset != datasets[-1]:
                continue  # more processes only where they matter: the largest database
            result.levels += run_dataset(dataset, p, levels, args.rounds)
    if args.browser_check:
        from benchmarks.capacity_browser import compare_one_session

        _log("one session: Chromium against the websocket client")
        result.browser = compare_one_session(database(datasets[0]), datasets[0], PAGES)
    result.seconds = time.perf_counter() - t0
    return result


def main(argv: list[str] | None = None) -> int:
    from benchmarks.capacity_report import render, write_section

    args = build_parser().parse_args(argv)
    result = run(args, quick=args.quick)
    text = render(result)
    print("\n" + text)
    if not (args.no_write or args.quick):
        command = ("python -m benchmarks.capacity " + " ".join(
            argv if argv is not None else sys.argv[1:])).strip()
        write_section(text, command, result)
        print("wrote benchmarks/README.md (capacity section)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
