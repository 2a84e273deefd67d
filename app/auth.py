"""Sign-in for the dashboard: who is here, with which role, and the screens for everyone else.

Sign-in is Streamlit's own OpenID Connect (``st.login``/``st.user``/``st.logout``, with
Authlib), configured the standard way under ``[auth]`` in ``.streamlit/secrets.toml``; the
roles come from ``[aidash.roles]`` in the same file (:mod:`app.access`). Without ``[auth]``
the dashboard is in *open mode*: one person on their own machine, with an analyst's rights,
and only on a loopback address unless ``AIDASH_ALLOW_OPEN=1`` says otherwise.

:func:`gate` runs first on every script run, before any page: it draws a screen and stops the
run for anyone who may not see data (not signed in, no matching role, open mode on a network
address, an audit log that cannot be written), and otherwise returns the run's
:class:`Access`, which pages and query functions read through :func:`current_role`.
"""

from __future__ import annotations

import ipaddress
import os
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import urlsplit

import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

from app import audit, state
from app.access import OPEN, RolesConfigError, can_see_firms, parse_rules, role_for
from app.i18n import LANGS, Translator

SESSION_KEY = "_access"
# The url path of the page this run draws (for the audit trail's "page").
PAGE_KEY = "_page"
ALLOW_OPEN_ENV = "AIDASH_ALLOW_OPEN"
LANG_NAMES = {"en": "English", "zh": "中文"}
# One sign-in is recorded once per server process and audit log, however many tabs and
# reloads it opens.
_RECORDED: set[tuple[str, str, str, str]] = set()
_RECORDED_LOCK = threading.Lock()


@dataclass(frozen=True)
class Access:
    """Who this run serves: ``user`` is the e-mail (None in open mode), ``role`` a role of
    :mod:`app.access` or ``open``."""

    user: str | None
    role: str
    signed_in: bool = False

    @property
    def firm_rows(self) -> bool:
        return can_see_firms(self.role)


def secrets() -> dict[str, Any]:
    """The secrets file as a plain dict; empty when there is none."""
    try:
        return st.secrets.to_dict()
    except (FileNotFoundError, StreamlitSecretNotFoundError):
        return {}


def is_loopback(address: str | None) -> bool:
    """True if a server bound to ``address`` is reachable from this machine only. An empty
    address binds every interface."""
    if not address:
        return False
    if address.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


# Headers a reverse proxy adds: behind one, a loopback address still serves the network.
PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def open_mode_allowed(address: str | None, *, proxied: bool = False,
                      environ: Mapping[str, str] = os.environ) -> bool:
    """Open mode serves a loopback address reached directly, or anything when
    ``AIDASH_ALLOW_OPEN=1``."""
    if environ.get(ALLOW_OPEN_ENV, "") == "1":
        return True
    return is_loopback(address) and not proxied


def proxied() -> bool:
    """True if this session's request came through a reverse proxy (it says so in a header)."""
    try:
        headers = st.context.headers
    except Exception:  # noqa: BLE001 - outside a server (AppTest) there are none
        return False
    return any(headers.get(name) for name in PROXY_HEADERS)


def current() -> Access:
    """The :class:`Access` :func:`gate` settled for this run (open mode outside a run)."""
    found = st.session_state.get(SESSION_KEY)
    return found if isinstance(found, Access) else Access(None, OPEN)


def current_role() -> str:
    """The role of this run, for the query functions that return firm rows."""
    return current().role


def client() -> str | None:
    """The address the request came from (a proxy's, behind one), for the audit trail."""
    try:
        return st.context.ip_address
    except Exception:  # noqa: BLE001 - outside a server (AppTest) there is none
        return None


def _record_once(event: str, user: str | None, role: str, token: str, **fields: Any) -> None:
    key = (str(audit.log_path()), event, user or "", token)
    with _RECORDED_LOCK:
        if key in _RECORDED:
            return
        _RECORDED.add(key)
    audit.record(event, user=user, role=role, client=client(), **fields)


def _language_switch(tr: Translator) -> None:
    st.segmented_control(tr("common.language"), options=list(LANGS), key=state.LANG_KEY,
                         format_func=lambda code: LANG_NAMES.get(code, code), required=True)


def _screen(tr: Translator, title: str, body: str, *, kind: str = "info",
            code: str | None = None) -> NoReturn:
    st.title(tr("app.title"))
    _language_switch(tr)
    st.subheader(title)
    getattr(st, kind)(body)
    if code:
        st.code(code, language="bash")
    state.sync([])
    st.stop()
    raise AssertionError("st.stop() returned")  # pragma: no cover - for the type checker


