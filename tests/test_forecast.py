"""Tests of models.forecast on synthetic series with a known truth (seeded RNG)."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.ar_model import AutoReg
from statsmodels.tsa.holtwinters import ExponentialSmoothing

from models.forecast import backtest, candidates, forecast, intervals, prepare
from models.tables import FORECAST_BANDS, ForecastPoint, band_columns

SEASON = np.array([0.06, -0.03, 0.10, -0.13])  # log-scale quarterly pattern, sums to 0
GROWTH = 0.02  # log growth per quarter
NOISE = 0.015  # log-scale noise sd


def truth(n: int, start: int = 0) -> np.ndarray:
    """Noise-free level of the synthetic quarterly series at positions start..start+n-1."""
    t = np.arange(start, start + n)
    return 100.0 * np.exp(GROWTH * t + SEASON[t % 4])


def quarterly(n: int = 32, seed: int = 0, season: bool = True) -> pd.Series:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    level = 100.0 * np.exp(GROWTH * t + (SEASON[t % 4] if season else 0.0))
    values = level * np.exp(rng.normal(0.0, NOISE, n))
    return pd.Series(values, index=pd.period_range("2015Q1", periods=n, freq="Q"))


def check_valid(res: pd.DataFrame, levels: tuple = (80, 95)) -> None:
    """No NaN, nothing negative, intervals nested around the mean."""
    assert np.isfinite(res.to_numpy()).all()
    assert (res.to_numpy() >= 0).all()
    prev_lo, prev_hi = res["mean"], res["mean"]
    for lv in sorted(levels):
        lo, hi = res[f"lo_{lv:g}"], res[f"hi_{lv:g}"]
        assert (lo <= prev_lo + 1e-9).all() and (hi >= prev_hi - 1e-9).all()
        prev_lo, prev_hi = lo, hi


# -------------------------------------------------------------------------------------------
# shape, index, truth
# -------------------------------------------------------------------------------------------
def test_shape_index_and_columns():
    y = quarterly()
    res = forecast(y, 4)
    assert list(res.columns) == ["mean", "lo_80", "hi_80", "lo_95", "hi_95"]
    expected = pd.period_range("2023Q1", periods=4, freq="Q")
    assert isinstance(res.index, pd.PeriodIndex)
    assert res.index.equals(expected)
    assert res.index.freqstr == "Q-DEC"


def test_default_bands_are_the_stored_columns_in_their_order():
    # the forecaster names and orders its columns as forecast_points stores them
    res = forecast(quarterly(), 4)
    assert tuple(res.columns) == FORECAST_BANDS == band_columns((80, 95))
    stored = [c.name for c in ForecastPoint.__table__.columns]  # type: ignore[attr-defined]
    assert stored[stored.index("mean"):] == list(FORECAST_BANDS)
    assert band_columns((95, 50, 99.5)) == ("mean", "lo_95", "hi_95", "lo_50", "hi_50",
                                            "lo_99.5", "hi_99.5")


def test_seasonal_growth_series_matches_known_truth():
    y = quarterly(seed=1)
    res = forecast(y, 4)
    check_valid(res)
    true_future = truth(4, start=32)
    # point forecasts within 4 % of the noise-free truth (noise sd is 1.5 %)
    np.testing.assert_allclose(res["mean"].to_numpy(), true_future, rtol=0.04)
    # the seasonal pattern is reproduced: Q3 above Q2 and Q4 below Q3, as in the truth
    assert res["mean"].iloc[2] > res["mean"].iloc[1] > res["mean"].iloc[3]
    # the truth lies inside the 95 % interval at every horizon
    assert ((res["lo_95"] <= true_future) & (true_future <= res["hi_95"])).all()
    assert res.attrs["seasonal"] is True
    assert "seasonally adjusted" in res.attrs["model"]


def test_intervals_widen_with_horizon_and_are_not_useless():
    res = forecast(quarterly(seed=2), 8)
    check_valid(res)
    width = (res["hi_95"] - res["lo_95"]) / res["mean"]
    assert width.iloc[-1] > width.iloc[0]
    # honest but informative: 95 % band well under +-50 % two years out on a 1.5 %-noise series
    assert width.iloc[-1] < 1.0


def test_non_seasonal_series_is_not_seasonally_adjusted():
    res = forecast(quarterly(seed=3, season=False), 4)
    check_valid(res)
    assert res.attrs["seasonal"] is False
    np.testing.assert_allclose(res["mean"].to_numpy(),
                               100.0 * np.exp(GROWTH * np.arange(32, 36)), rtol=0.04)


def test_attrs_model_weights_and_backtest():
    res = forecast(quarterly(seed=4), 4)
    attrs = res.attrs
    assert isinstance(attrs["model"], str) and attrs["model"]
    weights = attrs["weights"]
    assert set(weights) <= set(candidates.CANDIDATES)
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-3)
    bt = attrs["backtest"]
    assert 0 < bt["mase"] < 1.0  # a smooth seasonal series is far easier than seasonal naive
    for key in ("coverage_80", "coverage_95"):
        assert 0.0 <= bt[key] <= 1.0
    assert bt["coverage_95"] >= bt["coverage_80"]
    assert bt["origins"] >= 10
    assert "method_note" not in attrs  # nothing unusual about this series


def test_custom_levels_order_and_nesting():
    levels = (95, 50, 99.5)
    res = forecast(quarterly(seed=5), 3, levels)
    assert list(res.columns) == ["mean", "lo_95", "hi_95", "lo_50", "hi_50", "lo_99.5",
                                 "hi_99.5"]
    check_valid(res, levels)
    assert set(res.attrs["backtest"]) >= {"coverage_95", "coverage_50", "coverage_99.5"}


def test_nesting_holds_even_if_calibration_would_invert_it(monkeypatch):
    # a wider factor at 80 % than at 95 % would put hi_80 above hi_95 without the safeguard
    monkeypatch.setattr(intervals, "CALIBRATION", {80: 1.6, 95: 0.6})
    intervals._calibration.cache_clear()
    try:
        res = forecast(quarterly(seed=20), 4)
        check_valid(res)
        np.testing.assert_allclose(res["hi_95"], res["hi_80"])
    finally:
        intervals._calibration.cache_clear()


def test_smooth_series_get_wider_intervals_than_rough_ones_for_the_same_errors():
    err = np.random.default_rng(3).normal(0.0, 0.05, size=(16, 4))
    smooth = intervals.half_widths(err, 0.05, (80, 95), 4, level_sd=2.0)  # roughness 0.025
    rough = intervals.half_widths(err, 0.05, (80, 95), 4, level_sd=0.05)  # roughness 1
    assert np.all(smooth > rough)
    assert intervals.roughness_factor(0.05, 2.0) == intervals.ROUGH_CLIP[1]  # clipped
    assert intervals.roughness_factor(0.4, 1.0) == 1.0  # at the reference roughness
    assert intervals.roughness_factor(0.05, np.inf) == 1.0  # level unknown: no factor


def test_is_deterministic_and_does_not_mutate_input():
    y = quarterly(seed=6)
    y.iloc[5] = np.nan
    before = y.copy()
    a, b = forecast(y, 4), forecast(y, 4)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_series_equal(y, before)


def test_emits_no_warnings():
    y = quarterly(seed=7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        forecast(y, 8)


def test_speed_is_in_the_right_ballpark():
    # the benchmark measures the 50 ms target; this only catches pathologies (e.g. 10x slower)
    y = quarterly(seed=8)
    forecast(y, 4)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        forecast(y, 4)
        times.append(time.perf_counter() - t0)
    assert np.median(times) < 0.5


# -------------------------------------------------------------------------------------------
# the combination
# -------------------------------------------------------------------------------------------
def test_member_weights_are_equal_among_members_near_the_best():
    # within DROP_RATIO (2x) of the best backtest MAE: equal shares; beyond it: left out
    np.testing.assert_allclose(backtest.member_weights(np.array([1.0, 1.9, 2.0, 2.1, 5.0]), 5),
                               [1 / 3, 1 / 3, 1 / 3, 0.0, 0.0])
    np.testing.assert_allclose(backtest.member_weights(None, 4), [0.25] * 4)
    np.testing.assert_allclose(backtest.member_weights(np.array([0.0, 0.0, 1e-9]), 3),
                               [0.5, 0.5, 0.0])


def test_backtest_weights_only_use_errors_seen_at_each_origin():
    # member 0 is perfect until the last observable target, where it is far off; member 1 is
    # always a little off. Only the last origin's weights may react to that last error.
    O = 8
    A = np.r_[np.arange(O - 1, dtype=float), np.nan][:, None]
    F = np.stack([A.copy(), A + 0.5])
    F[0, O - 2, 0] = A[O - 2, 0] + 100.0  # its error becomes observable at origin O - 1
    F = np.nan_to_num(F, nan=7.0)  # forecasts of the last origin (no actual)
    weights, used, all_err = backtest.backtest(F, A)
    np.testing.assert_allclose(weights, [0.0, 1.0])  # MAE 100/7 > 2 x 0.5: member 0 is out
    assert np.isnan(used[: backtest.PREQ_WARMUP]).all()
    # at every earlier origin member 0 had the smallest error, so it alone was used (error 0)
    np.testing.assert_allclose(all_err[1: O - 2, 0], 0.0)
    assert all_err[O - 2, 0] == pytest.approx(-100.0)


def test_point_forecast_is_the_mean_of_the_members_kept():
    res = forecast(quarterly(seed=21), 4)
    weights = res.attrs["weights"]
    kept = [w for w in weights.values() if w > 0]
    assert kept and all(w == pytest.approx(kept[0], abs=1e-4) for w in kept)
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-3)
    assert res.attrs["model"].startswith("mean(") or len(kept) == 1


def test_clean_trend_leaves_out_the_members_without_drift():
    # on a steady 2 %-a-quarter trend the members without drift (and Theta, whose level lags a
    # trend) miss by more than 2x the trend-following ones, which share the forecast
    weights = forecast(quarterly(seed=22, season=False), 4).attrs["weights"]
    assert weights == {"ets_damped": 0.5, "arima110d": 0.5, "theta": 0.0, "arima110": 0.0,
                       "arima210": 0.0}


def test_a_failing_member_is_named_and_the_rest_share_the_weight(monkeypatch):
    def broken(a, origins, H):
        raise np.linalg.LinAlgError("singular")

    monkeypatch.setitem(candidates.CANDIDATES, "arima110", (broken, False))
    res = forecast(quarterly(seed=23), 4)
    check_valid(res)
    assert res.attrs["failed_candidates"] == ["arima110"]
    assert "arima110" not in res.attrs["weights"]
    assert sum(res.attrs["weights"].values()) == pytest.approx(1.0, abs=1e-3)


def test_every_member_failing_falls_back_to_the_random_walk(monkeypatch):
    def broken(a, origins, H, fit=None):
        raise ValueError("no fit")

    for name, (_, shared) in list(candidates.CANDIDATES.items()):
        monkeypatch.setitem(candidates.CANDIDATES, name, (broken, shared))
    y = quarterly(seed=24, season=False)
    res = forecast(y, 4)
    check_valid(res)
    assert res.attrs["weights"] == {"naive": 1.0}
    assert sorted(res.attrs["failed_candidates"]) == sorted(candidates.CANDIDATES)
    np.testing.assert_allclose(res["mean"].to_numpy(), y.iloc[-1], rtol=1e-9)


# -------------------------------------------------------------------------------------------
# awkward inputs
# -------------------------------------------------------------------------------------------
def test_short_series_uses_documented_drift_path():
    y = pd.Series([10.0, 12.0, 15.0, 18.0, 21.0],
                  index=pd.period_range("2023Q1", periods=5, freq="Q"))
    res = forecast(y, 4)
    check_valid(res)
    assert res.attrs["model"] == "drift_log"
    assert res.attrs["method_note"].startswith("short series (5 observations < 8)")
    assert res.attrs["backtest"] is None
    assert res["mean"].is_monotonic_increasing and res["mean"].iloc[0] > 21.0
    # widened: the 95 % band is wide relative to a 5-point history
    assert (res["hi_95"] / res["lo_95"]).iloc[0] > 1.2


def test_three_observations_are_enough():
    y = pd.Series([5.0, 6.0, 7.5], index=pd.period_range("2021", periods=3, freq="Y"))
    res = forecast(y, 2)
    check_valid(res)
    assert res.index.equals(pd.period_range("2024", periods=2, freq="Y"))


def test_gap_is_interpolated_and_reported():
    y = quarterly(seed=9)
    y.iloc[[12, 13, 20]] = np.nan
    res = forecast(y, 4)
    check_valid(res)
    assert "3 missing value(s) inside the series linearly interpolated" in res.attrs[
        "method_note"]
    np.testing.assert_allclose(res["mean"].to_numpy(), truth(4, start=32), rtol=0.05)


def test_missing_periods_in_index_are_gaps():
    y = quarterly(seed=10).drop(pd.Period("2018Q2"))
    res = forecast(y, 4)
    check_valid(res)
    assert "1 missing period(s) in the index" in res.attrs["method_note"]
    assert res.index[0] == pd.Period("2023Q1", freq="Q")


def test_trailing_and_leading_nans():
    y = quarterly(seed=11)
    y.iloc[:2] = np.nan
    y.iloc[-2:] = np.nan
    res = forecast(y, 4)
    check_valid(res)
    # the result starts right after the index, not after the last observation
    assert res.index[0] == pd.Period("2023Q1", freq="Q")
    assert "2 trailing missing value(s)" in res.attrs["method_note"]
    assert "2 leading missing value(s) dropped" in res.attrs["method_note"]
    np.testing.assert_allclose(res["mean"].to_numpy(), truth(4, start=32), rtol=0.06)


def test_occasional_zero_is_repaired():
    y = quarterly(seed=12)
    y.iloc[17] = 0.0
    res = forecast(y, 4)
    check_valid(res)
    note = res.attrs["method_note"]
    assert "zeros present: modelled as log(y + 1)" in note
    assert "outlier at 2019Q2" in note
    np.testing.assert_allclose(res["mean"].to_numpy(), truth(4, start=32), rtol=0.05)


def test_count_series_with_many_zeros():
    rng = np.random.default_rng(13)
    y = pd.Series(rng.poisson(2.0, 24).astype(float),
                  index=pd.period_range("2018Q1", periods=24, freq="Q"))
    res = forecast(y, 4)
    check_valid(res)
    assert (res["mean"] < 6).all()
    # wide for counts (the 95 % band is calibrated x1.6 for real series), but not useless
    assert (res["hi_95"] < 50).all()


def test_level_shift_is_followed():
    y = quarterly(seed=14)
    y.iloc[20:] *= 1.8
    res = forecast(y, 4)
    check_valid(res)
    assert "level shift at 2020Q1" in res.attrs["method_note"]
    np.testing.assert_allclose(res["mean"].to_numpy(), 1.8 * truth(4, start=32), rtol=0.08)


def test_crash_at_the_last_point_is_not_extrapolated_as_a_trend():
    y = quarterly(seed=15)
    y.iloc[-1] *= 0.6
    res = forecast(y, 4)
    check_valid(res)
    # a random walk would stay near the new level; a trend read off the crash would fall further
    assert (res["mean"] > 0.45 * truth(4, start=32)).all()


def test_constant_and_all_zero_series():
    idx = pd.period_range("2016Q1", periods=20, freq="Q")
    res = forecast(pd.Series(7.0, index=idx), 4)
    check_valid(res)
    np.testing.assert_allclose(res["mean"].to_numpy(), 7.0, rtol=1e-6)
    res0 = forecast(pd.Series(0.0, index=idx), 4)
    check_valid(res0)
    np.testing.assert_allclose(res0.to_numpy(), 0.0, atol=1e-6)


def test_annual_series():
    rng = np.random.default_rng(16)
    n = 14
    values = 40.0 * 1.12 ** np.arange(n) * np.exp(rng.normal(0, 0.02, n))
    y = pd.Series(values, index=pd.period_range("2010", periods=n, freq="Y"))
    res = forecast(y, 3)
    check_valid(res)
    assert res.index.freqstr == "Y-DEC"
    assert res.index.equals(pd.period_range("2024", periods=3, freq="Y"))
    assert res.attrs["seasonal"] is False
    np.testing.assert_allclose(res["mean"].to_numpy(), 40.0 * 1.12 ** np.arange(n, n + 3),
                               rtol=0.06)


def test_nullable_integer_dtype_is_accepted():
    y = quarterly(seed=17).round().astype("Int64")
    y.iloc[3] = pd.NA
    res = forecast(y, 4)
    check_valid(res)


# -------------------------------------------------------------------------------------------
# the hand-written estimators agree with statsmodels
# -------------------------------------------------------------------------------------------
def test_ar_candidates_match_statsmodels_autoreg():
    rng = np.random.default_rng(18)
    d = np.empty(40)
    d[0] = 0.01
    for t in range(1, 40):
        d[t] = 0.004 + 0.5 * d[t - 1] + rng.normal(0, 0.01)
    a = np.r_[0.0, np.cumsum(d)]
    n = len(a)
    ours = candidates.CANDIDATES["arima110d"][0](a, np.array([n]), 4)[0]
    sm = AutoReg(np.diff(a), lags=1, trend="c").fit()
    expected = a[-1] + np.cumsum(sm.predict(start=n - 1, end=n + 2))
    np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-12)
    ar2 = candidates._make_ar(2, False, True)  # stationary AR(2): the estimator of arima210
    ours2 = ar2(a[-30:] - a[-30:].mean(), np.array([30]), 3)[0]
    sm2 = AutoReg(a[-30:] - a[-30:].mean(), lags=2, trend="c").fit()
    if candidates._max_root(np.asarray(sm2.params[1:])) < candidates.AR_ROOT_MAX:  # unshrunk case only
        np.testing.assert_allclose(ours2, sm2.predict(start=30, end=32), rtol=1e-9)


def test_es_filter_matches_statsmodels_holt_winters():
    rng = np.random.default_rng(19)
    a = np.cumsum(rng.normal(0.01, 0.02, 30))
    res = ExponentialSmoothing(a, trend="add", damped_trend=True,
                               initialization_method="estimated").fit()
    p = res.params
    lev, tr = candidates._es_filter(a, p["smoothing_level"], p["smoothing_trend"],
                                    p["damping_trend"], p["initial_level"], p["initial_trend"])
    np.testing.assert_allclose(lev, res.level, atol=1e-10)
    np.testing.assert_allclose(tr, res.trend, atol=1e-10)


# -------------------------------------------------------------------------------------------
# bad input: exact messages
# -------------------------------------------------------------------------------------------
Q8 = pd.period_range("2020Q1", periods=8, freq="Q")
GOOD = pd.Series(np.arange(1.0, 9.0), index=Q8)


def _with(values) -> pd.Series:
    return pd.Series(values, index=Q8)


BAD_Y = [
    ([1.0, 2.0, 3.0], "y must be a pandas Series with a quarterly or annual PeriodIndex, got list"),
    (np.ones(8), "y must be a pandas Series with a quarterly or annual PeriodIndex, got ndarray"),
    (pd.Series(np.ones(8)),
     ("y must be a pandas Series with a quarterly or annual PeriodIndex, got a Series with a "
      "RangeIndex")),
    (pd.Series(np.ones(8), index=pd.date_range("2020-01-01", periods=8, freq="QE")),
     ("y must be a pandas Series with a quarterly or annual PeriodIndex, got a Series with a "
      "DatetimeIndex")),
    (pd.Series(np.ones(8), index=pd.period_range("2020-01", periods=8, freq="M")),
     "unsupported frequency M: y needs a quarterly (Q-DEC) or annual (Y-DEC) PeriodIndex"),
    (pd.Series(np.ones(8), index=pd.period_range("2020Q1", periods=8, freq="2Q")),
     "unsupported frequency 2Q-DEC: y needs a quarterly (Q-DEC) or annual (Y-DEC) PeriodIndex"),
    (_with([True] * 8), "y must hold numeric values, got dtype bool"),
    (_with(np.arange(8.0) - 1),
     "y must be non-negative; it has 1 negative value(s), the first at 2020Q1"),
    (_with([1.0, 2.0, np.inf, 4.0, 5.0, -np.inf, 7.0, 8.0]),
     "y has 2 infinite value(s); values must be finite or NaN"),
    (pd.Series(np.ones(8), index=pd.PeriodIndex(["2020Q1"] * 2 + list(Q8[2:].astype(str)),
                                                freq="Q")),
     "y has duplicate periods, the first is 2020Q1"),
    (_with([1.0, 2.0] + [np.nan] * 6), "y has 2 observations; at least 3 are needed to forecast"),
    (_with([np.nan] * 8), "y has 0 observations; at least 3 are needed to forecast"),
    (pd.Series([], index=pd.PeriodIndex([], freq="Q"), dtype=float),
     "y has 0 observations; at least 3 are needed to forecast"),
]


@pytest.mark.parametrize(("y", "message"), BAD_Y)
def test_bad_y_raises_exact_message(y, message):
    with pytest.raises(ValueError) as err:
        forecast(y, 4)
    assert str(err.value) == message


def test_string_values_raise_exact_message():
    y = _with(["1", "2", "3", "4", "5", "6", "7", "8"])
    with pytest.raises(ValueError) as err:
        forecast(y, 4)
    assert str(err.value) == f"y must hold numeric values, got dtype {y.dtype}"


@pytest.mark.parametrize("horizon", [0, -2, 2.5, True, "4", None])
def test_bad_horizon_raises_exact_message(horizon):
    with pytest.raises(ValueError) as err:
        forecast(GOOD, horizon)
    assert str(err.value) == f"horizon must be an integer >= 1, got {horizon!r}"


@pytest.mark.parametrize("levels", [(0, 95), (80, 100), (80, 120), (), "80", (80, 80), (True,),
                                    (80, None), 95])
def test_bad_levels_raise_exact_message(levels):
    with pytest.raises(ValueError) as err:
        forecast(GOOD, 4, levels)
    assert str(err.value) == ("levels must be a non-empty sequence of distinct numbers strictly "
                              f"between 0 and 100, got {levels!r}")


def test_error_messages_are_module_constants():
    assert prepare.ERR_FEW.format(n=2) == "y has 2 observations; at least 3 are needed to forecast"
    assert prepare.ERR_TYPE.format(got="list").startswith("y must be a pandas Series with a quarterly")
