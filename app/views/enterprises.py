"""Enterprises: the register, filtered, searched, sorted and paged in SQL (fast on 1M rows)."""

from __future__ import annotations

import math
from functools import partial

import pandas as pd
import streamlit as st

from app import auth, downloads, search, state
from app.cached import engine
from app.filters import SIZE_BANDS, EnterpriseFilters, slug
from app.queries import reference, register
from app.transforms import period_freq

ROW_PX = 35  # st.dataframe's row height: the whole page shows without an inner scroll bar

tr = state.translator()
info = st.session_state["_run_info"]
db = engine()
role = auth.current_role()  # the register's functions refuse a role without firm-level rights

st.title(tr("enterprises.title"))
st.caption(tr("enterprises.caption"))

zones_df = reference.zones(db)
districts_df = reference.districts(db)
segments_df = reference.segments(db)
years = register.enterprise_filter_options(db)
zone_names = {r.zone_id: tr.name(r.name_en, r.name_zh) for r in zones_df.itertuples()}
district_names = {int(r.adcode): tr.name(r.name_en, r.name_zh)
                  for r in districts_df.itertuples()}
segment_names = {r.code: tr.name(r.name_en, r.name_zh) for r in segments_df.itertuples()}
lo_year, hi_year = years["founded_min"], years["founded_max"]
year_range = (lo_year, hi_year) if lo_year is not None and hi_year is not None else (2000, 2025)

P = partial(state.Param, page="ent")
params = [
    P("zones", [], kind="list", choices=list(zone_names)),
    P("districts", [], kind="ilist", choices=list(district_names)),
    P("segments", [], kind="list", choices=list(segment_names)),
    P("founded", year_range, kind="range", choices=year_range),
    P("sizes", [], kind="list", choices=list(SIZE_BANDS)),
    P("q", ""),
    P("sort", "name_zh", choices=list(register.SORT_COLUMNS)),
    P("desc", False, kind="bool"),
    P("psize", register.PAGE_SIZES[0], kind="int", choices=list(register.PAGE_SIZES)),
    P("page", 1, kind="int"),
]
state.init(params)
keys = {p.name: p.key for p in params}

with st.container(border=True):
    c1, c2, c3 = st.columns(3)
    c1.multiselect(tr("enterprises.zones"), list(zone_names), key=keys["zones"],
                   format_func=lambda z: zone_names.get(z, z), placeholder=tr("common.all"))
    c2.multiselect(tr("enterprises.districts"), list(district_names), key=keys["districts"],
                   format_func=lambda d: district_names.get(d, str(d)), placeholder=tr("common.all"))
    c3.multiselect(tr("enterprises.segments"), list(segment_names), key=keys["segments"],
                   format_func=lambda c: segment_names.get(c, c), placeholder=tr("common.all"))
    c4, c5, c6 = st.columns([2, 4, 3])
    if year_range[0] < year_range[1]:
        c4.slider(tr("enterprises.founded"), min_value=year_range[0], max_value=year_range[1],
                  key=keys["founded"], step=1)
    c5.pills(tr("enterprises.size"), list(SIZE_BANDS), key=keys["sizes"], selection_mode="multi",
             format_func=lambda b: tr(f"size_band.{b}"))
    c6.text_input(tr("enterprises.search"), key=keys["q"],
                  placeholder=tr("enterprises.search_hint"),
                  icon=":material/search:")

ss = st.session_state
founded = tuple(ss[keys["founded"]])
filters = EnterpriseFilters(
    zones=tuple(ss[keys["zones"]]), districts=tuple(int(d) for d in ss[keys["districts"]]),
    segments=tuple(ss[keys["segments"]]),
    founded_from=founded[0] if founded[0] > year_range[0] else None,
    founded_to=founded[1] if founded[1] < year_range[1] else None,
    sizes=tuple(ss[keys["sizes"]]), search=ss[keys["q"]])
# A name search finds its matches once, up to the cap ("1,000+"), which also caps the pages
# offered; the page then sorts only those rows. Every other filter is counted exactly.
found = register.enterprise_total(db, filters, role=role)
total, over_cap, matches = found.total, found.over_cap, found.matches

# A new filter starts again at page 1 (set before the page widget is drawn).
signature = (filters, ss[keys["sort"]], ss[keys["desc"]], ss[keys["psize"]])
if ss.get("_ent_signature") not in (None, signature):
    ss[keys["page"]] = 1
ss["_ent_signature"] = signature
n_pages = max(1, math.ceil(total / ss[keys["psize"]]))
if not 1 <= ss[keys["page"]] <= n_pages:
    ss[keys["page"]] = min(max(1, ss[keys["page"]]), n_pages)

