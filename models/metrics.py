"""Codes of the metrics the code itself names (the rest live only in ``data/metrics.csv``).

The loader derives these two from the enterprise register and revenue of every drop
(``etl/drops/derive.py``), and the dashboard reads them by code; both take the code from here.
"""

from __future__ import annotations

# Quarterly revenue of the register's firms, summed per city, district, zone and segment.
REVENUE_METRIC = "enterprise_revenue"
# Firms of the register active at a quarter's end, counted per city, district, zone and segment.
COUNT_METRIC = "enterprise_count"
