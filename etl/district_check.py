"""Does a zone's point lie in the district its row claims?

A point outside the Shanghai bounding box is caught as a typo elsewhere; this catches the subtler
case of a plausible point in the wrong place (a geocoder's hit on a namesake street, a point
placed by eye on the wrong side of a district border). The district polygons are simplified
(``data/geo/README.md``: edges move by up to about 100–200 m), so a point only slightly outside
its district is given the benefit of the doubt: :data:`BORDER_TOLERANCE_M`.

Distances are measured in metres in UTM zone 51N, which covers all of Shanghai.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import shapely
from shapely.geometry import Point

WGS84 = "EPSG:4326"
METRIC_CRS = "EPSG:32651"  # WGS 84 / UTM zone 51N
# Larger than the edge shift of the simplified boundaries, far smaller than a district.
BORDER_TOLERANCE_M = 250.0


@dataclass(frozen=True)
class Misplaced:
    """A point outside its claimed district: how far out, and where it falls instead."""

    district: str  # the claimed district's English name
    distance_m: float
    falls_in: str | None  # the English name of the district holding the point, if any

    def describe(self, lon: float, lat: float) -> str:
        """One line for an error message: what is wrong and what to do."""
        distance = (f"{self.distance_m / 1000:.1f} km" if self.distance_m >= 1000
                    else f"{self.distance_m:.0f} m")
        where = (f"it falls in {self.falls_in}" if self.falls_in
                 else "it falls in no Shanghai district")
        return (f"the point ({lon}, {lat}, WGS-84) lies {distance} outside {self.district} "
                f"({where}); correct lon/lat or district_code, or leave lon/lat blank and say "
                f"why in coord_note")


class DistrictLocator:
    """The district polygons, ready to test points against (built once per load).

    :param districts: rows with ``adcode``, ``name_en`` and ``geometry`` (GeoJSON text), as
        :func:`etl.geography.clean_districts` returns them.
    """

    def __init__(self, districts: Iterable[dict[str, Any]]):
        rows = list(districts)
        frame = gpd.GeoDataFrame(
            {"adcode": [int(d["adcode"]) for d in rows],
             "name_en": [str(d["name_en"]) for d in rows]},
            geometry=[shapely.from_geojson(d["geometry"]) for d in rows], crs=WGS84)
        self._wgs84 = frame.set_index("adcode")
        self._metric = frame.to_crs(METRIC_CRS).set_index("adcode")

    def misplaced(self, lon: float, lat: float, adcode: int) -> Misplaced | None:
        """None when the WGS-84 point lies in district ``adcode`` (or within the tolerance of
        its border); otherwise how far outside it lies and which district holds it."""
        point = Point(lon, lat)
        if self._wgs84.geometry[adcode].covers(point):
            return None
        projected = gpd.GeoSeries([point], crs=WGS84).to_crs(METRIC_CRS).iloc[0]
        distance = float(self._metric.geometry[adcode].distance(projected))
        if distance <= BORDER_TOLERANCE_M:
            return None
        holders = self._wgs84[self._wgs84.geometry.covers(point)]
        falls_in = str(holders["name_en"].iloc[0]) if not holders.empty else None
        return Misplaced(str(self._wgs84.at[adcode, "name_en"]), distance, falls_in)
