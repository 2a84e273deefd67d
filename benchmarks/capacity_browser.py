"""The capacity client checked against a real browser: one session, the same pages, both ways.

Debian's Chromium (driven by the PyPI ``playwright`` package, async API) opens the dashboard and
clicks through the five pages in the sidebar; its own websocket frames are read as they pass
(``framesent`` / ``framereceived``, parsed with ``streamlit.proto``), so the browser's page time
is measured exactly as the client's: from the ``rerun_script`` request to the ``script_finished``
that ends the run. The time until the page has drawn (its title shown and the app idle) is kept
beside it. Then ``benchmarks.st_client`` opens the same pages in one session on the same server.
Both run after a warm-up session, an untimed round through the pages (the browser loads the app
and its element scripts then) and ``ROUNDS`` timed rounds; the medians are compared, and the
server's CPU per page view over the timed rounds of each.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from benchmarks.scale_shared import err, sqlite_url
from benchmarks.st_client import (
    FINISHED_EARLY_FOR_RERUN,
    PageView,
    StreamlitSession,
    visit_pages,
)

ROUNDS = 3
PAGE_WAIT_MS = 120_000
IDLE_SAMPLE_S = 2.0  # how long the idle server's own CPU use is sampled
IDLE_JS = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"


class FrameClock:
    """Times every rerun request and script end on one browser page's websocket."""

    def __init__(self) -> None:
        self.sent: list[float] = []
        self.finished: list[float] = []
        self.changed = asyncio.Event()

    def on_sent(self, payload: Any) -> None:
        if isinstance(payload, bytes | bytearray):
            msg = BackMsg()
            msg.ParseFromString(bytes(payload))
            if msg.WhichOneof("type") == "rerun_script":
                self.sent.append(time.perf_counter())
                self.changed.set()

    def on_received(self, payload: Any) -> None:
        if isinstance(payload, bytes | bytearray):
            msg = ForwardMsg()
            msg.ParseFromString(bytes(payload))
            if (msg.WhichOneof("type") == "script_finished"
                    and msg.script_finished != FINISHED_EARLY_FOR_RERUN):
                self.finished.append(time.perf_counter())
                self.changed.set()

    async def visit(self, t0: float, timeout_s: float) -> tuple[float, float, float, int]:
        """Wait for the run a visit started at ``t0`` asked for: the first rerun request
        since ``t0``, the last one before the run that finished, that finish, and how many
        requests there were. A finish left over from the page before does not count."""
        deadline = time.perf_counter() + timeout_s
        while True:
            self.changed.clear()
            sent = [t for t in self.sent if t >= t0]
            if sent:
                finished = [t for t in self.finished if t > sent[-1]]
                if finished:
                    return sent[0], sent[-1], finished[0], len(sent)
            await asyncio.wait_for(self.changed.wait(), max(0.01, deadline - time.perf_counter()))


async def _browser_session(base: str, paths: list[str], rounds: int,
                           cpu_now: Callable[[], float]) -> dict[str, Any]:
    """Per path, each timed visit's times; the server's CPU seconds and the clock at the start
    of the timed rounds (after the untimed first: the app and the scripts of each kind of
    element it draws load once per browser, from the same server) and at their end."""
    from playwright.async_api import async_playwright

    from tests.local_server import CHROMIUM, CHROMIUM_ARGS

    clock = FrameClock()
    out: dict[str, Any] = {p: [] for p in paths}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                           args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1440, "height": 1000})
            page.on("websocket", lambda ws: (ws.on("framesent", clock.on_sent),
                                             ws.on("framereceived", clock.on_received)))
            links = page.locator('[data-testid="stSidebarNav"] a')
            for r in range(rounds + 1):  # round 0 loads the app and its scripts: not timed
                for i, path in enumerate(paths):
                    t0 = time.perf_counter()
                    if r == 0 and i == 0:
                        await page.goto(f"{base}/{path}?lang=en", wait_until="domcontentloaded")
                    else:
                        await links.nth(i).click()
                    first, last, finished, requests = await clock.visit(t0, PAGE_WAIT_MS / 1000)
                    await page.wait_for_function(IDLE_JS, timeout=PAGE_WAIT_MS)
                    drawn = time.perf_counter() - t0
                    if len([t for t in clock.sent if t >= t0]) > requests:
                        # The drawn page asked for one more run: the visit ends with that one.
                        first, last, finished, requests = await clock.visit(
                            t0, PAGE_WAIT_MS / 1000)
                    if r == 0:
                        continue
                    # A page whose widgets report their first values asks for a second run,
                    # which ends the first early: the run that finished began at the last
                    # request, and the visit at the first.
                    out[path].append({"rerun_s": finished - last, "visit_s": finished - first,
                                      "requests": float(requests), "drawn_s": drawn})
                if r == 0:
                    out["cpu_start"], out["t_start"] = cpu_now(), time.perf_counter()
            out["cpu_end"], out["t_end"] = cpu_now(), time.perf_counter()
        finally:
            await browser.close()
    return out


