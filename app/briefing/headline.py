"""The first half of a briefing: the headline figures with their sources, the quarter's
sample figures, the city's trend with its forecast fan and the chance of reaching the target,
all read through the dashboard's own query functions.
"""

from __future__ import annotations

import re
from datetime import date

import pandas as pd
from sqlalchemy.engine import Engine

from app import target_probability
from app.briefing import charts, numbers
from app.briefing.citing import citation
from app.briefing.model import Citations, Figure, Note, Paragraph, Section, Table
from app.i18n import Translator
from app.queries import changes, forecasts, overview, series
from models.metrics import COUNT_METRIC, REVENUE_METRIC
from models.periods import shift_quarter
from models.tables import CITY_SCOPE_ID

# At most this many reported figures head the briefing (the newest first).
MAX_REPORTED = 8
# Reported figures count as current if they are of the quarter's year or the year before.
REPORTED_YEARS = 2
# The trend shows this many quarters of history before the forecast.
TREND_QUARTERS = 12
TREND_FILE = "trend.svg"
# Reported bases a headline shows: the whole year, one quarter, the year to date.
HEADLINE_BASES = ("annual", "quarterly", "ytd")
_PERCENT = re.compile(r"^percent")


def _year(period: str) -> int:
    return int(str(period)[:4])


def reported_figures(engine: Engine, quarter: str, quarter_end: date) -> pd.DataFrame:
    """The city's reported money and growth figures of the quarter's year and the year before
    (periods ending by the quarter's end; the latest publication of each, as the overview's
    cards read them), newest first, at most :data:`MAX_REPORTED`."""
    df = series.city_reported(engine)
    if df.empty:
        return df
    money = df["value_bn"].notna()
    growth = df["unit"].astype(str).str.match(_PERCENT) & df["metric"].str.contains("growth")
    keep = ((money | growth) & df["basis"].isin(HEADLINE_BASES)
            & ~df["metric"].str.contains(overview.NOT_OUTPUT)
            & (df["period_end"].dt.date <= quarter_end)
            & (df["period"].map(_year) > _year(quarter) - REPORTED_YEARS))
    picked = df[keep].sort_values(["period_end", "metric"], ascending=[False, True])
    return picked.head(MAX_REPORTED).reset_index(drop=True)


def figure_value(row: dict, tr: Translator) -> str:
    """A reported figure as written: money in the reader's unit, growth signed, with ≥ / ≈."""
    prefix = "≥ " if row.get("lower_bound") else ("≈ " if row.get("approximate") else "")
    if not numbers.missing(row.get("value_bn")):
        return prefix + tr.money(row["value_bn"])
    return prefix + numbers.change(tr, row["value"])


def _source(row: dict) -> dict:
    return {"title": row.get("source_title"), "published": row.get("source_published"),
            "provenance": row.get("provenance"), "url_or_publication": row.get("outlet")}


def headline_section(engine: Engine, quarter: str, quarter_end: date, tr: Translator,
                     cited: Citations) -> Section:
    """The reported figures (value, provenance, source and date) and the quarter's sample
    figures, each in a table, with the sentences that lead them."""
    section = Section(tr("briefing.headline_title"))
    reported = reported_figures(engine, quarter, quarter_end)
    outlets = changes.cited_sources(engine, [int(s) for s in reported["source_id"]]) \
        if not reported.empty else pd.DataFrame(columns=["id", "url_or_publication"])
    outlet_of = dict(zip(outlets["id"], outlets["url_or_publication"]))
    rows: list[list[str]] = []
    sentences: list[str] = []
    for rec in reported.to_dict("records"):
        rec["outlet"] = outlet_of.get(rec["source_id"])
        number = cited.cite(rec["source_id"])
        name = tr.name(rec["name_en"], rec["name_zh"])
        where = citation(number, _source(rec), tr)
        value = figure_value(rec, tr)
        period = tr.period(rec["period"], rec["basis"])
        rows.append([name, period, value, tr.label("provenance", "reported"), where])
        if len(sentences) < 3:
            sentences.append(tr("briefing.reported_sentence", name=name, period=period,
                                value=value, source=where))
    if rows:
        section.blocks.append(Paragraph(tr("briefing.sentence_join").join(sentences)))
        section.blocks.append(Table(
            [tr("briefing.col_figure"), tr("columns.period"), tr("columns.value"),
             tr("columns.provenance"), tr("briefing.col_source")], rows,
            [3.2, 1.4, 1.6, 1.1, 2.6]))
    else:
        section.blocks.append(Paragraph(tr("briefing.no_reported", quarter=tr.period(quarter))))
    sample_rows, lead = sample_figures(engine, quarter, tr, cited)
    if lead:
        section.blocks.append(Paragraph(lead))
    if sample_rows:
        section.blocks.append(Table(
            [tr("briefing.col_figure"), tr("columns.period"), tr("columns.value"),
             tr("briefing.col_change"), tr("columns.provenance"), tr("briefing.col_source")],
            sample_rows, [3.0, 1.4, 1.5, 1.5, 1.0, 1.5]))
        section.blocks.append(Note(tr("briefing.sample_table_note")))
    return section


