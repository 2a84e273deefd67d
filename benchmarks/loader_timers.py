"""The load's step timers: the loader's ``on_step`` hook, summed per step, and each step's memory.

``load_drop(..., on_step=timers.on_step)`` reports every run of every step
(:class:`etl.drops.steps.Step`) with its start, length and thread. Nothing is patched: a step
the loader adds or renames changes :class:`~etl.drops.steps.Step`, and
:data:`STEP_LABELS` must name every member (``tests/test_scale_smoke.py`` checks it), so no
step drops out of the table silently.
"""

from __future__ import annotations

import threading
import time

from etl.drops.steps import Step, StepTiming

# Marks a step timed in the loader's staging thread (it overlaps the main thread's steps).
THREAD_MARK = " [in a thread, overlapping]"
MERGE_STEP = "merge SQL (join, insert)"
INDEX_STEP = "index rebuild"
COMMIT_STEP = "commit and bookkeeping"
DERIVE_STEP = "derive aggregates"
FORECAST_STEP = "forecast refresh"
OUTSIDE = "outside the timed steps"
# How the report names each step (several steps may share a line).
STEP_LABELS: dict[Step, str] = {
    Step.HASH: "hash files",
    Step.REPEAT_CHECK: "repeat check",
    Step.READ: "read (parse files)",
    Step.VALIDATE: "validate",
    Step.STAGE: "stage: key order, Arrow → scratch file (ADBC)",
    Step.MERGE: MERGE_STEP,
    Step.INDEX_REBUILD: INDEX_STEP,  # inside a merge: taken out of the merge's line
    Step.READ_REGISTER: DERIVE_STEP,
    Step.AGGREGATE: DERIVE_STEP,
    Step.DERIVE: DERIVE_STEP,
    Step.COMMIT: COMMIT_STEP,
}
RSS_INTERVAL_S = 0.1


class LoaderTimers:
    """Collects one load's step timings through the hook and samples the RSS of this process
    and its children.

    :param sample_rss: also sample the RSS, to charge each sample to the step running then.
    """

    def __init__(self, sample_rss: bool = True) -> None:
        self.timings: list[StepTiming] = []
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if sample_rss:
            self._thread = threading.Thread(target=self._sample, daemon=True)

    def on_step(self, timing: StepTiming) -> None:
        """The loader's hook (called from the thread that ran the step)."""
        self.timings.append(timing)

    def start(self) -> None:
        if self._thread is not None:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=5)

    def _sample(self) -> None:
        """The RSS of this process and of the processes it has started (the loader reads
        committed rows in a process of its own), summed, every :data:`RSS_INTERVAL_S`."""
        import psutil

        proc = psutil.Process()
        while not self._stop.is_set():
            rss = proc.memory_info().rss
            for child in proc.children(recursive=True):
                try:
                    rss += child.memory_info().rss
                except psutil.Error:  # ended meanwhile
                    pass
            self.samples.append((time.perf_counter(), rss))
            time.sleep(RSS_INTERVAL_S)

    def tree_peak(self) -> int:
        """The highest RSS sampled, this process and its children together."""
        return max((rss for _at, rss in self.samples), default=0)

    def phases(self, load_s: float, forecast_s: float) -> dict[str, float]:
        """Seconds per report line: the staging thread's steps on lines of their own, index
        rebuilds out of the merges, whatever the steps do not cover added to the commit line,
        and the forecast refresh."""
        phases: dict[str, float] = {}
        for t in self.timings:
            label = STEP_LABELS[t.step] + (THREAD_MARK if t.in_thread else "")
            phases[label] = phases.get(label, 0.0) + t.seconds
        # Index rebuilds run inside the merges: count them once.
        if MERGE_STEP in phases:
            phases[MERGE_STEP] = max(0.0, phases[MERGE_STEP] - phases.get(INDEX_STEP, 0.0))
        in_main = sum(v for k, v in phases.items() if not k.endswith(THREAD_MARK))
        phases[COMMIT_STEP] = phases.get(COMMIT_STEP, 0.0) + max(0.0, load_s - in_main)
        phases[FORECAST_STEP] = forecast_s
        return phases

    def peak_rss(self, load_end: float) -> dict[str, int]:
        """The highest RSS sampled while each main-thread step ran (the innermost one where
        steps nest), the forecast refresh after ``load_end``, and the rest."""
        main = [t for t in self.timings if not t.in_thread]
        peak: dict[str, int] = {}
        for at, rss in self.samples:
            running = [t for t in main if t.started <= at < t.started + t.seconds]
            if running:
                label = STEP_LABELS[min(running, key=lambda t: t.seconds).step]
            else:
                label = FORECAST_STEP if at >= load_end else OUTSIDE
            peak[label] = max(peak.get(label, 0), rss)
        return peak
