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
from collections.abc import Iterator, Mapping, Sequence
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


def wait_until_up(url: str, proc: subprocess.Popen, timeout_s: float, what: str) -> None:
    """Poll ``url`` until it answers 200; :class:`ServerDidNotStart` (with the end of the
    process's stderr) if the process exits or the time runs out first."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise ServerDidNotStart(f"{what} did not start on {url}: {err[-2000:]}") from None
            time.sleep(0.3)


@contextmanager
def stopping(proc: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """Terminate ``proc`` (then kill it if it lingers) when the block ends."""
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextmanager
def streamlit_server(database_url: str, *, timeout_s: float = START_TIMEOUT_S,
                     port: int | None = None, args: Sequence[str] = (),
                     env: Mapping[str, str] | None = None,
                     ) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run ``streamlit_app.py`` over ``database_url`` until the block ends.

    :param port: the port to listen on (default: a free one).
    :param args: more ``streamlit run`` options (``--secrets.files PATH``).
    :param env: more environment variables (``AIDASH_AUDIT_LOG``).
    :yields: the base URL (``http://127.0.0.1:PORT``) and the server process.
    :raises ServerDidNotStart: with the end of the server's stderr.
    """
    port = port or free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py",
         "--server.address", "127.0.0.1", "--server.port", str(port),
         "--server.headless", "true", "--browser.gatherUsageStats", "false", *args],
        cwd=ROOT, env={**os.environ, **(env or {}), "AIDASH_DATABASE_URL": database_url},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    with stopping(proc):
        wait_until_up(f"{base}/_stcore/health", proc, timeout_s, "streamlit")
        yield base, proc