async def _client_session(base: str, paths: list[str], rounds: int,
                          cpu_now: Callable[[], float]) -> tuple[list[PageView], dict[str, float]]:
    """The client through ``paths`` in one session, an untimed round and then ``rounds``
    timed ones: the timed visits, and the server's CPU seconds and the clock at their start
    and end."""
    async with StreamlitSession(base) as session:
        for path in paths:
            await session.open_page(path, "lang=en")
        marks = {"cpu_start": cpu_now(), "t_start": time.perf_counter()}
        views = [await session.open_page(p, "lang=en") for p in paths * rounds]
        marks.update(cpu_end=cpu_now(), t_end=time.perf_counter())
        return views, marks


def _net_cpu_per_view(marks: dict[str, float], idle_cpu_per_s: float, views: int) -> float:
    """Server CPU per view over a timed stretch, less what the idle server spends meanwhile
    (its own timers), which would otherwise count against the slower of the two."""
    busy = marks["cpu_end"] - marks["cpu_start"]
    return (busy - idle_cpu_per_s * (marks["t_end"] - marks["t_start"])) / views


def compare_one_session(db: Path, dataset: str, pages: dict[str, str],
                        rounds: int = ROUNDS) -> dict[str, Any]:
    """Per page: the browser's and the client's median page time on one warm server."""
    from benchmarks.capacity import _tree_cpu, settle
    from tests.local_server import CHROMIUM, ServerDidNotStart, streamlit_server

    if not Path(CHROMIUM).exists():
        return {"error": f"no Chromium at {CHROMIUM}"}
    paths = list(pages.values())
    try:
        with streamlit_server(sqlite_url(db)) as (base, proc):
            asyncio.run(visit_pages(base, paths, "lang=en"))  # warm-up
            settle([proc.pid])
            idle0 = _tree_cpu([proc.pid])
            time.sleep(IDLE_SAMPLE_S)
            idle_rate = (_tree_cpu([proc.pid]) - idle0) / IDLE_SAMPLE_S
            try:
                browser = asyncio.run(_browser_session(base, paths, rounds,
                                                       lambda: _tree_cpu([proc.pid])))
            except Exception as exc:  # noqa: BLE001 - reported in the table
                return {"error": f"browser: {err(exc)}"}
            settle([proc.pid])
            # One session through the same rounds, after an untimed one as the browser's.
            client: dict[str, list[float]] = {p: [] for p in paths}
            views, client_marks = asyncio.run(_client_session(base, paths, rounds,
                                                              lambda: _tree_cpu([proc.pid])))
            for view in views:
                client[view.page].append(view.seconds if view.ok else float("nan"))
    except ServerDidNotStart as exc:
        return {"error": str(exc)[-300:]}
    rows = []
    for name, path in pages.items():
        warm = browser[path]
        rows.append({"page": name,
                     "browser_rerun_s": statistics.median(v["rerun_s"] for v in warm),
                     "browser_drawn_s": statistics.median(v["drawn_s"] for v in warm),
                     "browser_visit_s": statistics.median(v["visit_s"] for v in warm),
                     "browser_requests": statistics.median(v["requests"] for v in warm),
                     "client_s": statistics.median(client[path])})
    views_each = len(paths) * rounds
    return {"dataset": dataset, "rounds": rounds, "rows": rows,
            "idle_cpu_per_s": idle_rate,
            "server_cpu_per_view": {
                "browser": _net_cpu_per_view(browser, idle_rate, views_each),
                "client": _net_cpu_per_view(client_marks, idle_rate, views_each)}}
