"""The load paths users meet, each against its own ``executemany`` bound measured in the same run.

Run (from the repository root)::

    python -m benchmarks.paths_bench                  # 10k, 100k and 1M; writes its README section
    python -m benchmarks.paths_bench --sizes 100k     # any sizes; writes nothing
    python -m benchmarks.paths_bench --runs 1         # one run per path instead of three

At each size N, starting from the database ``aidash init`` builds (the bundled geography,
facts, sample drops and forecasts):

1. **first load**: a scale drop of N firms with 8 quarters of revenue
   (``etl.sample.write_scale_drop``, the same files as ``aidash sample --enterprises N``)
   loaded onto a copy of that database. Its quarters already hold the bundled sample revenue.
2. **quarterly refresh**: onto a copy of the database after (1), the next drop
   (:func:`benchmarks.path_drops.write_next_quarter`: the register resent unchanged, every
   firm's revenue for the next quarter).
3. **refresh, 5 % revised**: the same, with every 20th firm's register row changed and its last
   quarter's revenue restated (:func:`benchmarks.path_drops.write_revised_quarter`).

Each load is ``etl.drops.load_drop`` followed by ``etl.forecasts.refresh_forecasts`` as
``aidash etl load`` runs them (the forecasts fitted while the load commits:
``etl.forecast_ahead``), in a child process whose peak memory is the higher of its
``ru_maxrss`` and its RSS plus that of the processes it starts (the loader reads committed
rows in one), sampled every 0.1 s; the median of ``--runs`` runs. Each path's bound is the same drop's rows, already in memory as
tuples, inserted with sqlite3 ``executemany`` into plain tables in one transaction (the scale
benchmark's bound); the median of three runs. Targets at 1M: each path within 2.5x its bound,
peak RSS under 2 GB.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.loader_timers import FORECAST_STEP
from benchmarks.path_drops import NEXT_QUARTER, write_next_quarter, write_revised_quarter
from benchmarks.scale_children import median_bound, median_load
from benchmarks.scale_readme import README, machine, replace_marked
from benchmarks.scale_shared import ROOT, mb, parse_size, remove_db, size_label

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
QUARTERS = 8
SEED = 20250630
REVISED_SHARE = 0.05
RATIO_TARGET = 2.5
RSS_TARGET_MB = 2048
START = "<!-- paths: start -->"
END = "<!-- paths: end -->"
PATHS = (("first", "first load onto the `aidash init` database"),
         ("refresh", "quarterly refresh (register resent, a new quarter)"),
         ("revised", "quarterly refresh, 5 % of firms revised"))


@dataclass
class PathResult:
    bound: dict = field(default_factory=dict)
    load: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        total, bound = self.load.get("total_s"), self.bound.get("seconds")
        return total / bound if total and bound else None


@dataclass
class Result:
    started: str
    sizes: list[int]
    runs: int
    paths: dict[tuple[int, str], PathResult] = field(default_factory=dict)
    seconds: float = 0.0
    loadavg: list[float] = field(default_factory=list)


def _log(msg: str) -> None:
    print(f"[paths {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def build_init(path: Path) -> None:
    """The database ``aidash init`` builds from the bundled data."""
    from etl.build import build_database

    remove_db(path)
    build_database(str(path), data_dir=ROOT / "data", force=True)


def run(sizes: list[int], *, runs: int = 3, workdir: Path | None = None) -> Result:
    from etl.sample import write_scale_drop

    result = Result(started=_dt.datetime.now().strftime("%Y-%m-%d %H:%M"), sizes=sizes,
                    runs=runs)
    t0 = time.perf_counter()
    own = workdir is None
    work = Path(workdir or tempfile.mkdtemp(prefix="aidash-paths-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        init = work / "init.db"
        _log("building the aidash init database")
        build_init(init)
        for n in sizes:
            label = size_label(n)
            drop = work / f"drop_{label}" / "2025Q2"
            _log(f"{label}: writing the drops")
            write_scale_drop(drop, enterprises=n, quarters=QUARTERS, seed=SEED)
            drops = {"first": drop,
                     "refresh": write_next_quarter(drop, work / f"next_{label}" / NEXT_QUARTER),
                     "revised": write_revised_quarter(drop, work / f"rev_{label}" / NEXT_QUARTER,
                                                      share=REVISED_SHARE)}
            loaded = work / f"loaded_{label}.db"
            scratch = work / f"scratch_{label}.db"
            for key, _title in PATHS:
                res = result.paths.setdefault((n, key), PathResult())
                result.loadavg.append(os.getloadavg()[0])
                _log(f"{label} {key}: bound")
                res.bound = median_bound(drops[key], work / "bound.db")
                _log(f"{label} {key}: load x{runs}")
                if key == "first":
                    res.load = median_load(drops[key], init, loaded, runs)
                else:
                    res.load = median_load(drops[key], loaded, scratch, runs)
                    remove_db(scratch)
                _log(f"{label} {key}: {res.load.get('total_s', float('nan')):.2f} s against "
                     f"{res.bound.get('seconds', float('nan')):.2f} s "
                     f"{res.load.get('error') or res.bound.get('error') or ''}")
                if key == "first" and not res.load.get("total_s"):
                    break  # nothing to refresh
            remove_db(loaded)
            shutil.rmtree(work / f"drop_{label}", ignore_errors=True)
    finally:
        result.seconds = time.perf_counter() - t0
        if own:
            shutil.rmtree(work, ignore_errors=True)
    return result


def _s(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s"


def render(result: Result) -> str:
    largest = max(result.sizes)
    rows = [("| size | path | rows | end to end (runs) | executemany bound | ratio | peak RSS "
            "| result |"), "|---|---|---:|---|---|---:|---:|---|"]
    for n in result.sizes:
        for key, title in PATHS:
            res = result.paths.get((n, key))
            if res is None:
                continue
            load, bound = res.load, res.bound
            if load.get("error") or bound.get("error"):
                rows.append(f"| {size_label(n)} | {title} | — | error: "
                            f"{load.get('error') or bound.get('error')} | — | — | — | MISSED |")
                continue
            rss = mb(load.get("peak_rss", 0))
            ok = (res.ratio or 99) <= RATIO_TARGET and rss < RSS_TARGET_MB
            verdict = "met" if ok else "MISSED"
            if n != largest:
                verdict = f"({verdict.lower()})"
            runs = ", ".join(_s(s) for s in load.get("all_total_s", []))
            rows.append(
                f"| {size_label(n)} | {title} | {bound.get('rows', 0):,} "
                f"| {_s(load['total_s'])} (load {_s(load.get('load_s'))} + forecasts "
                f"{_s(load.get('forecast_s'))}; runs {runs}) | {_s(bound['seconds'])} "
                f"| {res.ratio:.2f} | {rss:,.0f} MB | {verdict} |")
    parts = ["\n".join(rows), "",
             (f"Targets at {size_label(largest)}: end to end ≤ {RATIO_TARGET}× its bound, "
             f"peak RSS < {RSS_TARGET_MB / 1024:.0f} GB; smaller sizes in parentheses."), "",
             (f"Where each path's time went at {size_label(largest)} (step timers of its median "
             "run; [in a thread] steps overlap the others):"), ""]
    phases = {key: (result.paths.get((largest, key)) or PathResult()).load.get("phases") or {}
              for key, _t in PATHS}
    steps = list(dict.fromkeys(s for p in phases.values() for s in p))
    if FORECAST_STEP in steps:
        steps.append(steps.pop(steps.index(FORECAST_STEP)))
    parts.append("| step | " + " | ".join(k for k, _t in PATHS) + " |")
    parts.append("|---|" + "---:|" * len(PATHS))
    for step in steps:
        parts.append(f"| {step} | " + " | ".join(
            f"{phases[k][step]:.2f} s" if step in phases[k] else "—" for k, _t in PATHS) + " |")
    return "\n".join(parts)


ABOUT = """## The load paths users meet

