"""Trends: compare zones, districts or segments over time, with forecasts and their accuracy."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import charts, downloads, published_scope, state
from app.cached import engine
from app.figure_cache import figure
from app.money import money_factor
from app.queries import forecasts, reference, series
from app.transforms import add_growth, add_share, period_freq, to_annual
from models.metrics import REVENUE_METRIC
from models.tables import CITY_SCOPE_ID, FORECAST_BANDS

SCOPE_TYPES = ("zone", "district", "segment", "city")
VIEWS = ("level", "growth", "share")
FREQS = ("Q", "Y")

tr = state.translator()
info = st.session_state["_run_info"]
db = engine()

st.title(tr("trends.title"))
st.caption(tr("trends.caption"))

stype_param = state.Param("stype", "zone", choices=SCOPE_TYPES, page="trends")
state.init([stype_param])
st.segmented_control(tr("trends.scope_type"), SCOPE_TYPES, key=stype_param.key, required=True,
                     format_func=lambda s: tr(f"scope_type.{s}"))
stype = state.value(stype_param)

zones_df = reference.zones(db)
names_df = reference.scope_names(db)
if stype == "city":
    all_ids = [CITY_SCOPE_ID]
    default_ids = [CITY_SCOPE_ID]
elif stype == "zone":
    all_ids = list(zones_df["zone_id"])
    default_ids = list(zones_df.loc[zones_df["kind"] == "core4", "zone_id"]) or all_ids[:4]
elif stype == "district":
    all_ids = [str(a) for a in reference.districts(db)["adcode"]]
    core = zones_df.loc[zones_df["kind"] == "core4", "district_adcode"].astype(str)
    default_ids = list(dict.fromkeys(core)) or all_ids[:4]
else:
    all_ids = list(reference.segments(db)["code"])
    default_ids = all_ids
names = {CITY_SCOPE_ID: tr("common.city")}
for r in names_df[names_df["scope_type"] == stype].itertuples(index=False):
    names[r.scope_id] = tr.name(r.name_en, r.name_zh)
# Zones keep one colour everywhere; districts and segments are coloured in the order chosen
# (sixteen districts in a fixed order would put similar colours side by side).
colors = charts.scope_colors(all_ids)

catalogue = reference.metric_catalogue(db, stype)
if catalogue.empty:
    st.info(tr("trends.no_metrics"))
    state.sync([stype_param])
    st.stop()
options = [f"{c}|{b}" for c, b in zip(catalogue["code"], catalogue["basis"])]
by_option = {o: r for o, r in zip(options, catalogue.to_dict("records"))}
preferred = f"{REVENUE_METRIC}|quarterly"
scopes_param = state.Param("scopes", default_ids, kind="list", choices=all_ids,
                           page="trends")
metric_param = state.Param("metric", preferred if preferred in options else options[0],
                           choices=options, page="trends")
state.init([scopes_param, metric_param])
row = by_option[state.value(metric_param)]
freq_choices = ["Y"] if row["basis"] == "annual" else list(FREQS)
view_choices = [v for v in VIEWS if not (v == "share" and stype == "city")]
freq_param = state.Param("freq", freq_choices[0], choices=freq_choices, page="trends")
view_param = state.Param("view", "level", choices=view_choices, page="trends")
fan_param = state.Param("fan", True, kind="bool", page="trends")
state.init([freq_param, view_param, fan_param])


# Metrics published on more than one basis get the basis in their label (worked out once, not
# per option: the selectbox labels every option on every rerun).
on_several_bases = set(catalogue.loc[catalogue["code"].duplicated(keep=False), "code"])


def metric_label(option: str) -> str:
    r = by_option[option]
    return tr.name(r["name_en"], r["name_zh"]) + (
        f" ({tr.label('basis', r['basis'])})" if r["code"] in on_several_bases else "")


c1, c2 = st.columns([3, 2])
with c1:
    if stype != "city":
        st.multiselect(tr("trends.scopes"), all_ids, key=scopes_param.key,
                       format_func=lambda s: names.get(s, s))
with c2:
    st.selectbox(tr("trends.metric"), options, key=metric_param.key, format_func=metric_label)
c3, c4, c5 = st.columns([2, 3, 2])
with c3:
    st.segmented_control(tr("trends.freq"), freq_choices, key=freq_param.key, required=True,
                         format_func=lambda f: tr(f"freq.{f}"))
with c4:
    st.segmented_control(tr("trends.view"), view_choices, key=view_param.key, required=True,
                         format_func=lambda v: tr(f"view.{v}"))
with c5:
    st.toggle(tr("trends.show_forecast"), key=fan_param.key)

scope_ids = [CITY_SCOPE_ID] if stype == "city" else list(state.value(scopes_param))
if stype in ("district", "segment"):
    colors = charts.scope_colors(scope_ids)
metric, basis = state.value(metric_param).split("|", 1)
freq, view = state.value(freq_param), state.value(view_param)
flow = basis == "quarterly"
if not scope_ids:
    st.info(tr("trends.pick_scopes"))
    state.sync([stype_param, scopes_param, metric_param, freq_param, view_param, fan_param])
    st.stop()

data = series.series(db, metric, stype, scope_ids, basis=basis)
if freq == "Y":
    data = to_annual(data, flow=flow)
factor = money_factor(row["unit"])
scale = factor * tr.money_scale() if factor is not None else 1.0
unit = tr.money_unit if factor is not None else tr.name(row["unit_en"], row["unit_zh"])
mname = tr.name(row["name_en"], row["name_zh"])
if view == "growth":
    data = add_growth(data)
    data["y"] = data["growth"]
    y_title, suffix, fmt = tr("trends.y_growth", metric=mname), "%", ",.1f"
elif view == "share":
    totals = series.series(db, metric, "city", [CITY_SCOPE_ID], basis=basis)
    if freq == "Y":
        totals = to_annual(totals, flow=flow)
    data = add_share(data, totals)
    data["y"] = data["share"]
    y_title, suffix, fmt = tr("trends.y_share", metric=mname), "%", ",.1f"
else:
    data["y"] = data["value"] * scale
    y_title, suffix, fmt = tr("charts.axis_unit", name=mname, unit=unit), "", ",.1f"
data = data[data["y"].notna()]

fc = forecasts.forecasts(db, metric, stype, scope_ids, basis)
fc = fc[fc["period"].map(period_freq) == freq] if not fc.empty else fc
show_fc = state.value(fan_param) and view == "level" and not fc.empty
fc_scaled = fc.copy()
for col in FORECAST_BANDS:
    if col in fc_scaled:
        fc_scaled[col] = fc_scaled[col] * scale

if data.empty:
    st.info(tr("trends.no_data"))
else:
    fig = figure(charts.trend_chart, data, tr, names=names, colors=colors, y_title=y_title,
                 forecasts=fc_scaled if show_fc else None, value_format=fmt, y_suffix=suffix)
    st.plotly_chart(fig, key="trend_chart", config={"displaylogo": False})
    notes = [tr("trends.markers_note")]
    if state.value(fan_param) and view != "level" and not fc.empty:
        notes.append(tr("trends.forecast_levels_only"))
    st.caption(" ".join(notes))
    if (data["provenance"] == "sample").any():
        st.badge(tr("common.sample_badge"), color="orange", icon=":material/science:")

# -- forecast accuracy ------------------------------------------------------------------------
if show_fc:
    runs = fc.drop_duplicates("scope_id")
    st.markdown(f"**{tr('trends.accuracy_title')}**")
    accuracy = pd.DataFrame({
        tr("columns.scope"): runs["scope_id"].map(lambda s: names.get(s, s)),
        tr("columns.model"): runs["model"],
        tr("columns.last_period"): runs["last_period"].map(tr.period),
        tr("columns.vintage"): runs["vintage_run_id"],
        tr("columns.mase"): runs["backtest_mase"].round(2),
        tr("columns.cov80"): (runs["backtest_cov80"] * 100).round(0),
        tr("columns.cov95"): (runs["backtest_cov95"] * 100).round(0),
    })
    st.dataframe(accuracy, hide_index=True, key="accuracy_table", column_config={
        tr("columns.cov80"): st.column_config.NumberColumn(format="%.0f%%"),
        tr("columns.cov95"): st.column_config.NumberColumn(format="%.0f%%")})
    st.caption(tr("trends.accuracy_note"))

# -- the data on screen -----------------------------------------------------------------------
value_header = (tr("columns.value_unit", unit=unit) if view == "level"
                else tr(f"columns.{view}_pct"))
table = pd.DataFrame({
    tr("columns.scope"): published_scope.scope_texts(
        tr, data["scope_id"].map(lambda s: names.get(s, s)), data),
    tr("published_scope.column"): published_scope.published_labels(data),
    tr("columns.period"): data["period"],
    value_header: data["y"].round(2),
    tr("columns.provenance"): data["provenance"].map(lambda p: tr.label("provenance", p)),
    tr("columns.source"): data["source_title"],
    tr("columns.published"): data["source_published"].map(tr.date, na_action="ignore")})
if show_fc:
    table = pd.concat([table, pd.DataFrame({
        tr("columns.scope"): fc_scaled["scope_id"].map(lambda s: names.get(s, s)) + " ("
        + tr("charts.forecast") + ")",
        tr("columns.period"): fc_scaled["period"], value_header: fc_scaled["mean"].round(2),
        **{tr(f"columns.{band}"): fc_scaled[band].round(2) for band in FORECAST_BANDS[1:]},
        tr("columns.provenance"): fc_scaled["provenance"].map(
            lambda p: tr.label("provenance", p)),
        tr("columns.source"): fc_scaled["model"]})], ignore_index=True)
with st.expander(tr("common.data_behind_chart")):
    st.dataframe(table, hide_index=True, key="trend_table")
filters_text = tr("trends.filters_text", scope_type=tr(f"scope_type.{stype}"),
                  scopes=", ".join(names.get(s, s) for s in scope_ids), metric=metric_label(
                      state.value(metric_param)), freq=tr(f"freq.{freq}"),
                  view=tr(f"view.{view}"))
slug = f"{stype}-" + ("+".join(scope_ids[:2]) + ("+more" if len(scope_ids) > 2 else ""))
downloads.downloads(table, tr, what=f"trend-{metric}", scope=slug, title=tr("trends.title"),
                 filters=filters_text,
                 sources="; ".join(sorted(set(data["source_title"].dropna().astype(str)))),
                 run_id=info.latest_run_id, data_period=info.data_period, key="dl_trend",
                 sample=bool((data["provenance"] == "sample").any()))

# -- past forecasts against actuals -----------------------------------------------------------
st.subheader(tr("trends.vintages_title"))
with_fc = list(forecasts.forecast_series(db, metric, stype, scope_ids, basis)["scope_id"])
vscope_param = state.Param("vscope", with_fc[0] if with_fc else "", choices=with_fc or [""],
                           page="trends")
state.init([vscope_param])
if not with_fc:
    st.info(tr("trends.no_vintages"))
else:
    st.selectbox(tr("trends.vintage_scope"), with_fc, key=vscope_param.key,
                 format_func=lambda s: names.get(s, s))
    vscope = state.value(vscope_param)
    vintages = forecasts.forecast_vintages(db, metric, stype, vscope, basis)
    actuals = series.series(db, metric, stype, [vscope], basis=basis)
    actuals = actuals.assign(y=actuals["value"] * scale)
    for col in FORECAST_BANDS:
        vintages[col] = vintages[col] * scale
    st.caption(tr("trends.vintages_caption", n=vintages["vintage_run_id"].nunique()))
    vfig = figure(charts.vintage_chart, actuals, vintages, tr,
                  y_title=tr("charts.axis_unit", name=mname, unit=unit))
    st.plotly_chart(vfig, key="vintage_chart", config={"displaylogo": False})
    vtable = pd.DataFrame({
        tr("columns.vintage"): vintages["vintage_run_id"],
        tr("columns.last_period"): vintages["last_period"],
        tr("columns.period"): vintages["period"],
        tr("columns.forecast_value", unit=unit): vintages["mean"].round(2),
        tr("columns.actual_value", unit=unit): vintages["period"].map(
            dict(zip(actuals["period"], actuals["y"].round(2)))),
        tr("columns.lo_80"): vintages["lo_80"].round(2),
        tr("columns.hi_80"): vintages["hi_80"].round(2)})
    with st.expander(tr("common.data_behind_chart")):
        st.dataframe(vtable, hide_index=True, key="vintage_table")
    downloads.downloads(vtable, tr, what=f"vintages-{metric}", scope=f"{stype}-{vscope}",
                     title=tr("trends.vintages_title"), filters=filters_text,
                     sources=tr("common.sample_badge"), run_id=info.latest_run_id,
                     data_period=info.data_period, key="dl_vintages", sample=True)

state.sync([stype_param, scopes_param, metric_param, freq_param, view_param, fan_param,
            vscope_param])
