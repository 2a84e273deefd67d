"""Plotly figures: a DataFrame (already in display units) in, a Figure out.

One template (``aidash``) gives every chart the same fonts, colours and grid; zones keep one
colour everywhere (:func:`scope_colors`). Reported points are diamonds and sample points
circles, each with a legend entry, so nobody mistakes generated data for published figures.
All text comes from the translator.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from app.i18n import Translator

TEMPLATE_NAME = "aidash"
# Shanghai red first, then calm, print-friendly colours (distinct in greyscale too).
PALETTE = ("#C8102E", "#1F4E79", "#2A9D8F", "#E9A23B", "#6D597A", "#3A7CA5", "#B56576",
           "#577590", "#7CA982", "#F3722C", "#8D99AE", "#A44A3F")
REPORTED_SYMBOL = "diamond"
SAMPLE_SYMBOL = "circle"
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

    :param fc: rows with ``period_end``, ``mean``, ``lo_80``, ``hi_80``, ``lo_95``, ``hi_95``
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
        customdata=fc[["lo_80", "hi_80", "lo_95", "hi_95", "period"]].to_numpy(),
        hovertemplate=(f"<b>{tr('charts.forecast_of', name=name)}</b><br>%{{customdata[4]}}: "
                       "%{y:,.1f}<br>" + tr("charts.interval_80") + ": %{customdata[0]:,.1f}"
                       " – %{customdata[1]:,.1f}<br>" + tr("charts.interval_95")
                       + ": %{customdata[2]:,.1f} – %{customdata[3]:,.1f}<extra></extra>"),
        meta={"role": "forecast"}))
    return traces


def _legend_marker(symbol: str, label: str, group: str) -> go.Scatter:
    """A legend-only entry (grey marker) explaining a marker symbol."""
    return go.Scatter(x=[None], y=[None], mode="markers", name=label, legendgroup=group,
                      marker={"symbol": symbol, "size": 10, "color": NEUTRAL},
                      showlegend=True, hoverinfo="skip", meta={"role": f"legend-{group}"})


def trend_chart(df: pd.DataFrame, tr: Translator, *, names: dict[str, str],
                colors: dict[str, str], y_title: str, title: str | None = None,
                forecasts: pd.DataFrame | None = None, value_format: str = ",.1f",
                y_suffix: str = "") -> go.Figure:
    """Lines per scope over time; reported points as diamonds, sample points as circles.

    :param df: ``scope_id``, ``period``, ``period_end``, ``y`` (display units), ``provenance``,
        optional ``source_title``.
    :param names: scope id → display name (legend).
    :param colors: scope id → colour.
    :param forecasts: optional fans: ``scope_id`` plus the columns of :func:`fan_traces`.
    """
    fig = go.Figure()
    if "source_title" not in df.columns:
        df = df.assign(source_title="")
    # Legend and drawing order follow the canonical scope order (the colours' order).
    order = [s for s in colors if s in set(df["scope_id"])] + [
        s for s in dict.fromkeys(df["scope_id"]) if s not in colors]
    for scope_id in order:
        g = df[df["scope_id"] == scope_id].sort_values("period_end")
        color = colors.get(scope_id, NEUTRAL)
        name = str(names.get(scope_id, scope_id))
        fig.add_trace(go.Scatter(
            x=g["period_end"], y=g["y"], mode="lines", name=name, legendgroup=scope_id,
            line={"color": color, "width": 2.4}, hoverinfo="skip", meta={"role": "line"}))
        for provenance, symbol in (("sample", SAMPLE_SYMBOL), ("reported", REPORTED_SYMBOL)):
            pts = g[g["provenance"] == provenance] if provenance == "reported" else g[
                g["provenance"] != "reported"]
            if pts.empty:
                continue
            fig.add_trace(go.Scatter(
                x=pts["period_end"], y=pts["y"], mode="markers", name=name,
                legendgroup=scope_id, showlegend=False,
                marker={"symbol": symbol, "size": 11 if provenance == "reported" else 7,
                            "color": color, "line": {"width": 1, "color": "white"}},
                customdata=pts[["period", "source_title"]].fillna("").to_numpy(),
                hovertemplate=(f"<b>{name}</b><br>%{{customdata[0]}}: %{{y:{value_format}}}"
                               f"{y_suffix}<br>{tr('provenance.' + provenance)}"
                               + ("<br>%{customdata[1]}" if provenance == "reported" else "")
                               + "<extra></extra>"),
                meta={"role": f"points-{provenance}"}))
        if forecasts is not None and not forecasts.empty:
            fc = forecasts[forecasts["scope_id"] == scope_id]
            if not fc.empty:
                for trace in fan_traces(fc, color, name, tr, legendgroup=scope_id,
                                        show_legend=False):
                    fig.add_trace(trace)
    if not df.empty:
        fig.add_trace(_legend_marker(SAMPLE_SYMBOL, tr("provenance.sample"), "sample"))
        if (df["provenance"] == "reported").any():
            fig.add_trace(_legend_marker(REPORTED_SYMBOL, tr("provenance.reported"), "reported"))
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

    :param sample: ``period``, ``period_end``, ``y``.
    :param reported: ``period``, ``period_end``, ``y``, ``label`` (metric name), ``source_title``,
        ``bound`` ("≥", "≈" or "").
    :param fc: forecast rows (display units) or empty.
    :param target_rows: ``period``, ``period_end``, ``y``, ``label``, ``source_title``.
    """
    fig = go.Figure()
    unit = tr.money_unit
    fig.add_trace(go.Scatter(
        x=sample["period_end"], y=sample["y"], mode="lines+markers",
        name=tr("overview.headline_sample"), line={"color": PALETTE[1], "width": 2.6},
        marker={"symbol": SAMPLE_SYMBOL, "size": 7},
        customdata=sample[["period"]].to_numpy(),
        hovertemplate=("<b>" + tr("overview.headline_sample") + "</b><br>%{customdata[0]}: "
                       "%{y:,.1f} " + unit + "<extra></extra>"),
        meta={"role": "sample"}))
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
                customdata=g[["period", "source_title", "bound"]].fillna("").to_numpy(),
                hovertemplate=(f"<b>{label}</b><br>%{{customdata[0]}}: %{{customdata[2]}}"
                               f"%{{y:,.1f}} {unit}<br>{tr('provenance.reported')}: "
                               "%{customdata[1]}<extra></extra>"),
                meta={"role": "reported"}))
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

    :param actuals: ``period``, ``period_end``, ``y``.
    :param vintages: ``vintage_run_id``, ``last_period``, ``period``, ``period_end``, ``mean``,
        ``lo_80``, ``hi_80`` (display units).
    """
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=actuals["period_end"], y=actuals["y"], mode="lines+markers", name=tr("charts.actual"),
        line={"color": "#1F2A33", "width": 2.6}, marker={"size": 6},
        customdata=actuals[["period"]].to_numpy(),
        hovertemplate="%{customdata[0]}: %{y:,.1f}<extra></extra>", meta={"role": "actual"}))
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


def bar_chart(df: pd.DataFrame, tr: Translator, *, x_title: str, colors: dict[str, str],
              title: str | None = None, value_format: str = ",.0f") -> go.Figure:
    """Horizontal bars (``label``, ``y``, ``scope_id``) sorted by value: the zones at a glance."""
    df = df.sort_values("y")
    fig = go.Figure(go.Bar(
        x=df["y"], y=df["label"], orientation="h",
        marker_color=[colors.get(s, NEUTRAL) for s in df["scope_id"]],
        hovertemplate=f"%{{y}}: %{{x:{value_format}}}<extra></extra>",
        text=[format(v, value_format) if pd.notna(v) else "" for v in df["y"]],
        textposition="outside", cliponaxis=False))
    _layout(fig, tr, title=title, height=max(240, 42 * len(df) + 80))
    fig.update_layout(xaxis_title=x_title, showlegend=False)
    fig.update_xaxes(showgrid=True)
    return fig
