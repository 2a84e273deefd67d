"""Plotly figures: a DataFrame (already in display units) in, a Figure out.

One template (``aidash``) gives every chart the same fonts, colours and grid; zones keep one
colour everywhere (:func:`scope_colors`). Sample series are lines of circles, derived series
dotted lines of squares and reported figures diamonds on their own, never joined to the rest;
every trace names its provenance in the legend and the hover, so nobody mistakes generated data
for published figures.
All text comes from the translator.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from app.i18n import Translator
from app.series_lines import LINE_PROVENANCES, kinds
from models.tables import FORECAST_BANDS

TEMPLATE_NAME = "aidash"
# Shanghai red first, then calm, print-friendly colours (distinct in greyscale too).
PALETTE = ("#C8102E", "#1F4E79", "#2A9D8F", "#E9A23B", "#6D597A", "#3A7CA5", "#B56576",
           "#577590", "#7CA982", "#F3722C", "#8D99AE", "#A44A3F")
REPORTED_SYMBOL = "diamond"
SAMPLE_SYMBOL = "circle"
DERIVED_SYMBOL = "square"
TARGET_COLOR = "#7A1F2B"
NEUTRAL = "#5B6770"
GRID = "#E6E9EC"
CHART_HEIGHT = 420


def _register_template() -> None:
    base = pio.templates["plotly_white"]
    template = go.layout.Template(base)
    template.layout.update(
        colorway=list(PALETTE),
        font={"size": 13, "color": "#1F2A33"},
        title={"font": {"size": 16}, "x": 0.0, "xanchor": "left"},
        paper_bgcolor="white",
        plot_bgcolor="white",
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"orientation": "h", "yanchor": "top", "y": -0.12, "xanchor": "left", "x": 0.0,
                    "bgcolor": "rgba(255,255,255,0)"},
        hoverlabel={"bgcolor": "white", "font_size": 12},
        separators=".,",
    )
    template.layout.xaxis.update(gridcolor=GRID, linecolor="#9AA5AE", ticks="outside")
    template.layout.yaxis.update(gridcolor=GRID, zerolinecolor=GRID, tickformat=",~f")
    pio.templates[TEMPLATE_NAME] = template


_register_template()


def scope_colors(scope_ids: list[str]) -> dict[str, str]:
    """A stable colour per scope: the n-th scope of the canonical order gets the n-th colour.

    Pass the full ordered list (e.g. every zone) so that a zone keeps its colour whichever
    subset a chart shows.
    """
    return {sid: PALETTE[i % len(PALETTE)] for i, sid in enumerate(scope_ids)}


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _layout(fig: go.Figure, tr: Translator, *, title: str | None = None,
            y_title: str | None = None, height: int = CHART_HEIGHT) -> go.Figure:
    fig.update_layout(template=TEMPLATE_NAME, font_family=tr.font_family, height=height,
                      title_text=title, yaxis_title=y_title, hovermode="closest")
    return fig


def fan_traces(fc: pd.DataFrame, color: str, name: str, tr: Translator, *,
               legendgroup: str | None = None, show_legend: bool = True) -> list[go.Scatter]:
    """The 95 % and 80 % bands (filled polygons) and the dashed mean of one forecast.

    :param fc: rows with ``period_end``, the bands of :data:`models.tables.FORECAST_BANDS`
        in display units, and ``period``.
    """
    fc = fc.sort_values("period_end")
    x = list(fc["period_end"])
    group = legendgroup or f"fc-{name}"
    traces = []
    for level, alpha in (("95", 0.12), ("80", 0.24)):
        traces.append(go.Scatter(
            x=x + x[::-1], y=list(fc[f"hi_{level}"]) + list(fc[f"lo_{level}"])[::-1],
            fill="toself", fillcolor=_rgba(color, alpha), line={"width": 0},
            mode="lines", hoverinfo="skip", name=tr(f"charts.interval_{level}"),
            legendgroup=group, showlegend=False, meta={"role": f"fan{level}"}))
    traces.append(go.Scatter(
        x=x, y=fc["mean"], mode="lines", line={"color": color, "dash": "dash", "width": 2},
        name=tr("charts.forecast_of", name=name), legendgroup=group, showlegend=show_legend,
        customdata=fc[[*FORECAST_BANDS[1:], "period"]].to_numpy(),
        hovertemplate=(f"<b>{tr('charts.forecast_of', name=name)}</b><br>%{{customdata[4]}}: "
                       "%{y:,.1f}<br>" + tr("charts.interval_80") + ": %{customdata[0]:,.1f}"
                       " – %{customdata[1]:,.1f}<br>" + tr("charts.interval_95")
                       + ": %{customdata[2]:,.1f} – %{customdata[3]:,.1f}<extra></extra>"),
        meta={"role": "forecast"}))
    return traces


def _hover_fields(rows: pd.DataFrame, tr: Translator) -> np.ndarray:
    """Per point: period, bound prefix, source title, publication date, published scope."""
    n = len(rows)

    def col(name: str) -> pd.Series:
        if name in rows.columns:
            return rows[name].astype("object").where(rows[name].notna(), "")
        return pd.Series([""] * n, index=rows.index, dtype="object")

    lower, approx = col("lower_bound"), col("approximate")
    bounds = ["≥ " if lb != "" and bool(lb) else ("≈ " if ap != "" and bool(ap) else "")
              for lb, ap in zip(lower, approx)]
    published = [tr.date(d) if d else "" for d in col("source_published")]
    scope = ["<br>" + tr("series_provenance.published_scope", scope=s) if s else ""
             for s in col("scope_label")]
    return np.column_stack([col("period").astype(str), bounds, col("source_title").astype(str),
                            published, scope]) if n else np.empty((0, 5), dtype=object)


def _kind_name(name: str, kind: dict[str, object], tr: Translator, qualify: bool) -> str:
    """``Zone A (sample)``; with ``qualify`` also the unit and basis, for a scope that has
    several kinds of one provenance (points that must not share a line)."""
    parts = [tr.label("provenance", str(kind.get("provenance") or ""))]
    if qualify:
        parts += [str(kind["unit"])] if kind.get("unit") else []
        parts += [tr.label("basis", str(kind["basis"]))] if kind.get("basis") else []
    return tr("series_provenance.kind_name", name=name,
              kinds=tr("series_provenance.kind_join").join(parts))


def _kind_trace(rows: pd.DataFrame, kind: dict[str, object], tr: Translator, *, name: str,
                scope_id: str, color: str, value_format: str, y_suffix: str) -> go.Scatter:
    """One kind of one scope: a line (sample, derived) or markers only (reported)."""
    provenance = str(kind.get("provenance") or "")
    label = tr.label("provenance", provenance)
    value = f"%{{customdata[1]}}%{{y:{value_format}}}{y_suffix}"
    head = f"<b>{name}</b><br>%{{customdata[0]}}: {value}<br>"
    custom = _hover_fields(rows, tr)
    if provenance in LINE_PROVENANCES:
        return go.Scatter(
            x=rows["period_end"], y=rows["y"], mode="lines+markers", name=name,
            legendgroup=scope_id, line={"color": color, "width": 2.4,
                                        "dash": "solid" if provenance == "sample" else "dot"},
            marker={"symbol": SAMPLE_SYMBOL if provenance == "sample" else DERIVED_SYMBOL,
                    "size": 7, "color": color},
            customdata=custom, hovertemplate=head + label + "<extra></extra>",
            meta={"role": f"line-{provenance}", "provenance": provenance,
                  "basis": kind.get("basis"), "unit": kind.get("unit")})
    return go.Scatter(
        x=rows["period_end"], y=rows["y"], mode="markers", name=name, legendgroup=scope_id,
        marker={"symbol": REPORTED_SYMBOL, "size": 12, "color": color,
                "line": {"width": 1, "color": "white"}},
        customdata=custom,
        hovertemplate=(head + tr("series_provenance.reported_from", source="%{customdata[2]}",
                                 date="%{customdata[3]}") + "%{customdata[4]}<extra></extra>"),
        meta={"role": "points-reported", "provenance": provenance, "basis": kind.get("basis"),
              "unit": kind.get("unit")})


def trend_chart(df: pd.DataFrame, tr: Translator, *, names: dict[str, str],
                colors: dict[str, str], y_title: str, title: str | None = None,
                forecasts: pd.DataFrame | None = None, value_format: str = ",.1f",
                y_suffix: str = "") -> go.Figure:
    """Per scope, one line per kind of sample or derived points and reported figures as
    markers of their own (:mod:`app.series_lines`): no line joins a published figure to sample
    data, or points on another unit or basis. Every trace says its provenance in the legend and
    the hover; a reported point's hover names its source, publication date and published scope.

    :param df: ``scope_id``, ``period``, ``period_end``, ``y`` (display units), ``provenance``;
        optional ``basis``, ``unit``, ``source_title``, ``source_published``, ``scope_label``,
        ``lower_bound``, ``approximate``.
    :param names: scope id → display name (legend).
    :param colors: scope id → colour.
    :param forecasts: optional fans: ``scope_id`` plus the columns of :func:`fan_traces`.
    """
    fig = go.Figure()
    # Legend and drawing order follow the canonical scope order (the colours' order).
    order = [s for s in colors if s in set(df["scope_id"])] + [
        s for s in dict.fromkeys(df["scope_id"]) if s not in colors]
    for scope_id in order:
        color = colors.get(scope_id, NEUTRAL)
        name = str(names.get(scope_id, scope_id))
        groups = kinds(df[df["scope_id"] == scope_id])
        per_provenance = Counter(str(k.get("provenance")) for k, _ in groups)
        for kind, rows in groups:
            qualify = per_provenance[str(kind.get("provenance"))] > 1
            fig.add_trace(_kind_trace(rows, kind, tr, name=_kind_name(name, kind, tr, qualify),
                                      scope_id=scope_id, color=color,
                                      value_format=value_format, y_suffix=y_suffix))
        if forecasts is not None and not forecasts.empty:
            fc = forecasts[forecasts["scope_id"] == scope_id]
            if not fc.empty:
                for trace in fan_traces(fc, color, name, tr, legendgroup=scope_id,
                                        show_legend=False):
                    fig.add_trace(trace)
    if forecasts is not None and not forecasts.empty:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=tr("charts.forecast"),
                                 line={"color": NEUTRAL, "dash": "dash"},
                                 meta={"role": "legend-forecast"}))
    _layout(fig, tr, title=title, y_title=y_title)
    fig.update_yaxes(ticksuffix=y_suffix)
    return fig


def headline_chart(sample: pd.DataFrame, reported: pd.DataFrame, fc: pd.DataFrame,
                   target_rows: pd.DataFrame, tr: Translator, *, title: str | None = None
                   ) -> go.Figure:
    """The city's quarterly sample revenue with its forecast fan (left axis), reported annual
    output figures and the policy target (right axis, four times the left so a quarter lines up
    with a year's run rate). All money in display units.

    :param sample: the city's quarterly series: ``scope_id``, ``period``, ``period_end``, ``y``,
        ``provenance`` (and ``basis``, ``unit``); only its sample points form the line.
    :param reported: ``period``, ``period_end``, ``y``, ``label`` (metric name), ``source_title``,
        ``source_published``, optional ``scope_label``, ``lower_bound``, ``approximate``.
    :param fc: forecast rows (display units) or empty.
    :param target_rows: ``period``, ``period_end``, ``y``, ``label``, ``source_title``.
    """
    fig = go.Figure()
    unit = tr.money_unit
    for kind, rows in kinds(sample):
        if kind.get("provenance") != "sample":
            # A published or derived quarter is never joined to the sample line.
            label = tr.label("provenance", str(kind.get("provenance")))
            name = tr("series_provenance.kind_name",
                      name=tr("series_provenance.revenue_quarterly"), kinds=label)
            fig.add_trace(_kind_trace(rows, kind, tr, name=name, scope_id="headline",
                                      color=PALETTE[1],
                                      value_format=",.1f", y_suffix=" " + unit))
            continue
        fig.add_trace(go.Scatter(
            x=rows["period_end"], y=rows["y"], mode="lines+markers",
            name=tr("overview.headline_sample"), line={"color": PALETTE[1], "width": 2.6},
            marker={"symbol": SAMPLE_SYMBOL, "size": 7},
            customdata=rows[["period"]].to_numpy(),
            hovertemplate=("<b>" + tr("overview.headline_sample") + "</b><br>%{customdata[0]}: "
                           "%{y:,.1f} " + unit + "<extra></extra>"),
            meta={"role": "sample", "provenance": "sample", "basis": kind.get("basis"),
                  "unit": kind.get("unit")}))
    if not fc.empty:
        for trace in fan_traces(fc, PALETTE[1], tr("overview.headline_sample_short"), tr):
            fig.add_trace(trace)
    palette = iter(PALETTE[2:])
    if not reported.empty:
        for label, g in reported.groupby("label", sort=False):
            fig.add_trace(go.Scatter(
                x=g["period_end"], y=g["y"], mode="markers", yaxis="y2",
                name=f"{label} ({tr('provenance.reported')})",
                marker={"symbol": REPORTED_SYMBOL, "size": 13, "color": next(palette),
                            "line": {"width": 1, "color": "white"}},
                customdata=_hover_fields(g, tr),
                hovertemplate=(f"<b>{label}</b><br>%{{customdata[0]}}: %{{customdata[1]}}"
                               f"%{{y:,.1f}} {unit}<br>"
                               + tr("series_provenance.reported_from", source="%{customdata[2]}",
                                    date="%{customdata[3]}")
                               + "%{customdata[4]}<extra></extra>"),
                meta={"role": "reported", "provenance": "reported"}))
    x_start = sample["period_end"].min() if not sample.empty else None
    for row in target_rows.itertuples(index=False):
        start = x_start if x_start is not None and x_start < row.period_end else row.period_end
        name = tr("overview.target_label", period=row.period)
        fig.add_trace(go.Scatter(
            x=[start, row.period_end], y=[row.y, row.y], mode="lines+markers", yaxis="y2",
            name=name, line={"color": TARGET_COLOR, "dash": "dot", "width": 2},
            marker={"symbol": ["line-ew", "star"], "size": [1, 15], "color": TARGET_COLOR},
            hovertemplate=(f"<b>{name}</b><br>{row.label}: %{{y:,.1f}} {unit}<br>"
                           f"{row.source_title}<extra></extra>"),
            meta={"role": "target"}))
    # Right axis = 4 × left axis: a quarter at its annual run rate sits level with a year.
    highs = [sample["y"].max() if not sample.empty else 0.0]
    if not fc.empty:
        highs.append(fc["hi_95"].max())
    for frame in (reported, target_rows):
        if not frame.empty:
            highs.append(frame["y"].max() / 4.0)
    top = max(h for h in highs if pd.notna(h)) * 1.12 or 1.0
    _layout(fig, tr, title=title, height=460)
    fig.update_layout(
        yaxis={"title": tr("overview.axis_quarterly", unit=unit), "range": [0, top],
                   "tickformat": ",.0f"},
        yaxis2={"title": tr("overview.axis_annual", unit=unit), "range": [0, top * 4],
                    "overlaying": "y", "side": "right", "showgrid": False, "tickformat": ",.0f"},
        hovermode="closest")
    return fig


def vintage_chart(actuals: pd.DataFrame, vintages: pd.DataFrame, tr: Translator, *,
                  y_title: str, title: str | None = None) -> go.Figure:
    """Past forecasts against what happened: the actual series (solid) and each vintage's mean
    with its 80 % band, labelled by the run it was made from.

    :param actuals: ``period``, ``period_end``, ``y`` and, from a series query, ``scope_id``,
        ``provenance``, ``basis``, ``unit``: one line per sample or derived kind, reported
        figures as markers of their own.
    :param vintages: ``vintage_run_id``, ``last_period``, ``period``, ``period_end``, ``mean``,
        ``lo_80``, ``hi_80`` (display units).
    """
    fig = go.Figure()
    groups = kinds(actuals) if "provenance" in actuals.columns else [({}, actuals)]
    for kind, rows in groups:
        provenance = str(kind.get("provenance") or "")
        if provenance and provenance not in LINE_PROVENANCES:
            # Published figures among the actuals: markers of their own, never on the line.
            fig.add_trace(_kind_trace(rows, kind, tr, name=tr(
                "series_provenance.kind_name", name=tr("charts.actual"),
                kinds=tr.label("provenance", provenance)),
                                      scope_id="actual", color="#1F2A33", value_format=",.1f",
                                      y_suffix=""))
            continue
        name = tr("series_provenance.kind_name", name=tr("charts.actual"), kinds=tr.label(
            "provenance", provenance)) if provenance else tr("charts.actual")
        fig.add_trace(go.Scatter(
            x=rows["period_end"], y=rows["y"], mode="lines+markers", name=name,
            line={"color": "#1F2A33", "width": 2.6}, marker={"size": 6},
            customdata=rows[["period"]].to_numpy(),
            hovertemplate=("%{customdata[0]}: %{y:,.1f}"
                           + (f"<br>{tr.label('provenance', provenance)}" if provenance else "")
                           + "<extra></extra>"),
            meta={"role": "actual", "provenance": provenance or None,
                  "basis": kind.get("basis"), "unit": kind.get("unit")}))
    runs = list(dict.fromkeys(vintages["vintage_run_id"])) if not vintages.empty else []
    for i, run in enumerate(runs):
        g = vintages[vintages["vintage_run_id"] == run].sort_values("period_end")
        color = PALETTE[(i + 2) % len(PALETTE)]
        name = tr("charts.vintage", run=run, period=g["last_period"].iloc[0])
        x = list(g["period_end"])
        fig.add_trace(go.Scatter(
            x=x + x[::-1], y=list(g["hi_80"]) + list(g["lo_80"])[::-1], fill="toself",
            mode="lines", fillcolor=_rgba(color, 0.15), line={"width": 0}, hoverinfo="skip",
            legendgroup=str(run), showlegend=False, meta={"role": "fan80"}))
        fig.add_trace(go.Scatter(
            x=x, y=g["mean"], mode="lines+markers", name=name, legendgroup=str(run),
            line={"color": color, "dash": "dash", "width": 2}, marker={"size": 5},
            customdata=g[["period"]].to_numpy(),
            hovertemplate=f"<b>{name}</b><br>%{{customdata[0]}}: %{{y:,.1f}}<extra></extra>",
            meta={"role": "vintage"}))
    _layout(fig, tr, title=title, y_title=y_title)
    return fig
