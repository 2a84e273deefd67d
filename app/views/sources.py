"""Sources and data: every reported fact, conflicting figures, load history and methodology."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import conflicts as comparable
from app import downloads, published_scope, state
from app.cached import engine
from app.money import money_factor
from app.queries import forecasts, reference, sources
from models.tables import CITY_SCOPE_ID

CONFIDENCE_ORDER = {"high": 0, "medium-high": 1, "medium": 2, "low-medium": 3, "low": 4}
TABS = ("facts", "conflicts", "runs", "method")

tr = state.translator()
info = st.session_state["_run_info"]
db = engine()

st.title(tr("sources.title"))
st.caption(tr("sources.caption"))
st.info(tr("sources.freshness", period=tr.period(info.data_period),
           loaded=tr.timestamp(info.loaded_at), run=info.latest_run_id or "—"),
        icon=":material/update:")

names_df = reference.scope_names(db)
scope_name = {(r.scope_type, r.scope_id): tr.name(r.name_en, r.name_zh)
              for r in names_df.itertuples(index=False)}
scope_name[("city", CITY_SCOPE_ID)] = tr("common.city")
facts = sources.reported_facts(db)
metric_options = list(dict.fromkeys(facts["metric"]))
metric_names = {m: tr.name(e, z) for m, e, z in zip(facts["metric"], facts["name_en"],
                                                    facts["name_zh"])}
tab_param = state.Param("tab", "facts", choices=TABS, page="src")
metric_param = state.Param("metric", [], kind="list", choices=metric_options, page="src")
params = [tab_param, metric_param]
state.init(params)


def value_text(row: pd.Series) -> str:
    bound = "≥ " if row["lower_bound"] else ("≈ " if row["approximate"] else "")
    return f"{bound}{tr.number(row['value'], 2, trim=True)}"


def display_value(row: pd.Series) -> str:
    """The value in this language's money unit, or with its own unit."""
    factor = money_factor(row["unit"])
    if factor is None:
        return f"{value_text(row)} {row['unit']}"
    bound = "≥ " if row["lower_bound"] else ("≈ " if row["approximate"] else "")
    return bound + tr.money(row["value"] * factor)


def unit_labels(df: pd.DataFrame) -> pd.Series:
    """The unit in this language: the catalogue's Chinese unit where the stored unit is the
    metric's own, else the unit as stored."""
    if tr.lang != "zh" or df.empty:
        return df["unit"]
    return df["unit_zh"].where(df["unit"] == df["unit_en"], df["unit"])


def facts_table(df: pd.DataFrame) -> pd.DataFrame:
    names = pd.Series([scope_name.get((t, i), i) for t, i in zip(df["scope_type"],
                                                                  df["scope_id"])], dtype="object")
    return pd.DataFrame({
        tr("columns.metric"): df["metric"].map(lambda m: metric_names.get(m, m)),
        tr("columns.scope"): published_scope.scope_texts(tr, names, df),
        tr("published_scope.column"): published_scope.published_labels(df),
        tr("columns.period"): df["period"],
        tr("columns.value"): df["value"],
        tr("columns.as_published"): df.apply(value_text, axis=1) if not df.empty else [],
        tr("columns.unit"): unit_labels(df),
        tr("columns.basis"): df["basis"].map(lambda b: tr.label("basis", b)),
        tr("columns.kind"): df["kind"].map(lambda k: tr.label("kind", k)),
        tr("columns.source"): df["source_title"],
        tr("columns.published"): df["published"],
        tr("columns.confidence"): df["confidence"].map(lambda c: tr.label("confidence", c)),
        tr("columns.quote"): df["quote"],
        tr("columns.link"): df["url_or_publication"],
        tr("columns.record"): df["is_record"],
    })


def figure_value(row: dict) -> str:
    """A figure in this language: money in its money unit, else with the catalogue's unit
    in this language (``≥ 7.8 %``, not ``percent`` on a Chinese page)."""
    if money_factor(row["unit"]) is not None:
        return display_value(pd.Series(row))
    bound = "≥ " if row["lower_bound"] else ("≈ " if row["approximate"] else "")
    if row["unit"] == "percent":
        return bound + tr.percent(row["value"])
    unit = tr.name(row["unit_en"], row["unit_zh"]) if row["unit"] == row["unit_en"] \
        else row["unit"]
    return f"{bound}{tr.number(row['value'], 2, trim=True)} {unit}"


