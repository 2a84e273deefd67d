"""The scale benchmark's results and their tables: one row per size × measure against its
target, where the load's time goes, and the profiles."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.loader_timers import THREAD_MARK
from benchmarks.scale_pages import PAGES
from benchmarks.scale_shared import LOAD_RUNS, ROOT, TOP_FUNCTIONS, mb, size_label

# Targets (at 1M enterprises).
LOAD_RATIO_MAX = 2.5            # end to end within 2.5x of the executemany bound
PER_ROW_GROWTH_MAX = 1.10       # per-row cost 1M / 10k: no faster than linear (+10 % noise)
LOAD_RSS_MAX_MB = 2048.0
PAGE_WARM_MAX_S = 0.3
PAGE_COLD_MAX_S = 1.5
PAGE_GROWTH_MAX = 1.5           # "flat": page time at the largest size / at the smallest
EXPLORER_MAX_MS = 100.0
SERVER_RSS_MAX_MB = 1024.0
INIT_MAX_S = 30.0
REFRESH_MAX_S = 10.0


@dataclass
class SizeResult:
    n: int
    drop_s: float = 0.0
    bound: dict = field(default_factory=dict)
    load: dict = field(default_factory=dict)
    pages: dict = field(default_factory=dict)
    refresh_bound: dict = field(default_factory=dict)
    refresh: dict = field(default_factory=dict)
    rollback: dict = field(default_factory=dict)


@dataclass
class Report:
    sizes: list[int]
    results: dict[int, SizeResult] = field(default_factory=dict)
    server: dict = field(default_factory=dict)
    cli: dict = field(default_factory=dict)
    profiles: dict = field(default_factory=dict)
    loadavg: list[float] = field(default_factory=list)
    started: str = ""
    seconds: float = 0.0
    table: str = ""
    details: str = ""



def _fmt_s(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s"


def _verdict(ratio: float | None, limit: float, at_target: bool) -> str:
    if ratio is None:
        return "error"
    ok = ratio <= limit
    if at_target:
        return "met" if ok else "MISSED"
    return "(met)" if ok else "(missed)"


def build_rows(report: Report) -> list[list[str]]:
    """The table: one row per size × measure (value, bound, ratio, target, result)."""
    rows: list[list[str]] = []
    target_n = report.sizes[-1] if report.sizes else None

    def add(size: str, measure: str, value: str, bound: str = "—", ratio: float | None = None,
            target: str = "—", limit: float | None = None, at_target: bool = True,
            error: str | None = None, incomplete: bool = False) -> None:
        if error:
            rows.append([size, measure, f"error: {error}"[:160], bound, "—", target, "error"])
            return
        result = "info" if limit is None else _verdict(ratio, limit, at_target)
        if incomplete:
            result = "incomplete"
        rows.append([size, measure, value, bound, "—" if ratio is None else f"{ratio:.2f}",
                     target, result])

    for n in report.sizes:
        res = report.results.get(n)
        if res is None:
            continue
        s = size_label(n)
        at = n == target_n
        b, ld, pg = res.bound, res.load, res.pages
        rows_total = b.get("rows") or ld.get("rows_read")
        by = b.get("rows_by_table") or {}
        add(s, "rows in the drop", f"{rows_total:,} ({by.get('enterprises', 0):,} firms + "
            f"{by.get('revenue', 0):,} revenue + {by.get('zone_metrics', 0):,} zone)"
            if rows_total else "—")
        bound_s = b.get("seconds")
        add(s, "insert bound: executemany, 1 transaction (median of 3 runs)",
            f"{_fmt_s(bound_s)} ({rows_total / bound_s / 1000:,.0f}k rows/s; "
            f"cpu {_fmt_s(b.get('cpu_s'))}; runs "
            + ", ".join(_fmt_s(x) for x in b.get("all_seconds", [bound_s])) + ")"
            if bound_s and rows_total else "—", error=b.get("error"))
        e2e = ld.get("total_s")
        err = ld.get("error") or (None if e2e else "no result")
        fc_note = f"; forecasts failed: {ld['forecast_error']}" if ld.get("forecast_error") else ""
        cpu_ratio = (ld["total_cpu_s"] / b["cpu_s"]) if ld.get("total_cpu_s") and b.get(
            "cpu_s") else None
        runs = ld.get("all_total_s")
        add(s, f"load end to end (read, validate, write, forecasts; median of {LOAD_RUNS} runs)",
            f"{_fmt_s(e2e)} (load {_fmt_s(ld.get('load_s'))} + forecasts "
            f"{_fmt_s(ld.get('forecast_s'))}; cpu {_fmt_s(ld.get('total_cpu_s'))}"
            + (f", cpu ratio {cpu_ratio:.1f}" if cpu_ratio else "")
            + (f"; runs {', '.join(_fmt_s(x) for x in runs)}" if runs else "") + f"{fc_note})",
            bound=_fmt_s(bound_s), ratio=e2e / bound_s if e2e and bound_s else None,
            target=f"≤ {LOAD_RATIO_MAX}× bound", limit=LOAD_RATIO_MAX, at_target=at, error=err,
            incomplete=bool(ld.get("forecast_error")))
        if e2e and rows_total:
            add(s, "load cost per row", f"{e2e / rows_total * 1e6:.2f} µs end to end, "
                f"{ld['load_s'] / rows_total * 1e6:.2f} µs load_drop alone"
                + (f" (bound {bound_s / rows_total * 1e6:.2f} µs)" if bound_s else ""))
        rss = ld.get("peak_rss")
        worst = ""
        if ld.get("phase_peak_rss"):
            step, _top = max(ld["phase_peak_rss"].items(), key=lambda kv: kv[1])
            worst = f" (highest during: {step})"
        add(s, "load peak RSS (child ru_maxrss)", f"{mb(rss):,.0f} MB{worst}" if rss else "—",
            bound=f"{LOAD_RSS_MAX_MB:,.0f} MB",
            ratio=mb(rss) / LOAD_RSS_MAX_MB if rss else None, target="< 2 GB",
            limit=1.0, at_target=at, error=None if rss else ld.get("error", "no result"))
        if pg.get("error"):
            add(s, "pages (AppTest)", "", error=pg["error"])
        rf, rb = res.refresh, res.refresh_bound
        if rf or rb:
            r_s, rb_s = rf.get("total_s"), rb.get("seconds")
            add(s, "quarterly refresh: register resent unchanged + next quarter's revenue, "
                "onto the loaded database",
                f"{_fmt_s(r_s)} for {rb.get('rows', 0):,} rows (load {_fmt_s(rf.get('load_s'))}"
                f" + forecasts {_fmt_s(rf.get('forecast_s'))}; peak RSS "
                f"{mb(rf.get('peak_rss') or 0):,.0f} MB; {rf.get('inserted', 0):,} rows "
                "inserted)" if r_s else "—",
                bound=_fmt_s(rb_s), ratio=r_s / rb_s if r_s and rb_s else None,
                error=rf.get("error") or rb.get("error"))
        if res.rollback:
            add(s, "rollback of that quarterly refresh (aidash etl rollback)",
                f"{_fmt_s(res.rollback.get('seconds'))}" if res.rollback.get("seconds") else "—",
                error=res.rollback.get("error"))
        add(s, "first AppTest run, fresh process (imports + empty cache)",
            _fmt_s(pg.get("first_run_s")))
        for name in PAGES:
            rec = (pg.get("pages") or {}).get(name, {})
            for mode, limit_s in (("cold", PAGE_COLD_MAX_S), ("warm", PAGE_WARM_MAX_S)):
                v = rec.get(f"{mode}_s")
                shown = _fmt_s(v)
                if v is not None and rec.get("compile_s") is not None:
                    shown += f" (of which script compile {rec['compile_s'] * 1000:.0f} ms)"
                add(s, f"page {name}, {mode}", shown, bound=_fmt_s(limit_s),
                    ratio=v / limit_s if v is not None else None, target=f"< {limit_s} s",
                    limit=1.0, at_target=at,
                    error=rec.get("error") or (None if v is not None else "no result"))
        ex = pg.get("explorer") or {}
        for label in ("zone+segment", "name search"):
            rec = ex.get(label)
            if rec is None:
                if pg and not pg.get("error"):
                    add(s, f"explorer {label}: count + page 1", "",
                        error=pg.get("explorer_error", "no result"))
                continue
            v = rec["median_s"]
            add(s, f"explorer {label}: count + page 1",
                f"{v * 1000:.1f} ms (count {rec['count_median_s'] * 1000:.1f} + page "
                f"{rec['page_median_s'] * 1000:.1f}; {rec['matches']:,} matches; first run "
                f"{rec['first_s'] * 1000:.0f} ms"
                + (", building the name index" if label == "name search" else "") + ")",
                bound=f"{EXPLORER_MAX_MS:.0f} ms", ratio=v * 1000 / EXPLORER_MAX_MS,
                target="< 100 ms", limit=1.0, at_target=at)
        prss = pg.get("peak_rss")
        if prss:
            add(s, "AppTest process peak RSS (server-side proxy)", f"{mb(prss):,.0f} MB")
    # growth across sizes
    if len(report.sizes) > 1:
        lo, hi = report.sizes[0], report.sizes[-1]
        tag = f"{size_label(hi)}/{size_label(lo)}"
        rl, rh = report.results.get(lo), report.results.get(hi)

        def per_row(r: SizeResult | None, key: str) -> float | None:
            if r is None:
                return None
            rows_total = r.bound.get("rows") or r.load.get("rows_read")
            v = r.load.get(key)
            return v / rows_total if v and rows_total else None

        for key, what in (("total_s", "end to end"), ("load_s", "load_drop alone")):
            a, c = per_row(rl, key), per_row(rh, key)
            add(tag, f"load per-row cost growth, {what} (linear = 1.0)",
                f"{c / a:.2f}×" if a and c else "—", ratio=c / a if a and c else None,
                target=f"≤ {PER_ROW_GROWTH_MAX} (no faster than linear)",
                limit=PER_ROW_GROWTH_MAX, error=None if a and c else "missing load result")
        for name in PAGES:
            for mode in ("cold", "warm"):
                ra = (rl.pages.get("pages") or {}).get(name, {}) if rl else {}
                rb = (rh.pages.get("pages") or {}).get(name, {}) if rh else {}
                x, y = ra.get(f"{mode}_s"), rb.get(f"{mode}_s")
                problem = ("page errored at " + ", ".join(
                    size_label(n) for n, r in ((lo, ra), (hi, rb)) if r.get("error"))
                    if ra.get("error") or rb.get("error") else None)
                add(tag, f"page {name}, {mode}: growth", f"{y / x:.2f}×" if x and y else "—",
                    ratio=y / x if x and y else None, target=f"≤ {PAGE_GROWTH_MAX} (flat)",
                    limit=PAGE_GROWTH_MAX,
                    error=problem or (None if x and y else "missing page result"))
    # server memory
    if report.server:
        sv = report.server
        s = size_label(sv.get("size", report.sizes[-1]))
        peak = sv.get("rss_peak")
        page_errors = [f"{n} {v}: {r['error']}" for n, rec in (sv.get("pages") or {}).items()
                       for v, r in rec.items() if r.get("error")]
        page_errors += [f"{n} {v}: exception shown" for n, rec in (sv.get("pages") or {}).items()
                        for v, r in rec.items() if r.get("exceptions")]
        note = f" (after start {mb(sv['rss_started']):,.0f} MB)" if sv.get("rss_started") else ""
        if page_errors:
            note += "; page errors: " + "; ".join(page_errors)[:200]
        add(s, "server peak RSS, every page opened twice in Chromium",
            f"{mb(peak):,.0f} MB{note}" if peak else "—", bound=f"{SERVER_RSS_MAX_MB:,.0f} MB",
            ratio=mb(peak) / SERVER_RSS_MAX_MB if peak else None, target="< 1 GB", limit=1.0,
            error=None if peak else sv.get("error", "no result"))
    elif report.results:
        # No real server: the AppTest child's peak RSS at the largest size is the proxy.
        n = report.sizes[-1]
        prss = report.results[n].pages.get("peak_rss") if n in report.results else None
        add(size_label(n), "server peak RSS (proxy: AppTest process, every page)",
            f"{mb(prss):,.0f} MB" if prss else "—", bound=f"{SERVER_RSS_MAX_MB:,.0f} MB",
            ratio=mb(prss) / SERVER_RSS_MAX_MB if prss else None, target="< 1 GB",
            limit=1.0, error=None if prss else "no result")
    for key, measure, limit_s in (("init", "aidash init (bundled data)", INIT_MAX_S),
                                  ("refresh", "aidash forecast refresh (all series)",
                                   REFRESH_MAX_S)):
        rec = report.cli.get(key)
        if rec is None:
            continue
        v = rec.get("seconds")
        add("bundled", measure, _fmt_s(v), bound=f"{limit_s:.0f} s",
            ratio=v / limit_s if v is not None and not rec.get("error") else None,
            target=f"< {limit_s:.0f} s", limit=1.0, error=rec.get("error"))
    return rows


def render_table(rows: list[list[str]]) -> str:
    head = ["size", "measure", "value", "bound", "ratio", "target", "result"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(c.replace("|", "/") for c in r) + " |")
    return "\n".join(lines)


def render_phases(report: Report) -> str:
    """Where the load's time goes, per size (seconds and share of end to end)."""
    sizes = [n for n in report.sizes if report.results.get(n) and
             report.results[n].load.get("phases")]
    if not sizes:
        return ""
    names: list[str] = []
    for n in sizes:
        for k in report.results[n].load["phases"]:
            if k not in names:
                names.append(k)
    lines = ["| load step | " + " | ".join(size_label(n) for n in sizes) + " |",
             "|---|" + "---:|" * len(sizes)]
    for k in names:
        cells = []
        for n in sizes:
            ld = report.results[n].load
            v = ld["phases"].get(k)
            cells.append("—" if v is None else f"{v:.2f} s ({v / ld['total_s'] * 100:.0f} %)")
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    lines.append("| **end to end** | " + " | ".join(
        f"{report.results[n].load['total_s']:.2f} s" for n in sizes) + " |")
    if any(k.endswith(THREAD_MARK) for k in names):
        lines += ["", (f"Steps marked{THREAD_MARK} ran in the loader's second thread (the "
                       "register staged while revenue is validated, revenue while the "
                       "register is merged and its indexes rebuilt, the aggregates summed "
                       "while revenue is inserted), at the same time as the main thread's "
                       "steps; they are not part of the end-to-end sum.")]
    if any(report.results[n].load.get("phase_peak_rss") for n in sizes):
        steps: list[str] = []
        for n in sizes:
            for k in report.results[n].load.get("phase_peak_rss") or {}:
                if k not in steps:
                    steps.append(k)
        lines += ["", "Peak RSS of the load's process while each step ran (sampled every 0.1 s):",
                  "", "| load step | " + " | ".join(size_label(n) for n in sizes) + " |",
                  "|---|" + "---:|" * len(sizes)]
        for k in steps:
            cells = []
            for n in sizes:
                v = (report.results[n].load.get("phase_peak_rss") or {}).get(k)
                cells.append("—" if v is None else f"{mb(v):,.0f} MB")
            lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_profiles(profiles: dict) -> str:
    """Top functions of each cProfile run, by own time and by cumulative time in project code."""
    import pstats

    parts = []
    for key, rec in profiles.items():
        path = rec.get("file")
        if not path or not Path(path).exists():
            parts.append(f"\n{key}: no profile ({rec.get('error')})")
            continue
        st = pstats.Stats(path)
        total = max(st.total_tt, 1e-9)  # type: ignore[attr-defined]
        entries = st.stats  # type: ignore[attr-defined]
        rows = []
        for (file, line, fn), (_cc, nc, tt, ct, _callers) in entries.items():
            rows.append((file, line, fn, nc, tt, ct))

        def where(file: str, line: int, fn: str) -> str:
            fn = re.sub(r" at 0x[0-9a-f]+", "", fn)
            if "TimedConnection." in fn:
                return "sqlite3 " + fn.split("TimedConnection.")[-1].rstrip(">") + " (C)"
            if "site-packages" in file:
                return f"{file.split('site-packages/')[-1]}:{fn}"
            try:
                rel = Path(file).resolve().relative_to(ROOT)
                return f"{rel}:{fn}"
            except ValueError:
                pass
            return f"{Path(file).name}:{fn}" if file != "~" else fn

        title = f"{key} ({rec.get('size')}{', page ' + rec['page'] if rec.get('page') else ''}," \
                f" profiled total {total:.2f} s)"
        out = [f"\n### Profile: {title}", "", "Own time (tottime), top functions:", "",
               "| function | calls | own s | share |", "|---|---:|---:|---:|"]
        for file, line, fn, nc, tt, _ct in sorted(rows, key=lambda r: -r[4])[:TOP_FUNCTIONS]:
            out.append(f"| {where(file, line, fn)} | {nc:,} | {tt:.2f} | {tt / total * 100:.1f} % |")
        out += ["", "Cumulative time in project code (etl/, models/, app/):", "",
                "| function | calls | cum s | share |", "|---|---:|---:|---:|"]
        mine = [r for r in rows if any(f"{os.sep}{d}{os.sep}" in r[0]
                                       for d in ("etl", "models", "app"))
                and str(ROOT) in r[0]]
        for file, line, fn, nc, _tt, ct in sorted(mine, key=lambda r: -r[5])[:TOP_FUNCTIONS]:
            out.append(f"| {where(file, line, fn)} | {nc:,} | {ct:.2f} | {ct / total * 100:.1f} % |")
        if rec.get("statements"):
            out += ["", ("SQL statements by time (each statement of the load timed on its "
                         "sqlite3 connection):"), "", "| statement | calls | s | share |",
                    "|---|---:|---:|---:|"]
            for st_rec in rec["statements"]:
                sql = st_rec["sql"].replace("|", "/")
                out.append(f"| `{sql}` | {st_rec['calls']:,} | {st_rec['seconds']:.2f} | "
                           f"{st_rec['seconds'] / total * 100:.1f} % |")
        parts.append("\n".join(out))
    return "\n".join(parts) + "\n"


def finish(report: Report) -> Report:
    report.table = render_table(build_rows(report))
    phases = render_phases(report)
    if phases:
        report.details = "Where the load's time goes (step timers around etl.drops.load' functions):" \
                         "\n\n" + phases + "\n" + report.details
    return report
