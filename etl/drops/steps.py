"""The steps of a load as its caller sees them: a progress bar, and each step's time.

``load_drop(..., on_step=hook)`` calls ``hook(StepTiming(...))`` once each time a step of
:class:`Step` ends, from the thread that ran it (the staging thread's steps overlap the main
thread's). A benchmark sums the seconds per step; nothing else in the load depends on the hook.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from typing import Any, Self


class Step(str, Enum):
    """Every step a load times, in the order they first run. A step may run more than once
    (one merge per file kind) and in either thread (staging)."""

    HASH = "hash files"
    REPEAT_CHECK = "repeat check"  # before reading, and again under the write lock
    READ = "read"
    VALIDATE = "validate"
    STAGE = "stage"  # a validated frame → a scratch file (key order, Arrow, ADBC ingest)
    # A stage table → the database (set-based SQL); on PostgreSQL, a validated frame whose
    # keys are new to its table COPY-ed straight into it (etl.drops.pg_direct; the register
    # in the staging thread, while revenue is validated).
    MERGE = "merge"
    # Inside a merge: its time is also part of that merge's.
    INDEX_REBUILD = "index rebuild"
    READ_REGISTER = "read register"  # the register's dimensions, for the aggregates
    # The sums of a drop whose revenue is the whole of its quarters, in the staging thread;
    # otherwise they are computed inside DERIVE.
    AGGREGATE = "aggregate"
    DERIVE = "derive"  # the aggregates compared with the stored ones and written
    COMMIT = "commit"


@dataclass(frozen=True)
class StepTiming:
    """One run of one step.

    :param step: which step.
    :param started: ``time.perf_counter()`` when it began (to place it on a timeline).
    :param seconds: how long it took.
    :param in_thread: it ran in the staging thread, overlapping the main thread's steps.
    """

    step: Step
    started: float
    seconds: float
    in_thread: bool


StepHook = Callable[[StepTiming], None]


class Steps:
    """A load's steps: a rich progress bar on stderr when asked for, and each step timed for
    the ``on_step`` hook when there is one. Without either, it does nothing."""

    def __init__(self, progress: bool = False, on_step: StepHook | None = None) -> None:
        self.on_step = on_step
        self.progress: Any = None
        self.task: Any = None
        if progress:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                     BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                     console=Console(stderr=True), transient=True)

    def __enter__(self) -> Self:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def show(self, description: str, total: int | None = None) -> None:
        """Show the next line of the progress bar (``total`` units, or an open-ended
        spinner)."""
        if self.progress is None:
            return
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task(description, total=total)

    def advance(self, n: int = 1) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.advance(self.task, n)

    @contextmanager
    def timed(self, step: Step, *, in_thread: bool = False) -> Iterator[None]:
        """Time the block as one run of ``step`` and report it (also when the block raises).

        :param in_thread: the block runs in the staging thread.
        """
        if self.on_step is None:
            yield
            return
        started = time.perf_counter()
        try:
            yield
        finally:
            self.on_step(StepTiming(step, started, time.perf_counter() - started, in_thread))
