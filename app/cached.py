"""Caching around app/queries.py: one read-only engine per database URL, results per filters.

Every cached result is keyed on the database URL, the latest ETL-run token (a cheap query each
script run) and the call's arguments, so a refresh or a rollback shows on the next click
without a restart, and tests pointing at different databases never share results.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st
from sqlalchemy.engine import Engine

from app import queries
from models.db import make_engine, resolve_url

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
    """Raise :class:`etl.errors.DatabaseMissing` unless the database is built; else the latest
    run info (uncached: this is what the caches key on)."""
    url = database_url()
    eng = _engine(url)
    queries.check_database(eng, url)
    return queries.run_info(eng)


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value


@st.cache_data(show_spinner=False, max_entries=MAX_ENTRIES)
def _call(url: str, token: str, name: str, args: tuple, kwargs: tuple) -> Any:
    fn = getattr(queries, name)
    return fn(_engine(url), *args, **dict(kwargs))


def q(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``queries.<fn>`` through the cache: ``q(queries.series, "enterprise_revenue", ...)``.

    :param fn: a function of :mod:`app.queries` taking the engine first.
    """
    url = database_url()
    token = st.session_state.get("_run_token") or queries.run_info(_engine(url)).token
    return _call(url, token, fn.__name__, tuple(_freeze(a) for a in args),
                 tuple(sorted((k, _freeze(v)) for k, v in kwargs.items())))


def remember_token(info: queries.RunInfo) -> None:
    """Store this run's token so every cached call of the run uses the same one."""
    st.session_state["_run_token"] = info.token
