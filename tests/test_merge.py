"""The set-based merges of a staged drop (etl.drops.merge), called directly on a small
database: stage tables written by hand, no load_drop."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator, Sequence

import pandas as pd
import pytest
from fixtures.make_fixtures import C1, C2, C3
from sqlalchemy.engine import Engine

from etl.drops import merge
from etl.drops import stage as staging
from etl.drops.steps import Step, Steps, StepTiming

ENT_STAGE = ("credit_code", *merge.ENT_COLUMNS, "given", "t", "row")
REV_STAGE = (*merge.REV_COLUMNS, "t")
OBS_STAGE = ("metric", "scope_id", "period", "period_end", "period_label", "value", "unit",
             "provenance", "t", "row")
ALL_GIVEN = 0b1111111  # every optional register column is in the file
NONE_GIVEN = 0


@pytest.fixture
def conn(geo_engine: Engine) -> Iterator[sqlite3.Connection]:
    """The database with two drop runs (10 and 11) and a drop's source (10)."""
    c = sqlite3.connect(geo_engine.url.database or "")
    c.execute("PRAGMA foreign_keys = ON")
    c.executemany("INSERT INTO etl_runs (id, kind, started_at, status) "
                  "VALUES (?, 'drop', '2025-08-15', 'succeeded')", [(10,), (11,)])
    c.execute("INSERT INTO sources (id, key, title) VALUES (10, 'drop:test', 'Test drop')")
    c.execute("INSERT INTO sources (id, key, title) VALUES (20, 'facts:test', 'A report')")
    c.commit()
    yield c
    c.close()


def _stage(conn: sqlite3.Connection, name: str, columns: Sequence[str],
           rows: list[tuple[object, ...]]) -> merge.Staged:
    conn.execute(f"DROP TABLE IF EXISTS temp.{name}")
    conn.execute(f"CREATE TEMP TABLE {name} ({', '.join(columns)})")
    conn.executemany(f"INSERT INTO temp.{name} VALUES ({', '.join('?' * len(columns))})", rows)
    per_file = Counter(int(r[columns.index("t")]) for r in rows)  # type: ignore[call-overload]
    return merge.Staged(f"temp.{name}", dict(per_file))


def _rows(conn: sqlite3.Connection, sql: str) -> list[tuple]:
    return conn.execute(sql).fetchall()


REGISTER = "SELECT credit_code, " + ", ".join(merge.ENT_COLUMNS) + \
    ", source_id, etl_run_id FROM enterprises ORDER BY credit_code"


# ----------------------------------------------------------------------------- register


def test_a_register_of_new_firms_goes_straight_in(conn: sqlite3.Connection) -> None:
    staged = _stage(conn, "ent", ENT_STAGE, [
        (C1, "甲", "A Ltd", "westbund_ai_tower", 310104, "foundation_models", "2020-01-15",
         12.5, 120, "suspended", "sample", ALL_GIVEN, 0, 2),
        # No optional column in its file: a new firm is active, of the drop's provenance.
        (C2, "乙", "ignored", "zhangjiang_ai_island", 310115, "chips_computing", "2021-06-03",
         300.0, 450, "deregistered", "sample", NONE_GIVEN, 0, 3),
    ])
    counts = merge.merge_enterprises(conn, staged, run_id=10, source_id=10,
                                     default_provenance="reported")
    assert counts == {0: (2, 0)}
    assert _rows(conn, REGISTER) == sorted([
        (C1, "甲", "A Ltd", "westbund_ai_tower", 310104, "foundation_models", "2020-01-15",
         12.5, 120, "suspended", "sample", 10, 10),
        (C2, "乙", None, None, 310115, "chips_computing", None, None, None, "active",
         "reported", 10, 10),
    ])
    assert _rows(conn, "SELECT count(*) FROM enterprise_versions") == [(0,)]


