"""Every benchmark in one run: the forecast engine, then the scale of load, pages and memory.

Run (``make bench`` does this)::

    python -m benchmarks.run_all                  # full forecast run + scale at 10k, 100k, 1M
    python -m benchmarks.run_all --quick          # quick forecast run + scale at 10k
    python -m benchmarks.run_all --sizes 10k,1M   # scale sizes (see benchmarks.scale_bench)
    python -m benchmarks.run_all --skip-postgres  # without the PostgreSQL benchmark

Then the PostgreSQL benchmark (``benchmarks.postgres_bench``: the loads against their COPY
bound and the pages, on a server it starts) at the same sizes, 100k and up (``--quick``: 10k).
The tables are printed at the end; ``benchmarks/README.md`` gets the scale table, the forecast
table and the PostgreSQL table, with this command.
"""

from __future__ import annotations

import sys
import time

from benchmarks import forecast_bench, postgres_bench, scale_bench
from benchmarks.scale_readme import README, write_readme
from benchmarks.scale_report import finish
from benchmarks.scale_shared import ROOT


def main(argv: list[str] | None = None) -> int:
    ap = scale_bench.build_parser(prog="python -m benchmarks.run_all")
    ap.description = __doc__.split("\n")[0]
    ap.add_argument("--skip-forecast", action="store_true", help="skip the forecast benchmark")
    ap.add_argument("--skip-postgres", action="store_true",
                    help="skip the PostgreSQL benchmark (it needs Debian's postgresql)")
    args = ap.parse_args(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    t0 = time.perf_counter()

    forecast_table = None
    if not args.skip_forecast:
        print("== Forecast benchmark (benchmarks.forecast_bench) ==", flush=True)
        forecast_table = forecast_bench.render(forecast_bench.run(quick=args.quick, progress=True))

    print("\n== Scale benchmark (benchmarks.scale_bench) ==", flush=True)
    report = finish(scale_bench.run_benchmark(args))

    postgres_table = None
    if not args.skip_postgres:
        print("\n== PostgreSQL benchmark (benchmarks.postgres_bench) ==", flush=True)
        sizes = [n for n in (args.sizes or []) if n >= 100_000] or (
            [10_000] if args.quick else list(postgres_bench.DEFAULT_SIZES))
        postgres_table = postgres_bench.render(postgres_bench.run(sizes))

    print("\n== Forecast benchmark ==\n")
    print(forecast_table or "skipped (--skip-forecast)")
    print("\n== Scale benchmark ==\n")
    print(report.table)
    if report.details:
        print("\n" + report.details)
    print("\n== PostgreSQL benchmark ==\n")
    print(postgres_table or "skipped (--skip-postgres)")
    if scale_bench.should_write(args):
        command = ("python -m benchmarks.run_all " + " ".join(argv)).strip()
        extra = [("Forecast engine (same run)", forecast_table)] if forecast_table else []
        if postgres_table:
            extra.append((postgres_bench.SECTION.removeprefix("## "), postgres_table))
        write_readme(report, command, extra)
        print(f"wrote {README.relative_to(ROOT)}")
    print(f"\n(total {time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
