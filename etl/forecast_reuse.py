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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.engine import Connection

import models.forecast

# The libraries whose numerics a forecast depends on.
_LIBRARIES = ("numpy", "scipy", "pandas", "statsmodels")
POINT_COLUMNS = ("mean", "lo_80", "hi_80", "lo_95", "hi_95")
# A read query: SQL with ``:name`` parameters, and their values → the rows as tuples.
Query = Callable[[str, Mapping[str, Any]], list[tuple[Any, ...]]]


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


def sa_query(conn: Connection) -> Query:
    """``conn``'s queries as :data:`Query` runs them."""
    return lambda sql, params: [tuple(r) for r in conn.execute(text(sql), dict(params)).all()]


def dbapi_query(conn: Any) -> Query:
    """The queries of a driver's own connection (``sqlite3``, or the loader's
    :class:`models.dialect.PgConnection`, which rewrites the SQL for PostgreSQL) as
    :data:`Query` runs them: the load's connection, which sees its uncommitted writes."""
    return lambda sql, params: [tuple(r) for r in conn.execute(sql, dict(params)).fetchall()]


def _in_list(name: str, values: list[Any]) -> tuple[str, dict[str, Any]]:
    """``(:name0, :name1, …)`` and its parameters: an ``IN`` list every driver binds."""
    params = {f"{name}{i}": v for i, v in enumerate(values)}
    return "(" + ", ".join(f":{p}" for p in params) + ")", params


def stored_fits_from(query: Query, digests: list[str]) -> dict[str, StoredFit]:
    """The newest stored forecast of each of ``digests`` that has one (two queries, through
    ``query``: :func:`sa_query` or :func:`dbapi_query`)."""
    if not digests:
        return {}
    in_digests, params = _in_list("d", digests)
    runs = query(
        f"""SELECT id, input_digest, model, method_note, backtest_mase, backtest_cov80,
                   backtest_cov95
            FROM forecast_runs WHERE id IN (
                SELECT max(id) FROM forecast_runs WHERE input_digest IN {in_digests}
                GROUP BY input_digest)""", params)
    if not runs:
        return {}
    in_ids, params = _in_list("i", [int(r[0]) for r in runs])
    points = pd.DataFrame(query(
        f"""SELECT forecast_id, period, period_end, {', '.join(POINT_COLUMNS)}
            FROM forecast_points WHERE forecast_id IN {in_ids} ORDER BY forecast_id, period""",
        params), columns=["forecast_id", "period", "period_end", *POINT_COLUMNS])
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
