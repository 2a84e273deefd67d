"""The district choropleth with the 4+X zones on top, drawn with no internet at all.

Plotly's geo traces fetch a world topology from a CDN unless told otherwise, and an offline
figure then stays blank (see shared PLATFORM_NOTES). So: boundaries come from the districts
table, the basemap is hidden, the view fits the districts, and the chart's config points
``topojsonURL`` at an empty topology inlined as a data URL. No tiles, no map styles.
"""

from __future__ import annotations

import json
import math
from urllib.parse import quote

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import shapely.geometry
import shapely.geometry.polygon

from app.charts import NEUTRAL, TEMPLATE_NAME
from app.i18n import Translator

# An empty TopoJSON as a data URL; the trailing '#' turns the file name plotly appends into a
# fragment, so nothing is requested.
TOPOJSON_STUB = ("data:application/json,"
                 + quote('{"type":"Topology","objects":{},"arcs":[]}') + "#")
MAP_CONFIG = {"topojsonURL": TOPOJSON_STUB, "displaylogo": False, "scrollZoom": False}
pio.defaults.topojson = TOPOJSON_STUB  # static export (kaleido) too
CHOROPLETH_SCALE = "Blues"
GROWTH_SCALE = [[0.0, "#B2182B"], [0.5, "#F7F7F7"], [1.0, "#1A7F4B"]]
NO_DATA_FILL = "#E9ECEF"
MAP_HEIGHT = 620
MARKER_MIN, MARKER_MAX = 10, 38


def clockwise(geometry: dict) -> dict:
    """The geometry with exterior rings clockwise and holes anticlockwise.

    plotly.js draws geo shapes with d3-geo, which reads ring order the other way round from
    RFC 7946 GeoJSON: an anticlockwise exterior is taken as "the whole globe except this
    district", which floods the map with one colour.
    """
    shape = shapely.geometry.shape(geometry)
    polygons = list(shape.geoms) if hasattr(shape, "geoms") else [shape]
    oriented = [shapely.geometry.polygon.orient(p, sign=-1.0) for p in polygons]
    out = (shapely.geometry.MultiPolygon(oriented) if geometry["type"] == "MultiPolygon"
           else oriented[0])
    return shapely.geometry.mapping(out)


def feature_collection(districts: pd.DataFrame) -> dict:
    """A GeoJSON FeatureCollection of the districts, feature ids = adcodes as text, rings
    wound the way plotly's geo traces expect (see :func:`clockwise`)."""
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": str(row.adcode), "properties": {"adcode": int(row.adcode)},
         "geometry": clockwise(json.loads(row.geometry))}
        for row in districts.itertuples(index=False)]}


def marker_sizes(values: pd.Series) -> list[float]:
    """Marker diameters (px) proportional to the square root of the values (area ~ value)."""
    clean = values.astype("float64").fillna(0.0).clip(lower=0.0)
    top = math.sqrt(clean.max()) if len(clean) and clean.max() > 0 else 1.0
    return [MARKER_MIN + (MARKER_MAX - MARKER_MIN) * math.sqrt(v) / top for v in clean]


def district_map(districts: pd.DataFrame, values: pd.DataFrame, zones: pd.DataFrame,
                 tr: Translator, *, metric_label: str, value_format: str = ",.1f",
                 unit: str = "") -> go.Figure:
    """Districts coloured by a metric, with zone markers (size = firms, colour = growth).

    Trace 0 outlines all 16 districts (grey where there is no value, with their names on
    hover); trace 1 colours the districts that have a value; trace 2 (if any zone has
    coordinates) holds the zone markers, ``customdata[0]`` = zone id.

    :param districts: ``adcode``, ``name``, ``geometry`` (GeoJSON text).
    :param values: ``adcode``, ``y`` (display units), ``provenance``.
    :param zones: ``zone_id``, ``name``, ``lon``, ``lat``, ``firms``, ``growth``, ``kind_label``.
    """
    geojson = feature_collection(districts)
    locations = [str(a) for a in districts["adcode"]]
    fig = go.Figure()
    fig.add_trace(go.Choropleth(
        geojson=geojson, locations=locations, z=[0] * len(locations), featureidkey="id",
        colorscale=[[0, NO_DATA_FILL], [1, NO_DATA_FILL]], showscale=False,
        marker_line_color="white", marker_line_width=1.2, name=tr("map.districts"),
        customdata=districts[["name"]].to_numpy(),
        hovertemplate="<b>%{customdata[0]}</b><br>" + tr("map.no_data") + "<extra></extra>",
        meta={"role": "districts"}))
    merged = districts.merge(values, on="adcode", how="inner")
    if not merged.empty:
        fig.add_trace(go.Choropleth(
            geojson=geojson, locations=[str(a) for a in merged["adcode"]], z=merged["y"],
            featureidkey="id", colorscale=CHOROPLETH_SCALE, marker_line_color="white",
            marker_line_width=1.2, name=metric_label,
            selected={"marker": {"opacity": 1.0}}, unselected={"marker": {"opacity": 0.55}},
            colorbar={"title": {"text": f"{metric_label}<br>{unit}".strip(), "side": "top"},
                          "thickness": 12, "len": 0.55, "x": 1.0, "y": 0.72, "tickformat": ",~f"},
            customdata=merged[["name", "provenance_label"]].to_numpy(),
            hovertemplate=("<b>%{customdata[0]}</b><br>" + metric_label + ": %{z:"
                           + value_format + "} " + unit + "<br>%{customdata[1]}<extra></extra>"),
            meta={"role": "values"}))
    located = zones.dropna(subset=["lon", "lat"])
    if not located.empty:
        growth = located["growth"].astype("float64")
        span = max(abs(growth.min()), abs(growth.max()), 1.0) if growth.notna().any() else 1.0
        fig.add_trace(go.Scattergeo(
            lon=located["lon"], lat=located["lat"], mode="markers", name=tr("map.zones"),
            marker={"size": marker_sizes(located["firms"]), "color": growth.fillna(0.0),
                        "colorscale": GROWTH_SCALE, "cmin": -span, "cmax": span,
                        "line": {"width": 1.5, "color": "#1F2A33"}, "opacity": 0.92,
                        "colorbar": {"title": {"text": tr("map.growth_colorbar"), "side": "top"},
                                      "thickness": 12, "len": 0.35, "x": 1.0, "y": 0.18,
                                      "ticksuffix": "%"}},
            selected={"marker": {"opacity": 1.0}}, unselected={"marker": {"opacity": 0.6}},
            customdata=located[["zone_id", "name", "firms_text", "growth_text",
                                "kind_label"]].to_numpy(),
            hovertemplate=("<b>%{customdata[1]}</b><br>%{customdata[4]}<br>"
                           + tr("map.hover_firms") + ": %{customdata[2]}<br>"
                           + tr("map.hover_growth") + ": %{customdata[3]}<extra></extra>"),
            meta={"role": "zones"}))
    fig.update_geos(fitbounds="locations", visible=False, projection_type="mercator",
                    bgcolor="rgba(0,0,0,0)")
    fig.update_layout(template=TEMPLATE_NAME, font_family=tr.font_family, height=MAP_HEIGHT,
                      margin={"l": 0, "r": 0, "t": 10, "b": 0}, showlegend=False,
                      dragmode=False, clickmode="event+select",
                      hoverlabel={"bgcolor": "white", "bordercolor": NEUTRAL})
    return fig
