"""Map: the 16 districts coloured by a metric, the 4+X zones on top; click a place for its trend."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import charts, downloads, maps, published_scope, state
from app.cached import engine
from app.figure_cache import figure
from app.money import money_factor
from app.queries import overview, reference, series
from models.metrics import REVENUE_METRIC

tr = state.translator()
info = st.session_state["_run_info"]
db = engine()

st.title(tr("map.title"))
st.caption(tr("map.caption"))

catalogue = reference.metric_catalogue(db, "district")
if catalogue.empty:
    st.info(tr("map.no_metrics"))
    state.sync([])
    st.stop()
options = [f"{c}|{b}" for c, b in zip(catalogue["code"], catalogue["basis"])]
by_option = {o: row for o, row in zip(options, catalogue.to_dict("records"))}
metric_param = state.Param("metric", options[0], choices=options, page="map")
state.init([metric_param])
metric_code, basis = state.value(metric_param).split("|", 1)
periods = reference.metric_periods(db, metric_code, "district", basis)
period_param = state.Param("period", periods[-1] if periods else "", choices=periods,
                           page="map")
zones_df = reference.zones(db)
districts_df = reference.districts(db, with_geometry=True)
scopes = ([f"district:{a}" for a in districts_df["adcode"]]
          + [f"zone:{z}" for z in zones_df["zone_id"]])
sel_param = state.Param("sel", "", choices=[""] + scopes, page="map")
params = [metric_param, period_param, sel_param]
state.init(params[1:])


# Metrics published on more than one basis get the basis in their label. Worked out once: the
# selectbox labels every option on every rerun (a filter of the catalogue per option was a
# tenth of this page's server time with 80 metrics).
on_several_bases = set(catalogue.loc[catalogue["code"].duplicated(keep=False), "code"])


def metric_label(option: str) -> str:
    row = by_option[option]
    return tr.name(row["name_en"], row["name_zh"]) + (
        f" ({tr.label('basis', row['basis'])})" if row["code"] in on_several_bases else "")


left, right = st.columns([2, 3])
with left:
    st.selectbox(tr("map.metric"), options, key=metric_param.key, format_func=metric_label)
with right:
    if len(periods) > 1:
        st.select_slider(tr("map.period"), options=periods, key=period_param.key,
                         format_func=tr.period)
    else:
        st.caption(tr("map.single_period", period=tr.period(state.value(period_param))))

row = by_option[state.value(metric_param)]
period = state.value(period_param)
factor = money_factor(row["unit"])
scale = factor * tr.money_scale() if factor is not None else 1.0
unit = tr.money_unit if factor is not None else tr.name(row["unit_en"], row["unit_zh"])
values = series.values_at(db, metric_code, "district", period, basis)
values = values.assign(adcode=values["scope_id"].astype(int), y=values["value"] * scale,
                       provenance_label=values["provenance"].map(
                           lambda p: tr.label("provenance", p)))
districts_df = districts_df.assign(name=[tr.name(e, z) for e, z in zip(districts_df["name_en"],
                                                                      districts_df["name_zh"])])
def firms_hover(value: float, label: object, relation: object) -> str:
    """A zone's firm count for its hover, with the published scope when the count was
    published for another area (the West Bund area, not the AI Tower)."""
    text = tr.number(value)
    if published_scope.differs(relation) and isinstance(label, str):
        text += f" ({tr('published_scope.hover', label=label)})"
    return text


period_end = values["period_end"].max() if not values.empty else None
glance = overview.zones_glance(db, period_end.date() if period_end is not None else None)
glance = glance.assign(
    name=[tr.name(e, z) for e, z in zip(glance["name_en"], glance["name_zh"])],
    kind_label=glance["kind"].map(lambda k: tr.label("zone_kind", k)),
    firms_text=[firms_hover(v, label, rel) for v, label, rel in zip(
        glance["firms"], glance["firms_scope_label"], glance["firms_scope_relation"])],
    growth_text=glance["growth"].map(lambda v: tr.percent(v, signed=True)))
fig = figure(maps.district_map, districts_df,
             values[["adcode", "y", "provenance", "provenance_label"]], glance, tr,
             metric_label=tr.name(row["name_en"], row["name_zh"]), unit=unit)
event = st.plotly_chart(fig, key="district_map", on_select="rerun", selection_mode="points",
                        config=maps.MAP_CONFIG)
st.caption(tr("map.legend_note"))
unplaced = zones_df[zones_df["lon"].isna() | zones_df["lat"].isna()]
if not unplaced.empty:
    st.caption(tr("map.unplaced", names=tr("map.unplaced_separator").join(
        tr.name(e, z) for e, z in zip(unplaced["name_en"], unplaced["name_zh"]))))
if (values["provenance"] == "sample").any():
    st.badge(tr("common.sample_badge"), color="orange", icon=":material/science:")


def clicked_scope(points: list[dict]) -> str | None:
    """The scope of the first clicked point: a district (choropleth) or a zone (marker)."""
    located = glance.dropna(subset=["lon", "lat"]).reset_index(drop=True)
    for point in points:
        if point.get("location"):
            return f"district:{point['location']}"
        data = point.get("customdata")
        if isinstance(data, list) and data and str(data[0]) in set(zones_df["zone_id"]):
            return f"zone:{data[0]}"
        index = point.get("point_index", point.get("point_number"))
        if point.get("curve_number") == len(fig.data) - 1 and index is not None and (
                index < len(located)):
            return f"zone:{located.loc[index, 'zone_id']}"
    return None


points = list(getattr(getattr(event, "selection", None), "points", None) or [])
picked = clicked_scope(points)
if picked and picked != state.value(sel_param):
    st.session_state[sel_param.key] = picked  # no widget owns it: safe to set after drawing

# -- the selected place's trend ---------------------------------------------------------------
table = values.merge(districts_df[["adcode", "name"]], on="adcode", how="right")
map_table = pd.DataFrame({
    tr("columns.district"): table["name"], tr("columns.adcode"): table["adcode"],
    tr("columns.value_unit", unit=unit): table["y"].round(2),
    tr("columns.period"): tr.period(period),
    tr("columns.provenance"): table["provenance"].map(lambda p: tr.label("provenance", p)),
    tr("columns.source"): table["source_title"]})
with st.expander(tr("common.data_behind_chart")):
    st.dataframe(map_table, hide_index=True, key="map_table")
map_title = metric_label(state.value(metric_param)) + " · " + tr.period(period)
downloads.downloads(map_table, tr, what="map", scope=metric_code, title=map_title,
                 filters=tr("map.filters_text", metric=map_title, period=tr.period(period)),
                 sources="; ".join(sorted(set(values["source_title"].dropna()))),
                 run_id=info.latest_run_id, data_period=info.data_period, key="dl_map",
                 sample=bool((values["provenance"] == "sample").any()))

sel = state.value(sel_param) or ""
if sel:
    scope_type, scope_id = sel.split(":", 1)
    if scope_type == "district":
        match = districts_df[districts_df["adcode"].astype(str) == scope_id]
        name = match["name"].iloc[0] if not match.empty else scope_id
    else:
        match = zones_df[zones_df["zone_id"] == scope_id]
        name = tr.name(match["name_en"].iloc[0], match["name_zh"].iloc[0]) if not match.empty \
            else scope_id
    trend_metric, trend_basis = metric_code, basis
    if scope_type == "zone":  # a zone has no district metric: show its revenue (or firms)
        cat = reference.metric_catalogue(db, "zone")
        if not ((cat["code"] == metric_code) & (cat["basis"] == basis)).any() and not cat.empty:
            first = cat[cat["code"] == REVENUE_METRIC]
            first = first if not first.empty else cat
            trend_metric, trend_basis = first["code"].iloc[0], first["basis"].iloc[0]
    st.subheader(tr("map.selected_title", name=name))
    data = series.series(db, trend_metric, scope_type, [scope_id], basis=trend_basis)
    if data.empty:
        st.info(tr("map.no_trend"))
    else:
        f = money_factor(data["unit"].iloc[0])
        s = f * tr.money_scale() if f is not None else 1.0
        u = tr.money_unit if f is not None else data["unit"].iloc[0]
        cat_all = reference.metrics(db).set_index("code")
        mname = tr.name(cat_all.at[trend_metric, "name_en"], cat_all.at[trend_metric, "name_zh"]) \
            if trend_metric in cat_all.index else trend_metric
        if f is None and trend_metric in cat_all.index:
            u = tr.name(cat_all.at[trend_metric, "unit_en"], cat_all.at[trend_metric, "unit_zh"])
        colors = charts.scope_colors(list(zones_df["zone_id"]) if scope_type == "zone"
                                     else [str(a) for a in districts_df["adcode"]])
        trend = figure(charts.trend_chart, data.assign(y=data["value"] * s), tr,
                       names={scope_id: name}, colors=colors,
                       y_title=tr("charts.axis_unit", name=mname, unit=u))
        st.plotly_chart(trend, key="map_trend", config={"displaylogo": False})
        labels = sorted(set(published_scope.published_labels(data)) - {""})
        if labels:
            st.caption(tr("published_scope.map_note", name=name, labels="; ".join(labels)))
    trends_params = {"lang": tr.lang, "stype": scope_type, "scopes": scope_id,
                     "metric": f"{trend_metric}|{trend_basis}"}
    st.page_link("app/views/trends.py", label=tr("map.open_in_trends", name=name),
                 icon=":material/show_chart:", query_params=trends_params)
else:
    st.info(tr("map.click_hint"), icon=":material/touch_app:")

state.sync(params)
