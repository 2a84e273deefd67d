"""Overview: where Shanghai's AI industry stands and where it is heading, on one screen."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import briefing, charts, downloads, published_scope, state, target_probability
from app.cached import engine
from app.figure_cache import figure
from app.money import money_factor
from app.queries import forecasts, overview, series
from models.metrics import REVENUE_METRIC
from models.tables import CITY_SCOPE_ID, FORECAST_BANDS

CARDS_PER_ROW = 3

tr = state.translator()
info = st.session_state["_run_info"]
db = engine()
brief_quarters = briefing.quarters(db)
brief_param = state.Param("quarter", brief_quarters[-1] if brief_quarters else "",
                          choices=brief_quarters, page="overview")
params = [brief_param]
state.init(params)

st.title(tr("overview.title"))
st.caption(tr("overview.caption", period=tr.period(info.data_period)))


def briefing_button() -> None:
    """The quarterly briefing of the chosen quarter in this language, made on the click
    (aggregates only, so every role may have it) and recorded like every export."""
    try:
        briefing.font_dir()
    except briefing.FontMissing:
        st.caption(tr("briefing.no_font"))
        return
    with st.container(horizontal=True, vertical_alignment="bottom", gap="small"):
        st.selectbox(tr("briefing.quarter"), brief_quarters, key=brief_param.key,
                     format_func=tr.period, width=220)
        quarter, lang = state.value(brief_param), tr.lang
        name = f"briefing-{quarter}-{lang}.pdf"

        def make() -> bytes:
            return briefing.make_pdf(db, quarter, lang)

        st.download_button(tr("briefing.button"), data=downloads.recorded(
            make, format="pdf", file=name, rows=None, filters=tr.period(quarter), scope="city"),
                           file_name=name, mime=briefing.PDF_MIME, key="dl_briefing",
                           icon=":material/picture_as_pdf:", on_click="ignore",
                           help=tr("briefing.button_help"))


if brief_quarters:
    briefing_button()


def card_value(card: dict) -> str:
    bound = "≥ " if card.get("lower_bound") else ("≈ " if card.get("approximate") else "")
    if card["card"] == "output":
        return bound + tr.money(card["value_bn"])
    if card["card"] == "growth":
        return bound + tr.percent(card["value"], signed=True)
    if card["card"] == "computing":
        return bound + tr("units.pflops_fmt", value=tr.number(card["value"]))
    return bound + tr.number(card["value"])


def card_name(card: dict) -> str:
    if card["card"] in ("output", "growth") and card.get("name_en"):
        return tr.name(card.get("name_en"), card.get("name_zh"))
    return tr(f"overview.card_{card['card']}")


def card_label(card: dict) -> str:
    # The period first: a long metric name may be cut short on narrow cards.
    return f"{tr.period(card['period'], card.get('basis'))} · {card_name(card)}"


def card_source(card: dict) -> str:
    if card.get("provenance") == "reported":
        return tr("overview.from_source", source=card.get("source_title") or "—",
                  date=tr.date(card.get("source_published")))
    if card.get("provenance") == "sample":
        return tr("common.sample_badge")
    return tr("provenance.derived")


# One query per card (app/queries/overview.py), in the order they are shown.
cards = (overview.output_cards(db) + overview.growth_card(db) + overview.firms_card(db)
         + overview.models_card(db) + overview.computing_card(db))
if not cards:
    st.info(tr("overview.no_cards"))
for start in range(0, len(cards), CARDS_PER_ROW):
    cols = st.columns(CARDS_PER_ROW)
    for col, card in zip(cols, cards[start:start + CARDS_PER_ROW]):
        with col:
            delta = None
            if card.get("delta_pct") is not None:
                delta = tr("overview.delta", pct=tr.percent(card["delta_pct"], signed=True),
                           period=tr.period(card["delta_base_period"]))
            st.metric(card_label(card), card_value(card), delta=delta, border=True,
                      help=f"**{card_name(card)}** — " + tr(f"overview.help_{card['card']}"))
            if card.get("provenance") == "sample":
                st.badge(card_source(card), color="orange", icon=":material/science:")
            else:
                st.caption(card_source(card))

# -- the headline trend -----------------------------------------------------------------------
st.subheader(tr("overview.headline_title"))
st.caption(tr("overview.headline_caption"))
scale = tr.money_scale()
sample = series.series(db, REVENUE_METRIC, "city", [CITY_SCOPE_ID], basis="quarterly")
sample = sample.assign(y=sample["value_bn"] * scale)
fc = forecasts.forecasts(db, REVENUE_METRIC, "city", [CITY_SCOPE_ID], "quarterly")
factor = money_factor(sample["unit"].iloc[0]) if not sample.empty else None
if not fc.empty and factor is not None:
    for band in FORECAST_BANDS:
        fc[band] = fc[band] * factor * scale
else:
    fc = fc.iloc[0:0]
reported = series.city_reported(db)
reported = reported[reported["value_bn"].notna() & (reported["basis"] == "annual")
                    & ~reported["metric"].str.contains(overview.NOT_OUTPUT)].copy()
reported["y"] = reported["value_bn"] * scale
reported["label"] = [tr.name(e, z) for e, z in zip(reported["name_en"], reported["name_zh"])]
reported["bound"] = ["≥ " if lb else ("≈ " if ap else "")
                     for lb, ap in zip(reported["lower_bound"], reported["approximate"])]
target_rows = series.targets(db)
target_rows = target_rows[target_rows["value_bn"].notna()].copy()
target_rows["y"] = target_rows["value_bn"] * scale
target_rows["label"] = [tr.name(e, z) for e, z in zip(target_rows["name_en"],
                                                       target_rows["name_zh"])]
if sample.empty and reported.empty:
    st.info(tr("overview.no_headline"))
else:
    fig = figure(charts.headline_chart, sample, reported, fc, target_rows, tr)
    st.plotly_chart(fig, key="headline_chart", config={"displaylogo": False})
    if not fc.empty:
        run = fc.iloc[0]
        st.caption(tr("overview.forecast_note", run=int(run["vintage_run_id"]),
                      model=run["model"], mase=tr.number(run["backtest_mase"], 2),
                      cov80=tr.percent((run["backtest_cov80"] or 0) * 100, 0),
                      cov95=tr.percent((run["backtest_cov95"] or 0) * 100, 0)))
    tracking = series.target_tracking(db)
    odds_by_target = {int(r["target_id"]): r for r in tracking.to_dict("records")}
    for t in target_rows.to_dict("records"):
        bound = "≥ " if t["lower_bound"] else ""
        text = tr("overview.target_text", label=t["label"], period=tr.period(t["period"]),
                  value=bound + tr.money(t["value_bn"]), source=t["source_title"])
        odds = odds_by_target.get(int(t["id"]))
        if odds is None:
            st.info(text + " " + tr("overview.target_no_probability"), icon=":material/flag:")
            continue
        # The chance is of a forecast (sample data, another basis): say so beside the number.
        note = target_probability.describe(t, odds, tr)
        st.info(text + " " + note.chance, icon=":material/flag:")
        st.badge(note.label, color="orange" if note.provenance == "sample" else "gray",
                 icon=":material/science:")
        st.caption(note.details())
    st.badge(tr("common.sample_badge"), color="orange", icon=":material/science:")
    unit = tr.money_unit
    parts = [pd.DataFrame({
        tr("columns.series"): tr("overview.headline_sample"),
        tr("columns.period"): sample["period"],
        tr("columns.value_money", unit=unit): sample["y"].round(2),
        tr("columns.provenance"): sample["provenance"].map(lambda p: tr.label("provenance", p)),
        tr("columns.source"): sample["source_title"]})]
    if not fc.empty:
        parts.append(pd.DataFrame({
            tr("columns.series"): tr("charts.forecast"), tr("columns.period"): fc["period"],
            tr("columns.value_money", unit=unit): fc["mean"].round(2),
            **{tr(f"columns.{band}"): fc[band].round(2) for band in FORECAST_BANDS[1:]},
            tr("columns.provenance"): fc["provenance"].map(lambda p: tr.label("provenance", p)),
            tr("columns.source"): fc["model"]}))
    for frame, series_label in ((reported, None), (target_rows, tr("overview.target"))):
        if frame.empty:
            continue
        part = pd.DataFrame({
            tr("columns.series"): frame["label"] if series_label is None else
            frame["label"] + " (" + series_label + ")",
            tr("columns.period"): frame["period"],
            tr("columns.value_money", unit=unit): frame["y"].round(2),
            tr("columns.bound"): frame.get("bound", ""),
            tr("columns.provenance"): frame["provenance"].map(
                lambda p: tr.label("provenance", p)),
            tr("columns.source"): frame["source_title"]})
        if series_label is not None:  # targets: the chance, its provenance, basis and method
            part = part.join(target_probability.export_columns(frame, tracking, tr))
        parts.append(part)
    headline_data = pd.concat(parts, ignore_index=True)
    with st.expander(tr("common.data_behind_chart")):
        st.dataframe(headline_data, hide_index=True, key="headline_table")
    downloads.downloads(headline_data, tr, what="headline", scope="city",
                     title=tr("overview.headline_title"), filters="",
                     sources="; ".join(sorted(set(headline_data[tr("columns.source")].dropna()
                                                  .astype(str)))),
                     run_id=info.latest_run_id, data_period=info.data_period, key="dl_headline",
                     sample=True)

# -- the 4+X zones at a glance ----------------------------------------------------------------
st.subheader(tr("overview.zones_title"))
st.caption(tr("overview.zones_caption"))
glance = overview.zones_glance(db)
if glance.empty:
    st.info(tr("overview.no_zones"))
else:
    table = pd.DataFrame({
        tr("columns.zone"): [tr.name(e, z) for e, z in zip(glance["name_en"], glance["name_zh"])],
        tr("columns.kind"): glance["kind"].map(lambda k: tr.label("zone_kind", k)),
        tr("columns.district"): [tr.name(e, z) for e, z in zip(glance["district_en"],
                                                               glance["district_zh"])],
        tr("columns.firms"): glance["firms"],
        tr("published_scope.firms_column"): published_scope.published_labels(glance.rename(
            columns={"firms_scope_label": "scope_label",
                     "firms_scope_relation": "scope_relation"})),
        tr("columns.firms_period"): glance["firms_period"].map(tr.period),
        tr("columns.revenue_growth"): glance["growth"].round(1),
        tr("columns.provenance"): glance["firms_provenance"].map(
            lambda p: tr.label("provenance", p)),
    })
    st.dataframe(table, hide_index=True, key="zones_table", column_config={
        tr("columns.firms"): st.column_config.NumberColumn(format="%,d"),
        tr("columns.revenue_growth"): st.column_config.NumberColumn(format="%+.1f%%"),
    })
    downloads.downloads(table, tr, what="zones", scope="all", title=tr("overview.zones_title"),
                     filters="", sources=tr("common.sample_badge"), run_id=info.latest_run_id,
                     data_period=info.data_period, key="dl_zones",
                     sample=bool((glance["firms_provenance"] == "sample").any()))

state.sync(params)
