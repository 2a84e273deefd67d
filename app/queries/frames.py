"""Reading one SQL statement into a DataFrame: the helper every query module shares."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import text
from sqlalchemy.engine import Engine


def read_frame(engine: Engine, sql: str, params: dict | None = None) -> pd.DataFrame:
    """The rows of ``sql`` (bound ``params``) as a DataFrame, on a connection of its own."""
    with engine.connect() as conn:
        return pd.read_sql(text(sql), conn, params=params or {})
