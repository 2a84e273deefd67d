"""Revenue rows as the database held them before the load's transaction, on SQLite.

A revised quarter's aggregates are the drop's rows summed plus the quarter's other stored
rows. When every row of the drop is written (new or changed), those other rows are the
quarter as committed before the load, less the drop's firms: they are read here, in the
staging thread while the load's connection merges, by a process of their own
(:mod:`etl.drops.committed_reader`), which sees the committed state. The load's connection holds
the write lock by then (its run row is written first), so no other writer has committed
since its transaction's snapshot: the committed state is the one the load started from.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

from etl.drops.code_bytes import code_bytes
from etl.drops.committed_reader import CommittedRead

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


def read_quarters(path: Path, periods: list[str]) -> CommittedRead:
    """Start reading the committed revenue rows of ``periods``, in key order, for
    :func:`committed_others` (the reading process runs while the loader goes on)."""
    wanted = sorted(set(periods))
    return CommittedRead(
        path, f"""SELECT period, credit_code, revenue, from_ytd,
                         CASE WHEN provenance = 'sample' THEN 1 ELSE 0 END AS sample
                  FROM enterprise_revenue WHERE period IN ({', '.join('?' * len(wanted))})
                  ORDER BY period, credit_code""", *wanted)


def committed_others(read: CommittedRead, periods: list[str],
                     drop: pd.DataFrame) -> pd.DataFrame | None:
    """The committed revenue rows of ``periods`` whose firm has no row of the same quarter in
    ``drop`` (credit_code, period, revenue, from_ytd, and a boolean ``sample``). After a
    merge that wrote every row of the drop, they are the stored rows of other runs.

    :param read: those rows being read (:func:`read_quarters` of the same ``periods``).
    :returns: None if a credit code is not 18 ASCII characters or the rows could not be read
        (the caller then reads the other runs' rows through its own connection).
    """
    table = read.table()
    codes = _drop_codes(drop)
    if table is None or codes is None:
        return None
    distinct, row_code = codes
    wanted = sorted(set(periods))
    quarters = table.column("period").to_numpy(zero_copy_only=False)
    frame = table.drop_columns("period").to_pandas()
    del table
    parts = []
    for period in wanted:
        at = np.flatnonzero(quarters == period)
        if not len(at):
            continue
        rows = frame.iloc[at[0]:at[-1] + 1].reset_index(drop=True)  # one range, in key order
        stored = code_bytes(rows["credit_code"])
        if stored is None:
            return None
        dropped = distinct[row_code[(drop["period"] == period).to_numpy()]]
        if len(dropped):
            # The quarter's rows come in key order: the drop's codes are looked up in them
            # (the drop's own are not sorted: a million of them in a first load).
            order = (np.arange(len(stored)) if bool((stored[1:] > stored[:-1]).all())
                     else np.argsort(stored, kind="stable"))
            ordered = stored[order]
            at = np.minimum(np.searchsorted(ordered, dropped), len(ordered) - 1)
            in_drop = np.zeros(len(stored), dtype=bool)
            in_drop[order[at[ordered[at] == dropped]]] = True
            rows = rows[~in_drop]
        rows.insert(1, "period", period)
        rows["sample"] = rows["sample"].astype(bool)
        parts.append(rows)
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    return pd.concat(parts, ignore_index=True)
