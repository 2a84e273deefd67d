"""Revenue rows as the database held them before the load's transaction, on SQLite.

A revised quarter's aggregates are the drop's rows summed plus the quarter's other stored
rows. When every row of the drop is written (new or changed), those other rows are the
quarter as committed before the load, less the drop's firms: they are read here, in the
staging thread while the load's connection merges, through a read-only connection of their
own (the same SQLite library), which sees the committed state. The load's connection holds
the write lock by then (its run row is written first), so no other writer has committed
since its transaction's snapshot: the committed state is the one the load started from.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np
import pandas as pd

from etl.drops.code_bytes import code_bytes

COLUMNS = ["credit_code", "period", "revenue", "from_ytd", "sample"]


def database_file(conn: sqlite3.Connection) -> Path | None:
    """The file of the connection's main database (None on PostgreSQL or in memory)."""
    if not isinstance(conn, sqlite3.Connection):
        return None
    for _seq, name, file in conn.execute("PRAGMA database_list"):
        if name == "main" and file:
            return Path(file)
    return None


def _drop_codes(drop: pd.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
    """The drop's credit codes as 18 bytes and each row's position among them (a
    categorical's categories converted once, not a copy per row)."""
    codes = drop["credit_code"]
    if isinstance(codes.dtype, pd.CategoricalDtype):
        distinct = code_bytes(codes.cat.categories)
        rows = codes.cat.codes.to_numpy()
        if distinct is None or (rows < 0).any():
            return None
        return distinct, rows
    each = code_bytes(codes)
    return None if each is None else (each, np.arange(len(each)))


def committed_others(path: Path, periods: list[str], drop: pd.DataFrame) -> pd.DataFrame | None:
    """The committed revenue rows of ``periods`` whose firm has no row of the same quarter in
    ``drop`` (credit_code, period, revenue, from_ytd, and a boolean ``sample``). After a
    merge that wrote every row of the drop, they are the stored rows of other runs.

    :returns: None if a credit code is not 18 ASCII characters (the caller then reads the
        other runs' rows through its own connection).
    """
    codes = _drop_codes(drop)
    if codes is None:
        return None
    distinct, row_code = codes
    parts = []
    with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as reader:
        reader.execute("PRAGMA query_only = ON")
        for period in sorted(set(periods)):
            rows = reader.execute(
                """SELECT credit_code, revenue, from_ytd,
                          CASE WHEN provenance = 'sample' THEN 1 ELSE 0 END
                   FROM enterprise_revenue WHERE period = ?""", (period,)).fetchall()
            if not rows:
                continue
            frame = pd.DataFrame.from_records(
                rows, columns=["credit_code", "revenue", "from_ytd", "sample"])
            del rows
            stored = code_bytes(frame["credit_code"])
            if stored is None:
                return None
            dropped = distinct[row_code[(drop["period"] == period).to_numpy()]]
            if len(dropped):
                # The quarter's rows come in key order: the drop's codes are looked up in
                # them (the drop's own are not sorted: a million of them in a first load).
                order = (np.arange(len(stored)) if bool((stored[1:] > stored[:-1]).all())
                         else np.argsort(stored, kind="stable"))
                ordered = stored[order]
                at = np.minimum(np.searchsorted(ordered, dropped), len(ordered) - 1)
                in_drop = np.zeros(len(stored), dtype=bool)
                in_drop[order[at[ordered[at] == dropped]]] = True
                frame = frame[~in_drop]
            frame.insert(1, "period", period)
            frame["sample"] = frame["sample"].astype(bool)
            parts.append(frame)
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    return pd.concat(parts, ignore_index=True)