def show_comparable(figures: pd.DataFrame) -> None:
    """Figures of different metrics of one comparable group (400 bn output against ≥ 450 bn
    industry scale), side by side, each with the note on its basis; then their table."""
    st.subheader(tr("comparable.title"))
    st.caption(tr("comparable.caption"))
    if figures.empty:
        st.info(tr("comparable.none"))
        return
    for _, g in figures.groupby("group", sort=True):
        first = g.iloc[0]
        versus = tr("comparable.versus").join(metric_names.get(m, tr.name(e, z)) for m, e, z in
                                              zip(g["metric"], g["name_en"], g["name_zh"]))
        st.markdown(f"**{versus}** · "
                    f"{scope_name.get((first['scope_type'], first['scope_id']), first['scope_id'])}"
                    f" · {tr.period(first['period'], first['basis'])}")
        for col, r in zip(st.columns(len(g)), g.to_dict("records")):
            with col, st.container(border=True):
                st.metric(tr.name(r["name_en"], r["name_zh"]), figure_value(r))
                st.caption(tr("comparable.basis_note",
                              note=tr.name(r["basis_note_en"], r["basis_note_zh"])))
                st.caption(f"{r['source_title']} · " + tr(
                    "sources.conflict_detail", date=tr.date(r["published"]),
                    confidence=tr.label("confidence", r["confidence"])))
    notes = [tr.name(e, z) for e, z in zip(figures["basis_note_en"], figures["basis_note_zh"])]
    table = facts_table(figures).assign(**{tr("comparable.column"): notes,
                                           tr("comparable.group_column"): figures["group"]})
    st.dataframe(table, hide_index=True, key="comparable_table")
    downloads.downloads(table, tr, what="different-bases", scope="all",
                     title=tr("comparable.title"), filters="",
                     sources="; ".join(sorted(set(figures["source_title"]))),
                     run_id=info.latest_run_id, data_period=info.data_period,
                     key="dl_comparable", sample=False)


tab = st.segmented_control(tr("sources.section"), TABS, key=tab_param.key, required=True,
                           format_func=lambda t: tr(f"sources.tab_{t}"))

if tab == "facts":
    st.subheader(tr("sources.facts_title"))
    st.caption(tr("sources.facts_caption"))
    st.multiselect(tr("sources.filter_metric"), metric_options, key=metric_param.key,
                   format_func=lambda m: metric_names.get(m, m), placeholder=tr("common.all"))
    chosen = state.value(metric_param)
    shown = facts[facts["metric"].isin(chosen)] if chosen else facts
    table = facts_table(shown)
    st.dataframe(table, hide_index=True, key="facts_table", column_config={
        tr("columns.link"): st.column_config.TextColumn(),
        tr("columns.record"): st.column_config.CheckboxColumn(),
        tr("columns.quote"): st.column_config.TextColumn(width="large")})
    downloads.downloads(table, tr, what="reported-facts", scope="+".join(chosen[:2]) or "all",
                     title=tr("sources.facts_title"),
                     filters=", ".join(metric_names.get(m, m) for m in chosen),
                     sources="; ".join(sorted(set(shown["source_title"].dropna()))),
                     run_id=info.latest_run_id, data_period=info.data_period, key="dl_facts",
                     sample=False)

elif tab == "conflicts":
    show_comparable(comparable.comparable_figures(db))
    st.subheader(tr("sources.conflicts_title"))
    st.caption(tr("sources.conflicts_caption"))
    conflicts = sources.conflicts(db)
    if conflicts.empty:
        st.success(tr("sources.no_conflicts"))
    for group, g in conflicts.groupby("group", sort=True):
        first = g.iloc[0]
        st.markdown(f"**{metric_names.get(first['metric'], first['metric'])}** · "
                    f"{scope_name.get((first['scope_type'], first['scope_id']), first['scope_id'])}"
                    f" · {tr.period(first['period'])}")
        record = g[g["is_record"]]
        others = g[~g["is_record"]]
        if not record.empty and not others.empty:
            rec, other = record.iloc[0], others.iloc[0]
            if CONFIDENCE_ORDER.get(rec["confidence"], 5) < CONFIDENCE_ORDER.get(
                    other["confidence"], 5):
                why = tr("sources.why_confidence", confidence=tr.label("confidence",
                                                                       rec["confidence"]))
            elif (rec["published"] or "") > (other["published"] or ""):
                why = tr("sources.why_recent", date=tr.date(rec["published"]))
            else:
                why = tr("sources.why_first")
            st.caption(tr("sources.record_is", source=rec["source_title"], why=why))
        cols = st.columns(len(g))
        for col, r in zip(cols, g.to_dict("records")):
            with col, st.container(border=True):
                if r["is_record"]:
                    st.badge(tr("sources.series_of_record"), color="green",
                             icon=":material/check:")
                st.metric(r["source_title"], display_value(pd.Series(r)))
                st.caption(tr("sources.conflict_detail",
                              date=tr.date(r["published"]),
                              confidence=tr.label("confidence", r["confidence"])))
                if r["quote"]:
                    st.markdown(f"> {r['quote']}")
    if not conflicts.empty:
        table = facts_table(conflicts).assign(**{tr("columns.group"): conflicts["group"]})
        downloads.downloads(table, tr, what="conflicts", scope="all",
                         title=tr("sources.conflicts_title"), filters="",
                         sources="; ".join(sorted(set(conflicts["source_title"]))),
                         run_id=info.latest_run_id, data_period=info.data_period,
                         key="dl_conflicts", sample=False)

