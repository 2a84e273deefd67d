"""The loader's step hook (etl.drops.steps, ``load_drop(on_step=...)``): every step it runs is
reported, with the thread it ran in. The scale benchmark times the loader through this hook, so
a step renamed or added here must be renamed or added there too."""

from __future__ import annotations

from collections import Counter

import pytest
from fixtures.make_fixtures import GOOD, TODAY
from sqlalchemy.engine import Engine

from etl.drops import stage as staging
from etl.drops.load import load_drop
from etl.drops.steps import Step, StepTiming


def test_the_steps_and_their_names() -> None:
    assert [s.value for s in Step] == [
        "hash files", "repeat check", "read", "validate", "stage", "merge", "index rebuild",
        "read register", "aggregate", "derive", "commit"]


def test_every_step_of_a_load_is_reported(geo_engine: Engine,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A first load of a drop with all three files runs every step: the register is staged in
    the thread while revenue is validated, zone metrics in the main thread, revenue in the
    thread while the register is merged (its indexes rebuilt: a small threshold here), then the
    register's view for the aggregates and the new quarter's sums in the thread."""
    monkeypatch.setattr(staging, "REBUILD_MIN_ROWS", 1)
    timings: list[StepTiming] = []
    load_drop(geo_engine, GOOD / "2025Q1", today=TODAY, on_step=timings.append)
    assert {t.step for t in timings} == set(Step)
    assert Counter((t.step, t.in_thread) for t in timings) == Counter({
        (Step.HASH, False): 1,
        (Step.REPEAT_CHECK, False): 2,  # before reading, and under the write lock
        (Step.READ, False): 1,
        (Step.VALIDATE, False): 1,
        (Step.STAGE, True): 2,  # the register and revenue
        (Step.STAGE, False): 1,  # zone metrics
        (Step.MERGE, False): 4,  # which revenue rows to compare; register, zones, revenue
        (Step.INDEX_REBUILD, False): 1,
        # The firms beside the drop's, read back (the drop's from their view).
        (Step.READ_REGISTER, False): 1,
        # The register's view made from the frame (every column given), then the sums.
        (Step.AGGREGATE, True): 2,
        (Step.DERIVE, False): 1,
        (Step.COMMIT, False): 1,
    })
    assert all(t.seconds >= 0 for t in timings)
    main = [t for t in timings if not t.in_thread]
    assert [t.step for t in main][:4] == [Step.HASH, Step.REPEAT_CHECK, Step.READ, Step.VALIDATE]
    assert main[-1].step == Step.COMMIT


def test_a_dry_run_and_a_repeat_report_the_steps_they_run(geo_engine: Engine) -> None:
    dry: list[StepTiming] = []
    load_drop(geo_engine, GOOD / "2025Q1", today=TODAY, dry_run=True, on_step=dry.append)
    assert {t.step for t in dry} == set(Step) - {Step.COMMIT, Step.INDEX_REBUILD}
    load_drop(geo_engine, GOOD / "2025Q1", today=TODAY)
    repeat: list[StepTiming] = []
    load_drop(geo_engine, GOOD / "2025Q1", today=TODAY, on_step=repeat.append)
    assert [t.step for t in repeat] == [Step.HASH, Step.REPEAT_CHECK]
