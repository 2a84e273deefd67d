"""The register as committed before the load, on SQLite: a resent register's unchanged rows
are not staged.

A quarterly drop resends the whole register, and most of its firms are as stored. The merge
passes over such rows (:func:`etl.drops.merge.merge_enterprises`: a staged row equal to the
stored one in every column changes nothing, whatever its file gave), but only after a
million of them have been staged and joined. Instead, the committed register is read here,
in the staging thread while the drop is read and validated (read-only, by a process of its
own: :mod:`etl.drops.committed_reader`), and the validated register's rows equal to their
stored rows in every column are left out of the stage. The read starts before the load takes
the write lock; it is used only if no other writer has committed in between (SQLite's
``data_version``), so that what it read is the state the load's transaction starts from.

Leaving a row out is always safe when in doubt: the merge decides the rest. So a row counts as
unchanged only when each of its values, as the stage would write it (the same Arrow type),
equals the stored value exactly, a missing value matching only a missing one: the merge's
``IS``. A column whose stage type is not the stored one counts as changed on every row.
When every value is resent and every column could be compared, the staged rows also carry
whether each is new or changed and keeps its indexed columns
(:func:`etl.drops.background.stage_changed`), so that the merge writes them without joining
each with the register again (:func:`etl.drops.merge.merge_enterprises`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from etl.drops.code_bytes import code_bytes
from etl.drops.committed_reader import read_committed
from etl.drops.merge import ENT_COLUMNS, ENT_INDEXED
from etl.drops.stage import _arrow_part, _arrow_type, _arrow_whole

# Below this many stored firms the register is staged whole: reading it takes a process of its
# own, which costs more than staging a small register.
COMPARE_MIN_FIRMS = 50_000


@dataclass
class CommittedRegister:
    """The register's rows as committed, read by :meth:`read` (in the staging thread), and
    what the validated register's comparison with them found
    (:func:`etl.drops.background.stage_changed`)."""

    path: Path
    # The loading connection's ``PRAGMA data_version`` before the read began: unchanged once
    # the load holds the write lock, no other writer has committed since.
    data_version: int
    table: pa.Table | None = None
    # How many of the validated register's rows were left out of the stage as unchanged.
    left_out: int = 0
    # The stored firms that are not in the validated register, and the register's rows in
    # credit-code order.
    others: pa.Table | None = None
    order: np.ndarray | None = None
    # Whether the validated register gives every value (etl.drops.merge.resends_every_value).
    resent: bool = False

    def read(self) -> None:
        """Read the committed register in credit-code order (:mod:`etl.drops.committed_reader`);
        ``table`` stays None if it cannot be read (the whole register is then staged, as
        without it)."""
        self.table = read_committed(
            self.path,
            f"SELECT credit_code, {', '.join(ENT_COLUMNS)} FROM enterprises ORDER BY credit_code")


@dataclass(frozen=True)
class Comparison:
    """A validated register beside the committed one."""

    # Per row: equal to the stored row of its firm in every column.
    unchanged: np.ndarray
    # The register's rows in credit-code order, and their codes so ordered as 18-byte strings.
    order: np.ndarray
    codes: np.ndarray
    # The stored firms that are not in the register, as read.
    others: pa.Table
    # Per row: the firm is stored; it is, and its indexed columns (etl.drops.merge.ENT_INDEXED)
    # are all equal to the stored ones. Whether every column was compared (none typed unlike
    # the stored one).
    stored: np.ndarray
    keys_kept: np.ndarray
    clean: bool


def compare(frame: pd.DataFrame, stored: pa.Table) -> Comparison | None:
    """Which rows of the validated register ``frame`` equal the stored row of their firm in
    every column of :data:`etl.drops.merge.ENT_COLUMNS`.

    :param stored: the committed register, in credit-code order (:class:`CommittedRegister`).
    :returns: None if a credit code is not 18 ASCII characters (on either side).
    """
    ours = code_bytes(frame["credit_code"])
    theirs = code_bytes(stored.column("credit_code").combine_chunks())
    if ours is None or theirs is None:
        return None
    if len(ours) == len(theirs) and np.array_equal(ours, theirs):
        # Resent in the stored order: no search at all.
        every = np.arange(len(ours))
        return _compare_at(frame, stored, every, np.ones(len(ours), dtype=bool), every, ours)
    order = np.argsort(ours, kind="stable")
    ordered = ours[order]
    if not len(theirs) or not len(ours):
        none = np.zeros(len(frame), dtype=bool)
        return Comparison(none, order, ordered, stored, none, none, True)
    # Looked up in sorted order: a binary search with increasing keys narrows as it goes.
    at = np.empty(len(ours), dtype=np.intp)
    at[order] = np.minimum(np.searchsorted(theirs, ordered), len(theirs) - 1)
    return _compare_at(frame, stored, at, theirs[at] == ours, order, ordered)


def _compare_at(frame: pd.DataFrame, stored: pa.Table, at: np.ndarray, found: np.ndarray,
                order: np.ndarray, codes: np.ndarray) -> Comparison:
    """:func:`compare`, with each row's stored row ``at`` where ``found``."""
    rows = np.flatnonzero(found)
    same = found[rows]
    kept = same.copy()
    clean = True
    every = len(rows) == len(frame)  # every firm stored: no row of the frame to leave out
    positions = pa.array(at[rows])
    for column in ENT_COLUMNS:
        old = stored.column(column).combine_chunks()
        # A column stored empty throughout has whatever type the driver gave it.
        empty = old.null_count == len(old)
        kind = _arrow_type(frame[column])
        if old.type != kind and not empty:
            same[:] = kept[:] = clean = False
            break
        new = _arrow_part(_arrow_whole(frame[column] if every else frame[column].iloc[rows]),
                          kind)
        old = old.take(positions)
        if empty:
            equal = new.is_null()
        else:
            equal = pc.or_(pc.fill_null(pc.equal(old, new), False),
                           pc.and_(old.is_null(), new.is_null()))
        equal_rows = equal.to_numpy(zero_copy_only=False)
        same &= equal_rows
        if column in ENT_INDEXED:
            kept &= equal_rows
    unchanged = np.zeros(len(frame), dtype=bool)
    unchanged[rows] = same
    keys_kept = np.zeros(len(frame), dtype=bool)
    keys_kept[rows] = kept
    in_drop = np.zeros(stored.num_rows, dtype=bool)
    in_drop[at[rows]] = True
    return Comparison(unchanged, order, codes, stored.filter(pa.array(~in_drop)), found,
                      keys_kept, clean)
