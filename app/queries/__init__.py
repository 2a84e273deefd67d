"""Every database read of the dashboard: an engine and filter values in, a DataFrame out.

One module per job; a page imports the module it reads from and calls its functions:

* :mod:`~app.queries.health`: is the database there and built, and its data version.
* :mod:`~app.queries.reference`: zones, districts, segments and the metric catalogue.
* :mod:`~app.queries.series`: observations of record (one metric, many scopes), targets.
* :mod:`~app.queries.forecasts`: stored forecasts, their vintages and backtest accuracy.
* :mod:`~app.queries.register`: the enterprise register, filtered, searched, sorted and paged.
* :mod:`~app.queries.sources`: reported facts, conflicting figures, ETL history.
* :mod:`~app.queries.overview`: the overview's cards (one function each) and zones at a glance.

No streamlit in the SQL: a function is cached by the ``@cached_query`` decorator
(:mod:`app.cached`) where it is defined, and runs as written outside the dashboard. Values
always go in as bound parameters; the few identifiers that vary (sort columns) come from
allow-lists. Money comes out in billion CNY (column ``value_bn``), whatever unit a source used.
The pure pandas steps pages apply to these frames are in :mod:`app.transforms`.
"""
