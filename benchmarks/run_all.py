"""Every benchmark in one run: the forecast engine, then the scale of load, pages and memory.

Run (``make bench`` does this)::

    python -m benchmarks.run_all                  # full forecast run + scale at 10k, 100k, 1M
    python -m benchmarks.run_all --quick          # quick forecast run + scale at 10k
    python -m benchmarks.run_all --sizes 10k,1M   # scale sizes (see benchmarks.scale_bench)

Both tables are printed at the end; ``benchmarks/README.md`` gets the scale table and the
forecast table, with this command.
"""

from __future__ import annotations

import sys
import time

from benchmarks import forecast_bench, scale_bench
from benchmarks.scale_readme import README, write_readme
from benchmarks.scale_report import finish
from benchmarks.scale_shared import ROOT


def main(argv: list[str] | None = None) -> int:
    ap = scale_bench.build_parser(prog="python -m benchmarks.run_all")
    ap.description = __doc__.split("\n")[0]
    ap.add_argument("--skip-forecast", action="store_true", help="run the scale benchmark only")
    args = ap.parse_args(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    t0 = time.perf_counter()

    forecast_table = None
    if not args.skip_forecast:
        print("== Forecast benchmark (benchmarks.forecast_bench) ==", flush=True)
        forecast_table = forecast_bench.render(forecast_bench.run(quick=args.quick, progress=True))

    print("\n== Scale benchmark (benchmarks.scale_bench) ==", flush=True)
    report = finish(scale_bench.run_benchmark(args))

    print("\n== Forecast benchmark ==\n")
    print(forecast_table or "skipped (--skip-forecast)")
    print("\n== Scale benchmark ==\n")
    print(report.table)
    if report.details:
        print("\n" + report.details)
    if scale_bench.should_write(args):
        command = ("python -m benchmarks.run_all " + " ".join(argv)).strip()
        extra = [("Forecast engine (same run)", forecast_table)] if forecast_table else []
        write_readme(report, command, extra)
        print(f"wrote {README.relative_to(ROOT)}")
    print(f"\n(total {time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
