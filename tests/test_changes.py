"""``app/queries/changes.py`` and ``app/queries/movers.py`` on the seeded database: what the
last load changed, the sources a briefing cites, and the movers among places."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy.engine import Engine

from app.queries import changes, movers
from app.queries.frames import read_frame
from tests.seed import RUN_DROP_2024Q4, RUN_DROP_2025Q2, RUN_FACTS

pytest_plugins = ["dashboard_fixtures"]


def test_loads_are_the_latest_first(ro_engine: Engine) -> None:
    assert changes.loads(ro_engine)["id"].tolist() == [RUN_DROP_2025Q2, RUN_DROP_2024Q4]
    assert changes.loads(ro_engine, 5)["id"].tolist() == [RUN_DROP_2025Q2, RUN_DROP_2024Q4,
                                                          RUN_FACTS]


def test_a_revision_shows_the_earlier_value_beside_the_current(ro_engine: Engine) -> None:
    # The seed's one revision: the city's 2024Q4 revenue, superseded by the 2025Q2 drop.
    truth = read_frame(ro_engine, """
        SELECT value, superseded_by FROM observations
        WHERE metric = 'enterprise_revenue' AND scope_type = 'city' AND period = '2024Q4'
        ORDER BY superseded_by IS NULL""")
    old, new = truth["value"].tolist()
    revised = changes.revisions(ro_engine, RUN_DROP_2025Q2)
    assert revised[["metric", "scope_type", "period", "old_value", "new_value"]].to_dict(
        "records") == [{"metric": "enterprise_revenue", "scope_type": "city",
                        "period": "2024Q4", "old_value": old, "new_value": new}]
    assert revised["change_pct"].iloc[0] == pytest.approx((new / old - 1) * 100)
    assert changes.revisions(ro_engine, RUN_DROP_2024Q4).empty


def test_new_reported_figures_are_those_the_run_added(ro_engine: Engine) -> None:
    added = changes.new_reported(ro_engine, RUN_FACTS)
    reported = read_frame(ro_engine, "SELECT COUNT(*) AS n FROM observations "
                                     "WHERE provenance = 'reported'")["n"].iloc[0]
    assert len(added) == reported > 0
    assert changes.new_reported(ro_engine, RUN_DROP_2025Q2).empty


def test_register_changes_are_counts(ro_engine: Engine) -> None:
    # Firms 160–199 of the seed came with the 2025Q2 drop; none was revised.
    assert changes.register_changes(ro_engine, RUN_DROP_2025Q2) == {
        "firms_new": 40, "firms_revised": 0, "revenue_revised": 0}


def test_one_number_per_publication(ro_engine: Engine) -> None:
    same = changes.same_source(ro_engine)
    sources = read_frame(ro_engine, "SELECT id, title, published FROM sources")
    firsts = sources.groupby(["title", "published"])["id"].transform("min")
    assert same == dict(zip(sources["id"].astype(int), firsts.astype(int)))
    assert len(set(same.values())) < len(same)  # the People's Daily is quoted five times
    cited = changes.cited_sources(ro_engine, [3, 1])
    assert cited["id"].tolist() == [3, 1]


def _revenue(engine: Engine, scope_type: str, period: str) -> pd.Series:
    df = read_frame(engine, """
        SELECT scope_id, value FROM series_of_record WHERE metric = 'enterprise_revenue'
          AND scope_type = :t AND period = :p AND basis = 'quarterly'""",
                    {"t": scope_type, "p": period})
    return df.set_index("scope_id")["value"] / 1000.0  # million CNY → billion


@pytest.mark.parametrize("scope_type", ["district", "zone"])
def test_growth_is_ranked_above_a_minimum_base(ro_engine: Engine, scope_type: str) -> None:
    now, base = _revenue(ro_engine, scope_type, "2025Q2"), _revenue(ro_engine, scope_type,
                                                                     "2024Q2")
    minimum = float(base.median())  # half the places fall below it
    growth = movers.revenue_growth(ro_engine, scope_type, "2025Q2", minimum)
    kept = base[base >= minimum].index.intersection(now.index)
    assert sorted(growth["scope_id"]) == sorted(kept)
    assert set(growth["below_base"]) == {len(base.index.intersection(now.index)) - len(kept)}
    expected = ((now[kept] / base[kept] - 1) * 100).sort_values(ascending=False)
    assert growth["growth_pct"].tolist() == pytest.approx(expected.tolist())
    assert growth["growth_pct"].is_monotonic_decreasing


def test_firms_added_are_on_the_quarter_before(ro_engine: Engine) -> None:
    added = movers.firms_added(ro_engine, "zone", "2025Q2")
    counts = read_frame(ro_engine, """
        SELECT scope_id, period, value FROM series_of_record WHERE metric = 'enterprise_count'
          AND scope_type = 'zone' AND period IN ('2025Q1', '2025Q2')""").pivot(
        index="scope_id", columns="period", values="value")
    expected = (counts["2025Q2"] - counts["2025Q1"]).to_dict()
    assert dict(zip(added["scope_id"], added["added"])) == expected
    assert added["added"].is_monotonic_decreasing
