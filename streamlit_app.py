"""Shanghai AI industry dashboard: navigation, the language switch and the shared sidebar."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from app import auth, cached, state
from app.i18n import LANGS, get_translator
from app.pages import VIEWS
from models.db import sqlite_path
from models.errors import DatabaseDamaged, DatabaseMissing
from models.health import damage_reason

lang = state.init_lang()
tr = get_translator(lang)
# An emoji favicon becomes an inline SVG; a ":material/…:" favicon would be fetched from a font
# CDN, which an offline deployment cannot reach.
st.set_page_config(page_title=tr("app.title"), page_icon="📊", layout="wide")
# The tables' own "Download as CSV" does not neutralise formula-looking cells; every table has
# the app's CSV and Excel buttons (app/export.py) instead, so the built-in one is hidden.
st.html('<style>button[aria-label="Download as CSV"]{display:none}</style>')

# Nobody sees a figure before this: anonymous visitors get the sign-in screen on every path,
# people without a role a "no access" screen, open mode on a network address a refusal.
access = auth.gate(tr)

# A role without firm-level rights gets no Enterprises page: its address is kept (hidden) so a
# typed or shared link is refused and recorded instead of falling back to another page.
if access.firm_rows:
    enterprises = st.Page(VIEWS["enterprises"], title=tr("nav.enterprises"),
                          icon=":material/apartment:", url_path="enterprises")
else:
    enterprises = st.Page(lambda: auth.refused_page("enterprises"), title=tr("nav.enterprises"),
                          url_path="enterprises", visibility="hidden")

pages = {
    tr("nav.section_dashboard"): [
        st.Page(VIEWS["overview"], title=tr("nav.overview"),
                icon=":material/dashboard:", url_path="overview", default=True),
        st.Page(VIEWS["map"], title=tr("nav.map"), icon=":material/map:", url_path="map"),
        st.Page(VIEWS["trends"], title=tr("nav.trends"), icon=":material/show_chart:",
                url_path="trends"),
    ],
    tr("nav.section_data"): [
        enterprises,
        st.Page(VIEWS["sources"], title=tr("nav.sources"),
                icon=":material/fact_check:", url_path="sources"),
    ],
}
page = st.navigation(pages)
st.session_state[auth.PAGE_KEY] = page.url_path or "overview"

with st.sidebar:
    st.segmented_control(tr("common.language"), options=list(LANGS), key=state.LANG_KEY,
                         format_func=lambda code: auth.LANG_NAMES.get(code, code),
                         required=True)
    auth.sidebar(access, tr)


def database_screen(exc: DatabaseMissing | DatabaseDamaged) -> None:
    """Say why no page can be shown: a database not built yet, or a damaged one (restore or
    rebuild; rebuilding discards loaded drops, so it is not offered as the only way)."""
    url = cached.database_url()
    path = sqlite_path(url)
    where = str(path) if path else url
    if isinstance(exc, DatabaseDamaged):
        st.title(tr("errors.damaged_title"))
        st.error(tr("errors.db_damaged", path=where, reason=tr(f"errors.damaged_{exc.reason}")),
                 icon=":material/database:")
        st.code("aidash init --force", language="bash")
    else:
        st.title(tr("errors.no_db_title"))
        st.info(tr(f"errors.db_{exc}", path=where), icon=":material/database:")
        st.code("make run\n# or\naidash init", language="bash")
    st.caption(tr("errors.no_db_hint"))
    state.sync([])
    st.stop()


try:
    info = cached.check()
except (DatabaseMissing, DatabaseDamaged) as exc:
    database_screen(exc)

cached.remember_token(info)
st.session_state["_run_info"] = info
with st.sidebar:
    st.caption(tr("common.freshness", period=tr.period(info.data_period),
                  loaded=tr.timestamp(info.loaded_at), run=info.latest_run_id or "—"))
    st.caption(tr("common.sample_note"))

try:
    page.run()
except SQLAlchemyError as exc:
    if (reason := damage_reason(exc, sqlite_path(cached.database_url()))) is not None:
        database_screen(DatabaseDamaged(str(cached.database_url()), reason))
    st.error(tr("errors.db_read", error=str(exc.orig) if getattr(exc, "orig", None) else str(exc)))
