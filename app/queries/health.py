"""Is the database there and built, and which data version does it hold.

Uncached on purpose: :func:`app.cached.check` calls these on every script run, and the data
version (:attr:`RunInfo.token`) is what every cached result is keyed on.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from models.db import sqlite_path
from models.errors import DatabaseDamaged, DatabaseMissing
from models.health import damage_reason

# Tables the pages cannot do without; a database lacking one is "not built yet".
REQUIRED_TABLES = ("districts", "zones", "segments", "metrics", "observations", "etl_runs")


@dataclass(frozen=True)
class RunInfo:
    """The latest state of the database: what caches key on and what pages report."""

    token: str
    latest_run_id: int | None
    data_period: str | None
    loaded_at: str | None


def check_database(engine: Engine, url: str) -> None:
    """Raise :class:`DatabaseMissing` unless the database exists and has been built.

    :param engine: a (read-only) engine on ``url``.
    :param url: the SQLAlchemy URL, for the file check.
    :raises DatabaseMissing: ``missing`` (no file) or ``empty`` (no tables or no districts);
        the message is the reason code, pages translate it.
    :raises DatabaseDamaged: the file is not an SQLite database or is truncated.
    """
    path = sqlite_path(url)
    if path is not None and not path.exists():
        raise DatabaseMissing("missing")
    try:
        names = set(inspect(engine).get_table_names())
    except Exception as exc:
        reason = damage_reason(exc, path)
        if reason is not None:
            raise DatabaseDamaged(str(path or url), reason) from exc
        raise DatabaseMissing("missing") from exc
    if not set(REQUIRED_TABLES) <= names:
        raise DatabaseMissing("empty")
    with engine.connect() as conn:
        if conn.execute(text("SELECT COUNT(*) FROM districts")).scalar_one() == 0:
            raise DatabaseMissing("empty")


def run_info(engine: Engine) -> RunInfo:
    """The latest ETL run and data period; ``token`` changes whenever a run lands or is undone."""
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT MAX(id), COUNT(*), MAX(COALESCE(CAST(rolled_back_at AS TEXT), '')), "
            "MAX(COALESCE(CAST(finished_at AS TEXT), '')) FROM etl_runs")).one()
        latest = conn.execute(text(
            "SELECT id, finished_at FROM etl_runs WHERE status = 'succeeded' "
            "ORDER BY id DESC LIMIT 1")).one_or_none()
        period = conn.execute(text(
            "SELECT data_period FROM etl_runs WHERE status = 'succeeded' AND kind = 'drop' "
            "AND data_period IS NOT NULL ORDER BY id DESC LIMIT 1")).scalar_one_or_none()
        if period is None:
            period = conn.execute(text(
                "SELECT period FROM current_observations WHERE kind = 'actual' "
                "ORDER BY period_end DESC LIMIT 1")).scalar_one_or_none()
    token = f"{row[0]}|{row[1]}|{row[2]}|{row[3]}"
    return RunInfo(token=token, latest_run_id=latest[0] if latest else None,
                   data_period=period, loaded_at=str(latest[1]) if latest and latest[1] else None)
