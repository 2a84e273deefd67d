"""Load the reference geography: districts, segments, zones and the metric catalogue.

Read → clean → write, as every loader here:

* ``read_*`` open one file each and return its raw rows (row numbers as a spreadsheet shows
  them: the header is row 1).
* ``clean_*`` validate and convert those rows into database rows, raising a
  :class:`GeographyError` subclass whose message names the file, row and column.
* :func:`load_geography` writes all four tables in one transaction, upserting on each table's
  primary key, and records one ``etl_runs`` row (kind ``geography``).

A rerun with unchanged files writes nothing and records a run with status ``noop`` (so the
history shows that the geography was checked); the function returns that run's id.
Rows that disappear from a file are left in the database: enterprises and observations may
still point at them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Table, insert, select, update
from sqlalchemy.engine import Connection, Engine

from etl.csv_rows import CsvRow, read_rows
from etl.datum import gcj02_to_wgs84
from etl.district_check import DistrictLocator
from models.dialect import upsert
from models.errors import AidashError, CellError
from models.migrations import upgrade
from models.tables import ZONE_KINDS, District, EtlRun, Metric, Segment, Zone

DISTRICTS_FILE = Path("geo") / "shanghai_districts.geojson"
SEGMENTS_FILE = Path("segments.csv")
ZONES_FILE = Path("zones.csv")
METRICS_FILE = Path("metrics.csv")

# The same box as the CHECK constraints on zones.lon / zones.lat: a point outside it cannot be
# in Shanghai, so it is a typo (swapped lon/lat, a dropped digit), not an approximation.
SHANGHAI_LON = (120.8, 122.2)
SHANGHAI_LAT = (30.6, 31.9)
# Datums a zone's coordinates may be given in; GCJ-02 is converted to WGS-84 on load.
DATUMS = ("WGS-84", "GCJ-02")

ZONE_COLUMNS = ("zone_id", "name_en", "name_zh", "kind", "parent_zone_id", "district_code",
                "district_en", "district_zh", "lon", "lat", "datum", "opened", "opened_source",
                "coord_note", "source", "notes")
SEGMENT_COLUMNS = ("code", "name_en", "name_zh", "sort_order")
METRIC_COLUMNS = ("code", "name_en", "name_zh", "unit_en", "unit_zh", "description")
# Optional columns of metrics.csv: metrics of one comparable group measure the same thing on
# different bases, each saying its basis in both languages (see data/reference/README.md).
METRIC_GROUP_COLUMNS = ("comparable_group", "basis_note_en", "basis_note_zh")
_GROUP_CODE = re.compile(r"[a-z][a-z0-9_]*")
DISTRICT_PROPERTIES = ("adcode", "name_zh", "name_en", "area_km2")

# Core tables of the models (SQLModel's class attribute is untyped for mypy).
DISTRICTS: Table = District.__table__  # type: ignore[attr-defined]
SEGMENTS: Table = Segment.__table__  # type: ignore[attr-defined]
ZONES: Table = Zone.__table__  # type: ignore[attr-defined]
METRICS: Table = Metric.__table__  # type: ignore[attr-defined]
ETL_RUNS: Table = EtlRun.__table__  # type: ignore[attr-defined]


class GeographyError(AidashError):
    """A geography file is missing or holds a value that cannot be loaded."""


class GeographyFileMissing(GeographyError):
    """One of the four geography files does not exist."""


class MissingColumns(GeographyError):
    """A CSV file lacks required columns."""


class InvalidGeoJSON(GeographyError):
    """The district boundary file is not the expected FeatureCollection."""


class InvalidRow(CellError, GeographyError):
    """One cell of a CSV row is invalid."""


class UnknownZoneKind(InvalidRow):
    """A zone's kind is not one of :data:`models.tables.ZONE_KINDS`."""


class UnknownDistrict(InvalidRow):
    """A zone's district code is not one of the districts in the boundary file."""


class OutsideShanghai(InvalidRow):
    """A zone's coordinates fall outside Shanghai's bounding box."""


class OutsideDistrict(InvalidRow):
    """A zone's point lies outside the district its ``district_code`` names."""