`benchmarks/paths_bench.py` (part of `make bench`; `--skip-paths` leaves it out) measures the
three loads an agency runs, at each size N, starting from the database `aidash init` builds:
the first load of a scale drop of N firms × 8 quarters (`aidash sample --enterprises N`, whose
quarters already hold the bundled sample revenue); the quarterly refresh onto that loaded
database (the register resent unchanged, every firm's revenue for the next quarter); and the
same refresh with every 20th firm revised (one more employee in the register, its last
quarter's revenue restated). Each is `etl.drops.load_drop` + `etl.forecasts.refresh_forecasts`
as `aidash etl load` runs them (the series read on the load's connection just before its
commit and fitted in a thread while it commits, `etl/forecast_ahead.py`: "load" includes the
fitting that overlaps the commit, "forecasts" is the rest of it and the storing) in a child
process, the median of three runs; its bound is the
same drop's rows inserted with sqlite3 `executemany` into plain tables in one transaction, the
median of three runs in the same benchmark. Peak RSS is the higher of the load process's
`ru_maxrss` and, sampled every 0.1 s, its RSS plus that of the processes it starts (the loader
reads committed rows in a process of its own). In the step table, the second thread's staging
includes comparing a resent register with the committed one, and its aggregates line the
reading of the committed register and the making of the aggregates' view of it."""


def section(text: str, command: str, result: Result) -> str:
    load = (f"; 1-minute load average {min(result.loadavg):.1f}–{max(result.loadavg):.1f}"
            if result.loadavg else "")
    return "\n".join([START, ABOUT, "", "### Latest run", "",
                      f"Command: `{command}` (from the repository root)  ",
                      f"Date: {result.started}  ",
                      f"Machine: {machine()}  ",
                      f"Total run: {result.seconds:.0f} s{load}", "", text.strip(), END])


def write_section(text: str, command: str, result: Result) -> None:
    old = README.read_text(encoding="utf-8") if README.exists() else "# Benchmarks\n"
    README.write_text(replace_marked(old, START, END, section(text, command, result)),
                      encoding="utf-8")


def build_parser(prog: str = "python -m benchmarks.paths_bench") -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=lambda t: [parse_size(x) for x in t.split(",")],
                    help="comma-separated sizes (default 10k,100k,1M); other sizes write nothing")
    ap.add_argument("--runs", type=int, default=3, help="load runs per path (median; default 3)")
    ap.add_argument("--workdir", type=Path, help="keep the files here instead of a temp folder")
    ap.add_argument("--no-write", action="store_true", help="print only")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sizes = sorted(set(args.sizes or DEFAULT_SIZES))
    result = run(sizes, runs=max(1, args.runs), workdir=args.workdir)
    text = render(result)
    print("\n" + text)
    if not args.no_write and sizes == list(DEFAULT_SIZES):
        # Where the files were kept changes no figure, and names a folder of this machine.
        given = [] if args.runs == 3 else ["--runs", str(args.runs)]
        command = "python -m benchmarks.paths_bench " + " ".join(given)
        write_section(text, command.strip(), result)
        print(f"wrote {README.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