def _at(df: pd.DataFrame, period: str) -> dict | None:
    rows = df[df["period"] == period]
    return rows.iloc[0].to_dict() if not rows.empty else None


def sample_figures(engine: Engine, quarter: str, tr: Translator,
                   cited: Citations) -> tuple[list[list[str]], str]:
    """Rows for the quarter's sample figures (city revenue, active firms, registered models,
    computing power) and the sentence that sums them up."""
    rows: list[list[str]] = []
    sample_label = tr.label("provenance", "sample")
    revenue = series.series(engine, REVENUE_METRIC, "city", [CITY_SCOPE_ID], basis="quarterly")
    now, before = _at(revenue, quarter), _at(revenue, shift_quarter(quarter, -4))
    lead = ""
    if now is not None:
        pct = (now["value"] / before["value"] - 1.0) * 100.0 if before and before["value"] \
            else None
        where = citation(cited.cite(now["source_id"]), {"provenance": "sample"}, tr)
        rows.append([tr("briefing.sample_revenue"), tr.period(quarter), tr.money(now["value_bn"]),
                     tr("briefing.vs_year_before", pct=numbers.change(tr, pct)) if pct is not None
                     else "—", sample_label, where])
        lead = tr("briefing.sample_sentence", quarter=tr.period(quarter),
                  value=tr.money(now["value_bn"]),
                  change=tr("briefing.up" if (pct or 0) >= 0 else "briefing.down",
                            pct=tr.percent(abs(pct or 0.0))))
    firms = series.series(engine, COUNT_METRIC, "city", [CITY_SCOPE_ID])
    now_f, before_f = _at(firms, quarter), _at(firms, shift_quarter(quarter, -1))
    if now_f is not None:
        added = now_f["value"] - before_f["value"] if before_f else None
        rows.append([tr("briefing.sample_firms"), tr.period(quarter),
                     numbers.count(tr, now_f["value"]),
                     tr("briefing.vs_quarter_before", n=numbers.signed_count(tr, added))
                     if added is not None else "—", sample_label,
                     citation(cited.cite(now_f["source_id"]), {"provenance": "sample"}, tr)])
        lead += tr("briefing.firms_sentence", firms=numbers.count(tr, now_f["value"]))
    for key, metric, fmt in (("models", overview.ZONE_MODELS, numbers.count),
                             ("computing", overview.ZONE_PFLOPS, None)):
        totals = overview.zone_totals(engine, metric)
        row = _at(totals, quarter)
        if row is None:
            continue
        value = fmt(tr, row["value"]) if fmt else tr("units.pflops_fmt",
                                                    value=tr.number(row["value"]))
        # Zone totals sum the drops' zone files: their source is the sample generator too.
        source = citation(cited.cite(now["source_id"]) if now is not None else None,
                          {"provenance": "sample"}, tr) if row["provenance"] == "sample" else "—"
        rows.append([tr(f"briefing.sample_{key}"), tr.period(quarter), value, "—",
                     tr.label("provenance", row["provenance"]), source])
    return rows, lead


