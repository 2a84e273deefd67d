"""Forecasts carried over from an earlier vintage when their input has not changed.

A quarterly refresh changes the series its drop touches; the reported annual figures, the zone
metrics of other drops and every series of a district the drop did not reach stay as they were.
The forecast engine is deterministic (``models.forecast`` has no randomness and no state), so a
series whose values, horizon and levels are those of an earlier fit, under the same engine and
the same numerical libraries, would be fitted to the very same numbers. Each stored forecast
keeps a digest of all of that (``forecast_runs.input_digest``); a refresh looks the digests of
its series up and copies a matching forecast's points instead of fitting again.

Anything that could change a forecast changes the digest: the series' periods and values (to
the bit), its key, horizon and levels, the source of every module of ``models/forecast`` and
the versions of numpy, scipy, pandas and statsmodels. A forecast stored before digests existed
has none and is never reused.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

import models.forecast

# The libraries whose numerics a forecast depends on.
_LIBRARIES = ("numpy", "scipy", "pandas", "statsmodels")
POINT_COLUMNS = ("mean", "lo_80", "hi_80", "lo_95", "hi_95")


@cache
def engine_digest() -> str:
    """SHA-256 of the forecast engine's source files and the versions of its libraries."""
    h = hashlib.sha256()
    package = Path(models.forecast.__file__).resolve().parent
    for path in sorted(package.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    for name in _LIBRARIES:
        h.update(f"{name}={metadata.version(name)}".encode())
    return h.hexdigest()


def input_digest(key: str, y: pd.Series, horizon: int, levels: tuple[int, ...]) -> str:
    """The digest of one fit: the engine (:func:`engine_digest`), the series key, the horizon,
    the levels, and the series' periods and values exactly (every NaN alike)."""
    h = hashlib.sha256(engine_digest().encode())
    h.update(f"{key}|{horizon}|{','.join(map(str, levels))}".encode())
    h.update("\n".join(map(str, y.index)).encode())
    values = y.to_numpy(dtype="float64", copy=True)
    values[np.isnan(values)] = np.nan  # one bit pattern for every missing value
    h.update(values.tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class StoredFit:
    """An earlier forecast with a given input digest: its row and its points."""

    forecast_id: int
    model: str
    method_note: str | None
    backtest: dict[str, float | None]
    points: pd.DataFrame  # indexed by period text; POINT_COLUMNS and period_end


def stored_fits(conn: Connection, digests: list[str]) -> dict[str, StoredFit]:
    """The newest stored forecast of each of ``digests`` that has one (two queries)."""
    if not digests:
        return {}
    runs = conn.execute(text(
        """SELECT id, input_digest, model, method_note, backtest_mase, backtest_cov80,
                  backtest_cov95
           FROM forecast_runs WHERE id IN (
               SELECT max(id) FROM forecast_runs WHERE input_digest IN :digests
               GROUP BY input_digest)"""
    ).bindparams(bindparam("digests", expanding=True)), {"digests": digests}).all()
    if not runs:
        return {}
    ids = [int(r[0]) for r in runs]
    points = pd.read_sql_query(text(
        f"""SELECT forecast_id, period, period_end, {', '.join(POINT_COLUMNS)}
            FROM forecast_points WHERE forecast_id IN :ids ORDER BY forecast_id, period"""
    ).bindparams(bindparam("ids", expanding=True)), conn, params={"ids": ids})
    by_id = {int(fid): part.set_index("period") for fid, part in points.groupby("forecast_id")}
    out: dict[str, StoredFit] = {}
    for fid, digest, model, note, mase, cov80, cov95 in runs:
        part = by_id.get(int(fid))
        if part is None:
            continue  # a forecast with no points is nothing to carry over
        out[digest] = StoredFit(
            forecast_id=int(fid), model=model, method_note=note,
            backtest={"mase": mase, "coverage_80": cov80, "coverage_95": cov95},
            points=part.drop(columns="forecast_id"))
    return out


def as_result(fit: StoredFit, freq: str) -> pd.DataFrame:
    """A stored fit as :func:`models.forecast.forecast` returns its result: the point and
    interval columns on a ``PeriodIndex``, the model, note and backtest in ``attrs``."""
    result = fit.points[list(POINT_COLUMNS)].astype("float64")
    result.index = pd.PeriodIndex(fit.points.index, freq=freq)
    result.attrs.update(model=fit.model, method_note=fit.method_note, backtest=fit.backtest)
    return result
