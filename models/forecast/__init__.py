"""Point forecasts and calibrated prediction intervals for short quarterly/annual series.

One public function, :func:`forecast` (``from models.forecast import forecast``).  Pure: no I/O,
no randomness, no mutable global state (only a cache of normal quantiles).

The modules, in the order the steps below run:

=================  ===========================================================================
``pipeline.py``    :func:`forecast`: the steps in order, the short-series path, the result
``prepare.py``     step 1: argument checks (the ``ERR_*`` messages), gaps and missing values
``transform.py``   steps 2-4: Box-Cox/log, seasonal indices, spikes and level shifts
``candidates.py``  step 5: the models of the combination
``backtest.py``    steps 6, 7, 9: rolling-origin backtest, the combination, the backtest report
``intervals.py``   step 8: calibrated half-widths, back-transform to the result's columns
=================  ===========================================================================

How it works (read this first)
==============================

1. **Validate and tidy** ``y`` (a Series on a quarterly or annual ``PeriodIndex``, values >= 0).
   Missing periods and NaNs inside the series are filled by linear interpolation; leading NaNs
   are dropped; trailing NaNs are forecast over (the result still starts right after the last
   period of the index).  Bad input raises ``ValueError`` with one of the ``ERR_*`` messages.

2. **Transform** to a scale on which the series is roughly additive: Box-Cox with lambda in
   [0, 1] chosen by Guerrero's method (lambda 0 = log, the usual answer for growing series whose
   noise grows with the level; 1 = no transform).  A series containing zeros is modelled as
   ``log(y + c)``, c = min(1, smallest positive value): log1p for counts; an isolated zero in
   a large-valued series then stands out as a spike and is repaired in step 4.

3. **Seasonality** (quarterly only, >= 12 points): if the lag-4 autocorrelation of the
   differenced series is significant (one-sided 80 %; the M4 Theta method uses 90 %, which
   missed real seasons on the development set), quarterly indices from a
   classical decomposition are removed on the transformed scale, and added back at the end.

4. **Breaks**: a step far outside the series' usual steps (``SHIFT_Z`` robust SDs, judged
   against its neighbours) is a *spike* if the next step undoes it -- the point is replaced by
   its neighbours' mean -- and otherwise a *level shift*: the earlier history is moved by the
   jump, so no model reads the jump as growth.  A jump at the last point counts as a shift.

5. **Candidates**: five cheap, differently-behaved models on the adjusted series ``a`` (see
   ``CANDIDATES``), each fitted once per origin: statsmodels exponential smoothing with a
   damped trend, Theta (simple exponential smoothing plus half the linear slope), ARIMA(1,1,0)
   with drift, ARIMA(1,1,0) and ARIMA(2,1,0) without.  The ARIMA-type models are conditional
   least squares -- the estimator of statsmodels ``AutoReg`` -- written out in numpy because
   they are re-estimated at every backtest origin and statsmodels' per-call overhead would
   break the 50 ms budget; ``tests/test_forecast.py`` checks that they agree with ``AutoReg``.

6. **Rolling-origin backtest** on the series itself: forecasts from each of the last
   ``BT_MAX_ORIGINS`` origins for every horizon.  AR-type models are refitted at each origin;
   exponential smoothing keeps its full-sample parameters and is re-filtered from each origin
   (slightly optimistic for those models, cheap).

7. **Combination**: the equal-weight mean of the members, leaving out any whose backtest MAE
   is more than ``DROP_RATIO`` (2) times the best one's -- on a clean trend, the members
   without drift.  On the development set the plain mean of differently-behaved models beat
   every single model and every backtest-weighted selection tried (softmax of relative MAE,
   top k by MAE or 1/MAE, shrinking towards the best): twenty origins rank models too noisily
   for selection to pay; the mean hedges.

8. **Intervals from honest errors**: the combination is replayed *prequentially*: at each
   backtest origin the members left out are decided on errors already observable there, so
   the combination's error at that origin is out-of-sample for it.  These errors,
   pooled over horizons after dividing by ``h**p`` (p fitted to how RMSE grows with h), give
   a half-width = mean of their conformal quantile and a normal quantile of their RMS.  It is
   blended with a model-based half-width (random walk on the transformed scale, capped at
   ``LEVEL_SD_CAP`` SDs of the level so stationary series stop widening; share
   ``WIDTH_MODEL_WEIGHT``, larger when there are few errors), multiplied by ``CALIBRATION``
   and by a per-series factor that widens smooth series and narrows rough ones (their
   backtest errors understate / overstate the errors to come), and applied symmetrically on
   the transformed scale.  Back-transforming gives asymmetric intervals that are never
   negative; higher levels are never narrower.

9. **Backtest report** (``attrs["backtest"]``): MASE of those prequential forecasts on the
   original scale (scaled by the in-sample seasonal-naive MAE; naive for annual series) and,
   per level, the coverage of intervals calibrated leave-one-origin-out.

10. **Short series** (fewer than ``SHORT_SERIES`` points): random walk with drift on the log
    scale with Student-t intervals widened by ``SHORT_WIDEN``; ``attrs["method_note"]`` says
    so and ``attrs["backtest"]`` is None.

The tunable constants of those modules (the members, ``DROP_RATIO``, ``SEASON_ACF_Z``,
``CALIBRATION``, ``ROUGH_*``, ``WIDTH_MODEL_WEIGHT``, ``SHIFT_Z``, ``LEVEL_SD_CAP``) were chosen
on a *development* set of series (``python -m benchmarks.forecast_bench --dev``: M1, the M3 and
tourism quarterly series, and series shipped with statsmodels and pmdarima) and frozen before
the held-out set (M3's monthly series summed to quarters) was scored; see
``benchmarks/FORECAST_RESULTS.md``.

Result: a DataFrame indexed by the next ``horizon`` periods with columns ``mean`` (the point
forecast: the back-transformed centre, i.e. a median) and ``lo_L``/``hi_L`` per level (named
and ordered by ``models.tables.band_columns``: ``FORECAST_BANDS`` at the default levels), nested
``lo_95 <= lo_80 <= mean <= hi_80 <= hi_95``.  ``attrs``: ``model`` (short description),
``weights`` (candidate -> weight), ``failed_candidates``, ``transform``, ``seasonal`` (bool),
``notes`` (list of data repairs), ``method_note`` (all notes joined; set only when the short
path or a data repair was used) and ``backtest`` (None, or a dict with ``mase``,
``coverage_<L>`` per level, ``origins`` and ``errors``).

Speed: ~10-20 ms for 32 quarters on one core.  The budget is spent on two statsmodels
exponential-smoothing fits; everything else is numpy on arrays of a few hundred numbers.
"""

from models.forecast.pipeline import forecast

__all__ = ["forecast"]
