"""Server memory: a real ``streamlit run`` on 127.0.0.1 while Debian's Chromium (driven by the
PyPI ``playwright`` package) opens every page twice; psutil samples the peak RSS of the
server's process tree."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.scale_shared import err, sqlite_url
from tests.local_server import CHROMIUM, CHROMIUM_ARGS, ServerDidNotStart, streamlit_server

# What each page shows once drawn in the browser (url_path → selector).
DRAWN = {
    "overview": '[data-testid="stPlotlyChart"]',
    "map": '[data-testid="stPlotlyChart"]',
    "trends": '[data-testid="stPlotlyChart"]',
    "enterprises": '[data-testid="stDataFrame"]',
    "sources": '[data-testid="stDataFrame"]',
}
PAGE_WAIT_MS = 120_000
RSS_SAMPLE_S = 0.05


class TreeRss(threading.Thread):
    """Samples the RSS of a process and all its descendants until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        import psutil

        self.proc = psutil.Process(pid)
        self.peak = 0
        self.last = 0
        self._stop_event = threading.Event()

    def tree_rss(self) -> int:
        import psutil

        total = 0
        try:
            procs = [self.proc, *self.proc.children(recursive=True)]
        except psutil.Error:
            return 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.last = self.tree_rss()
            self.peak = max(self.peak, self.last)
            time.sleep(RSS_SAMPLE_S)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)


def measure_server(db_path: Path) -> dict:
    """Peak RSS of a real ``streamlit run`` server while Chromium opens every page twice."""
    if not Path(CHROMIUM).exists():
        return {"error": f"no Chromium at {CHROMIUM}"}
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        return {"error": f"playwright not importable: {exc}"}
    out: dict[str, Any] = {"pages": {}}
    try:
        with streamlit_server(sqlite_url(db_path)) as (base, proc):
            sampler = TreeRss(proc.pid)
            out["rss_started"] = sampler.tree_rss()
            sampler.start()
            try:
                with sync_playwright() as pw:
                    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                 args=CHROMIUM_ARGS)
                    try:
                        for visit in ("first", "again"):
                            for name, selector in DRAWN.items():
                                out["pages"].setdefault(name, {})[visit] = _visit(
                                    browser, f"{base}/{name}", selector)
                    finally:
                        browser.close()
                time.sleep(0.5)
            except Exception as exc:  # noqa: BLE001
                out["error"] = err(exc)
            finally:
                sampler.stop()
                out["rss_peak"] = sampler.peak
                out["rss_end"] = sampler.last
    except ServerDidNotStart as exc:
        return {"error": str(exc)[-500:]}
    out["method"] = "streamlit run + Chromium (playwright), RSS of the server process tree"
    return out


def _visit(browser: Any, url: str, selector: str) -> dict:
    """Open ``url`` in a fresh context and wait until ``selector`` has drawn and the app is
    idle."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    t0 = time.perf_counter()
    try:
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_selector(selector, timeout=PAGE_WAIT_MS)
        page.wait_for_function(
            "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
            timeout=PAGE_WAIT_MS)
        return {"drawn_s": time.perf_counter() - t0,
                "exceptions": page.locator('[data-testid="stException"]').count()}
    except Exception as exc:  # noqa: BLE001
        return {"error": err(exc)}
    finally:
        context.close()
