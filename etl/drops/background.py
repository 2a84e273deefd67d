"""Staging a drop's validated frames, in a second thread while the loader goes on.

Each validated frame (register, revenue, zone metrics) goes into its own table of the
:class:`~etl.drops.stage.Stage`, in the order it will be merged in (:func:`stage_frame`).
:class:`Background` does that (and sums the aggregates) in one worker thread while the main
thread validates and merges: the staging is mostly Python, Arrow and numpy, the merges SQLite
(which releases the GIL), so on two cores they overlap. A task that should not wait behind
that worker's queue (a revised quarter's revenue, while the worker still makes the register's
view) runs in a second one (:meth:`Background.run_aside`).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Self

import numpy as np
import pandas as pd

from etl.drops import merge
from etl.drops.committed_register import CommittedRegister, compare
from etl.drops.stage import Stage, StageCancelled
from etl.drops.steps import Step, Steps
from etl.drops.validate import ValidDrop

# What a frame stages as: (frame, frame column → stage column, key to order the rows by).
StageSpec = tuple[pd.DataFrame, dict[str, str], list[str]]


def stage_specs(valid: ValidDrop) -> dict[str, StageSpec]:
    """What each validated frame stages as: kind (``enterprises``, ``revenue``,
    ``zone_metrics``) → (frame, frame column → stage column, key to order the rows by)."""
    specs = {
        "enterprises": (valid.enterprises, {"credit_code": "credit_code",
                                            **{c: c for c in merge.ENT_COLUMNS},
                                            "given": "given", "_t": "t", "_row": "row"},
                        ["credit_code"]),
        "revenue": (valid.revenue, {**{c: c for c in merge.REV_COLUMNS}, "_t": "t"},
                    list(merge.REV_KEY)),
        "zone_metrics": (valid.observations,
                         {c: c for c in ("metric", "scope_id", "period", "period_end",
                                         "period_label", "value", "unit", "provenance")}
                         | {"_t": "t", "_row": "row"}, []),
    }
    return {kind: spec for kind, spec in specs.items()  # type: ignore[misc]
            if spec[0] is not None and len(spec[0])}


def stage_frame(stage: Stage, kind: str, frame: pd.DataFrame, columns: dict[str, str],
                keys: list[str], on_batch: Callable[[int], None] | None = None) -> merge.Staged:
    """Put one validated frame into the stage, in the order it will be merged in."""
    # In key order, inserts and lookups walk the indexes in order (cache-friendly), and
    # revenue is appended to its table's key order. The order is computed on integer codes
    # and applied batch by batch: a sorted copy of 8M rows would cost hundreds of megabytes.
    order = merge.key_order(frame, keys) if keys else None
    table = stage.put(kind, frame, columns, order=order, on_batch=on_batch)
    per_file = frame.groupby("_t").size()
    to_compare = int(frame["_cmp"].sum()) if "_cmp" in columns else None
    return merge.Staged(table, {int(t): int(n) for t, n in per_file.items()}, to_compare)


def stage_changed(stage: Stage, kind: str, frame: pd.DataFrame, columns: dict[str, str],
                  keys: list[str], committed: CommittedRegister,
                  on_batch: Callable[[int], None] | None = None) -> merge.Staged:
    """:func:`stage_frame` of the validated register's rows that are not equal to their
    committed rows (``committed``, read already: see :mod:`etl.drops.committed_register`);
    the result carries the register's sorted credit codes."""
    stored, committed.table = committed.table, None
    # A register at least doubled by the drop (a first load, say) leaves few rows out at best.
    found = (compare(frame, stored) if stored is not None and 2 * stored.num_rows >= len(frame)
             else None)
    del stored
    if found is None:
        return stage_frame(stage, kind, frame, columns, keys, on_batch)
    committed.left_out = int(found.unchanged.sum())
    committed.others, committed.order = found.others, found.order
    committed.resent = merge.resends_every_value(frame)
    rows = frame[~found.unchanged] if committed.left_out else frame
    classified = found.clean and committed.resent
    if classified:
        # Every value resent and every column compared: each staged row is new or changed,
        # and whether it keeps its indexed columns is known; the merge reads both from the
        # stage instead of joining every row with the register again.
        rows = rows.assign(
            _action=np.where(found.stored[~found.unchanged], "changed", "new"),
            _keys_kept=found.keys_kept[~found.unchanged].astype(np.int64))
        columns = {**columns, "_action": "action", "_keys_kept": "keys_kept"}
    staged = stage_frame(stage, kind, rows, columns, keys, on_batch)
    return replace(staged, left_out=committed.left_out, codes=found.codes,
                   classified=classified)


