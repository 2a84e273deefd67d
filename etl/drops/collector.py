"""The problems a validation finds, gathered as frames and turned into the report's rows.

One check can find a million problems (a revenue file with a wrong column); each check adds one
frame of them (:meth:`Collector.rows`), not one object per problem. :meth:`Collector.frame`
names each problem's file, sheet and header as the drop spells them and sorts them as the
rejection report lists them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from etl.drops.headers import Table
from models.problems import REPORT_COLUMNS, Problem


class Collector:
    """Problems found so far, as frames (one per check) rather than one object per problem."""

    def __init__(self, tables: list[Table]) -> None:
        self.tables = tables
        self.parts: list[pd.DataFrame] = []
        self.loose: list[Problem] = []

    def add(self, problem: Problem) -> None:
        self.loose.append(problem)

    @property
    def empty(self) -> bool:
        return not self.parts and not self.loose

    def rows(self, frame: pd.DataFrame, mask: pd.Series | np.ndarray, column: str | None,
             reason: str | pd.Series, value: pd.Series | None = None, *,
             claim: bool = False) -> None:
        """One problem per row of ``frame`` where ``mask`` holds.

        :param column: the canonical column (reported under the file's own header) or None.
        :param reason: one text for all, or a Series aligned with ``frame``.
        :param value: the values to report; default the raw values of ``column``.
        :param claim: these cells' problems are the only ones reported for them: the later
            checks' problems of the same cells are dropped (a cell refused for a control
            character or its length is not also "not a number", quoting it in full).
        """
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        sub = frame.loc[mask]
        if value is None:
            value = sub[column] if column is not None and column in sub else None
        else:
            value = value[mask] if len(value) == len(frame) else value
        part = pd.DataFrame({
            "_t": sub["_t"].to_numpy(),
            "row": sub["_row"].to_numpy(),
            "_column": column,
            "value": (value.astype(object).to_numpy() if isinstance(value, pd.Series)
                      else [None] * len(sub)),
            "reason": (reason[mask].to_numpy() if isinstance(reason, pd.Series) else reason),
        })
        if claim:
            part["_claim"] = True
        self.parts.append(part)

    def _unclaimed(self) -> list[pd.DataFrame]:
        """The parts without the problems of claimed cells (see :meth:`rows`)."""
        claimed = [p for p in self.parts if "_claim" in p]
        if not claimed:
            return self.parts
        keys = pd.concat([p[["_t", "row", "_column"]] for p in claimed]).drop_duplicates()
        keys["_claimed"] = True
        out = []
        for part in self.parts:
            if "_claim" in part:
                out.append(part.drop(columns="_claim"))
                continue
            hit = part.merge(keys, on=["_t", "row", "_column"], how="left")["_claimed"]
            out.append(part.loc[~hit.fillna(False).astype(bool).to_numpy()])
        return out

    def frame(self, file_order: list[str]) -> pd.DataFrame:
        """Every problem, sorted by file, sheet, row and column position, as report columns."""
        frames = []
        tables = self.tables
        for part in self._unclaimed():
            ts = part["_t"].to_numpy()
            headers = [(tables[t].headers.get(c, c) if isinstance(c, str) else None)
                       for t, c in zip(ts, part["_column"])]
            positions = [(list(tables[t].headers).index(c) if isinstance(c, str)
                          and c in tables[t].headers else 999)
                         for t, c in zip(ts, part["_column"])]
            frames.append(pd.DataFrame({
                "file": [tables[t].file for t in ts], "sheet": [tables[t].sheet for t in ts],
                "row": part["row"].to_numpy(), "column": headers,
                "value": part["value"].to_numpy(), "reason": part["reason"].to_numpy(),
                "_pos": positions,
            }))
        if self.loose:
            frames.append(pd.DataFrame({
                "file": [p.file for p in self.loose], "sheet": [p.sheet for p in self.loose],
                "row": [p.row for p in self.loose], "column": [p.column for p in self.loose],
                "value": [p.value for p in self.loose], "reason": [p.reason for p in self.loose],
                "_pos": [-1 if p.row in (None, 1) and p.column is None else 0
                         for p in self.loose],
            }))
        if not frames:
            return pd.DataFrame(columns=list(REPORT_COLUMNS))
        out = pd.concat(frames, ignore_index=True)
        order = {name: i for i, name in enumerate(file_order)}
        out["_file"] = out["file"].map(lambda f: order.get(f, len(order)))
        out["_sheet"] = out["sheet"].fillna("")
        out["_row"] = pd.to_numeric(out["row"], errors="coerce").fillna(0)
        out = out.sort_values(["_file", "file", "_sheet", "_row", "_pos"], kind="stable")
        out = out[list(REPORT_COLUMNS)].reset_index(drop=True)
        out["row"] = out["row"].astype("Int64")
        return out


def problems_as_list(frame: pd.DataFrame) -> list[Problem]:
    """The problem frame as :class:`Problem` objects (``row`` as int or None)."""
    out = []
    for file, sheet, row, column, value, reason in frame.itertuples(index=False, name=None):
        out.append(Problem(file, _none(sheet), None if pd.isna(row) else int(row),
                           _none(column), _none(value), reason))
    return out


def _none(v: object) -> str | None:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return None
    return str(v)
