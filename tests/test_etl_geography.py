"""etl.geography: districts, segments, zones and metrics from data/, in one run."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from etl import geography
from etl.datum import gcj02_to_wgs84
from etl.district_check import DistrictLocator
from etl.geography import (
    GeographyFileMissing,
    InvalidRow,
    MissingColumns,
    OutsideDistrict,
    OutsideShanghai,
    UnknownDistrict,
    UnknownZoneKind,
    load_geography,
)
from models.errors import AidashError
from tests.conftest import DATA_DIR


def rows(engine: Engine, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the four geography tables, in key order."""
    return {
        "districts": rows(engine, "SELECT * FROM districts ORDER BY adcode"),
        "segments": rows(engine, "SELECT * FROM segments ORDER BY code"),
        "zones": rows(engine, "SELECT * FROM zones ORDER BY zone_id"),
        "metrics": rows(engine, "SELECT * FROM metrics ORDER BY code"),
    }


def edit_zone(data_dir: Path, zone_id: str, changes: dict[str, str]) -> None:
    path = data_dir / "zones.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        fieldnames = list(reader.fieldnames or [])
        table = list(reader)
    hits = [r for r in table if r["zone_id"] == zone_id]
    assert hits, zone_id
    hits[0].update(changes)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fieldnames, lineterminator="\n")
        writer.writeheader()
        writer.writerows(table)


def test_loads_every_table_and_records_one_run(geo_engine: Engine) -> None:
    assert rows(geo_engine, "SELECT count(*) FROM districts") == [(16,)]
    assert rows(geo_engine, "SELECT count(*) FROM segments") == [(6,)]
    assert rows(geo_engine, "SELECT count(*) FROM zones") == [(12,)]
    assert rows(geo_engine, "SELECT count(*) FROM metrics") == [(86,)]
    assert rows(geo_engine, "SELECT id, kind, status, rows_read, rows_inserted, rows_updated, "
                            "rows_rejected, finished_at IS NOT NULL FROM etl_runs") == [
        (1, "geography", "succeeded", 120, 120, 0, 0, 1)]


def test_rerun_changes_nothing_and_records_a_noop_run(geo_engine: Engine) -> None:
    before = dump(geo_engine)
    run_id = load_geography(geo_engine, DATA_DIR)
    assert run_id == 2
    assert dump(geo_engine) == before
    assert rows(geo_engine, "SELECT id, status, rows_read, rows_inserted, rows_updated "
                            "FROM etl_runs ORDER BY id") == [
        (1, "succeeded", 120, 120, 0), (2, "noop", 120, 0, 0)]


def test_a_changed_row_is_updated_in_place(engine: Engine, data_dir: Path) -> None:
    load_geography(engine, data_dir)
    edit_zone(data_dir, "caohejing", {"name_en": "Caohejing Hi-Tech Park (renamed)"})
    run_id = load_geography(engine, data_dir)
    assert rows(engine, "SELECT status, rows_inserted, rows_updated FROM etl_runs WHERE id = :i",
                i=run_id) == [("succeeded", 0, 1)]
    assert rows(engine, "SELECT name_en FROM zones WHERE zone_id = 'caohejing'") == [
        ("Caohejing Hi-Tech Park (renamed)",)]
    assert rows(engine, "SELECT count(*) FROM zones") == [(12,)]


def test_districts_keep_names_area_and_geojson_geometry(geo_engine: Engine) -> None:
    [(name_zh, name_en, area, geometry)] = rows(
        geo_engine, "SELECT name_zh, name_en, area_km2, geometry FROM districts "
                    "WHERE adcode = 310104")
    assert (name_zh, name_en) == ("徐汇区", "Xuhui District")
    assert area > 0
    assert json.loads(geometry)["type"] in ("Polygon", "MultiPolygon")


def test_zone_district_comes_from_district_code(geo_engine: Engine) -> None:
    # "Xuhui District / Minhang District" → the first; "Lingang Special Area (Pudong New Area)"
    # → Pudong.
    assert rows(geo_engine, "SELECT zone_id, district_adcode FROM zones WHERE zone_id IN "
                            "('caohejing', 'dishui_lake_ai_hub', 'lingang_ct_computing', "
                            "'maqiao_ai_pilot_zone') ORDER BY zone_id") == [
        ("caohejing", 310104), ("dishui_lake_ai_hub", 310115),
        ("lingang_ct_computing", 310115), ("maqiao_ai_pilot_zone", 310112)]


