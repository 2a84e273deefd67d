"""app/charts.py and app/maps.py: Figures checked on their data, not on pixels."""

from __future__ import annotations

import json
from urllib.parse import unquote

import pandas as pd
import pytest
import shapely.geometry
from sqlalchemy.engine import Engine

from app import charts, maps
from app.i18n import get_translator
from app.queries import forecasts, overview, reference, series

pytest_plugins = ["dashboard_fixtures"]

EN, ZH = get_translator("en"), get_translator("zh")
ADCODES = ["310101", "310104", "310105", "310106", "310107", "310109", "310110", "310112",
           "310113", "310114", "310115", "310116", "310117", "310118", "310120", "310151"]


def roles(fig) -> list[str]:  # type: ignore[no-untyped-def]
    return [t.meta["role"] for t in fig.data]


def _series(scope_id: str, values: list[float], provenance: list[str] | None = None
            ) -> pd.DataFrame:
    periods = ["2024Q1", "2024Q2", "2024Q3", "2024Q4"][: len(values)]
    return pd.DataFrame({
        "scope_id": scope_id, "period": periods,
        "period_end": pd.to_datetime(["2024-03-31", "2024-06-30", "2024-09-30",
                                      "2024-12-31"][: len(values)]),
        "y": values, "provenance": provenance or ["sample"] * len(values),
        "source_title": "src"})


def _fan(scope_id: str) -> pd.DataFrame:
    return pd.DataFrame({"scope_id": scope_id, "period": ["2025Q1", "2025Q2"],
                         "period_end": pd.to_datetime(["2025-03-31", "2025-06-30"]),
                         "mean": [5.0, 6.0], "lo_80": [4.0, 4.5], "hi_80": [6.0, 7.5],
                         "lo_95": [3.0, 3.5], "hi_95": [7.0, 8.5]})


def test_trend_chart_marks_reported_and_sample_points_and_fans() -> None:
    df = pd.concat([_series("a", [1, 2, 3, 4], ["sample", "sample", "reported", "sample"]),
                    _series("b", [2, 3, 4, 5])])
    fig = charts.trend_chart(df, EN, names={"a": "Zone A", "b": "Zone B"},
                             colors=charts.scope_colors(["b", "a"]), y_title="y",
                             forecasts=pd.concat([_fan("a"), _fan("b")]))
    assert roles(fig) == [
        "line-sample", "fan95", "fan80", "forecast",          # b first: colour order
        "line-sample", "points-reported", "fan95", "fan80", "forecast",
        "legend-forecast"]
    reported = fig.data[5]
    assert (reported.mode, reported.marker.symbol, list(reported.y)) == ("markers", "diamond",
                                                                         [3])
    assert (fig.data[4].marker.symbol, list(fig.data[4].y)) == ("circle", [1, 2, 4])
    legend = [t.name for t in fig.data if t.showlegend is not False]
    assert legend == ["Zone B (sample)", "Zone A (sample)", "Zone A (reported)", "Forecast"]
    assert fig.data[0].line.color == charts.PALETTE[0]  # "b" is first in the colour order


def test_trend_chart_without_reported_points_has_no_reported_trace() -> None:
    fig = charts.trend_chart(_series("a", [1, 2]), ZH, names={"a": "甲"}, colors={"a": "#000000"},
                             y_title="y")
    assert roles(fig) == ["line-sample"]
    assert fig.data[0].name == "甲（样例）"
    assert "Microsoft YaHei" in fig.layout.font.family
    assert "Noto Sans CJK SC" in fig.layout.font.family


