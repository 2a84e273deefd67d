"""Caching around app/queries.py: one read-only engine per database URL, results per filters.

Every cached result is keyed on the database URL, the latest ETL-run token (a cheap query each
script run) and the call's arguments, so a refresh or a rollback shows on the next click
without a restart, and tests pointing at different databases never share results.
"""

from __future__ import annotations

import hashlib
import importlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import streamlit as st
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from app import export, queries
from models.db import make_engine, resolve_url, sqlite_path
from models.errors import DatabaseDamaged, DatabaseMissing
from models.health import damage_reason, diagnose, file_stamp

T = TypeVar("T")
# Results are small (pages, aggregates); a bound keeps memory flat on a long-running server.
MAX_ENTRIES = 512


@st.cache_resource(show_spinner=False)
def _engine(url: str) -> Engine:
    return make_engine(url, read_only=True)


def database_url() -> str:
    """The URL of ``$AIDASH_DATABASE_URL`` (default ``data/ai_industry.db``), read every run."""
    return resolve_url(None)


def engine() -> Engine:
    """The shared read-only engine of the configured database."""
    return _engine(database_url())


def check() -> queries.RunInfo:
    """Raise :class:`models.errors.DatabaseMissing` unless the database is built, or
    :class:`models.errors.DatabaseDamaged` if it cannot be read whole; else the latest run info
    (uncached: this is what the caches key on). The quick check reads every page, so it runs
    once per data version and file, not on every script run."""
    url = database_url()
    eng = _engine(url)
    path = sqlite_path(url)
    queries.check_database(eng, url)
    try:
        info = queries.run_info(eng)
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
        reason = _quick_check(url, str(path), info.token, stamp)
        if reason is not None:
            raise DatabaseDamaged(str(path), reason)
    return info


@st.cache_data(show_spinner=False, max_entries=16)
def _quick_check(url: str, path: str, token: str, stamp: tuple[int, int, int]) -> str | None:
    raw = _engine(url).raw_connection()
    conn: sqlite3.Connection = raw.driver_connection  # type: ignore[assignment]
    try:
        return diagnose(conn, Path(path), quick_check=True)
    finally:
        raw.close()


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value


@st.cache_data(show_spinner=False, max_entries=MAX_ENTRIES)
def _call(url: str, token: str, name: str, args: tuple, kwargs: tuple,
          module: str = "app.queries") -> Any:
    fn = getattr(importlib.import_module(module), name)
    return fn(_engine(url), *args, **dict(kwargs))


def q(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``queries.<fn>`` through the cache: ``q(queries.series, "enterprise_revenue", ...)``.

    :param fn: a module-level function of :mod:`app.queries` (or another query module of
        ``app``, e.g. :mod:`app.conflicts`) taking the engine first.
    """
    url = database_url()
    token = st.session_state.get("_run_token") or queries.run_info(_engine(url)).token
    return _call(url, token, fn.__name__, tuple(_freeze(a) for a in args),
                 tuple(sorted((k, _freeze(v)) for k, v in kwargs.items())), fn.__module__)


def remember_token(info: queries.RunInfo) -> None:
    """Store this run's token so every cached call of the run uses the same one."""
    st.session_state["_run_token"] = info.token


def frame_digest(df: pd.DataFrame) -> str:
    """A digest of every cell, column name and dtype of ``df`` (exact, never sampled)."""
    h = hashlib.blake2b(digest_size=20)
    h.update(repr([(str(c), str(t)) for c, t in df.dtypes.items()]).encode("utf-8"))
    h.update(pd.util.hash_pandas_object(df, index=True).to_numpy().tobytes())
    return h.hexdigest()


@st.cache_data(show_spinner=False, max_entries=64)
def _xlsx(url: str, token: str, key: str, digest: str, sheet_name: str, about_sheet: str,
          _df: pd.DataFrame, _about: tuple) -> bytes:
    return export.to_xlsx_bytes(_df, _about, sheet_name=sheet_name, about_sheet=about_sheet)


def xlsx_bytes(df: pd.DataFrame, about: Any, *, sheet_name: str, about_sheet: str,
               key: str) -> bytes:
    """:func:`app.export.to_xlsx_bytes` once per table contents, ``key`` and ETL run: a rerun
    that shows the same table reuses the workbook instead of rebuilding it.

    :param key: everything else the workbook depends on (the About rows that matter).
    """
    url = database_url()
    token = st.session_state.get("_run_token") or ""
    return _xlsx(url, token, key, frame_digest(df), sheet_name, about_sheet, df,
                 tuple(tuple(row) for row in about))
