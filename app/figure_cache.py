"""Built plotly figures, kept per inputs: a page view over data already drawn once reuses the
figure instead of building it again.

Building a figure (plotly validates every property as it is set, and copies the template) was
the largest part of a page view's server CPU (issue 12, capacity): a page's chart is rebuilt on
every rerun, for every session, from the same cached query results. :func:`figure` keys a
figure on its builder and its arguments (data frames by a digest of their pickled content,
which costs a fraction of Streamlit's own hashing of Arrow-backed text columns; the translator
by its language) in one ``st.cache_resource`` store shared by all sessions. The figure object itself is
shared, so a page must not change a figure it got from here (``st.plotly_chart`` only reads it).
Outside a dashboard run (tests, benchmarks) the builder is called as it is.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from app.i18n import Translator

P = ParamSpec("P")
R = TypeVar("R")
# Figures kept (each a few kilobytes to a few hundred, the map's district outlines included);
# the least recently used go first.
MAX_FIGURES = 256


def _to_key(value: Any) -> Any:
    """What stands for ``value`` in the cache key."""
    if isinstance(value, Translator):
        return f"translator:{value.lang}"
    if isinstance(value, pd.DataFrame | pd.Series):
        digest = hashlib.blake2b(pickle.dumps(value, protocol=5), digest_size=16).hexdigest()
        return f"{type(value).__name__}:{digest}"
    return value


class _KeptFigure(go.Figure):
    """A figure built once and only read afterwards: its dictionary (what ``st.plotly_chart``
    turns into JSON) is made once, not deep-copied on every page view."""

    _kept_dict: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self._kept_dict


@st.cache_resource(show_spinner=False, max_entries=MAX_FIGURES)
def _built(module: str, name: str, key: tuple, _build: Callable[..., Any], _args: tuple,
           _kwargs: dict[str, Any]) -> Any:
    """The one store: keyed on the builder's module and name and its arguments' key; the
    builder and the arguments themselves are not hashed."""
    fig = _build(*_args, **_kwargs)
    if type(fig) is go.Figure:
        kept_dict = fig.to_dict()
        fig.__class__ = _KeptFigure
        fig._kept_dict = kept_dict
    return fig


def figure(build: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """``build(*args, **kwargs)``, or the figure it returned for the same arguments before."""
    if get_script_run_ctx(suppress_warning=True) is None:
        return build(*args, **kwargs)
    key = (tuple(_to_key(a) for a in args),
           tuple(sorted((k, _to_key(v)) for k, v in kwargs.items())))
    result: R = _built(build.__module__, build.__qualname__, key, build, args, kwargs)
    return result
