"""Shanghai AI industry dashboard: navigation, the language switch and the shared sidebar."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from app import cached, state
from app.i18n import LANGS, get_translator
from app.pages import VIEWS
from etl.errors import DatabaseMissing
from models.db import sqlite_path

LANG_NAMES = {"en": "English", "zh": "中文"}

lang = state.init_lang()
tr = get_translator(lang)
# An emoji favicon becomes an inline SVG; a ":material/…:" favicon would be fetched from a font
# CDN, which an offline deployment cannot reach.
st.set_page_config(page_title=tr("app.title"), page_icon="📊", layout="wide")
# The tables' own "Download as CSV" does not neutralise formula-looking cells; every table has
# the app's CSV and Excel buttons (app/export.py) instead, so the built-in one is hidden.
st.html('<style>button[aria-label="Download as CSV"]{display:none}</style>')

pages = {
    tr("nav.section_dashboard"): [
        st.Page(VIEWS["overview"], title=tr("nav.overview"),
                icon=":material/dashboard:", url_path="overview", default=True),
        st.Page(VIEWS["map"], title=tr("nav.map"), icon=":material/map:", url_path="map"),
        st.Page(VIEWS["trends"], title=tr("nav.trends"), icon=":material/show_chart:",
                url_path="trends"),
    ],
    tr("nav.section_data"): [
        st.Page(VIEWS["enterprises"], title=tr("nav.enterprises"),
                icon=":material/apartment:", url_path="enterprises"),
        st.Page(VIEWS["sources"], title=tr("nav.sources"),
                icon=":material/fact_check:", url_path="sources"),
    ],
}
page = st.navigation(pages)

with st.sidebar:
    st.segmented_control(tr("common.language"), options=list(LANGS), key=state.LANG_KEY,
                         format_func=LANG_NAMES.get, required=True)

try:
    info = cached.check()
except DatabaseMissing as exc:
    url = cached.database_url()
    path = sqlite_path(url)
    st.title(tr("errors.no_db_title"))
    st.info(tr(f"errors.db_{exc}", path=str(path) if path else url), icon=":material/database:")
    st.code("make run\n# or\naidash init", language="bash")
    st.caption(tr("errors.no_db_hint"))
    state.sync([])
    st.stop()

cached.remember_token(info)
st.session_state["_run_info"] = info
with st.sidebar:
    st.caption(tr("common.freshness", period=tr.period(info.data_period),
                  loaded=tr.timestamp(info.loaded_at), run=info.latest_run_id or "—"))
    st.caption(tr("common.sample_note"))

try:
    page.run()
except SQLAlchemyError as exc:
    st.error(tr("errors.db_read", error=str(exc.orig) if getattr(exc, "orig", None) else str(exc)))
