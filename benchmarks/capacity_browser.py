"""The capacity client checked against a real browser: one session, the same pages, both ways.

Debian's Chromium (driven by the PyPI ``playwright`` package, async API) opens the dashboard and
clicks through the five pages in the sidebar; its own websocket frames are read as they pass
(``framesent`` / ``framereceived``, parsed with ``streamlit.proto``), so the browser's page time
is measured exactly as the client's: from the ``rerun_script`` request to the ``script_finished``
that ends the run. The time until the page has drawn (its title shown and the app idle) is kept
beside it. Then ``benchmarks.st_client`` opens the same pages in one session on the same server.
Both run after a warm-up session, ``ROUNDS`` times through the pages; the medians are compared.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from benchmarks.scale_shared import err, sqlite_url
from benchmarks.st_client import FINISHED_EARLY_FOR_RERUN, visit_pages

ROUNDS = 3
PAGE_WAIT_MS = 120_000
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

    def on_received(self, payload: Any) -> None:
        if isinstance(payload, bytes | bytearray):
            msg = ForwardMsg()
            msg.ParseFromString(bytes(payload))
            if (msg.WhichOneof("type") == "script_finished"
                    and msg.script_finished != FINISHED_EARLY_FOR_RERUN):
                self.finished.append(time.perf_counter())
                self.changed.set()

    async def next_finish(self, after: int, timeout_s: float) -> float:
        """Wait until more than ``after`` runs have finished; the page time of the run that
        ended the wait (from its first rerun request since ``after``)."""
        deadline = time.perf_counter() + timeout_s
        while len(self.finished) <= after:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), max(0.01, deadline - time.perf_counter()))
        return self.finished[after]


async def _browser_session(base: str, paths: list[str], rounds: int) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    from tests.local_server import CHROMIUM, CHROMIUM_ARGS

    clock = FrameClock()
    out: dict[str, list[dict[str, float]]] = {p: [] for p in paths}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                           args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1440, "height": 1000})
            page.on("websocket", lambda ws: (ws.on("framesent", clock.on_sent),
                                             ws.on("framereceived", clock.on_received)))
            links = page.locator('[data-testid="stSidebarNav"] a')
            for r in range(rounds):
                for i, path in enumerate(paths):
                    done = len(clock.finished)
                    t0 = time.perf_counter()
                    if r == 0 and i == 0:
                        await page.goto(f"{base}/{path}?lang=en", wait_until="domcontentloaded")
                    else:
                        await links.nth(i).click()
                    await clock.next_finish(done, PAGE_WAIT_MS / 1000)
                    await page.wait_for_function(IDLE_JS, timeout=PAGE_WAIT_MS)
                    drawn = time.perf_counter() - t0
                    sent = [t for t in clock.sent if t >= t0]
                    finished = clock.finished[done]
                    out[path].append({"rerun_s": finished - (sent[0] if sent else t0),
                                      "drawn_s": drawn, "first_visit": float(r == 0 and i == 0)})
        finally:
            await browser.close()
    return out


def compare_one_session(db: Path, dataset: str, pages: dict[str, str],
                        rounds: int = ROUNDS) -> dict[str, Any]:
    """Per page: the browser's and the client's median page time on one warm server."""
    from tests.local_server import CHROMIUM, ServerDidNotStart, streamlit_server

    if not Path(CHROMIUM).exists():
        return {"error": f"no Chromium at {CHROMIUM}"}
    paths = list(pages.values())
    try:
        with streamlit_server(sqlite_url(db)) as (base, _proc):
            asyncio.run(visit_pages(base, paths, "lang=en"))  # warm-up
            try:
                browser = asyncio.run(_browser_session(base, paths, rounds))
            except Exception as exc:  # noqa: BLE001 - reported in the table
                return {"error": f"browser: {err(exc)}"}
            # One session through the same rounds; its first page (the session's first run)
            # is left out, as the browser's is.
            client: dict[str, list[float]] = {p: [] for p in paths}
            views = asyncio.run(visit_pages(base, paths * rounds, "lang=en"))
            for view in views[1:]:
                client[view.page].append(view.seconds if view.ok else float("nan"))
    except ServerDidNotStart as exc:
        return {"error": str(exc)[-300:]}
    rows = []
    for name, path in pages.items():
        warm = [v for v in browser[path] if not v["first_visit"]]
        rows.append({"page": name,
                     "browser_rerun_s": statistics.median(v["rerun_s"] for v in warm),
                     "browser_drawn_s": statistics.median(v["drawn_s"] for v in warm),
                     "client_s": statistics.median(client[path])})
    return {"dataset": dataset, "rounds": rounds, "rows": rows}