# --------------------------------------------------------------------------------------- read


def read_csv(path: Path, required: Sequence[str]) -> list[CsvRow]:
    """Read a UTF-8 CSV (BOM allowed) and check that ``required`` columns are present.

    :param path: the file.
    :param required: column names that must all be in the header.
    :raises GeographyFileMissing: the file does not exist.
    :raises MissingColumns: some required columns are absent.
    """
    return read_rows(path, required, missing_file=GeographyFileMissing, invalid=MissingColumns)


def read_districts(path: Path) -> list[dict[str, Any]]:
    """Read the district FeatureCollection and return one dict per feature (properties + geometry).

    :raises GeographyFileMissing: the file does not exist.
    :raises InvalidGeoJSON: not a FeatureCollection, or a feature lacks a property or geometry.
    """
    if not path.is_file():
        raise GeographyFileMissing(f"{path.name}: file not found at {path}")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidGeoJSON(f"{path.name}: not valid JSON ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise InvalidGeoJSON(f"{path.name}: expected a GeoJSON FeatureCollection")
    features = []
    for i, feature in enumerate(doc.get("features") or [], start=1):
        props = feature.get("properties") or {}
        missing = [p for p in DISTRICT_PROPERTIES if props.get(p) in (None, "")]
        if missing:
            raise InvalidGeoJSON(
                f"{path.name}, feature {i}: missing propert(ies) {', '.join(missing)}")
        geometry = feature.get("geometry") or {}
        if geometry.get("type") not in ("Polygon", "MultiPolygon"):
            raise InvalidGeoJSON(
                f"{path.name}, feature {i} ({props['adcode']}): geometry must be a Polygon or "
                f"MultiPolygon")
        features.append({**{p: props[p] for p in DISTRICT_PROPERTIES}, "geometry": geometry})
    if not features:
        raise InvalidGeoJSON(f"{path.name}: the FeatureCollection has no features")
    return features


# -------------------------------------------------------------------------------------- clean


def clean_districts(features: list[dict[str, Any]], file: str) -> list[dict[str, Any]]:
    """Turn district features into ``districts`` rows (geometry as compact GeoJSON text).

    :raises InvalidGeoJSON: a non-integer adcode, a duplicate adcode or a non-positive area.
    """
    rows: list[dict[str, Any]] = []
    seen: set[int] = set()
    for i, f in enumerate(features, start=1):
        try:
            adcode = int(f["adcode"])
            area = float(f["area_km2"])
        except (TypeError, ValueError) as exc:
            raise InvalidGeoJSON(f"{file}, feature {i}: adcode and area_km2 must be numbers") from exc
        if adcode in seen:
            raise InvalidGeoJSON(f"{file}, feature {i}: adcode {adcode} appears twice")
        if area <= 0:
            raise InvalidGeoJSON(f"{file}, feature {i}: area_km2 must be positive, got {area}")
        seen.add(adcode)
        rows.append({
            "adcode": adcode,
            "name_zh": str(f["name_zh"]),
            "name_en": str(f["name_en"]),
            "area_km2": area,
            "geometry": json.dumps(f["geometry"], ensure_ascii=False, separators=(",", ":")),
        })
    return rows


def _required(r: CsvRow, column: str, file: str) -> str:
    value = r.values.get(column, "")
    if not value:
        raise InvalidRow(file, r.row, column, "required, but empty")
    return value


def _unique(rows: Iterable[CsvRow], column: str, file: str) -> None:
    seen: dict[str, int] = {}
    for r in rows:
        key = r.values[column]
        if key in seen:
            raise InvalidRow(file, r.row, column,
                             f"'{key}' already appears in row {seen[key]}; codes must be unique")
        seen[key] = r.row


def clean_segments(rows: list[CsvRow], file: str) -> list[dict[str, Any]]:
    """Validate ``segments.csv`` rows: code and both names required, sort_order an integer."""
    out = []
    for r in rows:
        sort_order = r.values.get("sort_order") or "0"
        if not sort_order.lstrip("-").isdigit():
            raise InvalidRow(file, r.row, "sort_order", f"'{sort_order}' is not an integer")
        out.append({"code": _required(r, "code", file), "name_en": _required(r, "name_en", file),
                    "name_zh": _required(r, "name_zh", file), "sort_order": int(sort_order)})
    _unique(rows, "code", file)
    return out


def clean_metrics(rows: list[CsvRow], file: str) -> list[dict[str, Any]]:
    """Validate ``metrics.csv`` rows: every column but description required, codes unique."""
    out: list[dict[str, Any]] = []
    for r in rows:
        row: dict[str, Any] = {c: _required(r, c, file) for c in METRIC_COLUMNS
                               if c != "description"}
        row["description"] = r.values.get("description") or None
        row.update({c: r.values.get(c) or None for c in METRIC_GROUP_COLUMNS})
        if row["comparable_group"] is not None:
            if not _GROUP_CODE.fullmatch(row["comparable_group"]):
                raise InvalidRow(file, r.row, "comparable_group",
                                 f"'{row['comparable_group']}' is not a group code; use "
                                 f"lowercase letters, digits and underscores")
            for column in ("basis_note_en", "basis_note_zh"):
                _required_note(r, column, file)
        out.append(row)
    _unique(rows, "code", file)
    _check_groups(rows, out, file)
    return out


def _required_note(r: CsvRow, column: str, file: str) -> None:
    if not r.values.get(column):
        raise InvalidRow(file, r.row, column,
                         "required when comparable_group is set: say in a sentence what "
                         "basis the metric is published on")


def _check_groups(rows: list[CsvRow], metrics: list[dict[str, Any]], file: str) -> None:
    """Every comparable group holds at least two metrics, all in one unit: a figure is only
    set beside another that a reader could take for it."""
    first: dict[str, tuple[int, dict[str, Any]]] = {}
    members: dict[str, int] = {}
    for r, m in zip(rows, metrics):
        group = m["comparable_group"]
        if group is None:
            continue
        members[group] = members.get(group, 0) + 1
        row, lead = first.setdefault(group, (r.row, m))
        if m["unit_en"] != lead["unit_en"]:
            raise InvalidRow(file, r.row, "comparable_group",
                             f"group '{group}' is in '{lead['unit_en']}' ({lead['code']}, row "
                             f"{row}), but {m['code']} is in '{m['unit_en']}'; only metrics "
                             f"of one unit are comparable")
    for group, count in members.items():
        if count == 1:
            raise InvalidRow(file, first[group][0], "comparable_group",
                             f"group '{group}' has no other metric; give at least two metrics "
                             f"the same group, or leave it blank")


def _float(r: CsvRow, column: str, file: str) -> float | None:
    text = r.values.get(column, "")
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise InvalidRow(file, r.row, column, f"'{text}' is not a number") from None


def clean_zones(rows: list[CsvRow], districts: dict[int, dict[str, Any]],
                file: str) -> list[dict[str, Any]]:
    """Validate ``zones.csv`` rows and build ``zones`` rows, parents before their sub-sites.

    Coordinates whose ``datum`` is GCJ-02 are converted to WGS-84 and the conversion is noted
    in ``coord_note``. ``opened_source`` is appended to ``source``.

    :param rows: rows from :func:`read_csv`.
    :param districts: the districts being loaded, by adcode (with their GeoJSON geometry).
    :param file: the file name used in error messages.
    :raises UnknownZoneKind, UnknownDistrict, OutsideShanghai, OutsideDistrict, InvalidRow:
        with file, row, column.
    """
    _unique(rows, "zone_id", file)
    locator = DistrictLocator(districts.values())
    ids = {r.values["zone_id"]: r for r in rows}
    out = []
    for r in rows:
        v = r.values
        zone_id = _required(r, "zone_id", file)
        kind = _required(r, "kind", file)
        if kind not in ZONE_KINDS:
            raise UnknownZoneKind(file, r.row, "kind",
                                  f"unknown kind '{kind}'; use one of {', '.join(ZONE_KINDS)}")
        code_text = _required(r, "district_code", file)
        if not code_text.isdigit() or int(code_text) not in districts:
            raise UnknownDistrict(
                file, r.row, "district_code",
                f"unknown district '{code_text}'; use the adcode of one of the "
                f"{len(districts)} districts ({', '.join(str(c) for c in sorted(districts))})")
        adcode = int(code_text)
        district = districts[adcode]
        # The names are kept for people reading the CSV; the code is what loads. A zone across
        # two districts ("Xuhui District / Minhang District") belongs to the first one named, so
        # that first name must mention the code's district, or one of the two is wrong.
        district_en = v.get("district_en", "")
        if district_en and district["name_en"] not in district_en.split("/")[0]:
            raise UnknownDistrict(
                file, r.row, "district_en",
                f"'{district_en}' does not name district {adcode} ({district['name_en']}); "
                f"fix district_code or district_en")
        parent = v.get("parent_zone_id") or None
        if parent is not None:
            if parent not in ids or parent == zone_id:
                raise InvalidRow(file, r.row, "parent_zone_id",
                                 f"'{parent}' is not another zone_id of this file")
            if ids[parent].values.get("parent_zone_id"):
                raise InvalidRow(file, r.row, "parent_zone_id",
                                 f"'{parent}' is itself a sub-site; point at its parent instead")
        if kind == "core4-subsite" and parent is None:
            raise InvalidRow(file, r.row, "parent_zone_id",
                             "a core4-subsite needs the zone_id of its core zone")
        lon, lat = _float(r, "lon", file), _float(r, "lat", file)
        datum = v.get("datum", "")
        coord_note = v.get("coord_note") or None
        if (lon is None) != (lat is None):
            raise InvalidRow(file, r.row, "lat" if lat is None else "lon",
                             "give both lon and lat, or neither")
        if lon is not None and lat is not None:
            if datum not in DATUMS:
                raise InvalidRow(file, r.row, "datum",
                                 f"'{datum}' is not a datum; use {' or '.join(DATUMS)}")
            if datum == "GCJ-02":
                published = (lon, lat)
                lon, lat = gcj02_to_wgs84(lon, lat)
                lon, lat = round(lon, 6), round(lat, 6)
                coord_note = (f"{coord_note} " if coord_note else "") + (
                    f"Converted on load from GCJ-02 ({published[0]}, {published[1]}) "
                    f"to WGS-84 ({lon}, {lat}).")
            for column, value, (low, high) in (("lon", lon, SHANGHAI_LON),
                                               ("lat", lat, SHANGHAI_LAT)):
                if not low <= value <= high:
                    raise OutsideShanghai(
                        file, r.row, column,
                        f"{value} is outside Shanghai ({column} {low}–{high}); "
                        f"check for swapped or mistyped coordinates")
            misplaced = locator.misplaced(lon, lat, adcode)
            if misplaced is not None:
                raise OutsideDistrict(file, r.row, "lon/lat", misplaced.describe(lon, lat))
        elif datum:
            raise InvalidRow(file, r.row, "datum", "leave datum blank when there are no coordinates")
        opened = None
        if v.get("opened"):
            try:
                opened = date.fromisoformat(v["opened"])
            except ValueError:
                raise InvalidRow(file, r.row, "opened",
                                 f"'{v['opened']}' is not an ISO date (YYYY-MM-DD); leave it "
                                 f"blank when only a month or year is known") from None
            if not v.get("opened_source"):
                raise InvalidRow(file, r.row, "opened_source",
                                 "cite the source of the opened date")
        source = _required(r, "source", file)
        if v.get("opened_source"):
            source = f"{source}; opened date: {v['opened_source']}"
        out.append({
            "zone_id": zone_id,
            "name_zh": _required(r, "name_zh", file),
            "name_en": _required(r, "name_en", file),
            "kind": kind,
            "parent_zone_id": parent,
            "district_adcode": adcode,
            "lon": lon,
            "lat": lat,
            "coord_note": coord_note,
            "polygon": None,
            "opened": opened,
            "source": source,
            "notes": v.get("notes") or None,
        })
    # Parents first, so the foreign key on parent_zone_id holds at every insert.
    return sorted(out, key=lambda z: z["parent_zone_id"] is not None)


# -------------------------------------------------------------------------------------- write


@dataclass(frozen=True)
class UpsertCounts:
    """What an upsert did to one table."""

    read: int
    inserted: int
    updated: int


def upsert_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> UpsertCounts:
    """Insert new rows and update changed ones, keyed on the table's primary key.

    Rows equal to what is stored are not written, so the counts say what really changed.

    :param conn: a connection inside the caller's transaction.
    :param table: a Core table with a single-column primary key.
    :param rows: complete rows (every column of the table).
    """
    key = table.primary_key.columns.values()[0]
    columns = [c.name for c in table.columns]
    stored = {row._mapping[key.name]: dict(row._mapping) for row in conn.execute(select(table))}
    new = [r for r in rows if r[key.name] not in stored]
    changed = [r for r in rows
               if r[key.name] in stored and any(stored[r[key.name]][c] != r[c] for c in columns)]
    if new:
        conn.execute(insert(table), new)
    if changed:
        stmt = upsert(conn, table)
        stmt = stmt.on_conflict_do_update(
            index_elements=[key],
            set_={c: stmt.excluded[c] for c in columns if c != key.name})
        conn.execute(stmt, changed)
    return UpsertCounts(len(rows), len(new), len(changed))


def utcnow() -> datetime:
    """Now, timezone-aware in UTC (SQLModel's datetime columns refuse naive values)."""
    return datetime.now(UTC)


def start_run(conn: Connection, kind: str, started: datetime) -> int:
    """Insert an ``etl_runs`` row with status ``running`` and return its id."""
    result = conn.execute(insert(ETL_RUNS).values(kind=kind, started_at=started, status="running"))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def load_geography(engine: Engine, data_dir: Path) -> int:
    """Upsert districts, segments, zones and the metric catalogue; record one ``etl_runs`` row.

    Reads ``geo/shanghai_districts.geojson``, ``segments.csv``, ``zones.csv`` and
    ``metrics.csv`` under ``data_dir``. Everything is validated before the single write
    transaction starts, so a bad file leaves the database untouched.

    :param engine: the database (tables created).
    :param data_dir: the project's ``data/`` folder (or a copy of it).
    :returns: the id of the run recorded: status ``succeeded`` when something changed,
        ``noop`` when every row was already stored as it is.
    :raises GeographyError: a missing file or an invalid row (the message names file, row, column).
    """
    data_dir = Path(data_dir)
    districts = clean_districts(read_districts(data_dir / DISTRICTS_FILE), DISTRICTS_FILE.name)
    segments = clean_segments(read_csv(data_dir / SEGMENTS_FILE, SEGMENT_COLUMNS),
                              SEGMENTS_FILE.name)
    zones = clean_zones(read_csv(data_dir / ZONES_FILE, ZONE_COLUMNS),
                        {d["adcode"]: d for d in districts}, ZONES_FILE.name)
    metrics = clean_metrics(read_csv(data_dir / METRICS_FILE, METRIC_COLUMNS), METRICS_FILE.name)

    upgrade(engine)  # a database built before metrics.comparable_group gets the column first
    started = utcnow()
    with engine.begin() as conn:
        run_id = start_run(conn, "geography", started)
        counts = {
            "districts": upsert_rows(conn, DISTRICTS, districts),
            "segments": upsert_rows(conn, SEGMENTS, segments),
            "zones": upsert_rows(conn, ZONES, zones),
            "metrics": upsert_rows(conn, METRICS, metrics),
        }
        inserted = sum(c.inserted for c in counts.values())
        updated = sum(c.updated for c in counts.values())
        message = "; ".join(f"{name} {c.read} read, {c.inserted} inserted, {c.updated} updated"
                            for name, c in counts.items())
        conn.execute(update(ETL_RUNS).where(ETL_RUNS.c.id == run_id).values(
            finished_at=utcnow(),
            status="succeeded" if inserted or updated else "noop",
            rows_read=sum(c.read for c in counts.values()),
            rows_inserted=inserted,
            rows_updated=updated,
            message=message,
        ))
    return run_id
