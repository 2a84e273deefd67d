"""Tests of the forecast benchmark's bookkeeping: disjoint sets, results file sections, windows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks import forecast_bench, forecast_data


def _series(values) -> pd.Series:
    return pd.Series(np.asarray(values, dtype=float),
                     index=pd.period_range("2000Q1", periods=len(values), freq="Q"))


def test_sets_sharing_a_run_of_values_are_refused():
    held = {"M3:N1": _series(np.arange(1.0, 21.0))}
    dev = {"M1:Q7": _series(np.r_[50.0, 51.0, np.arange(8.0, 14.0), 90.0])}
    with pytest.raises(RuntimeError) as err:
        forecast_data.check_disjoint(dev, held)
    assert str(err.value) == ("development series M1:Q7 shares 6 consecutive values with "
                              "held-out series M3:N1")


def test_sets_sharing_fewer_values_pass():
    held = {"M3:N1": _series(np.arange(1.0, 21.0))}
    # five values in common, then a break: not the same series
    forecast_data.check_disjoint({"M1:Q7": _series([3.0, 4.0, 5.0, 6.0, 7.0, 70.0, 9.0])}, held)


def test_shared_with_names_the_held_out_series_that_repeat_a_development_one():
    dev = {"M1m:A": _series(np.arange(1.0, 21.0)), "M1m:B": _series(np.arange(100.0, 110.0))}
    held = {"M3m:X": _series(np.r_[0.5, np.arange(5.0, 12.0)]),  # 7 values of M1m:A
            "M3m:Y": _series(np.r_[np.arange(3.0, 8.0), 50.0, 51.0])}  # only 5
    assert forecast_data.shared_with(held, dev) == {"M3m:X": "M1m:A"}


def test_windows_are_newest_first_and_capped():
    s = _series(np.arange(60.0))
    wins = forecast_bench.windows(s, max_windows=forecast_bench.MAX_WINDOWS)
    assert len(wins) == 2
    hist, actual = wins[0]
    assert len(hist) == forecast_bench.HISTORY
    np.testing.assert_array_equal(actual, [56.0, 57.0, 58.0, 59.0])
    np.testing.assert_array_equal(wins[1][1], [48.0, 49.0, 50.0, 51.0])  # STEP = 8 earlier


def test_each_run_replaces_only_its_own_section(tmp_path, monkeypatch):
    monkeypatch.setattr(forecast_bench, "RESULTS_FILE", tmp_path / "RESULTS.md")
    forecast_bench.write_section(True, "dev table 1")
    forecast_bench.write_section(False, "held-out table")
    forecast_bench.write_section(True, "dev table 2")
    text = (tmp_path / "RESULTS.md").read_text(encoding="utf-8")
    assert text.startswith("# Forecast engine benchmark\n")
    assert "dev table 1" not in text
    dev_at, held_at = text.index("## Development set"), text.index("## Held-out set")
    assert dev_at < text.index("dev table 2") < held_at < text.index("held-out table")
    assert text.count("## Development set") == 1 and text.count("## Held-out set") == 1


def test_sections_the_runs_do_not_own_are_kept(tmp_path, monkeypatch):
    results = tmp_path / "RESULTS.md"
    results.write_text("# Title\n\nIntro.\n\n## Outcome\n\nWhat it means.\n\n"
                       "## Held-out set\n\nold table\n", encoding="utf-8")
    monkeypatch.setattr(forecast_bench, "RESULTS_FILE", results)
    forecast_bench.write_section(False, "new table")
    assert results.read_text(encoding="utf-8") == (
        "# Title\n\nIntro.\n\n## Outcome\n\nWhat it means.\n\n## Held-out set\n\nnew table\n")
