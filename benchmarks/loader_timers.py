"""The load's step timers: which loader functions count as which step, and each step's memory.

Today the loader is timed from outside: :func:`time_loader_steps` replaces the step functions
of ``etl.drops`` (module attributes, looked up at call time) by timed wrappers, by name. A
renamed function would silently lose its timer, so the names are checked: a missing one fails
the run. This module is the only place that knows those names; a timing hook in the loader
replaces it without touching the rest of the benchmark (``tests/test_scale_smoke.py`` checks
that every named function exists).
"""

from __future__ import annotations

import functools
import importlib
import threading
import time
from typing import Any

# Marks a step timed in the loader's staging thread (it overlaps the main thread's steps).
THREAD_MARK = " [in a thread, overlapping]"
MERGE_STEP = "merge SQL (join, insert)"
INDEX_STEP = "index rebuild"


class StepRss(threading.Thread):
    """Samples this process's RSS and charges each sample's peak to the innermost step."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        import psutil

        self.proc = psutil.Process()
        self.stack: list[str] = []
        self.peak: dict[str, int] = {}
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            rss = self.proc.memory_info().rss
            label = self.stack[-1] if self.stack else "outside the timed steps"
            self.peak[label] = max(self.peak.get(label, 0), rss)
            time.sleep(0.1)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)


# The loader's steps: (module, function, step). Each function is looked up on its module at
# call time by the loader, so replacing the attribute times every call.
LOADER_STEPS: tuple[tuple[str, str, str], ...] = (
    ("etl.drops.load", "fingerprint", "hash files"),
    ("etl.drops.load", "find_repeat", "repeat check"),
    ("etl.drops.load", "read_tables", "read (parse files)"),
    ("etl.drops.load", "validate_drop", "validate"),
    ("etl.drops.load", "stage_frame", "stage: key order, Arrow → scratch file (ADBC)"),
    ("etl.drops.stage", "create_indexes", INDEX_STEP),
    ("etl.drops.merge", "merge_enterprises", MERGE_STEP),
    ("etl.drops.merge", "merge_revenue", MERGE_STEP),
    ("etl.drops.merge", "merge_observations", MERGE_STEP),
    ("etl.drops.derive", "refresh_aggregates", "derive aggregates"),
    ("etl.drops.derive", "read_register", "derive aggregates"),  # the loader reads it before
)
# Timed only in the staging thread: on the main thread it runs inside refresh_aggregates,
# timed there already.
THREAD_ONLY_STEPS: tuple[tuple[str, str, str], ...] = (
    ("etl.drops.derive", "aggregate_rows", "derive aggregates"),
)


def step_function(module: str, name: str) -> Any:
    """The loader function a step times; a missing one is an error, not a silent gap."""
    try:
        return getattr(importlib.import_module(module), name)
    except AttributeError:
        raise AttributeError(f"the loader step {module}.{name} is gone: update LOADER_STEPS"
                             ) from None


def time_loader_steps(rss: StepRss | None) -> dict[str, float]:
    """Wrap the loader's steps with timers; returns the seconds per step, filled as it runs.

    :param rss: charges each step's peak memory to it (main thread only), if given.
    :raises AttributeError: a step's function no longer exists.
    """
    phases: dict[str, float] = {}

    def wrap(module: str, name: str, label: str, *, threads_only: bool = False) -> None:
        fn = step_function(module, name)

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            # A step in the loader's staging thread overlaps the main thread's steps: its
            # time is reported on its own line and its memory is not charged to a step.
            main = threading.current_thread() is threading.main_thread()
            if main and threads_only:
                return fn(*args, **kwargs)
            step = label if main else label + THREAD_MARK
            if rss is not None and main:
                rss.stack.append(label)
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                phases[step] = phases.get(step, 0.0) + time.perf_counter() - t0
                if rss is not None and main:
                    rss.stack.pop()

        setattr(importlib.import_module(module), name, timed)

    for module, name, label in LOADER_STEPS:
        wrap(module, name, label)
    for module, name, label in THREAD_ONLY_STEPS:
        wrap(module, name, label, threads_only=True)
    return phases


def finish_phases(phases: dict[str, float], load_s: float, forecast_s: float) -> dict[str, float]:
    """The steps as the report shows them: index rebuilds out of the merges, the untimed rest
    of the load as "commit and bookkeeping", and the forecast refresh."""
    # Index rebuilds run inside the merges: count them once.
    phases[MERGE_STEP] = max(0.0, phases.get(MERGE_STEP, 0.0) - phases.get(INDEX_STEP, 0.0))
    # The staging thread's time overlaps the main thread's steps: not part of the sum.
    in_main = sum(v for k, v in phases.items() if not k.endswith(THREAD_MARK))
    phases["commit and bookkeeping"] = max(0.0, load_s - in_main)
    phases["forecast refresh"] = forecast_s
    return phases