def test_gcj02_coordinates_are_converted_to_wgs84(geo_engine: Engine) -> None:
    [(lon, lat, note)] = rows(geo_engine, "SELECT lon, lat, coord_note FROM zones "
                                          "WHERE zone_id = 'changyang_chuanggu'")
    expected = gcj02_to_wgs84(121.531894, 31.272788)
    assert (lon, lat) == (round(expected[0], 6), round(expected[1], 6))
    # WGS-84 lies about 0.0045° west and 0.002° north of the GCJ-02 point.
    assert 0.003 < 121.531894 - lon < 0.006
    assert 0.001 < lat - 31.272788 < 0.003
    assert note.endswith("Converted on load from GCJ-02 (121.531894, 31.272788) to WGS-84 "
                         f"({lon}, {lat}).")


def test_wgs84_coordinates_are_stored_as_given(geo_engine: Engine) -> None:
    assert rows(geo_engine, "SELECT lon, lat FROM zones WHERE zone_id = 'westbund_ai_tower'") == [
        (121.459, 31.1623)]
    assert rows(geo_engine, "SELECT lon, lat FROM zones WHERE zone_id = 'zhangjiang_ai_town'") == [
        (None, None)]


def test_every_bundled_point_lies_in_its_district(geo_engine: Engine) -> None:
    districts = rows(geo_engine, "SELECT adcode, name_en, geometry FROM districts")
    locator = DistrictLocator([{"adcode": a, "name_en": n, "geometry": g}
                               for a, n, g in districts])
    located = rows(geo_engine, "SELECT zone_id, lon, lat, district_adcode FROM zones "
                               "WHERE lon IS NOT NULL ORDER BY zone_id")
    assert len(located) == 7
    assert {z: locator.misplaced(lon, lat, adcode) for z, lon, lat, adcode in located} == {
        z: None for z, *_ in located}


def test_a_zone_without_a_reliable_point_stays_off_the_map_with_a_note(
        geo_engine: Engine) -> None:
    [(lon, lat, note)] = rows(geo_engine, "SELECT lon, lat, coord_note FROM zones "
                                          "WHERE zone_id = 'beiyang_ai_town'")
    assert (lon, lat) == (None, None)
    assert note.startswith("No reliable point (left blank, so the map leaves the zone out). ")
    assert "lies in Minhang District, 1.3 km outside Xuhui District" in note


@pytest.mark.parametrize(("zone_id", "changes", "stored"), [
    # The same point loads once the row names the district it lies in.
    ("beiyang_ai_town", {"lon": "121.41500", "lat": "31.11720", "datum": "WGS-84",
                         "district_code": "310112", "district_en": "Minhang District"},
     (121.415, 31.1172, 310112)),
    # 154 m beyond the simplified border: within the tolerance, so given the benefit of the doubt.
    ("westbund_ai_tower", {"lon": "121.466"}, (121.466, 31.1623, 310104)),
])
def test_a_point_inside_its_district_loads(engine: Engine, data_dir: Path, zone_id: str,
                                           changes: dict[str, str],
                                           stored: tuple[float, float, int]) -> None:
    edit_zone(data_dir, zone_id, changes)
    load_geography(engine, data_dir)
    assert rows(engine, "SELECT lon, lat, district_adcode FROM zones WHERE zone_id = :z",
                z=zone_id) == [stored]


def test_sub_sites_point_at_their_core_zone(geo_engine: Engine) -> None:
    assert rows(geo_engine, "SELECT zone_id, kind, parent_zone_id FROM zones "
                            "WHERE parent_zone_id IS NOT NULL ORDER BY zone_id") == [
        ("mosu_space", "core4-subsite", "westbund_ai_tower"),
        ("zhangjiang_ai_town", "core4-subsite", "zhangjiang_ai_island"),
        ("zhangjiang_moli_community", "core4-subsite", "zhangjiang_ai_island")]


