"""The briefing's two charts, drawn with matplotlib (Agg, no browser) as SVG with their text
turned into outlines: the city's trend with its forecast fan, and the map of the 16 districts
with the zones. Same data, same bytes: the SVG carries no date and a fixed id salt.

The font is the briefing's (:mod:`app.briefing.fonts`); matplotlib reads the first face of
the Noto CJK collection, whose glyphs cover both languages.
"""

from __future__ import annotations

import io
import json
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import pandas as pd
from matplotlib import font_manager, rc_context
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.collections import PolyCollection
from matplotlib.colors import Normalize, TwoSlopeNorm
from matplotlib.figure import Figure

from app.briefing.fonts import regular_font

# The dashboard's colours (app/charts.py, app/maps.py), so the briefing looks like the screen.
SAMPLE_COLOUR = "#4C78A8"
FAN_COLOUR = "#4C78A8"
REPORTED_COLOUR = "#D62728"
TARGET_COLOUR = "#2CA02C"
DISTRICT_MAP = "Blues"
GROWTH_MAP = "RdYlGn"
NO_DATA_FILL = "#E9ECEF"
# Inches: the text width of an A4 page with the briefing's margins.
WIDTH_IN = 6.9
TREND_HEIGHT_IN = 3.1
MAP_HEIGHT_IN = 4.6
# The right axis holds annual figures at four times the left (quarterly) scale, as on the
# dashboard's overview: a year lines up with its quarters at the same pace.
QUARTERS_PER_YEAR = 4
# Shanghai's latitude: a degree of longitude is this much shorter than one of latitude.
MAP_LATITUDE = 31.2
SVG_SALT = "aidash-briefing"
# matplotlib's style (rc_context) is global to the process: one chart at a time, so two
# sessions making briefings at once do not mix their settings.
_DRAWING = threading.Lock()


@cache
def _font_family() -> str:
    path = str(regular_font())
    font_manager.fontManager.addfont(path)
    return font_manager.FontProperties(fname=path).get_name()


def _style() -> dict:
    return {"font.family": _font_family(), "font.size": 8, "svg.fonttype": "path",
            "svg.hashsalt": SVG_SALT, "axes.spines.top": False, "axes.spines.right": False}


