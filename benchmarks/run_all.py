"""Every benchmark in one run: the forecast engine, the scale of load, pages and memory, the
load paths users meet, PostgreSQL, and last the capacity of one server (concurrent sessions).

Run (``make bench`` does this)::

    python -m benchmarks.run_all                  # full forecast run + scale at 10k, 100k, 1M
                                                  # + capacity at N = 1…40, bundled and 1M
    python -m benchmarks.run_all --quick          # quick forecast run + scale at 10k
                                                  # + capacity at N = 1, 5 on the bundled data
    python -m benchmarks.run_all --sizes 10k,1M   # scale sizes (see benchmarks.scale_bench)
    python -m benchmarks.run_all --skip-paths     # without the load paths benchmark
    python -m benchmarks.run_all --skip-postgres  # without the PostgreSQL benchmark
    python -m benchmarks.run_all --skip-capacity  # without the capacity benchmark

Then the load paths (``benchmarks.paths_bench``: the first load onto the ``aidash init``
database, the quarterly refresh and a refresh with 5 % of firms revised, each against its own
bound) at the same sizes, the PostgreSQL benchmark (``benchmarks.postgres_bench``: the loads against their COPY
bound and the pages, on a server it starts) at the same sizes, 100k and up (``--quick``: 10k),
and last the capacity benchmark. The tables are printed at the end; ``benchmarks/README.md``
gets the scale table, the forecast table and the PostgreSQL table, with this command, and the
paths and capacity sections (see benchmarks.paths_bench and benchmarks.capacity).
"""

from __future__ import annotations

import sys
import time

from benchmarks import (
    capacity,
    capacity_report,
    forecast_bench,
    paths_bench,
    postgres_bench,
    scale_bench,
)
from benchmarks.scale_readme import README, write_readme
from benchmarks.scale_report import finish
from benchmarks.scale_shared import ROOT


def main(argv: list[str] | None = None) -> int:
    ap = scale_bench.build_parser(prog="python -m benchmarks.run_all")
    ap.description = __doc__.split("\n")[0]
    ap.add_argument("--skip-forecast", action="store_true", help="leave the forecast benchmark out")
    ap.add_argument("--skip-scale", action="store_true", help="leave the scale benchmark out")
    ap.add_argument("--skip-paths", action="store_true",
                    help="leave the load paths benchmark (first load, refresh, revised) out")
    ap.add_argument("--skip-postgres", action="store_true",
                    help="leave the PostgreSQL benchmark out (it needs Debian's postgresql)")
    ap.add_argument("--skip-capacity", action="store_true",
                    help="leave the capacity benchmark (concurrent sessions) out")
    args = ap.parse_args(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    t0 = time.perf_counter()

    forecast_table = None
    if not args.skip_forecast:
        print("== Forecast benchmark (benchmarks.forecast_bench) ==", flush=True)
        forecast_table = forecast_bench.render(forecast_bench.run(quick=args.quick, progress=True))

    report = None
    if not args.skip_scale:
        print("\n== Scale benchmark (benchmarks.scale_bench) ==", flush=True)
        report = finish(scale_bench.run_benchmark(args))

    paths = None
    if not args.skip_paths:
        print("\n== Load paths benchmark (benchmarks.paths_bench) ==", flush=True)
        sizes = sorted(set(args.sizes or ([10_000] if args.quick
                                          else list(paths_bench.DEFAULT_SIZES))))
        paths = paths_bench.run(sizes)

    postgres_table = None
    if not args.skip_postgres:
        print("\n== PostgreSQL benchmark (benchmarks.postgres_bench) ==", flush=True)
        sizes = [n for n in (args.sizes or []) if n >= 100_000] or (
            [10_000] if args.quick else list(postgres_bench.DEFAULT_SIZES))
        postgres_table = postgres_bench.render(postgres_bench.run(sizes))

    print("\n== Forecast benchmark ==\n")
    print(forecast_table or "skipped (--skip-forecast)")
    print("\n== Scale benchmark ==\n")
    print(report.table if report else "skipped (--skip-scale)")
    if report and report.details:
        print("\n" + report.details)
    print("\n== Load paths benchmark ==\n")
    paths_table = paths_bench.render(paths) if paths else None
    print(paths_table or "skipped (--skip-paths)")
    print("\n== PostgreSQL benchmark ==\n")
    print(postgres_table or "skipped (--skip-postgres)")
    command = ("python -m benchmarks.run_all " + " ".join(argv)).strip()
    if report and scale_bench.should_write(args):
        extra = [("Forecast engine (same run)", forecast_table)] if forecast_table else []
        if postgres_table:
            extra.append((postgres_bench.SECTION.removeprefix("## "), postgres_table))
        write_readme(report, command, extra)
        print(f"wrote {README.relative_to(ROOT)}")
    if paths and paths_table and scale_bench.should_write(args) and (
            paths.sizes == list(paths_bench.DEFAULT_SIZES)):
        paths_bench.write_section(paths_table, command, paths)
        print(f"wrote {README.relative_to(ROOT)} (load paths section)")

    # Last: it starts its own servers and wants the machine as quiet as it can be.
    if not args.skip_capacity:
        print("\n== Capacity benchmark (benchmarks.capacity) ==", flush=True)
        cap_args = capacity.build_parser().parse_args([])
        result = capacity.run(cap_args, quick=args.quick)
        text = capacity_report.render(result)
        print("\n" + text)
        if scale_bench.should_write(args):
            capacity_report.write_section(text, command, result)
            print(f"wrote {README.relative_to(ROOT)} (capacity section)")
    print(f"\n(total {time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