def test_opened_dates_and_their_sources(geo_engine: Engine) -> None:
    assert rows(geo_engine, "SELECT zone_id, opened FROM zones WHERE opened IS NOT NULL "
                            "ORDER BY zone_id") == [
        ("dishui_lake_ai_hub", "2022-08-18"), ("mosu_space", "2023-09-28"),
        ("westbund_ai_tower", "2020-07-08"), ("zhangjiang_ai_town", "2025-09-16"),
        ("zhangjiang_moli_community", "2024-08-30")]
    [(source,)] = rows(geo_engine, "SELECT source FROM zones WHERE zone_id = 'mosu_space'")
    assert "; opened date: China's first specialized incubation hub" in source


def test_zone_ids_are_short_and_stable(geo_engine: Engine) -> None:
    ids = [r[0] for r in rows(geo_engine, "SELECT zone_id FROM zones ORDER BY zone_id")]
    assert ids == ["beiyang_ai_town", "caohejing", "changyang_chuanggu", "dishui_lake_ai_hub",
                   "lingang_ct_computing", "maqiao_ai_pilot_zone", "mosu_space",
                   "songjiang_tencent_yrd_computing", "westbund_ai_tower",
                   "zhangjiang_ai_island", "zhangjiang_ai_town", "zhangjiang_moli_community"]


@pytest.mark.parametrize(("zone_id", "changes", "error", "message"), [
    ("caohejing", {"kind": "park"}, UnknownZoneKind,
     ("zones.csv, row 11, column kind: unknown kind 'park'; use one of core4, core4-subsite, X, "
     "X_unconfirmed, compute_site")),
    ("mosu_space", {"kind": "core4-subsite (West Bund)"}, UnknownZoneKind,
     ("zones.csv, row 6, column kind: unknown kind 'core4-subsite (West Bund)'; use one of core4, "
     "core4-subsite, X, X_unconfirmed, compute_site")),
    ("caohejing", {"district_code": "310108"}, UnknownDistrict,
     ("zones.csv, row 11, column district_code: unknown district '310108'; use the adcode of one "
     "of the 16 districts (310101, 310104, 310105, 310106, 310107, 310109, 310110, 310112, "
     "310113, 310114, 310115, 310116, 310117, 310118, 310120, 310151)")),
    ("caohejing", {"district_code": "Xuhui"}, UnknownDistrict,
     ("zones.csv, row 11, column district_code: unknown district 'Xuhui'; use the adcode of one "
     "of the 16 districts (310101, 310104, 310105, 310106, 310107, 310109, 310110, 310112, "
     "310113, 310114, 310115, 310116, 310117, 310118, 310120, 310151)")),
    ("caohejing", {"district_code": "310112"}, UnknownDistrict,
     ("zones.csv, row 11, column district_en: 'Xuhui District / Minhang District' does not name "
     "district 310112 (Minhang District); fix district_code or district_en")),
    ("westbund_ai_tower", {"lon": "31.1623", "lat": "121.459"}, OutsideShanghai,
     ("zones.csv, row 3, column lon: 31.1623 is outside Shanghai (lon 120.8–122.2); check for "
     "swapped or mistyped coordinates")),
    ("westbund_ai_tower", {"lat": "3.16230"}, OutsideShanghai,
     ("zones.csv, row 3, column lat: 3.1623 is outside Shanghai (lat 30.6–31.9); check for "
     "swapped or mistyped coordinates")),
    # The point that was once published for Beiyang AI Town: in Minhang, not Xuhui.
    ("beiyang_ai_town", {"lon": "121.41500", "lat": "31.11720", "datum": "WGS-84"},
     OutsideDistrict,
     ("zones.csv, row 9, column lon/lat: the point (121.415, 31.1172, WGS-84) lies 1.3 km "
      "outside Xuhui District (it falls in Minhang District); correct lon/lat or district_code, "
      "or leave lon/lat blank and say why in coord_note")),
    # Just across the Huangpu from the West Bund, beyond the border tolerance.
    ("westbund_ai_tower", {"lon": "121.470"}, OutsideDistrict,
     ("zones.csv, row 3, column lon/lat: the point (121.47, 31.1623, WGS-84) lies 528 m outside "
      "Xuhui District (it falls in Pudong New Area); correct lon/lat or district_code, or leave "
      "lon/lat blank and say why in coord_note")),
    # Inside the bounding box, but in Zhejiang.
    ("westbund_ai_tower", {"lon": "120.9", "lat": "30.9"}, OutsideDistrict,
     ("zones.csv, row 3, column lon/lat: the point (120.9, 30.9, WGS-84) lies 54.8 km outside "
      "Xuhui District (it falls in no Shanghai district); correct lon/lat or district_code, or "
      "leave lon/lat blank and say why in coord_note")),
    ("westbund_ai_tower", {"lat": "31.16a"}, InvalidRow,
     "zones.csv, row 3, column lat: '31.16a' is not a number"),
    ("westbund_ai_tower", {"lat": ""}, InvalidRow,
     "zones.csv, row 3, column lat: give both lon and lat, or neither"),
    ("westbund_ai_tower", {"datum": "BD-09"}, InvalidRow,
     "zones.csv, row 3, column datum: 'BD-09' is not a datum; use WGS-84 or GCJ-02"),
    ("zhangjiang_ai_town", {"datum": "WGS-84"}, InvalidRow,
     "zones.csv, row 7, column datum: leave datum blank when there are no coordinates"),
    ("mosu_space", {"parent_zone_id": ""}, InvalidRow,
     "zones.csv, row 6, column parent_zone_id: a core4-subsite needs the zone_id of its core zone"),
    ("mosu_space", {"parent_zone_id": "west_bund"}, InvalidRow,
     "zones.csv, row 6, column parent_zone_id: 'west_bund' is not another zone_id of this file"),
    ("zhangjiang_ai_town", {"parent_zone_id": "zhangjiang_moli_community"}, InvalidRow,
     ("zones.csv, row 7, column parent_zone_id: 'zhangjiang_moli_community' is itself a sub-site; "
     "point at its parent instead")),
    ("westbund_ai_tower", {"opened": "2020-07"}, InvalidRow,
     ("zones.csv, row 3, column opened: '2020-07' is not an ISO date (YYYY-MM-DD); leave it blank "
     "when only a month or year is known")),
    ("westbund_ai_tower", {"opened_source": ""}, InvalidRow,
     "zones.csv, row 3, column opened_source: cite the source of the opened date"),
    ("caohejing", {"zone_id": "beiyang_ai_town"}, InvalidRow,
     ("zones.csv, row 11, column zone_id: 'beiyang_ai_town' already appears in row 9; codes must "
     "be unique")),
    ("caohejing", {"source": ""}, InvalidRow,
     "zones.csv, row 11, column source: required, but empty"),
])
def test_invalid_zone_rows_name_file_row_and_column(
        engine: Engine, data_dir: Path, zone_id: str, changes: dict[str, str],
        error: type[Exception], message: str) -> None:
    edit_zone(data_dir, zone_id, changes)
    with pytest.raises(error) as info:
        load_geography(engine, data_dir)
    assert str(info.value) == message
    assert isinstance(info.value, AidashError)
    # Validation runs before the write: nothing at all was stored, not even a run.
    assert rows(engine, "SELECT count(*) FROM etl_runs") == [(0,)]
    assert rows(engine, "SELECT count(*) FROM districts") == [(0,)]