def _svg(fig: Figure) -> bytes:
    FigureCanvasSVG(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


@dataclass(frozen=True)
class TrendLabels:
    """The words of the trend chart, in the reader's language."""

    sample: str
    forecast: str
    interval_80: str
    interval_95: str
    reported: str
    target: str
    left_axis: str
    right_axis: str


def trend_chart(sample: pd.DataFrame, forecast: pd.DataFrame, annual: pd.DataFrame,
                labels: TrendLabels, period_label: Mapping[str, str]) -> bytes:
    """The city's quarterly sample revenue, its forecast with 80 % and 95 % bands, and the
    published annual figures and targets on the right axis.

    :param sample: ``period`` (``YYYYQn``), ``y``; :param forecast: ``period``, ``mean``,
        ``lo_80``, ``hi_80``, ``lo_95``, ``hi_95``; :param annual: ``period`` (``YYYY``), ``y``,
        ``kind`` (``reported`` or ``target``); all in the display unit.
    :param period_label: how each quarter is written on the axis.
    """
    quarters = list(sample["period"]) + [p for p in forecast["period"]
                                         if p not in set(sample["period"])]
    x = {p: i for i, p in enumerate(quarters)}
    with _DRAWING, rc_context(_style()):
        fig = Figure(figsize=(WIDTH_IN, TREND_HEIGHT_IN))
        ax = fig.add_subplot()
        if not forecast.empty:
            fx = [x[p] for p in forecast["period"]]
            ax.fill_between(fx, forecast["lo_95"], forecast["hi_95"], color=FAN_COLOUR,
                            alpha=0.15, linewidth=0, label=labels.interval_95)
            ax.fill_between(fx, forecast["lo_80"], forecast["hi_80"], color=FAN_COLOUR,
                            alpha=0.3, linewidth=0, label=labels.interval_80)
            ax.plot(fx, forecast["mean"], color=FAN_COLOUR, linestyle="--", linewidth=1.2,
                    label=labels.forecast)
        ax.plot([x[p] for p in sample["period"]], sample["y"], color=SAMPLE_COLOUR, marker="o",
                markersize=2.5, linewidth=1.5, label=labels.sample)
        ax.set_ylabel(labels.left_axis)
        ax.set_ylim(bottom=0)
        right = ax.twinx()
        right.spines["right"].set_visible(True)
        right.spines["top"].set_visible(False)
        for kind, colour, marker, label in (("reported", REPORTED_COLOUR, "D", labels.reported),
                                            ("target", TARGET_COLOUR, "*", labels.target)):
            rows = annual[(annual["kind"] == kind) & annual["period"].map(
                lambda p: f"{p}Q4" in x)]
            if not rows.empty:
                right.scatter([x[f"{p}Q4"] for p in rows["period"]], rows["y"], color=colour,
                              marker=marker, s=28 if marker == "D" else 60, zorder=3,
                              label=label)
        low, high = ax.get_ylim()
        top = max(high, (annual["y"].max() / QUARTERS_PER_YEAR * 1.08) if not annual.empty
                  else high)
        ax.set_ylim(low, top)
        right.set_ylim(low * QUARTERS_PER_YEAR, top * QUARTERS_PER_YEAR)
        right.set_ylabel(labels.right_axis)
        step = max(1, math.ceil(len(quarters) / 10))
        ticks = list(range(0, len(quarters), step))
        ax.set_xticks(ticks, [period_label.get(quarters[i], quarters[i]) for i in ticks],
                      rotation=30, ha="right")
        handles, names = ax.get_legend_handles_labels()
        more, more_names = right.get_legend_handles_labels()
        ax.legend(handles + more, names + more_names, loc="upper left", fontsize=7,
                  frameon=False, ncol=2)
        ax.grid(axis="y", color="#DDDDDD", linewidth=0.5)
        fig.tight_layout()
        return _svg(fig)


def _rings(geometry: dict) -> list[list[tuple[float, float]]]:
    """The exterior rings of a GeoJSON Polygon or MultiPolygon."""
    polygons = ([geometry["coordinates"]] if geometry["type"] == "Polygon"
                else geometry["coordinates"])
    return [[(float(lon), float(lat)) for lon, lat, *_ in poly[0]] for poly in polygons]


@dataclass(frozen=True)
class MapLabels:
    """The words of the map, in the reader's language."""

    value: str
    growth: str
    no_value: str


def district_map(districts: pd.DataFrame, values: Mapping[int, float], zones: pd.DataFrame,
                 labels: MapLabels) -> bytes:
    """The 16 districts coloured by ``values`` (adcode → display value; grey where missing),
    the zones as circles (area: firms, colour: growth), each zone numbered as in its table.

    :param districts: ``adcode``, ``geometry`` (GeoJSON text).
    :param zones: ``number``, ``lon``, ``lat``, ``firms``, ``growth`` (percent).
    """
    polys: list[list[tuple[float, float]]] = []
    shade: list[float] = []
    for row in districts.itertuples(index=False):
        for ring in _rings(json.loads(row.geometry)):
            polys.append(ring)
            shade.append(values.get(int(row.adcode), math.nan))
    known = [v for v in shade if not math.isnan(v)]
    with _DRAWING, rc_context(_style()):
        fig = Figure(figsize=(WIDTH_IN, MAP_HEIGHT_IN))
        ax = fig.add_subplot()
        ax.set_axis_off()
        ax.set_aspect(1.0 / math.cos(math.radians(MAP_LATITUDE)))
        norm = Normalize(vmin=0.0, vmax=max(known) if known else 1.0)
        fills = PolyCollection(polys, array=[0.0 if math.isnan(v) else v for v in shade],
                               cmap=DISTRICT_MAP, norm=norm, edgecolors="white", linewidths=0.6)
        if any(math.isnan(v) for v in shade):
            fills.set_facecolor([NO_DATA_FILL if math.isnan(v) else fills.cmap(norm(v))
                                 for v in shade])
        ax.add_collection(fills)
        ax.autoscale_view()
        bar = fig.colorbar(fills, ax=ax, shrink=0.5, pad=0.01, location="left")
        bar.set_label(labels.value)
        placed = zones.dropna(subset=["lon", "lat"])
        if not placed.empty:
            firms = placed["firms"].astype("float64").fillna(0.0).clip(lower=0.0)
            top = math.sqrt(firms.max()) if firms.max() > 0 else 1.0
            sizes = [40 + 260 * math.sqrt(v) / top for v in firms]
            growth = placed["growth"].astype("float64")
            span = max(abs(growth.min()), abs(growth.max()), 1.0) if growth.notna().any() \
                else 1.0
            dots = ax.scatter(placed["lon"], placed["lat"], s=sizes, c=growth.fillna(0.0),
                              cmap=GROWTH_MAP, norm=TwoSlopeNorm(0.0, -span, span),
                              edgecolors="#1F2A33", linewidths=0.8, zorder=3)
            for number, lon, lat in zip(placed["number"], placed["lon"], placed["lat"]):
                ax.annotate(str(int(number)), (lon, lat), xytext=(5, 5), textcoords="offset points",
                            fontsize=7, fontweight="bold", color="#1F2A33", zorder=4)
            growth_bar = fig.colorbar(dots, ax=ax, shrink=0.5, pad=0.01)
            growth_bar.set_label(labels.growth)
        fig.tight_layout()
        return _svg(fig)