def test_headline_chart_has_fan_reported_points_and_target(ro_engine: Engine) -> None:
    sample = series.series(ro_engine, "enterprise_revenue", "city", ["310000"])
    sample = sample.assign(y=sample["value_bn"])
    fc = forecasts.forecasts(ro_engine, "enterprise_revenue", "city", ["310000"], "quarterly")
    for col in ("mean", "lo_80", "hi_80", "lo_95", "hi_95"):
        fc[col] = fc[col] / 1000
    reported = series.city_reported(ro_engine)
    reported = reported[reported["value_bn"].notna()].assign(
        y=lambda d: d["value_bn"], label=lambda d: d["name_en"], bound="")
    targets = series.targets(ro_engine).assign(y=lambda d: d["value_bn"],
                                                label=lambda d: d["name_en"])
    fig = charts.headline_chart(sample, reported, fc, targets, EN)
    # One trace of reported points per metric (basis), then the target.
    n_reported = reported["label"].nunique()
    assert n_reported > 1 and len(targets) == 1
    assert roles(fig) == ["sample", "fan95", "fan80", "forecast", *["reported"] * n_reported,
                          "target"]
    assert [t.yaxis for t in fig.data if t.meta["role"] in ("reported", "target")] == [
        "y2"] * (n_reported + 1)
    assert fig.layout.yaxis2.range[1] == pytest.approx(4 * fig.layout.yaxis.range[1])
    assert fig.layout.yaxis.title.text == "Quarterly (billion CNY)"


def test_vintage_chart_one_line_and_band_per_vintage() -> None:
    actual = _series("a", [1, 2, 3])
    vintages = pd.concat([_fan("a").assign(vintage_run_id=2, last_period="2024Q4"),
                          _fan("a").assign(vintage_run_id=3, last_period="2025Q2")])
    fig = charts.vintage_chart(actual, vintages, EN, y_title="y")
    assert roles(fig) == ["actual", "fan80", "vintage", "fan80", "vintage"]
    assert fig.data[4].name == "Forecast from run 3 (data to 2025Q2)"


def test_scope_colors_are_stable() -> None:
    colors = charts.scope_colors(["z1", "z2", "z3"])
    assert colors == {"z1": charts.PALETTE[0], "z2": charts.PALETTE[1], "z3": charts.PALETTE[2]}


# -- the map ------------------------------------------------------------------------------
def _map_inputs(engine: Engine) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    districts = reference.districts(engine, with_geometry=True).assign(name=lambda d: d["name_en"])
    values = series.values_at(engine, "enterprise_count", "district", "2025Q2", "point")
    values = values.assign(adcode=values["scope_id"].astype(int), y=values["value"],
                           provenance_label=values["provenance"])
    zones = overview.zones_glance(engine).assign(
        name=lambda d: d["name_en"], kind_label=lambda d: d["kind"],
        firms_text=lambda d: d["firms"].astype(str), growth_text=lambda d: d["growth"].astype(str))
    return districts, values, zones


def test_district_map_draws_16_districts_and_zone_markers(ro_engine: Engine) -> None:
    districts, values, zones = _map_inputs(ro_engine)
    fig = maps.district_map(districts, values, zones, EN, metric_label="Firms")
    assert roles(fig) == ["districts", "values", "zones"]
    assert sorted(fig.data[0].locations) == ADCODES
    assert sorted(fig.data[1].locations) == sorted(str(a) for a in values["adcode"])
    located = zones.dropna(subset=["lon", "lat"])
    assert len(fig.data[2].lon) == len(located) == 6
    assert [c[0] for c in fig.data[2].customdata] == located["zone_id"].tolist()
    assert fig.layout.geo.fitbounds == "locations"
    assert fig.layout.geo.visible is False
    assert "mapbox" not in fig.to_plotly_json()["layout"]


def test_map_is_offline() -> None:
    assert maps.MAP_CONFIG["topojsonURL"].startswith("data:application/json,")
    assert maps.MAP_CONFIG["topojsonURL"].endswith("#")
    stub = json.loads(unquote(maps.MAP_CONFIG["topojsonURL"][len("data:application/json,"):-1]))
    assert stub == {"type": "Topology", "objects": {}, "arcs": []}


def test_rings_are_rewound_for_plotly() -> None:
    ccw = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
    out = shapely.geometry.shape(maps.clockwise(ccw))
    assert not out.exterior.is_ccw


def test_marker_sizes_scale_with_the_square_root() -> None:
    sizes = maps.marker_sizes(pd.Series([0.0, 25.0, 100.0]))
    assert sizes == [maps.MARKER_MIN, maps.MARKER_MIN + (maps.MARKER_MAX - maps.MARKER_MIN) / 2,
                     maps.MARKER_MAX]