def test_a_register_revision_versions_what_it_changes(conn: sqlite3.Connection) -> None:
    first = _stage(conn, "ent", ENT_STAGE, [
        (C1, "甲", "A Ltd", "westbund_ai_tower", 310104, "foundation_models", "2020-01-15",
         12.5, 120, "suspended", "sample", ALL_GIVEN, 0, 2),
        (C2, "乙", None, None, 310115, "chips_computing", None, None, None, None, None,
         NONE_GIVEN, 0, 3),
    ])
    merge.merge_enterprises(conn, first, run_id=10, source_id=10, default_provenance="reported")
    second = _stage(conn, "ent", ENT_STAGE, [
        # A new name; the columns its file lacks keep their stored values.
        (C1, "甲二", None, None, 310104, "foundation_models", None, None, None, None, None,
         NONE_GIVEN, 0, 2),
        (C2, "乙", None, None, 310115, "chips_computing", None, None, None, None, None,
         NONE_GIVEN, 0, 3),  # the same
        (C3, "丙", None, None, 310112, "robotics_embodied", None, None, None, None, None,
         NONE_GIVEN, 1, 2),  # new, from a second file
    ])
    counts = merge.merge_enterprises(conn, second, run_id=11, source_id=10,
                                     default_provenance="reported")
    assert counts == {0: (0, 1), 1: (1, 0)}
    assert _rows(conn, REGISTER) == sorted([
        (C1, "甲二", "A Ltd", "westbund_ai_tower", 310104, "foundation_models", "2020-01-15",
         12.5, 120, "suspended", "sample", 10, 11),
        (C2, "乙", None, None, 310115, "chips_computing", None, None, None, "active",
         "reported", 10, 10),
        (C3, "丙", None, None, 310112, "robotics_embodied", None, None, None, "active",
         "reported", 10, 11),
    ])
    assert _rows(conn, "SELECT credit_code, superseded_by, name_zh, name_en, status, "
                       "etl_run_id FROM enterprise_versions") == [
        (C1, 11, "甲", "A Ltd", "suspended", 10)]


def test_the_indexed_register_columns_are_those_of_the_models_indexes() -> None:
    from models.tables import Enterprise

    indexed = {c.name for ix in Enterprise.__table__.indexes  # type: ignore[attr-defined]
               for c in ix.columns}
    assert set(merge.ENT_INDEXED) == indexed


def test_revisions_with_and_without_indexed_columns_leave_the_indexes_whole(
        conn: sqlite3.Connection) -> None:
    first = _stage(conn, "ent", ENT_STAGE, [
        (C1, "甲", "A Ltd", "westbund_ai_tower", 310104, "foundation_models", "2020-01-15",
         12.5, 120, "active", "sample", ALL_GIVEN, 0, 2),
        (C2, "乙", "B Ltd", "zhangjiang_ai_island", 310115, "chips_computing", "2021-06-03",
         300.0, 450, "active", "sample", ALL_GIVEN, 0, 3),
    ])
    merge.merge_enterprises(conn, first, run_id=10, source_id=10, default_provenance="reported")
    second = _stage(conn, "ent", ENT_STAGE, [
        # One more employee and a new status: no indexed column changes.
        (C1, "甲", "A Ltd", "westbund_ai_tower", 310104, "foundation_models", "2020-01-15",
         12.5, 121, "suspended", "sample", ALL_GIVEN, 0, 2),
        # Another zone and founding date: indexed columns change.
        (C2, "乙", "B Ltd", "westbund_ai_tower", 310115, "chips_computing", "2021-07-01",
         300.0, 450, "active", "sample", ALL_GIVEN, 0, 3),
    ])
    counts = merge.merge_enterprises(conn, second, run_id=11, source_id=10,
                                     default_provenance="reported")
    assert counts == {0: (0, 2)}
    assert _rows(conn, REGISTER) == [
        (C1, "甲", "A Ltd", "westbund_ai_tower", 310104, "foundation_models", "2020-01-15",
         12.5, 121, "suspended", "sample", 10, 11),
        (C2, "乙", "B Ltd", "westbund_ai_tower", 310115, "chips_computing", "2021-07-01",
         300.0, 450, "active", "sample", 10, 11),
    ]
    # Read through each index: every entry agrees with its row.
    for index, where in (("ix_enterprises_zone", "zone_id = 'westbund_ai_tower'"),
                         ("ix_enterprises_founded", "founded >= '2020-01-01'"),
                         ("ix_enterprises_district", "district_adcode > 0")):
        assert _rows(conn, f"SELECT credit_code FROM enterprises INDEXED BY {index} "
                           f"WHERE {where} ORDER BY credit_code") == [(C1,), (C2,)]
    assert _rows(conn, "PRAGMA integrity_check") == [("ok",)]
    assert _rows(conn, "SELECT credit_code, employees, status, zone_id, founded "
                       "FROM enterprise_versions ORDER BY credit_code") == [
        (C1, 120, "active", "westbund_ai_tower", "2020-01-15"),
        (C2, 450, "active", "zhangjiang_ai_island", "2021-06-03")]


