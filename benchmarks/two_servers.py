"""Two dashboard servers on one database: a load made while both run shows on both.

Two ``streamlit run`` processes are started over the same database (PostgreSQL, as several
servers behind a load balancer would share it), each on its own port on 127.0.0.1. A session
on each reads the run number the sidebar shows (``· run N``, through the websocket client of
:mod:`benchmarks.st_client`); then ``aidash etl load`` loads a drop through the command line, as
the data team would, and a new session on each reads the number again. The check passes when
both show the new run, with no restart; the figure is how long after the load ended both did.

:func:`check` is called by :mod:`benchmarks.postgres_bench`; ``tests/test_two_servers.py`` is
the same check in a real browser.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from benchmarks.scale_shared import ROOT
from benchmarks.st_client import visit_pages

RUN = re.compile(r"· run (\d+)")
LOAD_TIMEOUT_S = 1800


def shown_run(base: str) -> int | None:
    """The run number the sidebar of a new session on ``base`` shows (None if none)."""
    view = asyncio.run(visit_pages(base, [""], "lang=en"))[0]
    for text in view.texts:
        match = RUN.search(text)
        if match:
            return int(match.group(1))
    return None


def check(url: str, drop: Path) -> dict:
    """Start two servers over ``url``, load ``drop`` with ``aidash etl load``, and read the
    run each server shows before and after.

    :returns: ``before`` and ``after`` (one run number per server), ``loaded_run`` (what the
        load printed), ``seen_s`` (from the load's end until both servers showed it) and
        ``ok``; or ``error``.
    """
    from tests.local_server import ServerDidNotStart, streamlit_server

    try:
        with ExitStack() as stack:
            bases = [stack.enter_context(streamlit_server(url))[0] for _ in range(2)]
            before = [shown_run(b) for b in bases]
            proc = subprocess.run([sys.executable, "-m", "aidash", "etl", "load", str(drop),
                                   "--db", url], cwd=ROOT, capture_output=True, text=True,
                                  timeout=LOAD_TIMEOUT_S, check=False)
            ended = time.perf_counter()
            if proc.returncode != 0:
                return {"error": f"aidash etl load exited {proc.returncode}: "
                                 + (proc.stderr or proc.stdout).strip()[-300:]}
            found = re.search(r"\(run (\d+)\)", proc.stdout)
            loaded = int(found.group(1)) if found else None
            after = [shown_run(b) for b in bases]
            seen = time.perf_counter() - ended
    except ServerDidNotStart as exc:
        return {"error": str(exc)}
    return {"before": before, "after": after, "loaded_run": loaded, "seen_s": seen,
            "ok": loaded is not None and after == [loaded, loaded] and before != after}


def render(result: dict) -> str:
    """One line for the benchmark's table."""
    if result.get("error"):
        return f"error: {result['error']}"
    verdict = "both show it" if result["ok"] else "NOT shown on both"
    return (f"runs shown before {result['before']}, after {result['after']} (the load was run "
            f"{result['loaded_run']}): {verdict}, {result['seen_s']:.1f} s after the load ended, "
            "no restart")
