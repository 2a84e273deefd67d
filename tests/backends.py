"""Reading a test database the same way on both backends.

Tests that run on SQLite and PostgreSQL (``pytestmark = pytest.mark.both_backends``) read
what a load wrote through :func:`connect`: an ``sqlite3`` connection on SQLite, and on
PostgreSQL the loader's own :class:`models.dialect.PgConnection` (the same ``?`` placeholders
and SQL), with values as SQLite returns them (dates as ISO text, booleans as 0/1), so one
expected literal serves both.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Engine

from etl.transaction import driver_connection


def plain(value: Any) -> Any:
    """A PostgreSQL value as SQLite would return it."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


class _PlainCursor:
    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor

    def fetchone(self) -> tuple | None:
        row = self.cursor.fetchone()
        return None if row is None else tuple(plain(v) for v in row)

    def fetchall(self) -> list[tuple]:
        return [tuple(plain(v) for v in row) for row in self.cursor.fetchall()]

    def __iter__(self) -> Iterator[tuple]:
        return iter(self.fetchall())

    @property
    def lastrowid(self) -> int | None:
        return self.cursor.lastrowid  # type: ignore[no-any-return]


class _PlainConnection:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Any = ()) -> _PlainCursor:
        return _PlainCursor(self.conn.execute(sql, params if params else None))


@contextmanager
def connect(engine: Engine) -> Iterator[Any]:
    """A connection to the engine's database for checks (committed when the block ends)."""
    if engine.dialect.name == "postgresql":
        with driver_connection(engine) as conn:
            yield _PlainConnection(conn)
        return
    with closing(sqlite3.connect(engine.url.database or "")) as conn, conn:
        yield conn


def query(engine: Engine, sql: str, *params: object) -> list[tuple]:
    """Every row of ``sql`` (``?`` placeholders) on the engine's database."""
    with connect(engine) as conn:
        return list(conn.execute(sql, params).fetchall())


def dump(engine: Engine, tables: tuple[str, ...]) -> dict[str, list[tuple]]:
    """Every row of every table, sorted: equal dumps mean equal contents."""
    with connect(engine) as conn:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
                for t in tables}


def stored_forecasts(engine: Engine, vintage: int) -> list[tuple]:
    """Every stored forecast of ``vintage``, point by point: its series, input digest, model,
    method note, backtest and provenance, then the point's period and values."""
    return query(engine,
                 "SELECT fr.series_key, fr.input_digest, fr.model, fr.method_note, "
                 "fr.backtest_mase, fr.backtest_cov80, fr.backtest_cov95, fr.provenance, "
                 "fp.period, fp.period_end, fp.mean, fp.lo_80, fp.hi_80, fp.lo_95, fp.hi_95 "
                 "FROM forecast_runs fr JOIN forecast_points fp ON fp.forecast_id = fr.id "
                 "WHERE fr.vintage_run_id = ? ORDER BY fr.series_key, fp.period", vintage)
