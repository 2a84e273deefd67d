"""The sample's span and the reported figures it is calibrated to.

The simulated register runs from :data:`FIRST_QUARTER` to :data:`LAST_QUARTER`; its city revenue
per quarter (:func:`quarter_targets`) follows the reported annual totals and 2025 growth, with a
seasonal shape. ``data/sample/README.md`` lists the figures with their sources.
"""

from __future__ import annotations

import math

import numpy as np

from models.periods import quarter_range, split_quarter

DEFAULT_SEED = 20250630
FIRST_QUARTER = "2019Q1"  # the first bundled drop
LAST_QUARTER = "2025Q2"   # the last bundled drop, and the last quarter of a scale drop

# City revenue per year in million CNY. 2024 and 2023 follow the People's Daily figures
# (ai_industry_output 400 bn in 2024, growth over 7 %); 2019–2021 follow the "industry scale"
# (产业规模) rows; 2022 has no figure on that basis (the 380 bn is 规上, another basis) and is the
# geometric mean of its neighbours. data/sample/README.md has the table with sources.
ANNUAL_TOTALS_MILLION_CNY: dict[int, float] = {
    2019: 224_600 / 1.50,                      # 2020 scale 224.6 bn grew "about 50 %"
    2020: 224_600.0,                           # ai_industry_scale_planned_full_year 2020
    2021: 305_600.0,                           # ai_industry_scale 2021
    2022: math.sqrt(305_600 * 400_000 / 1.07),  # interpolated, see above
    2023: 400_000 / 1.07,                      # 2024 grew 7 % over 2023
    2024: 400_000.0,                           # ai_industry_output 2024
}
Q1_2025_YOY = 0.132  # ai_industry_output_growth_yoy 2025Q1
H1_2025_YOY = 0.123  # ai_leading_industry_output_growth_yoy 2025H1 (fixes 2025Q2)
# Quarter shares of a flat year: Q1 weak (Spring Festival), Q4 strong (year-end billing).
SEASON = (0.88, 0.97, 0.99, 1.16)


def quarters_between(first: str, last: str) -> list[tuple[int, int]]:
    """``(year, quarter)`` pairs from ``first`` to ``last`` (``2019Q1`` …), both included."""
    return [split_quarter(p) for p in quarter_range(first, last)]


def quarter_targets(quarters: list[tuple[int, int]]) -> np.ndarray:
    """City revenue per quarter (thousand CNY) matching the annual totals and 2025 growth.

    The seasonally adjusted level is interpolated log-linearly between mid-years (so growth
    changes smoothly from quarter to quarter), times the season, then rescaled so each year sums
    to its annual total exactly. 2025Q1 is 2024Q1 plus the reported growth; 2025Q2 makes H1
    grow as reported.
    """
    years = sorted(ANNUAL_TOTALS_MILLION_CNY)
    mids = [y + 0.5 for y in years]
    logs = [math.log(ANNUAL_TOTALS_MILLION_CNY[y] / 4) for y in years]
    # extend one year at each end with the edge growth, so the edge years are not flat
    mids = [mids[0] - 1, *mids, mids[-1] + 1]
    logs = [2 * logs[0] - logs[1], *logs, 2 * logs[-1] - logs[-2]]
    season = np.array(SEASON) / np.mean(SEASON)
    by_q: dict[tuple[int, int], float] = {}
    for y in years:
        level = np.exp(np.interp([y + (k - 0.5) / 4 for k in range(1, 5)], mids, logs))
        shape = level * season
        for k in range(4):
            by_q[(y, k + 1)] = ANNUAL_TOTALS_MILLION_CNY[y] * shape[k] / shape.sum()
    by_q[(2025, 1)] = by_q[(2024, 1)] * (1 + Q1_2025_YOY)
    by_q[(2025, 2)] = (by_q[(2024, 1)] + by_q[(2024, 2)]) * (1 + H1_2025_YOY) - by_q[(2025, 1)]
    return np.array([by_q[yq] * 1000.0 for yq in quarters])