def test_a_missing_file_is_named(engine: Engine, data_dir: Path) -> None:
    (data_dir / "metrics.csv").unlink()
    with pytest.raises(GeographyFileMissing) as info:
        load_geography(engine, data_dir)
    assert str(info.value) == f"metrics.csv: file not found at {data_dir / 'metrics.csv'}"


def test_missing_columns_are_listed(engine: Engine, data_dir: Path) -> None:
    (data_dir / "segments.csv").write_text("code,name_en\nx,X\n", encoding="utf-8")
    with pytest.raises(MissingColumns) as info:
        load_geography(engine, data_dir)
    assert str(info.value) == ("segments.csv: missing column(s) name_zh, sort_order; the header "
                               "must name code, name_en, name_zh, sort_order")


def test_a_failed_write_leaves_nothing_behind(engine: Engine, data_dir: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    real = geography.upsert_rows

    def failing(conn, table, table_rows):  # type: ignore[no-untyped-def]
        if table.name == "metrics":
            raise RuntimeError("disk full")
        return real(conn, table, table_rows)

    monkeypatch.setattr(geography, "upsert_rows", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        load_geography(engine, data_dir)
    assert dump(engine) == {"districts": [], "segments": [], "zones": [], "metrics": []}
    assert rows(engine, "SELECT count(*) FROM etl_runs") == [(0,)]
