"""Caching of the dashboard's reads: one read-only engine per database URL, results per call.

A query function is cached where it is defined, by :func:`cached_query`::

    @cached_query
    def zones(engine: Engine) -> pd.DataFrame:
        return read_frame(engine, "SELECT ... FROM zones ...")

and a page calls it like any function, with the shared engine: ``reference.zones(engine())``.
The decorator keeps the function's name, signature and docstring (``functools.wraps``), so
go-to-definition on ``reference.zones`` in a page lands on the SQL, and mypy checks the call.

Inside a dashboard run (a Streamlit script-run context) the result comes from one
``st.cache_data`` store keyed on the function (module and name), the database URL, the data
version (the latest ETL-run token, read once per script run by :func:`check` and kept by
:func:`remember_token`) and the arguments: a load or a rollback changes the token, so the next
run reads the new data without a restart, and tests pointing at different databases never share
results. Outside a run (tests, benchmarks, a shell) the function runs as written, uncached.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import streamlit as st
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from streamlit.runtime.scriptrunner import get_script_run_ctx

from app.queries.health import RunInfo, check_database, run_info
from models.db import make_engine, read_only_uri, resolve_url, sqlite_path
from models.errors import DatabaseDamaged, DatabaseMissing
from models.health import damage_reason, diagnose, file_stamp

P = ParamSpec("P")
R = TypeVar("R")
# Results are small (pages, aggregates); a bound keeps memory flat on a long-running server.
MAX_ENTRIES = 512
# Where a script run keeps the data version every cached call of the run is keyed on.
TOKEN_KEY = "_run_token"
# The quick check reads every page of the file (over a second at a million firms), so it runs
# in a background thread, once per data version and file. A file up to this size (a check of
# a few tens of milliseconds) is checked before its first page shows; a larger one does not
# hold any page up, and the check's verdict reaches the first run after it ends.
QUICK_CHECK_SYNC_BYTES = 64 << 20
# Verdicts kept (data versions and files); older ones are dropped first.
QUICK_CHECKS_KEPT = 16


@st.cache_resource(show_spinner=False)
def _engine(url: str) -> Engine:
    return make_engine(url, read_only=True)


def database_url() -> str:
    """The URL of ``$AIDASH_DATABASE_URL`` (default ``data/ai_industry.db``), read every run."""
    return resolve_url(None)


def engine() -> Engine:
    """The shared read-only engine of the configured database."""
    return _engine(database_url())


def check() -> RunInfo:
    """Raise :class:`models.errors.DatabaseMissing` unless the database is built, or
    :class:`models.errors.DatabaseDamaged` if it cannot be read whole; else the latest run info
    (uncached: this is what the caches key on). The quick check reads every page, so it runs
    once per data version and file, in the background (see :data:`QUICK_CHECK_SYNC_BYTES`)."""
    url = database_url()
    eng = _engine(url)
    path = sqlite_path(url)
    check_database(eng, url)
    try:
        info = run_info(eng)
    except DBAPIError as exc:
        reason = damage_reason(exc, path)
        if reason is None:
            raise
        raise DatabaseDamaged(str(path or url), reason) from exc
    if path is not None:
        try:
            stamp = file_stamp(path)
        except FileNotFoundError as exc:  # removed since check_database looked
            raise DatabaseMissing("missing") from exc
        reason = _quick_check(str(path), info.token, stamp)
        if reason is not None:
            raise DatabaseDamaged(str(path), reason)
    return info


class _QuickChecks:
    """The background quick checks of this server: one per (file, data version, file stamp)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.runs: dict[tuple[str, str, tuple[int, int, int]], Future[str | None]] = {}
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aidash-quick-check")


# One registry per server process, outside Streamlit's caches: a verdict is about one version of
# one file (its path, data version and size, mtime and inode), which clearing the result caches
# does not make stale, so the check of a 1 GB file is never started twice for it.
_QUICK_CHECKS = _QuickChecks()


def _quick_checks() -> _QuickChecks:
    return _QUICK_CHECKS


def _quick_check(path: str, token: str, stamp: tuple[int, int, int]) -> str | None:
    """The damage reason the quick check found, or None if it found none or is still running.

    :raises sqlite3.Error: the check failed for a reason that is not damage (a lock, say).
    """
    checks = _quick_checks()
    key = (path, token, stamp)
    with checks.lock:
        run = checks.runs.get(key)
        if run is None:
            run = checks.runs[key] = checks.pool.submit(_run_quick_check, path)
            while len(checks.runs) > QUICK_CHECKS_KEPT:
                del checks.runs[next(iter(checks.runs))]
    if stamp[0] <= QUICK_CHECK_SYNC_BYTES or run.done():
        return run.result()
    return None


def _run_quick_check(path: str) -> str | None:
    """``PRAGMA quick_check`` on its own read-only connection (this runs in the pool's thread)."""
    conn = sqlite3.connect(read_only_uri(Path(path)), uri=True)
    try:
        conn.execute("PRAGMA query_only=ON")
        return diagnose(conn, Path(path), quick_check=True)
    finally:
        conn.close()


def remember_token(info: RunInfo) -> None:
    """Store this run's data version so every cached call of the run uses the same one."""
    st.session_state[TOKEN_KEY] = info.token


def data_token() -> str:
    """The data version this script run's caches key on ("" before :func:`remember_token`)."""
    return str(st.session_state.get(TOKEN_KEY) or "")


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value


@st.cache_data(show_spinner=False, max_entries=MAX_ENTRIES)
def _call(module: str, name: str, url: str, token: str, args: tuple, kwargs: tuple,
          _fn: Callable[..., Any], _engine: Engine) -> Any:
    """The one cache store: keyed on the function's module and name, the database, the data
    version and the (frozen) arguments; the function and engine themselves are not hashed."""
    return _fn(_engine, *args, **dict(kwargs))


def cached_query(fn: Callable[P, R]) -> Callable[P, R]:
    """Cache ``fn`` (a query function taking the engine first) per database, data version and
    arguments inside a dashboard run; elsewhere call it as it is. Lists and dicts among the
    arguments reach ``fn`` as tuples (they are frozen to be hashed)."""

    @functools.wraps(fn)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        if get_script_run_ctx(suppress_warning=True) is None:
            return fn(*args, **kwargs)
        eng, *rest = args
        assert isinstance(eng, Engine), f"{fn.__qualname__} takes the engine first"
        token = data_token() or run_info(eng).token
        result: R = _call(fn.__module__, fn.__qualname__, str(eng.url), token,
                          tuple(_freeze(a) for a in rest),
                          tuple(sorted((k, _freeze(v)) for k, v in kwargs.items())), fn, eng)
        return result

    return call
