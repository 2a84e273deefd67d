"""Every benchmark in one run: the forecast engine, then the scale of load, pages and memory.

Run (``make bench`` does this)::

    python -m benchmarks.run_all                  # full forecast run + scale at 10k, 100k, 1M
    python -m benchmarks.run_all --quick          # quick forecast run + scale at 10k
    python -m benchmarks.run_all --sizes 10k,1M   # scale sizes (see benchmarks.scale_bench)

The forecast benchmark (``benchmarks.forecast_bench``) is called through its ``run()`` when it
has one, else its ``main``; if it cannot be imported or fails, that is printed and the scale
benchmark runs anyway. Both tables are printed at the end; ``benchmarks/README.md`` gets the
scale table (and the forecast table when there is one), with this command.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import sys
import time
import traceback
from typing import Any

from benchmarks import scale_bench


def run_forecast(quick: bool) -> tuple[str | None, str | None]:
    """Run the forecast benchmark; return (its table, or None) and (a problem, or None)."""
    try:
        import benchmarks.forecast_bench as fb
    except Exception as exc:  # noqa: BLE001 - another engineer's module; report and go on
        return None, f"forecast benchmark not importable: {type(exc).__name__}: {exc}"
    try:
        run = getattr(fb, "run", None)
        if callable(run):
            params = inspect.signature(run).parameters
            kwargs = {k: v for k, v in (("quick", quick), ("progress", True)) if k in params}
            summary = run(**kwargs)
            render = getattr(fb, "render", None)
            table = render(summary) if callable(render) else str(summary)
            print(table, flush=True)
            return table, None
        main = getattr(fb, "main", None)
        if not callable(main):
            return None, "forecast benchmark has neither run() nor main()"
        buf = io.StringIO()
        with contextlib.redirect_stdout(_Tee(sys.stdout, buf)):
            main(["--quick"] if quick else [])
        return buf.getvalue().strip() or None, None
    except Exception as exc:  # noqa: BLE001
        traceback.print_exc()
        return None, f"forecast benchmark failed: {type(exc).__name__}: {exc}"


class _Tee(io.TextIOBase):
    """Writes to several streams (print as usual and keep a copy)."""

    def __init__(self, *streams: Any) -> None:
        self.streams = streams

    def write(self, s: str) -> int:
        for stream in self.streams:
            stream.write(s)
        return len(s)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


def main(argv: list[str] | None = None) -> int:
    ap = scale_bench.build_parser(prog="python -m benchmarks.run_all")
    ap.description = __doc__.split("\n")[0]
    ap.add_argument("--skip-forecast", action="store_true", help="run the scale benchmark only")
    args = ap.parse_args(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    t0 = time.perf_counter()

    forecast_table, forecast_problem = None, None
    if args.skip_forecast:
        forecast_problem = "forecast benchmark skipped (--skip-forecast)"
    else:
        print("== Forecast benchmark (benchmarks.forecast_bench) ==", flush=True)
        forecast_table, forecast_problem = run_forecast(args.quick)
    if forecast_problem:
        print(forecast_problem, flush=True)

    print("\n== Scale benchmark (benchmarks.scale_bench) ==", flush=True)
    report = scale_bench.finish(scale_bench.run_benchmark(args))

    print("\n== Forecast benchmark ==\n")
    print(forecast_table if forecast_table else forecast_problem)
    print("\n== Scale benchmark ==\n")
    print(report.table)
    if report.details:
        print("\n" + report.details)
    if scale_bench.should_write(args):
        command = ("python -m benchmarks.run_all " + " ".join(argv)).strip()
        extra = [("Forecast engine (same run)", forecast_table or forecast_problem or "")]
        scale_bench.write_readme(report, command, extra)
        print(f"wrote {scale_bench.README.relative_to(scale_bench.ROOT)}")
    print(f"\n(total {time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