def test_a_register_that_doubles_its_table_rebuilds_the_indexes(
        conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(staging, "REBUILD_MIN_ROWS", 1)
    indexes = ("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'enterprises' "
               "ORDER BY name")
    before = _rows(conn, indexes)
    assert len(before) > 1  # secondary indexes besides the primary key's
    timings: list[StepTiming] = []
    staged = _stage(conn, "ent", ENT_STAGE, [
        (C1, "甲", None, None, 310104, "foundation_models", None, None, None, None, None,
         NONE_GIVEN, 0, 2)])
    merge.merge_enterprises(conn, staged, run_id=10, source_id=10, default_provenance="reported",
                            steps=Steps(on_step=timings.append))
    assert [t.step for t in timings] == [Step.INDEX_REBUILD]
    assert _rows(conn, indexes) == before


# ------------------------------------------------------------------------------ revenue


REVENUE = ("SELECT period, credit_code, revenue, from_ytd, provenance, etl_run_id "
           "FROM enterprise_revenue ORDER BY period, credit_code")


def _register(conn: sqlite3.Connection) -> None:
    staged = _stage(conn, "ent", ENT_STAGE, [
        (c, "名", None, None, 310104, "applications", None, None, None, None, None,
         NONE_GIVEN, 0, 2) for c in (C1, C2)])
    merge.merge_enterprises(conn, staged, run_id=10, source_id=10, default_provenance="reported")


def test_revenue_of_new_quarters_goes_straight_in(conn: sqlite3.Connection) -> None:
    _register(conn)
    assert not merge.revenue_stored(conn, ["2025Q1"])
    staged = _stage(conn, "rev", REV_STAGE, [("2025Q1", C1, 10.0, 0, "reported", 0),
                                             ("2025Q1", C2, 20.0, 1, "sample", 0)])
    assert merge.merge_revenue(conn, staged, ["2025Q1"], run_id=10) == ({0: (2, 0)}, True)
    assert _rows(conn, REVENUE) == sorted([("2025Q1", C1, 10.0, 0, "reported", 10),
                                           ("2025Q1", C2, 20.0, 1, "sample", 10)])
    assert merge.revenue_stored(conn, ["2025Q1", "2025Q2"])
    assert not merge.revenue_stored(conn, ["2025Q2"])


def test_only_rows_of_stored_firms_in_stored_quarters_may_be_stored(
        conn: sqlite3.Connection) -> None:
    _register(conn)
    first = _stage(conn, "rev", REV_STAGE, [("2025Q1", C1, 10.0, 0, "reported", 0)])
    merge.merge_revenue(conn, first, ["2025Q1"], run_id=10)
    frame = pd.DataFrame({"period": pd.Categorical(["2025Q1", "2025Q1", "2025Q2"]),
                          "credit_code": pd.Categorical([C1, C2, C1])})
    assert merge.may_be_stored(conn, frame, ["2025Q1", "2025Q2"]).tolist() == [1, 0, 0]
    assert merge.may_be_stored(conn, frame.iloc[2:], ["2025Q2"]).tolist() == [0]
    # One stored row against one drop row in 2025Q1: flagged without reading stored firms.
    assert merge.may_be_stored(conn, frame.iloc[1:], ["2025Q1", "2025Q2"]).tolist() == [1, 0]


def test_flagged_rows_alone_are_compared(conn: sqlite3.Connection) -> None:
    _register(conn)
    first = _stage(conn, "rev", REV_STAGE, [("2025Q1", C1, 10.0, 0, "reported", 0)])
    merge.merge_revenue(conn, first, ["2025Q1"], run_id=10)
    rows = [("2025Q1", C1, 12.0, 0, "reported", 0, 1),  # a stored firm: compared, revised
            ("2025Q1", C2, 20.0, 0, "reported", 0, 0)]  # no row of C2 is stored: straight in
    second = _stage(conn, "rev", (*REV_STAGE, "cmp"), rows)
    flagged = merge.Staged(second.table, second.rows_by_file, to_compare=1)
    assert merge.merge_revenue(conn, flagged, ["2025Q1"], run_id=11) == ({0: (1, 1)}, False)
    assert _rows(conn, REVENUE) == [("2025Q1", C1, 12.0, 0, "reported", 11),
                                    ("2025Q1", C2, 20.0, 0, "reported", 11)]
    assert _rows(conn, "SELECT credit_code, revenue, superseded_by "
                       "FROM enterprise_revenue_versions") == [(C1, 10.0, 11)]
    assert _rows(conn, "SELECT name FROM temp.sqlite_master WHERE name = 'rev_chg'") == []


def test_no_flagged_row_means_no_comparison(conn: sqlite3.Connection) -> None:
    _register(conn)
    first = _stage(conn, "rev", REV_STAGE, [("2025Q1", C1, 10.0, 0, "reported", 0)])
    merge.merge_revenue(conn, first, ["2025Q1"], run_id=10)
    second = _stage(conn, "rev", (*REV_STAGE, "cmp"), [("2025Q1", C2, 20.0, 0, "reported", 0, 0)])
    none = merge.Staged(second.table, second.rows_by_file, to_compare=0)
    assert merge.merge_revenue(conn, none, ["2025Q1"], run_id=11) == ({0: (1, 0)}, False)
    assert _rows(conn, REVENUE) == [("2025Q1", C1, 10.0, 0, "reported", 10),
                                    ("2025Q1", C2, 20.0, 0, "reported", 11)]


def test_revised_revenue_keeps_the_value_it_replaces(conn: sqlite3.Connection) -> None:
    _register(conn)
    first = _stage(conn, "rev", REV_STAGE, [("2025Q1", C1, 10.0, 0, "reported", 0),
                                            ("2025Q1", C2, 20.0, 1, "reported", 0)])
    merge.merge_revenue(conn, first, ["2025Q1"], run_id=10)
    second = _stage(conn, "rev", REV_STAGE, [
        ("2025Q1", C1, 10.0, 0, "reported", 0),  # the same
        ("2025Q1", C2, 25.0, 0, "reported", 0),  # revised
        ("2025Q2", C1, 11.0, 0, "reported", 1),  # new
    ])
    counts, whole = merge.merge_revenue(conn, second, ["2025Q1", "2025Q2"], run_id=11)
    assert (counts, whole) == ({0: (0, 1), 1: (1, 0)}, False)
    assert _rows(conn, REVENUE) == [("2025Q1", C1, 10.0, 0, "reported", 10),
                                    ("2025Q1", C2, 25.0, 0, "reported", 11),
                                    ("2025Q2", C1, 11.0, 0, "reported", 11)]
    assert _rows(conn, "SELECT period, credit_code, revenue, from_ytd, provenance, etl_run_id, "
                       "superseded_by FROM enterprise_revenue_versions") == [
        ("2025Q1", C2, 20.0, 1, "reported", 10, 11)]


# ------------------------------------------------------------------------- zone metrics


OBSERVATIONS = ("SELECT scope_id, period, period_end, value, unit, basis, kind, provenance, "
                "source_id, etl_run_id, superseded_by FROM observations ORDER BY id")


def _zone_rows(westbund: float, zhangjiang: float) -> list[tuple[object, ...]]:
    return [("zone_computing_pflops", "westbund_ai_tower", "2025Q1", "2025-03-31", None,
             westbund, "PFLOPS", "reported", 0, 2),
            ("zone_computing_pflops", "zhangjiang_ai_island", "2025Q1", "2025-03-31", None,
             zhangjiang, "PFLOPS", "reported", 0, 3)]


def test_zone_metrics_get_a_new_version_where_a_value_changed(conn: sqlite3.Connection) -> None:
    # A figure of another kind of source (a report) for the same zone and quarter is not a
    # version of the drop's series.
    conn.execute("""INSERT INTO observations (metric, scope_type, scope_id, period, period_end,
                        value, unit, basis, kind, provenance, source_id, etl_run_id)
                    VALUES ('zone_computing_pflops', 'zone', 'westbund_ai_tower', '2025Q1',
                            '2025-03-31', 1.0, 'PFLOPS', 'point', 'actual', 'reported', 20, 10)""")
    merge.merge_observations(conn, _stage(conn, "obs", OBS_STAGE, _zone_rows(500.5, 1200.0)),
                             run_id=10, source_id=10)
    merge.merge_observations(conn, _stage(conn, "obs", OBS_STAGE, _zone_rows(500.5, 1300.0)),
                             run_id=11, source_id=10)
    assert merge.file_counts(conn, "SELECT t, sum(action = 'new'), sum(action = 'changed') "
                                   "FROM temp.obs_chg GROUP BY t") == {0: (0, 1)}
    assert _rows(conn, OBSERVATIONS) == [
        ("westbund_ai_tower", "2025Q1", "2025-03-31", 1.0, "PFLOPS", "point", "actual",
         "reported", 20, 10, None),
        ("westbund_ai_tower", "2025Q1", "2025-03-31", 500.5, "PFLOPS", "point", "actual",
         "reported", 10, 10, None),
        ("zhangjiang_ai_island", "2025Q1", "2025-03-31", 1200.0, "PFLOPS", "point", "actual",
         "reported", 10, 10, 11),
        ("zhangjiang_ai_island", "2025Q1", "2025-03-31", 1300.0, "PFLOPS", "point", "actual",
         "reported", 10, 11, None),
    ]


def test_drop_temp_removes_the_merges_temp_tables(conn: sqlite3.Connection) -> None:
    merge.merge_observations(conn, _stage(conn, "obs", OBS_STAGE, _zone_rows(1.0, 2.0)),
                             run_id=10, source_id=10)
    temp = "SELECT name FROM temp.sqlite_master WHERE type = 'table' ORDER BY name"
    assert _rows(conn, temp) == [("obs",), ("obs_chg",)]
    merge.drop_temp(conn)
    assert _rows(conn, temp) == [("obs",)]