def requested_page() -> str | None:
    """The page the browser asked for (its URL's last path segment; "overview" for the root),
    before any navigation: what an anonymous visitor was refused."""
    try:
        url = st.context.url
    except Exception:  # noqa: BLE001 - outside a server (AppTest) there is none
        return None
    if not url:
        return None
    path = urlsplit(url).path.rstrip("/").rpartition("/")[2]
    return path or "overview"


def _sign_in_screen(tr: Translator) -> NoReturn:
    # A visit without sign-in is recorded once per browser session (not per rerun).
    if not st.session_state.get("_anonymous_recorded"):
        audit.record("refused", user=None, role="anonymous", page=requested_page(),
                     client=client(), reason="not signed in")
        st.session_state["_anonymous_recorded"] = True
    st.title(tr("app.title"))
    _language_switch(tr)
    st.write(tr("auth.sign_in_intro"))
    st.button(tr("auth.sign_in"), on_click=st.login, type="primary", icon=":material/login:")
    state.sync([])
    st.stop()
    raise AssertionError("st.stop() returned")  # pragma: no cover


def _no_access_screen(tr: Translator, email: str | None, contact: str | None) -> NoReturn:
    st.title(tr("app.title"))
    _language_switch(tr)
    st.subheader(tr("auth.no_access_title"))
    st.warning(tr("auth.no_access", email=email or tr("auth.no_email")))
    st.write(tr("auth.ask_contact", contact=contact) if contact else tr("auth.ask_admin"))
    st.button(tr("auth.sign_out"), on_click=st.logout, icon=":material/logout:")
    state.sync([])
    st.stop()
    raise AssertionError("st.stop() returned")  # pragma: no cover


def gate(tr: Translator) -> Access:
    """Settle who this run serves, or draw the screen that explains why nobody is, and stop.

    Order: the audit log must be writable (nothing is served that could not be recorded);
    without ``[auth]``, open mode on a loopback address (or with ``AIDASH_ALLOW_OPEN=1``);
    with it, a signed-in person with a role.
    """
    try:
        audit.check_writable()
    except audit.AuditLogError as exc:
        _screen(tr, tr("auth.audit_title"), tr("auth.audit_unwritable", error=str(exc)),
                kind="error")
    config = secrets()
    if "auth" not in config:
        address = st.get_option("server.address")
        through_proxy = proxied()
        if not open_mode_allowed(address, proxied=through_proxy):
            where = f"server.address={address or '(all interfaces)'}" + (
                " behind a reverse proxy" if through_proxy else "")
            print(f"aidash: refusing to serve open (no [auth] in secrets.toml) on {where}; "
                  f"configure sign-in, bind 127.0.0.1 without a proxy, or set "
                  f"{ALLOW_OPEN_ENV}=1", file=sys.stderr)
            if through_proxy:
                body = tr("auth.open_refused_proxy", env=ALLOW_OPEN_ENV)
            else:
                body = tr("auth.open_refused", address=address or tr("auth.all_interfaces"),
                          env=ALLOW_OPEN_ENV)
            _screen(tr, tr("auth.open_refused_title"), body, kind="error")
        access = Access(None, OPEN)
    else:
        try:
            rules = parse_rules((config.get("aidash") or {}).get("roles"))
        except RolesConfigError as exc:
            _screen(tr, tr("auth.config_title"), tr("auth.config_error", error=str(exc)),
                    kind="error")
        if not st.user.is_logged_in:
            _sign_in_screen(tr)
        email = st.user.get("email")
        email = str(email) if email else None
        token = str(st.user.get("iat") or st.user.get("auth_time") or "")
        groups = st.user.get("groups")
        role = role_for(email, groups if isinstance(groups, (list, tuple, str)) else None, rules)
        if role is None:
            _record_once("no_access", email, "none", token)
            _no_access_screen(tr, email, (config.get("aidash") or {}).get("access_contact"))
        _record_once("sign_in", email, role, token)
        access = Access(email, role, signed_in=True)
    st.session_state[SESSION_KEY] = access
    return access


def sidebar(access: Access, tr: Translator) -> None:
    """Who is signed in, their role and a sign-out button; or that the dashboard is open."""
    if not access.signed_in:
        st.caption(tr("auth.open_mode"))
        return
    st.caption(tr("auth.signed_in_as", user=access.user or tr("auth.no_email"),
                  role=tr(f"auth.role_{access.role}")))
    st.button(tr("auth.sign_out"), on_click=st.logout, icon=":material/logout:",
              key="auth_sign_out")


def refused_page(page: str) -> None:
    """What a role without firm-level rights gets on a firm-level page's address: a refusal,
    recorded, and no data."""
    access = current()
    tr = state.translator()
    audit.record("refused", user=access.user, role=access.role, page=page, client=client(),
                 query={k: st.query_params.get_all(k) for k in st.query_params})
    st.title(tr("auth.refused_title"))
    st.warning(tr("auth.refused", role=tr(f"auth.role_{access.role}")))
