"""``benchmarks/README.md``: what the scale benchmark measures, then the latest run's tables."""

from __future__ import annotations

import os
import platform
import sqlite3
from pathlib import Path

from benchmarks.scale_report import Report

README = Path(__file__).resolve().parent / "README.md"
# The capacity benchmark's own section (benchmarks/capacity_report.py) lies between these
# markers; a scale run rewrites the rest of the file and keeps it.
CAPACITY_START = "<!-- capacity: start -->"
CAPACITY_END = "<!-- capacity: end -->"
# Likewise the load paths' section (benchmarks/paths_bench.py).
PATHS_START = "<!-- paths: start -->"
PATHS_END = "<!-- paths: end -->"
KEPT = ((PATHS_START, PATHS_END), (CAPACITY_START, CAPACITY_END))


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


README_INTRO = """# Benchmarks

`make bench` runs `python -m benchmarks.run_all`: the forecast benchmark
(`benchmarks/forecast_bench.py`, its own results in `FORECAST_RESULTS.md`), the scale
benchmark (`benchmarks/scale_bench.py`), the load paths users meet
(`benchmarks/paths_bench.py`: first load onto the `aidash init` database, quarterly refresh,
refresh with 5 % revised; its section is near the end), PostgreSQL
(`benchmarks/postgres_bench.py`) and last the capacity benchmark (`benchmarks/capacity.py`,
concurrent sessions on one server; its section is at the end). These
are measurements, not tests: figures are ratios measured in one run against a bound measured in
the same run, because absolute times move with the machine. `tests/test_scale_smoke.py` is the
small test of the scale path, `tests/test_capacity_client.py` of the capacity benchmark's client.

```
python -m benchmarks.run_all                      # forecast + scale at 10k, 100k, 1M + capacity
python -m benchmarks.run_all --quick              # quick forecast run + scale at 10k + capacity
                                                  # at N = 1, 5 on the bundled data (no file written)
python -m benchmarks.run_all --skip-capacity      # all but the capacity benchmark
python -m benchmarks.scale_bench --sizes 10k,1M   # the scale benchmark alone, any sizes
python -m benchmarks.scale_bench --profile        # plus cProfile of the largest load and slowest page
python -m benchmarks.paths_bench                  # the load paths alone (their section only)
python -m benchmarks.capacity                     # the capacity benchmark alone (its section only)
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
| explorer | `app.queries.register.enterprise_total` + `enterprise_page` (page 1 of 25) as the Enterprises page calls them: the largest zone+segment pair, and a name search (a firm's brand words); median of 5 (the first run, which builds the in-memory name index for a search, is shown apart) | < 100 ms |
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
    old = README.read_text(encoding="utf-8") if README.exists() else ""
    for start, end in KEPT:
        kept = marked_section(old, start, end)
        if kept:
            parts += [kept, ""]
    README.write_text("\n".join(parts), encoding="utf-8")


def marked_section(document: str, start: str, end: str) -> str:
    """The part of ``document`` from the marker ``start`` to ``end`` ("" if it has none)."""
    i, j = document.find(start), document.find(end)
    return document[i:j + len(end)] if i >= 0 and j > i else ""


def replace_marked(document: str, start: str, end: str, new_section: str) -> str:
    """``document`` with its section between ``start`` and ``end`` replaced by
    ``new_section`` (appended if it has none)."""
    i, j = document.find(start), document.find(end)
    if i >= 0 and j > i:
        return document[:i] + new_section + document[j + len(end):]
    return document.rstrip("\n") + "\n\n" + new_section + "\n"