c7, c8, c9, c10 = st.columns([3, 2, 2, 2])
c7.selectbox(tr("enterprises.sort"), list(register.SORT_COLUMNS), key=keys["sort"],
             format_func=lambda s: tr(f"enterprises.sort_{s}"))
c8.toggle(tr("enterprises.descending"), key=keys["desc"])
c9.selectbox(tr("enterprises.page_size"), list(register.PAGE_SIZES), key=keys["psize"])
c10.number_input(tr("enterprises.page", n=n_pages), min_value=1, max_value=n_pages, step=1,
                 key=keys["page"])

page = register.enterprise_page(db, filters, sort=ss[keys["sort"]], descending=ss[keys["desc"]],
         page=ss[keys["page"]], page_size=ss[keys["psize"]], revenue_period=info.data_period
         if info.data_period and period_freq(info.data_period) == "Q" else None,
         matches=matches, role=role)
first = (ss[keys["page"]] - 1) * ss[keys["psize"]] + 1 if total else 0
st.markdown(tr("enterprises.count", total=tr.number(total) + ("+" if over_cap else ""),
               first=tr.number(first),
               last=tr.number(min(first + len(page) - 1, total)) if total else "0"))

money_scale = 0.001 * tr.money_scale()  # million CNY → display unit
table = pd.DataFrame({
    tr("columns.credit_code"): page["credit_code"],
    tr("columns.name_zh"): page["name_zh"],
    tr("columns.name_en"): page["name_en"],
    tr("columns.zone"): [tr.name(e, z) if isinstance(e, str) or isinstance(z, str) else ""
                         for e, z in zip(page["zone_en"], page["zone_zh"])],
    tr("columns.district"): [tr.name(e, z) for e, z in zip(page["district_en"],
                                                           page["district_zh"])],
    tr("columns.segment"): [tr.name(e, z) for e, z in zip(page["segment_en"],
                                                          page["segment_zh"])],
    tr("columns.founded"): page["founded"].astype("string"),
    tr("columns.employees"): page["employees"],
    tr("columns.capital", unit=tr.money_unit): (page["registered_capital"] * money_scale
                                                ).round(3),
    tr("columns.revenue_q", period=tr.period(info.data_period), unit=tr.money_unit): (
        page["revenue_m"].astype("float64") * money_scale).round(3),
    tr("columns.status"): page["status"].map(lambda s: tr.label("status", s)),
    tr("columns.provenance"): page["provenance"].map(lambda p: tr.label("provenance", p)),
})
if page.empty:
    st.info(tr("enterprises.none"))
else:
    st.dataframe(table, hide_index=True, key="enterprise_table",
                 height=ROW_PX * (len(table) + 1) + 3, column_config={
        tr("columns.employees"): st.column_config.NumberColumn(format="%,d"),
    })
if (page["provenance"] == "sample").any():
    st.badge(tr("common.sample_badge"), color="orange", icon=":material/science:")

described = []
if filters.zones:
    described.append(tr("enterprises.zones") + ": " + ", ".join(zone_names[z]
                                                               for z in filters.zones))
if filters.districts:
    described.append(tr("enterprises.districts") + ": " + ", ".join(
        district_names[d] for d in filters.districts))
if filters.segments:
    described.append(tr("enterprises.segments") + ": " + ", ".join(
        segment_names[s] for s in filters.segments))
if filters.founded_from or filters.founded_to:
    described.append(f"{tr('enterprises.founded')}: {founded[0]}–{founded[1]}")
if filters.sizes:
    described.append(tr("enterprises.size") + ": " + ", ".join(
        tr(f"size_band.{b}") for b in filters.sizes))
if filters.search.strip():
    described.append(f"{tr('enterprises.search')}: {filters.search.strip()}")
described.append(tr("enterprises.page_text", page=ss[keys["page"]], n=n_pages,
                    sort=tr(f"enterprises.sort_{ss[keys['sort']]}"),
                    direction=tr("enterprises.descending") if ss[keys["desc"]] else tr(
                        "enterprises.ascending")))
downloads.downloads(table, tr, what="enterprises", scope=slug(filters),
                 title=tr("enterprises.title"), filters="; ".join(described),
                 sources=tr("enterprises.register_source"), run_id=info.latest_run_id,
                 data_period=info.data_period, key="dl_enterprises",
                 sample=bool((page["provenance"] == "sample").any()))

state.sync(params)
# The first name search reads every firm's name into memory (about 2 s at a million firms):
# do it now, in the background, rather than when someone types.
search.warm(db, info.token)