def trend_section(engine: Engine, quarter: str, tr: Translator, cited: Citations,
                  charts_out: dict[str, bytes]) -> Section:
    """The city's sample revenue with the forecast made from the data up to the quarter, the
    published annual figures and the target, and the chance of reaching the target."""
    section = Section(tr("briefing.trend_title"))
    scale = tr.money_scale()
    revenue = series.series(engine, REVENUE_METRIC, "city", [CITY_SCOPE_ID], basis="quarterly")
    revenue = revenue[revenue["period"] <= quarter].tail(TREND_QUARTERS)
    sample = pd.DataFrame({"period": revenue["period"], "y": revenue["value_bn"] * scale})
    vintages = forecasts.forecast_vintages(engine, REVENUE_METRIC, "city", CITY_SCOPE_ID,
                                           "quarterly")
    vintages = vintages[vintages["last_period"] <= quarter]
    fan = pd.DataFrame(columns=["period", "mean", "lo_80", "hi_80", "lo_95", "hi_95"])
    run = None
    if not vintages.empty and not revenue.empty:
        run = vintages.iloc[-1]
        points = vintages[vintages["vintage_run_id"] == run["vintage_run_id"]]
        factor = revenue["value_bn"].iloc[-1] / revenue["value"].iloc[-1]
        fan = points[["period", *fan.columns[1:]]].copy()
        for band in fan.columns[1:]:
            fan[band] = fan[band] * factor * scale
    annual = annual_points(engine, quarter, tr)
    labels = charts.TrendLabels(
        sample=tr("overview.headline_sample"), forecast=tr("charts.forecast"),
        interval_80=tr("charts.interval_80"), interval_95=tr("charts.interval_95"),
        reported=tr("briefing.reported_annual"), target=tr("overview.target"),
        left_axis=tr("overview.axis_quarterly", unit=tr.money_unit),
        right_axis=tr("overview.axis_annual", unit=tr.money_unit))
    if sample.empty:
        section.blocks.append(Paragraph(tr("overview.no_headline")))
        return section
    periods = [*sample["period"], *fan["period"]]
    charts_out[TREND_FILE] = charts.trend_chart(sample, fan, annual, labels,
                                                {p: tr.period(p) for p in periods})
    section.blocks.append(Figure(TREND_FILE, tr("briefing.trend_caption")))
    if run is not None:
        section.blocks.append(Note(tr("briefing.forecast_note", run=int(run["vintage_run_id"]),
                                      period=tr.period(str(run["last_period"])),
                                      cov80=tr.percent((run["backtest_cov80"] or 0) * 100, 0),
                                      cov95=tr.percent((run["backtest_cov95"] or 0) * 100, 0))))
    section.blocks.extend(target_blocks(engine, quarter, tr, cited))
    return section


def annual_points(engine: Engine, quarter: str, tr: Translator) -> pd.DataFrame:
    """Published annual money figures and targets of the city, in the display unit."""
    reported = series.city_reported(engine)
    reported = reported[reported["value_bn"].notna() & (reported["basis"] == "annual")
                        & ~reported["metric"].str.contains(overview.NOT_OUTPUT)]
    targets = series.targets(engine)
    targets = targets[targets["value_bn"].notna()]
    scale = tr.money_scale()
    return pd.concat([
        pd.DataFrame({"period": reported["period"], "y": reported["value_bn"] * scale,
                      "kind": "reported"}),
        pd.DataFrame({"period": targets["period"], "y": targets["value_bn"] * scale,
                      "kind": "target"})], ignore_index=True)


def target_blocks(engine: Engine, quarter: str, tr: Translator, cited: Citations) -> list:
    """The targets not yet past in the quarter's year, with their source and, where stored,
    the chance of reaching them with its provenance, basis and method
    (:mod:`app.target_probability`)."""
    blocks: list = []
    targets = series.targets(engine)
    targets = targets[targets["period_end"].dt.year >= _year(quarter)]
    tracking = series.target_tracking(engine)
    odds_by = {int(r["target_id"]): r for r in tracking.to_dict("records")}
    for t in targets[targets["value_bn"].notna()].to_dict("records"):
        source = citation(cited.cite(t["source_id"]), _source(t), tr)
        label = tr.name(t["name_en"], t["name_zh"])
        text = tr("overview.target_text", label=label, period=tr.period(t["period"]),
                  value=("≥ " if t["lower_bound"] else "") + tr.money(t["value_bn"]),
                  source=source)
        odds = odds_by.get(int(t["id"]))
        if odds is None:
            blocks.append(Paragraph(text + " " + tr("overview.target_no_probability")))
            continue
        recorded = target_probability.LOGNORMAL_METHOD.match(str(odds.get("method") or ""))
        if recorded and recorded["note"]:
            # The stored note is free English text (it may quote a Chinese term); the basis
            # sentence says what it says, in the reader's language.
            odds = {**odds, "method": str(odds["method"])[:recorded.start("note")].strip()}
        note = target_probability.describe(t, odds, tr)
        blocks.append(Paragraph(text + tr("target_probability.separator") + note.chance))
        method = note.method
        if tr.lang != target_probability.RECORDED_LANG and not \
                target_probability.LOGNORMAL_METHOD.match(str(odds.get("method") or "")):
            method = tr("briefing.method_recorded_in_english")
        blocks.append(Note(tr("briefing.labelled", label=note.label,
                              text=f"{note.basis}{note.separator}{method}")))
    return blocks
