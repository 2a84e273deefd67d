"""Shareable state: the language and every page's selections live in the URL query string.

A page declares its parameters (:class:`Param`), calls :func:`init` before drawing its widgets
(widget key = parameter name, no default passed to the widget) and :func:`sync` after them.

Where a value comes from, first match wins:

1. the widget's own state, while the page stays open;
2. the URL (a shared link, a reload, or a link from another page such as the map's
   "compare in Trends");
3. the last value this session used on that page (so a page remembers its filters when you
   come back through the sidebar, which clears the URL);
4. the default.

:func:`sync` writes the current values back to ``st.query_params`` (defaults are left out to
keep links short; ``lang`` is always there) and only touches the URL when something changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from app.i18n import DEFAULT_LANG, LANGS, Translator, get_translator

LANG_KEY = "lang"
_SHADOW = "_state_last_"


@dataclass(frozen=True)
class Param:
    """One URL parameter bound to one widget.

    :param name: the query-string name (short: ``metric``, ``zones``).
    :param default: the value when nothing else says otherwise.
    :param kind: ``str``, ``int``, ``list`` (of str) or ``ilist`` (of int), ``range`` (two ints)
        or ``bool``.
    :param choices: the allowed values (or a callable returning them); others are dropped.
    :param page: the page the widget lives on; it prefixes the widget key so that two pages'
        ``metric`` widgets never share state.
    """

    name: str
    default: Any
    kind: str = "str"
    choices: Sequence[Any] | Callable[[], Sequence[Any]] | None = field(default=None,
                                                                        compare=False)
    page: str = ""

    @property
    def key(self) -> str:
        """The widget (session-state) key: ``<page>_<name>``."""
        return f"{self.page}_{self.name}" if self.page else self.name

    def allowed(self) -> Sequence[Any] | None:
        return self.choices() if callable(self.choices) else self.choices


def _parse(param: Param, raw: list[str]) -> Any:
    """The typed value of a URL parameter, or None if it is missing or malformed."""
    if not raw:
        return None
    try:
        if param.kind == "str":
            return raw[-1]
        if param.kind == "int":
            return int(raw[-1])
        if param.kind == "bool":
            return raw[-1].lower() in ("1", "true", "yes", "on")
        if param.kind == "list":
            return [v for part in raw for v in part.split(",") if v]
        if param.kind == "ilist":
            return [int(v) for part in raw for v in part.split(",") if v]
        if param.kind == "range":
            lo, hi = (int(v) for v in raw[-1].split("-", 1))
            return (min(lo, hi), max(lo, hi))
    except ValueError:
        return None
    raise ValueError(f"unknown parameter kind {param.kind!r}")


def _serialise(param: Param, value: Any) -> str | list[str]:
    if param.kind in ("list", "ilist"):
        return [str(v) for v in value]
    if param.kind == "range":
        return f"{value[0]}-{value[1]}"
    if param.kind == "bool":
        return "1" if value else "0"
    return str(value)


def _valid(param: Param, value: Any) -> Any:
    """``value`` restricted to the allowed choices; None if nothing valid is left."""
    if value is None:
        return None
    allowed = param.allowed()
    if param.kind in ("list", "ilist"):
        given = list(value)
        kept = [v for v in given if v in allowed] if allowed is not None else given
        # Nothing valid left of a non-empty choice (the options changed): fall through.
        return kept if kept or not given else None
    if param.kind == "range":
        if allowed is not None and len(allowed) == 2:
            lo, hi = allowed
            value = (max(lo, min(value[0], hi)), min(hi, max(value[1], lo)))
        return tuple(value)
    if allowed is not None and value not in allowed:
        return None
    return value


def init(params: Iterable[Param]) -> None:
    """Put each parameter's value into ``st.session_state[key]`` before its widget is drawn."""
    ss = st.session_state
    for param in params:
        value = None
        if param.key in ss:
            value = _valid(param, ss[param.key])
        if value is None:
            value = _valid(param, _parse(param, st.query_params.get_all(param.name)))
        if value is None and _SHADOW + param.key in ss:
            value = _valid(param, ss[_SHADOW + param.key])
        if value is None:
            value = param.default
        if param.key not in ss or ss[param.key] != value:
            ss[param.key] = value


def sync(params: Iterable[Param]) -> None:
    """Write the parameters' current values to the URL (and remember them for this session).

    Keys of other pages are dropped so a copied link describes this page only.
    """
    ss = st.session_state
    wanted: dict[str, str | list[str]] = {LANG_KEY: current_lang()}
    for param in params:
        value = ss.get(param.key, param.default)
        ss[_SHADOW + param.key] = value
        if _normal(value) != _normal(param.default):
            wanted[param.name] = _serialise(param, value)
    current = {k: st.query_params.get_all(k) for k in st.query_params}
    normal = {k: v if isinstance(v, list) else [v] for k, v in wanted.items()}
    if current != normal:
        st.query_params.from_dict(wanted)


def _normal(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


def value(param: Param) -> Any:
    """The parameter's current value (after :func:`init` and its widget)."""
    return st.session_state.get(param.key, param.default)


def browser_lang() -> str:
    """Chinese for a browser set to Chinese (``zh``, ``zh-CN``, ``zh-Hant``…), else English: the
    language of a first visit without ``?lang=`` (a sign-in comes back without it, too)."""
    try:
        locale = st.context.locale or ""
    except Exception:  # noqa: BLE001 - outside a server there is no browser
        locale = ""
    return "zh" if locale.lower().startswith("zh") else DEFAULT_LANG


def init_lang() -> str:
    """The language from the widget, else the URL (``?lang=zh``), else what this session used
    last, else the browser's."""
    ss = st.session_state
    if LANG_KEY not in ss or ss[LANG_KEY] not in LANGS:
        raw = st.query_params.get(LANG_KEY)
        ss[LANG_KEY] = raw if raw in LANGS else ss.get(_SHADOW + LANG_KEY) or browser_lang()
    return ss[LANG_KEY]


def current_lang() -> str:
    """The language of this run (``en`` or ``zh``)."""
    lang = st.session_state.get(LANG_KEY, DEFAULT_LANG)
    st.session_state[_SHADOW + LANG_KEY] = lang
    return lang if lang in LANGS else DEFAULT_LANG


def translator() -> Translator:
    """The translator of this run's language."""
    return get_translator(current_lang())
