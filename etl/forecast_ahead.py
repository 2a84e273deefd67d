"""Forecasts fitted while the load that feeds them commits.

``aidash etl load`` refreshes the forecasts once the load has committed: it reads every
series, fits those whose input changed (:mod:`etl.forecast_reuse`) and stores them. The commit
itself mostly writes pages (SQLite: a revised quarter rewrites most of the register's pages,
about 0.8 s at a million firms) and the fits are CPU work in this interpreter; one need not
wait for the other. :class:`ForecastsAhead` is the loader's ``before_commit`` hook
(:func:`etl.drops.load.load_drop`): on the load's own connection, which sees everything the
commit is about to make current, it reads the series and their earlier fits, then fits in a
thread while the commit runs. :func:`etl.forecasts.refresh_forecasts` stores them after the
commit, in its own transaction, as it would have fitted them.

What is fitted ahead is used only for the run it was read for, and only if nothing failed:
otherwise the refresh reads and fits as it always has.
"""

from __future__ import annotations

import threading
from typing import Any

from etl.forecast_reuse import dbapi_query
from etl.forecasts import FitPlan, fit_all, plan_fits


class ForecastsAhead:
    """The forecasts of one load's data, read before its commit and fitted during it."""

    def __init__(self) -> None:
        self.run_id: int | None = None
        self._plan: FitPlan | None = None
        self._thread: threading.Thread | None = None
        self._failed = False

    def start(self, conn: Any, run_id: int) -> None:
        """Read the series on ``conn`` (the load's connection, before its commit) and start
        fitting them in a thread. A failure here is not the load's: the refresh then reads
        and fits as usual, and meets it again there if it is real."""
        try:
            plan = plan_fits(dbapi_query(conn))
        except Exception:  # noqa: BLE001 - left to the refresh, see the docstring
            self._failed = True
            return
        self.run_id, self._plan = run_id, plan
        self._thread = threading.Thread(target=self._fit, name="aidash-forecasts-ahead",
                                        daemon=True)
        self._thread.start()

    def _fit(self) -> None:
        try:
            fit_all(self._plan)  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - the refresh fits again and reports it
            self._failed = True

    def take(self, run_id: int | None) -> FitPlan | None:
        """The fitted plan, once its thread has ended, if it was read for ``run_id`` and
        nothing failed; else None."""
        if self._thread is not None:
            self._thread.join()
        if self._failed or self._plan is None or run_id is None or run_id != self.run_id:
            return None
        return self._plan