elif tab == "runs":
    st.subheader(tr("sources.runs_title"))
    st.caption(tr("sources.runs_caption"))
    runs = sources.etl_history(db)
    table = pd.DataFrame({
        tr("columns.run"): runs["id"],
        tr("columns.run_kind"): runs["kind"].map(lambda k: tr.label("run_kind", k)),
        tr("columns.status"): runs["status"].map(lambda s: tr.label("run_status", s)),
        tr("columns.started"): runs["started_at"].map(tr.timestamp),
        tr("columns.finished"): runs["finished_at"].map(tr.timestamp),
        tr("columns.data_period"): runs["data_period"],
        tr("columns.rows_read"): runs["rows_read"],
        tr("columns.rows_inserted"): runs["rows_inserted"],
        tr("columns.rows_updated"): runs["rows_updated"],
        tr("columns.rows_rejected"): runs["rows_rejected"],
        tr("columns.drop"): runs["drop_path"].fillna(runs["message"]),
    })
    st.dataframe(table, hide_index=True, key="runs_table")
    downloads.downloads(table, tr, what="etl-runs", scope="all", title=tr("sources.runs_title"),
                     filters="", sources="etl_runs", run_id=info.latest_run_id,
                     data_period=info.data_period, key="dl_runs", sample=False)

else:
    st.subheader(tr("sources.method_title"))
    for section in ("bases", "provenance", "sample", "conflicts", "forecasts", "accuracy"):
        st.markdown(f"#### {tr(f'methodology.{section}_title')}")
        st.markdown(tr(f"methodology.{section}"))
    counts = sources.provenance_counts(db)
    counts_table = pd.DataFrame({
        tr("columns.provenance"): counts["provenance"].map(lambda p: tr.label("provenance", p)),
        tr("columns.observations"): counts["observations"],
        tr("columns.metrics"): counts["metrics"],
        tr("columns.first_period"): counts["first_period"],
        tr("columns.last_period"): counts["last_period"]})
    st.markdown(f"**{tr('sources.provenance_table')}**")
    st.dataframe(counts_table, hide_index=True, key="provenance_table")
    accuracy = forecasts.forecast_accuracy(db)
    all_metrics = {r.code: tr.name(r.name_en, r.name_zh) for r in reference.metrics(db).itertuples()}
    st.markdown(f"**{tr('sources.accuracy_table')}**")
    if accuracy.empty:
        st.info(tr("sources.no_forecasts"))
    else:
        acc_table = pd.DataFrame({
            tr("columns.metric"): accuracy["metric"].map(lambda m: all_metrics.get(m, m)),
            tr("columns.scope"): [scope_name.get((t, i), i) for t, i in zip(
                accuracy["scope_type"], accuracy["scope_id"])],
            tr("columns.model"): accuracy["model"],
            tr("columns.last_period"): accuracy["last_period"],
            tr("columns.vintage"): accuracy["vintage_run_id"],
            tr("columns.mase"): accuracy["backtest_mase"].round(2),
            tr("columns.cov80"): (accuracy["backtest_cov80"] * 100).round(0),
            tr("columns.cov95"): (accuracy["backtest_cov95"] * 100).round(0)})
        st.dataframe(acc_table, hide_index=True, key="accuracy_all_table")
        downloads.downloads(acc_table, tr, what="forecast-accuracy", scope="all",
                         title=tr("sources.accuracy_table"), filters="",
                         sources="forecast_runs", run_id=info.latest_run_id,
                         data_period=info.data_period, key="dl_accuracy", sample=True)

state.sync(params)
