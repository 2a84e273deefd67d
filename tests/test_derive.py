"""The aggregates recomputed on every load (etl.drops.derive), called directly on a small
database: register and revenue written by hand, no load_drop."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from fixtures.make_fixtures import C1, C2, C3, C4
from sqlalchemy.engine import Engine

from etl.drops import derive
from etl.drops.code_bytes import positions, sorted_codes
from models.metrics import COUNT_METRIC, REVENUE_METRIC

# credit code, district, zone, segment, founded, status, provenance
FIRMS = [
    (C1, 310104, "westbund_ai_tower", "foundation_models", "2020-01-15", "active", "reported"),
    (C2, 310115, "zhangjiang_ai_island", "chips_computing", "2025-02-10", "active", "reported"),
    # Founded after 2025Q1: counted from 2025Q2 on; a sample entry.
    (C3, 310104, None, "applications", "2025-05-01", "active", "sample"),
    # Not active: never counted; founded on an unknown day.
    (C4, 310115, "zhangjiang_ai_island", "chips_computing", None, "suspended", "reported"),
]
# credit code, period, revenue (million CNY), from year-to-date
REVENUE = [(C1, "2025Q1", 10.0, 0), (C2, "2025Q1", 20.5, 1), (C4, "2025Q1", 5.0, 0)]

DERIVED = """SELECT o.metric, scope_type, scope_id, period, period_end, value, unit, basis,
                    o.provenance, etl_run_id, superseded_by
             FROM observations o JOIN sources s ON s.id = o.source_id
             WHERE s.key = 'derived:enterprise-aggregates'
             ORDER BY o.metric, scope_type, scope_id, etl_run_id"""


@pytest.fixture
def conn(geo_engine: Engine) -> Iterator[sqlite3.Connection]:
    """Four firms and their 2025Q1 revenue (run 10); runs 11 and 12 to derive in."""
    c = sqlite3.connect(geo_engine.url.database or "")
    c.execute("PRAGMA foreign_keys = ON")
    c.executemany("INSERT INTO etl_runs (id, kind, started_at, status) "
                  "VALUES (?, 'drop', '2025-08-15', 'succeeded')", [(10,), (11,), (12,)])
    c.executemany("""INSERT INTO enterprises (credit_code, name_zh, district_adcode, zone_id,
                         segment, founded, status, provenance, etl_run_id)
                     VALUES (?, '名', ?, ?, ?, ?, ?, ?, 10)""",
                  [(code, d, z, s, f, st, p) for code, d, z, s, f, st, p in FIRMS])
    c.executemany("""INSERT INTO enterprise_revenue (credit_code, period, revenue, from_ytd,
                         provenance, etl_run_id) VALUES (?, ?, ?, ?, 'reported', 10)""", REVENUE)
    c.commit()
    yield c
    c.close()


def _rows(conn: sqlite3.Connection, sql: str) -> list[tuple]:
    return conn.execute(sql).fetchall()


def test_read_register(conn: sqlite3.Connection) -> None:
    register = derive.read_register(conn)
    records = register.drop(columns="dim").astype(object).where(register.notna(), None)
    assert sorted(records.to_dict("records"), key=lambda r: r["credit_code"]) == sorted([
        {"credit_code": C1, "district": 310104, "zone": "westbund_ai_tower",
         "segment": "foundation_models", "sample": False, "active": True,
         "founded_by": "2020-03-31"},
        {"credit_code": C2, "district": 310115, "zone": "zhangjiang_ai_island",
         "segment": "chips_computing", "sample": False, "active": True,
         "founded_by": "2025-03-31"},
        {"credit_code": C3, "district": 310104, "zone": None, "segment": "applications",
         "sample": True, "active": True, "founded_by": "2025-06-30"},
        {"credit_code": C4, "district": 310115, "zone": "zhangjiang_ai_island",
         "segment": "chips_computing", "sample": False, "active": False,
         "founded_by": "0000-00-00"},
    ], key=lambda r: r["credit_code"])
    # One number per (district, zone, segment, sample): C2 and C4 share theirs.
    dim = dict(zip(register["credit_code"], register["dim"], strict=True))
    assert dim[C2] == dim[C4] and len({dim[C1], dim[C2], dim[C3]}) == 3


def test_aggregate_rows_sum_revenue_and_count_active_firms(conn: sqlite3.Connection) -> None:
    register = derive.read_register(conn)
    revenue = pd.DataFrame(REVENUE, columns=["credit_code", "period", "revenue", "from_ytd"])
    revenue["provenance"] = "reported"
    rows = derive.aggregate_rows(register, revenue, ["2025Q1"], ["2025Q1", "2025Q2"])
    # metric, period, district, zone, segment, value, firms, of them from YTD, any sample
    assert sorted(rows, key=repr) == sorted([
        (REVENUE_METRIC, "2025Q1", 310104, "westbund_ai_tower", "foundation_models", 10.0, 1, 0, 0),
        (REVENUE_METRIC, "2025Q1", 310115, "zhangjiang_ai_island", "chips_computing", 25.5, 2,
         1, 0),
        (COUNT_METRIC, "2025Q1", 310104, "westbund_ai_tower", "foundation_models", 1.0, 1, 0, 0),
        (COUNT_METRIC, "2025Q1", 310115, "zhangjiang_ai_island", "chips_computing", 1.0, 1, 0, 0),
        (COUNT_METRIC, "2025Q2", 310104, None, "applications", 1.0, 1, 0, 1),
        (COUNT_METRIC, "2025Q2", 310104, "westbund_ai_tower", "foundation_models", 1.0, 1, 0, 0),
        (COUNT_METRIC, "2025Q2", 310115, "zhangjiang_ai_island", "chips_computing", 1.0, 1, 0, 0),
    ], key=repr)


def test_refresh_writes_every_scope_of_the_touched_quarters(conn: sqlite3.Connection) -> None:
    counts = derive.refresh_aggregates(conn, 11, revenue_periods=["2025Q1"],
                                       count_periods=["2025Q1"])
    assert counts == derive.DeriveCounts(inserted=14, updated=0)
    rev = (REVENUE_METRIC, "million CNY", "quarterly")
    cnt = (COUNT_METRIC, "enterprises", "point")
    assert _rows(conn, DERIVED) == [
        (m, scope_type, scope_id, "2025Q1", "2025-03-31", value, unit, basis, "derived", 11,
         None)
        for (m, unit, basis), scope_type, scope_id, value in [
            (cnt, "city", "310000", 2.0),
            (cnt, "district", "310104", 1.0),
            (cnt, "district", "310115", 1.0),
            (cnt, "segment", "chips_computing", 1.0),
            (cnt, "segment", "foundation_models", 1.0),
            (cnt, "zone", "westbund_ai_tower", 1.0),
            (cnt, "zone", "zhangjiang_ai_island", 1.0),
            (rev, "city", "310000", 35.5),
            (rev, "district", "310104", 10.0),
            (rev, "district", "310115", 25.5),
            (rev, "segment", "chips_computing", 25.5),
            (rev, "segment", "foundation_models", 10.0),
            (rev, "zone", "westbund_ai_tower", 10.0),
            (rev, "zone", "zhangjiang_ai_island", 25.5),
        ]]
    assert _rows(conn, "SELECT metric, method FROM observations WHERE scope_type = 'city' "
                       "ORDER BY metric") == [
        (COUNT_METRIC, ("Derived on load (run 11): enterprises in the register with status "
                       "active and founded on or before 2025-03-31, in this city.")),
        (REVENUE_METRIC, ("Derived on load (run 11): sum of the current quarterly revenue of 3 "
                         "enterprise(s) in this city, by their district, zone and segment in "
                         "the register; 1 of the figures were converted from year-to-date "
                         "values.")),
    ]


def test_a_sample_firm_makes_its_scopes_sample(conn: sqlite3.Connection) -> None:
    derive.refresh_aggregates(conn, 11, revenue_periods=[], count_periods=["2025Q2"])
    assert _rows(conn, "SELECT scope_type, scope_id, value, provenance FROM observations "
                       "ORDER BY scope_type, scope_id") == [
        ("city", "310000", 3.0, "sample"),
        ("district", "310104", 2.0, "sample"),
        ("district", "310115", 1.0, "derived"),
        ("segment", "applications", 1.0, "sample"),
        ("segment", "chips_computing", 1.0, "derived"),
        ("segment", "foundation_models", 1.0, "derived"),
        ("zone", "westbund_ai_tower", 1.0, "derived"),
        ("zone", "zhangjiang_ai_island", 1.0, "derived"),
    ]


def test_a_second_refresh_versions_what_changed_and_zeroes_emptied_scopes(
        conn: sqlite3.Connection) -> None:
    derive.refresh_aggregates(conn, 11, revenue_periods=["2025Q1"], count_periods=["2025Q1"])
    # C1's revenue is withdrawn; C2's is revised.
    conn.execute("DELETE FROM enterprise_revenue WHERE credit_code = ?", (C1,))
    conn.execute("UPDATE enterprise_revenue SET revenue = 31.0, from_ytd = 0 "
                 "WHERE credit_code = ?", (C2,))
    counts = derive.refresh_aggregates(conn, 12, revenue_periods=["2025Q1"], count_periods=[])
    assert counts == derive.DeriveCounts(inserted=0, updated=7)
    assert _rows(conn, DERIVED.replace("ORDER BY", f"AND o.metric = '{REVENUE_METRIC}' ORDER BY"))\
        == [(REVENUE_METRIC, scope_type, scope_id, "2025Q1", "2025-03-31", value,
             "million CNY", "quarterly", "derived", run, superseded)
            for scope_type, scope_id, value, run, superseded in [
                ("city", "310000", 35.5, 11, 12),
                ("city", "310000", 36.0, 12, None),
                ("district", "310104", 10.0, 11, 12),
                ("district", "310104", 0.0, 12, None),
                ("district", "310115", 25.5, 11, 12),
                ("district", "310115", 36.0, 12, None),
                ("segment", "chips_computing", 25.5, 11, 12),
                ("segment", "chips_computing", 36.0, 12, None),
                ("segment", "foundation_models", 10.0, 11, 12),
                ("segment", "foundation_models", 0.0, 12, None),
                ("zone", "westbund_ai_tower", 10.0, 11, 12),
                ("zone", "westbund_ai_tower", 0.0, 12, None),
                ("zone", "zhangjiang_ai_island", 25.5, 11, 12),
                ("zone", "zhangjiang_ai_island", 36.0, 12, None),
            ]]
    # The same refresh again changes nothing.
    again = derive.refresh_aggregates(conn, 12, revenue_periods=["2025Q1"], count_periods=[])
    assert again == derive.DeriveCounts(inserted=0, updated=0)


def test_the_callers_rows_give_the_same_aggregates_as_the_stored_ones(
        conn: sqlite3.Connection) -> None:
    stored = derive.refresh_aggregates(conn, 11, revenue_periods=["2025Q1"],
                                       count_periods=["2025Q1"])
    register = derive.read_register(conn)
    revenue = pd.DataFrame(REVENUE, columns=["credit_code", "period", "revenue", "from_ytd"])
    revenue["provenance"] = "reported"
    base_rows = derive.aggregate_rows(register, revenue, ["2025Q1"], ["2025Q1"])
    for kwargs in ({"revenue_rows": revenue}, {"register": register, "revenue_rows": revenue},
                   {"base_rows": base_rows}):
        again = derive.refresh_aggregates(conn, 12, revenue_periods=["2025Q1"],
                                          count_periods=["2025Q1"], **kwargs)  # type: ignore[arg-type]
        assert (stored, again) == (derive.DeriveCounts(14, 0), derive.DeriveCounts(0, 0))


def test_nothing_to_derive_writes_nothing(conn: sqlite3.Connection) -> None:
    assert derive.refresh_aggregates(conn, 11, revenue_periods=[], count_periods=[]) == \
        derive.DeriveCounts()
    assert _rows(conn, "SELECT count(*) FROM sources WHERE key LIKE 'derived:%'") == [(0,)]


def test_other_runs_rows_are_those_the_drop_did_not_write(conn: sqlite3.Connection) -> None:
    # Run 11 wrote C3's 2025Q1 revenue and rewrote C1's; C2 and C4 are run 10's.
    conn.execute("INSERT INTO enterprise_revenue (credit_code, period, revenue, from_ytd, "
                 "provenance, etl_run_id) VALUES (?, '2025Q1', 7.0, 0, 'sample', 11)", (C3,))
    conn.execute("UPDATE enterprise_revenue SET revenue = 12.0, etl_run_id = 11 "
                 "WHERE credit_code = ?", (C1,))
    others = derive.other_runs_revenue(conn, 2, ["2025Q1"], 11)
    assert others is not None
    assert sorted(others.itertuples(index=False, name=None)) == sorted(
        [(C2, "2025Q1", 20.5, 1, 0), (C4, "2025Q1", 5.0, 0, 0)])
    # A drop of three rows of which only two carry the run: one was resent unchanged and
    # kept its earlier run, so the stored rows of other runs are not the rest of it.
    assert derive.other_runs_revenue(conn, 3, ["2025Q1"], 11) is None


def test_the_drops_rows_and_the_other_runs_rows_sum_as_the_whole(
        conn: sqlite3.Connection) -> None:
    stored = derive.refresh_aggregates(conn, 11, revenue_periods=["2025Q1"],
                                       count_periods=["2025Q1"])
    register = derive.read_register(conn)
    drop = pd.DataFrame([REVENUE[0]], columns=["credit_code", "period", "revenue", "from_ytd"])
    drop["provenance"] = "reported"
    conn.execute("UPDATE enterprise_revenue SET etl_run_id = 12 WHERE credit_code = ?", (C1,))
    others = derive.other_runs_revenue(conn, 1, ["2025Q1"], 12)
    assert others is not None and len(others) == 2
    split = (derive.aggregate_rows(register, drop, ["2025Q1"], ["2025Q1"])
             + derive.aggregate_rows(register, others, ["2025Q1"], []))
    again = derive.refresh_aggregates(conn, 12, revenue_periods=["2025Q1"],
                                      count_periods=["2025Q1"], base_rows=split)
    assert (stored, again) == (derive.DeriveCounts(14, 0), derive.DeriveCounts(0, 0))


REGISTER_FRAME = ["credit_code", "district_adcode", "zone_id", "segment", "founded", "status",
                  "provenance"]


def _by_code(register: pd.DataFrame) -> pd.DataFrame:
    """The register in credit-code order, ``dim`` checked to number each (district, zone,
    segment, sample) tuple once and renumbered in that order."""
    out = register.sort_values("credit_code").reset_index(drop=True)
    out["credit_code"] = out["credit_code"].astype(object)
    dims = ["district", "zone", "segment", "sample"]
    assert out.groupby("dim")[dims].nunique(dropna=False).le(1).all().all()
    assert out.groupby(dims, dropna=False)["dim"].nunique().eq(1).all()
    out["dim"] = out.groupby(dims, sort=False, dropna=False).ngroup()
    return out


@pytest.mark.parametrize("drop_firms", [[0, 1, 2, 3], [0, 1, 3], [2]])
def test_a_registers_view_beside_the_other_stored_firms_is_the_register_read_back(
        conn: sqlite3.Connection, drop_firms: list[int]) -> None:
    stored = derive.read_register(conn)
    view = derive.register_of(pd.DataFrame([FIRMS[i] for i in drop_firms],
                                           columns=REGISTER_FRAME))
    register = derive.register_beside(conn, view, sorted_codes(view))
    assert register is not None
    pd.testing.assert_frame_equal(_by_code(register), _by_code(stored), check_dtype=False)
    if len(drop_firms) == len(FIRMS):
        assert register is view  # nothing else stored: nothing read back


def test_a_view_of_a_firm_the_table_does_not_hold_is_not_used(
        conn: sqlite3.Connection) -> None:
    firms = [*FIRMS[:2], ("91310000MA1FL0000X", 310104, None, "applications", None, "active",
                          "sample")]
    view = derive.register_of(pd.DataFrame(firms, columns=REGISTER_FRAME))
    assert derive.register_beside(conn, view, sorted_codes(view)) is None


@pytest.mark.parametrize("codes", [
    [C3, C1, "91310000MA1FL0000X", C1],  # unsorted, repeated, one not in the register
    sorted([C1, C2, C3, C4]),
    [C2, "short", C1],  # not a credit code: the hash lookup instead
    [C2, "91310000MA1FL000０X"],  # not ASCII
])
def test_register_positions_are_those_of_the_index_lookup(
        conn: sqlite3.Connection, codes: list[str]) -> None:
    register = derive.read_register(conn)
    expected = pd.Index(register["credit_code"]).get_indexer(codes)
    for given in (pd.Series(codes, dtype=object), pd.Series(codes, dtype="string[pyarrow]"),
                  pd.Index(codes)):
        assert positions(register["credit_code"], given).tolist() == expected.tolist()


def test_the_revenue_sums_over_a_registers_view_are_those_over_the_register_read_back(
        conn: sqlite3.Connection) -> None:
    """A full recount from the stored rows equals the sums over the view made from the frame
    (its codes as Arrow strings, revenue codes categorical, as the validator makes them)."""
    stored = derive.refresh_aggregates(conn, 11, revenue_periods=["2025Q1"],
                                       count_periods=["2025Q1"])
    firms = pd.DataFrame(FIRMS, columns=REGISTER_FRAME).astype({"credit_code": "string[pyarrow]"})
    view = derive.register_of(firms)
    revenue = pd.DataFrame(REVENUE, columns=["credit_code", "period", "revenue", "from_ytd"])
    revenue["credit_code"] = revenue["credit_code"].astype("category")
    revenue["provenance"] = "reported"
    rows = derive.aggregate_rows(view, revenue, ["2025Q1"], ["2025Q1"])
    again = derive.refresh_aggregates(conn, 12, revenue_periods=["2025Q1"],
                                      count_periods=["2025Q1"], base_rows=rows)
    assert (stored, again) == (derive.DeriveCounts(14, 0), derive.DeriveCounts(0, 0))


def test_the_committed_rows_of_other_firms_are_the_quarter_before_the_load(
        conn: sqlite3.Connection) -> None:
    from pathlib import Path

    from etl.drops import before_load

    path = before_load.database_file(conn)
    assert path is not None and path == Path(conn.execute(
        "PRAGMA database_list").fetchone()[2])
    # In the load's transaction: C1's row rewritten and C3's added (not committed).
    conn.execute("UPDATE enterprise_revenue SET revenue = 12.0, etl_run_id = 11 "
                 "WHERE credit_code = ?", (C1,))
    conn.execute("INSERT INTO enterprise_revenue (credit_code, period, revenue, from_ytd, "
                 "provenance, etl_run_id) VALUES (?, '2025Q1', 7.0, 0, 'sample', 11)", (C3,))
    drop = pd.DataFrame({"credit_code": pd.Categorical([C3, C1]),
                         "period": pd.Categorical(["2025Q1", "2025Q1"]),
                         "revenue": [7.0, 12.0], "from_ytd": [0, 0],
                         "provenance": ["sample", "reported"]})
    plain = drop.assign(credit_code=drop["credit_code"].astype(object))

    def others_of(periods: list[str], given: pd.DataFrame) -> pd.DataFrame | None:
        # The rows are read by a process of their own, started first.
        return before_load.committed_others(before_load.read_quarters(path, periods), periods,
                                            given)

    assert others_of(["2025Q1"], plain.assign(
        credit_code=["short", C1])) is None  # not a credit code: read the other way
    for given in (drop, plain):
        others = others_of(["2025Q1", "2025Q2"], given)
        assert others is not None
        rows = sorted(others.astype(object).itertuples(index=False, name=None))
        assert rows == sorted([(C2, "2025Q1", 20.5, 1, False), (C4, "2025Q1", 5.0, 0, False)])
    stored = derive.other_runs_revenue(conn, 2, ["2025Q1"], 11)
    assert stored is not None
    assert rows == sorted(stored.astype({"sample": bool}).astype(object).itertuples(
        index=False, name=None))
    conn.rollback()
    assert before_load.database_file(sqlite3.connect(":memory:")) is None


def test_the_codes_of_a_stage_table_come_sorted_as_bytes(conn: sqlite3.Connection) -> None:
    from etl.drops.code_bytes import codes_of

    conn.execute("CREATE TEMP TABLE staged (credit_code TEXT)")
    conn.executemany("INSERT INTO temp.staged VALUES (?)", [(C3,), (C1,), (C2,)])
    assert codes_of(conn, "temp.staged").tolist() == sorted(  # type: ignore[union-attr]
        c.encode("ascii") for c in (C1, C2, C3))
    conn.execute("INSERT INTO temp.staged VALUES ('short')")
    assert codes_of(conn, "temp.staged") is None


@pytest.mark.parametrize("seed", range(4))
def test_registers_joined_are_numbered_as_one_register_would_be(seed: int) -> None:
    """``joined`` renumbers only one row per tuple of its first part: the result is what
    numbering the whole gives, whatever the first part's order."""
    def register(n: int, tag: int) -> pd.DataFrame:
        rng = np.random.default_rng(tag)
        frame = pd.DataFrame({
            "credit_code": [f"C{tag}-{i}" for i in range(n)],
            "district": pd.array(rng.choice([310104, 310115, None], n), dtype="Int64"),
            "zone": pd.Series(rng.choice(["westbund_ai_tower", None], n), dtype=object),
            "segment": pd.Series(rng.choice(["applications", "chips_computing"], n),
                                 dtype=object),
            "sample": rng.random(n) < 0.5, "active": rng.random(n) < 0.9,
            "founded_by": pd.array(["2020-03-31"] * n, dtype="str")})
        frame["dim"] = derive._dims(frame)
        return frame

    first = register(500, seed).sample(frac=1, random_state=seed).reset_index(drop=True)
    rest = register(60, seed + 100)
    whole = pd.concat([first.drop(columns="dim"), rest.drop(columns="dim")],
                      ignore_index=True)
    whole["dim"] = derive._dims(whole)
    assert derive.joined(first, rest).equals(whole)
    assert int(whole["dim"].max()) >= 1