class Background:
    """Stages tables (and sums the aggregates) in one worker thread while the loader goes on
    (validating, merging). Tasks run one after the other, in the order submitted (those of
    :meth:`run_aside` in a second thread); each is timed as a step run in a thread.

    Use as a context manager around everything that might wait for a table: on leaving the
    block, a staging still running is no longer needed (the load failed, was rejected or
    found a repeat) and stops at its next batch; the thread has ended when the block exits.
    """

    def __init__(self, stage: Stage, steps: Steps) -> None:
        self.stage = stage
        self.steps = steps
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aidash-stage")
        # A second worker, started on first use (:meth:`run_aside`).
        self.aside: ThreadPoolExecutor | None = None
        self.pending: dict[str, Future[Any]] = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()
        self.pool.shutdown(wait=True)
        if self.aside is not None:
            self.aside.shutdown(wait=True)

    def cancel(self) -> None:
        """Make the task writing now stop at its next batch (the load will not use it)."""
        self.stage.cancel()

    def put(self, kind: str, frame: pd.DataFrame, columns: dict[str, str], keys: list[str],
            on_batch: Callable[[int], None] | None = None, *,
            committed: CommittedRegister | None = None) -> None:
        """Start staging ``frame`` (see :func:`stage_frame`; a register without the rows equal
        to ``committed``'s, if given: :func:`stage_changed`); its result is ``kind``'s."""
        if committed is not None:
            self.run(kind, Step.STAGE, stage_changed, self.stage, kind, frame, columns, keys,
                     committed, on_batch)
        else:
            self.run(kind, Step.STAGE, stage_frame, self.stage, kind, frame, columns, keys,
                     on_batch)

    def read_committed(self, committed: CommittedRegister) -> None:
        """Start reading the committed register (before the register it is compared with is
        put: tasks run in the order submitted)."""
        self.run("committed register", Step.READ_REGISTER, committed.read)

    def run(self, key: str, step: Step, fn: Callable[..., Any], *args: Any) -> None:
        """Start ``fn(*args)``, timed as ``step``; :meth:`result` of ``key`` returns what it
        returns."""
        self.pending[key] = self.pool.submit(self._timed, step, fn, *args)

    def run_aside(self, key: str, step: Step, fn: Callable[..., Any], *args: Any) -> None:
        """:meth:`run`, in a second worker thread: for a task that should not wait behind
        the first's queue."""
        if self.aside is None:
            self.aside = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aidash-aside")
        self.pending[key] = self.aside.submit(self._timed, step, fn, *args)

    def _timed(self, step: Step, fn: Callable[..., Any], *args: Any) -> Any:
        with self.steps.timed(step, in_thread=True):
            return fn(*args)

    def started(self, key: str) -> bool:
        """Whether a task ``key`` was started and its result not yet taken."""
        return key in self.pending

    def failure(self) -> BaseException | None:
        """The exception a task has ended with (not a cancellation), if any: when it wrote
        into the load's transaction, the cause of whatever failed in the main thread after."""
        for future in self.pending.values():
            if future.done() and not future.cancelled():
                error = future.exception()
                if error is not None and not isinstance(error, StageCancelled):
                    return error
        return None

    def result(self, key: str) -> Any:
        """What the task ``key`` returned, once it has ended (None if never started); an
        exception of the task is raised here."""
        future = self.pending.pop(key, None)
        return None if future is None else future.result()
