"""The capacity benchmark's tables and its section of ``benchmarks/README.md``.

The section sits between two markers, so the scale benchmark (which rewrites the rest of the
file) keeps it, and a capacity run replaces only it.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING

from benchmarks.scale_readme import CAPACITY_END as END
from benchmarks.scale_readme import CAPACITY_START as START
from benchmarks.scale_readme import README, machine, replace_marked

if TYPE_CHECKING:
    from benchmarks.capacity import Level, Result

ABOUT = """## Capacity: concurrent sessions on one server

`benchmarks/capacity.py` (the last step of `make bench`; `--skip-capacity` leaves it out) starts
`streamlit run` on 127.0.0.1 in open mode over a database, opens every page twice to warm it,
waits until the server is idle, and then at each N starts N sessions together; each opens the
five pages in turn, twice, with no pause. A session is `benchmarks/st_client.py`, the browser's
websocket protocol (`streamlit.proto` messages on `/_stcore/stream`) without a browser, so the
cores go to the server (the client's own CPU per page view is given below). The check against
Chromium at the end times one session both ways on one server: Chromium on the same 2 cores
competes with the server while it draws, so its page times are longer than the client's, and the
server's CPU per page view under each shows whether the server did the same work. Page time is
from the rerun request to the script's `script_finished`; an error is a page whose script did
not finish (within 120 s) or that showed an exception or an error box, or a session that could
not connect. Server CPU is psutil's user + system time over the server's process tree during the
level (per page view, and as a share of the machine's cores); RSS is the peak of the tree
(summed over the processes), sampled every 50 ms. With two processes the sessions are dealt to
them in turn, as a proxy with sticky sessions would. The 1M database is the scale benchmark's
drop of a million firms loaded onto the bundled geography, built once under `benchmarks/out/`.
The machine is shared: the load average is the 1-minute figure at the start and end of each
level, and a level measured under other work is slower than the server alone would be."""


def _ms(seconds: float) -> str:
    if math.isnan(seconds):  # no page view succeeded
        return "—"
    return f"{seconds * 1000:,.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


def level_table(levels: list[Level]) -> str:
    cores = _cores()
    rows = [("| data | processes | sessions | page views | p50 | p95 | errors | server cpu per "
             "view | server cpu busy | server peak RSS | load avg (start–end) | wall |"),
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for lv in levels:
        busy = lv.server_cpu_s / lv.wall_s / cores if lv.wall_s else 0.0
        rows.append(
            f"| {lv.dataset} | {lv.processes} | {lv.sessions} | {len(lv.views)} | "
            f"{_ms(lv.pct(0.5))} | {_ms(lv.pct(0.95))} | {lv.errors} | "
            f"{lv.cpu_per_view_s * 1000:.0f} ms | {busy:.0%} of {cores} cores | "
            f"{lv.peak_rss / 2**20:,.0f} MB | {lv.loadavg[0]:.1f}–{lv.loadavg[1]:.1f} | "
            f"{lv.wall_s:.0f} s |")
    return "\n".join(rows)


def knee(levels: list[Level], goal_s: float) -> dict[tuple[str, int], int | None]:
    """Per (data, processes): the fewest sessions at which p95 passed ``goal_s`` (None: never)."""
    out: dict[tuple[str, int], int | None] = {}
    for lv in levels:
        key = (lv.dataset, lv.processes)
        out.setdefault(key, None)
        if out[key] is None and lv.pct(0.95) > goal_s:
            out[key] = lv.sessions
    return out


def verdict(levels: list[Level], sessions: int, p95_s: float, rss_mb: float) -> list[str]:
    """One line per (data, processes) measured at ``sessions``: the goal met or not, and why."""
    lines = []
    for lv in levels:
        if lv.sessions != sessions:
            continue
        p95, rss = lv.pct(0.95), lv.peak_rss / 2**20
        misses = [what for what, bad in (
            (f"p95 {_ms(p95)} > {p95_s:.0f} s", not p95 <= p95_s),
            (f"{lv.errors} errors", lv.errors > 0),
            (f"RSS {rss:,.0f} MB > {rss_mb:,.0f} MB", rss > rss_mb)) if bad]
        state = "met" if not misses else "MISSED (" + "; ".join(misses) + ")"
        lines.append(f"- {lv.dataset}, {lv.processes} process(es), {sessions} sessions: "
                     f"p95 {_ms(p95)}, {lv.errors} errors, RSS {rss:,.0f} MB: {state}")
    return lines


def limits(levels: list[Level]) -> list[str]:
    """Per (data, processes), at its largest N: the cores the servers used, against what one
    process can use, and the load the rest of the machine put on the cores."""
    cores = _cores()
    last: dict[tuple[str, int], Level] = {}
    for lv in levels:
        key = (lv.dataset, lv.processes)
        if key not in last or lv.sessions > last[key].sessions:
            last[key] = lv
    lines = []
    for (data, procs), lv in last.items():
        used = lv.server_cpu_s / lv.wall_s if lv.wall_s else 0.0
        client = lv.client_cpu_s / max(1, len(lv.views))
        lines.append(
            f"- {data}, {procs} process(es), {lv.sessions} sessions: the server(s) used "
            f"{used:.2f} of {cores} cores ({lv.cpu_per_view_s * 1000:.0f} ms per page view); "
            f"one process can use at most one (its sessions' scripts are threads of one Python "
            f"interpreter); 1-minute load average {max(lv.loadavg):.1f} on {cores} cores (the "
            f"other work on the machine); the client spent {client * 1000:.0f} ms of CPU per "
            "page view.")
    return lines


def browser_table(browser: dict) -> str:
    if not browser:
        return "not run (--no-browser-check)"
    if browser.get("error"):
        return f"not measured: {browser['error']}"
    rows = [("| page | Chromium: rerun → script finished | Chromium: click → drawn and idle | "
             "Chromium: rerun requests per visit | client: rerun → script finished | "
             "client / Chromium |"),
            "|---|---:|---:|---:|---:|---:|"]
    for r in browser["rows"]:
        ratio = r["client_s"] / r["browser_rerun_s"] if r["browser_rerun_s"] else float("nan")
        rows.append(f"| {r['page']} | {_ms(r['browser_rerun_s'])} | {_ms(r['browser_drawn_s'])}"
                    f" | {r['browser_requests']:.0f} | {_ms(r['client_s'])} | {ratio:.2f} |")
    cpu = browser.get("server_cpu_per_view") or {}
    note = ""
    if cpu:
        note = (f"\n\nServer CPU per page view over the timed rounds: {cpu['browser'] * 1000:.0f} ms "
                f"with Chromium, {cpu['client'] * 1000:.0f} ms with the client (each less what "
                f"the idle server spent meanwhile: {browser['idle_cpu_per_s'] * 1000:.0f} ms "
                "per second).")
    return (f"One session on the {browser['dataset']} data, one server, after a warm-up; "
            f"medians of {browser['rounds']} visits per page, after an untimed round through "
            "the pages (in which Chromium loads the app and the scripts of each kind of "
            "element); Chromium reaches each page by a sidebar click, and its own websocket "
            "frames are timed:\n\n"
            + "\n".join(rows) + note)


def render(result: Result) -> str:
    from benchmarks.capacity import GOAL_SESSIONS, P95_GOAL_S, RSS_GOAL_MB

    parts = [level_table(result.levels), ""]
    knees = knee(result.levels, P95_GOAL_S)
    parts.append(f"Where p95 first passed {P95_GOAL_S:.0f} s:")
    parts += [f"- {data}, {procs} process(es): "
              + (f"at {n} sessions" if n else "not within the levels measured")
              for (data, procs), n in knees.items()]
    parts += ["", "What limits it:", *limits(result.levels)]
    goal = verdict(result.levels, GOAL_SESSIONS, P95_GOAL_S, RSS_GOAL_MB)
    if goal:
        parts += ["", (f"Goal: {GOAL_SESSIONS} concurrent sessions at p95 ≤ {P95_GOAL_S:.0f} s, "
                       f"no errors, server RSS ≤ {RSS_GOAL_MB / 1024:.0f} GB:"), *goal]
    parts += ["", "Client against a real browser:", "", browser_table(result.browser)]
    return "\n".join(parts)


def section(text: str, command: str, result: Result) -> str:
    return "\n".join([START, ABOUT, "", "### Latest capacity run", "",
                      f"Command: `{command}` (from the repository root)  ",
                      f"Date: {result.started}  ",
                      f"Machine: {machine()}  ",
                      f"Total run: {result.seconds:.0f} s", "", text.strip(), END])


def write_section(text: str, command: str, result: Result) -> None:
    """Put the capacity section into ``benchmarks/README.md`` (replacing an earlier one)."""
    old = README.read_text(encoding="utf-8") if README.exists() else "# Benchmarks\n"
    README.write_text(replace_marked(old, START, END, section(text, command, result)),
                      encoding="utf-8")
