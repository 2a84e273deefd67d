"""Running the dashboard on this machine for a browser: a local ``streamlit run`` and Chromium.

The browser tests and the server-memory benchmark both start the real server on a free port of
127.0.0.1 (headless, no usage statistics) over a given database, wait for its health check,
and drive Debian's Chromium with the PyPI ``playwright`` package (no downloaded browser).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The browser: AIDASH_CHROMIUM if set (another build, or a path that does not exist to check how
# the tests behave without one), else Debian's chromium.
CHROMIUM = (os.environ.get("AIDASH_CHROMIUM") or shutil.which("chromium")
            or "/usr/bin/chromium")
# No sandbox (containers run as root), no GPU, and nothing that reaches out on its own.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
START_TIMEOUT_S = 60


class ServerDidNotStart(RuntimeError):
    """``streamlit run`` exited or did not answer its health check in time."""


def free_port() -> int:
    """A TCP port of 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def streamlit_server(database_url: str, *,
                     timeout_s: float = START_TIMEOUT_S) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run ``streamlit_app.py`` over ``database_url`` until the block ends.

    :yields: the base URL (``http://127.0.0.1:PORT``) and the server process.
    :raises ServerDidNotStart: with the end of the server's stderr.
    """
    port = free_port()
    env = {**os.environ, "AIDASH_DATABASE_URL": database_url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py",
         "--server.address", "127.0.0.1", "--server.port", str(port),
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise ServerDidNotStart(
                        f"streamlit did not start on {base}: {err[-2000:]}") from None
                time.sleep(0.3)
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
