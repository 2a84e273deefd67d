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

This module runs the steps in order; the parts live beside it: ``scale_children`` (the bound,
load and rollback child processes), ``scale_pages`` (the AppTest pages child),
``loader_timers`` (the load's step timers), ``server_rss`` (the real server + Chromium run),
``scale_report`` (the tables), ``scale_readme`` (``benchmarks/README.md``) and
``scale_shared``.
"""


from __future__ import annotations

import argparse
import datetime as _dt
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.path_drops import NEXT_QUARTER, write_next_quarter
from benchmarks.scale_children import CHILD_TIMEOUT_S, median_bound, median_load, run_child
from benchmarks.scale_readme import README, write_readme
from benchmarks.scale_report import Report, SizeResult, finish, render_profiles
from benchmarks.scale_shared import ROOT, parse_size, remove_db, size_label
from benchmarks.server_rss import measure_server

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000,)
QUARTERS = 8
SEED = 20250630

_LOADAVG: list[float] = []


def _log(msg: str) -> None:
    load = os.getloadavg()[0]
    _LOADAVG.append(load)
    print(f"[scale {time.strftime('%H:%M:%S')} load {load:.1f}] {msg}", file=sys.stderr,
          flush=True)


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



def build_base(path: Path) -> None:
    """An empty database with the bundled geography: what every size starts from."""
    from etl.geography import load_geography
    from models.db import create_db_and_tables, make_engine

    remove_db(path)
    engine = make_engine(path)
    create_db_and_tables(engine)
    load_geography(engine, ROOT / "data")
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()



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
            res.bound = median_bound(drop, workdir / f"bound_{label}.db")
            db = workdir / f"db_{label}.db"
            _log(f"{label}: load end to end")
            res.load = median_load(drop, base, db)
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
                res.refresh_bound = median_bound(nxt, workdir / "bound_next.db")
                refreshed = workdir / f"refresh_{label}.db"
                remove_db(refreshed)
                shutil.copyfile(db, refreshed)
                res.refresh = run_child("load", {"db_path": str(refreshed),
                                                 "drop_dir": str(nxt)})
                if res.refresh.get("run_id"):
                    _log(f"{label}: rolling the quarterly refresh back")
                    res.rollback = run_child("rollback", {"db_path": str(refreshed),
                                                          "run_id": res.refresh["run_id"]})
                remove_db(refreshed)
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
                remove_db(prof_db)
                _log(f"{label}: profiling the slowest pages")
                pages_prof = run_child("pages", {"db_path": str(db),
                                                 "profile_dir": str(workdir)})
                for mode, rec in (pages_prof.get("profiles") or {}).items():
                    report.profiles[f"page_{mode}"] = {**rec, "size": label}
            elif n != sizes[-1]:
                remove_db(db)
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
    return ap


def should_write(args: argparse.Namespace) -> bool:
    return not (args.no_write or (args.quick and not args.sizes))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
