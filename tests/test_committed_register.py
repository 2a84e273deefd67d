"""A resent register beside the committed one (etl.drops.committed_register): the rows equal to
their stored rows are left out of the stage, and the load stores exactly what it would have
stored with every row staged."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy.engine import Engine

from benchmarks.path_drops import NEXT_QUARTER, write_next_quarter, write_revised_quarter
from etl.drops import background as bg
from etl.drops import load, merge
from etl.drops.committed_register import CommittedRegister, Comparison, compare
from etl.drops.load import load_drop
from etl.drops.merge import ENT_COLUMNS, ENT_INDEXED
from models.db import make_engine, sqlite_path
from tests.backends import dump

CODES = ["91310000AAAAAAAAA1", "91310000BBBBBBBBB2", "91310000CCCCCCCCC3"]
FIRMS = 300
DATA_TABLES = ("enterprises", "enterprise_versions", "enterprise_revenue",
               "enterprise_revenue_versions", "observations", "etl_runs", "etl_run_files")


def _stored(rows: list[dict[str, object]]) -> pa.Table:
    """A committed register as the reader returns it: credit-code order, SQLite's types."""
    types = {"district_adcode": pa.int64(), "registered_capital": pa.float64(),
             "employees": pa.int64()}
    rows = sorted(rows, key=lambda r: str(r["credit_code"]))
    return pa.table({c: pa.array([r[c] for r in rows], type=types.get(c, pa.string()))
                     for c in ("credit_code", *ENT_COLUMNS)})


def _firm(code: str, **changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "credit_code": code, "name_zh": "上海甲乙科技有限公司", "name_en": "Jiayi Tech",
        "zone_id": "westbund_ai_tower", "district_adcode": 310104,
        "segment": "foundation_models", "founded": "2020-01-15", "registered_capital": 12.5,
        "employees": 120, "status": "active", "provenance": "sample"}
    return {**row, **changes}


def _frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    """A validated register as the validator types it."""
    frame = pd.DataFrame(rows)
    frame["credit_code"] = frame["credit_code"].astype("str")
    for c in ("name_zh", "name_en"):
        frame[c] = frame[c].astype("str")
    for c in ("district_adcode", "employees"):
        frame[c] = frame[c].astype("Int64")
    frame["registered_capital"] = frame["registered_capital"].astype("float64")
    for c in ("zone_id", "segment", "founded", "status", "provenance"):
        frame[c] = frame[c].astype(object)
    return frame


def test_rows_equal_in_every_column_are_unchanged_whatever_their_order() -> None:
    stored = _stored([_firm(CODES[0]), _firm(CODES[1], employees=None),
                      _firm(CODES[2], zone_id=None)])
    frame = _frame([
        _firm(CODES[2], zone_id=None),  # a missing value matches a missing one
        _firm("91310000DDDDDDDDD4"),  # a new firm
        _firm(CODES[1], employees=7),  # a value where none was stored
        _firm(CODES[0], registered_capital=12.5000001),
    ])
    found = compare(frame, stored)
    assert found is not None
    assert found.unchanged.tolist() == [True, False, False, False]
    assert found.stored.tolist() == [True, False, True, True]
    # No indexed column changed on a stored firm here.
    assert found.keys_kept.tolist() == [True, False, True, True]
    assert found.clean
    assert found.codes.tolist() == sorted(c.encode() for c in [*CODES, "91310000DDDDDDDDD4"])


@pytest.mark.parametrize("column", ENT_COLUMNS)
def test_a_change_in_any_column_is_seen(column: str) -> None:
    other: dict[str, object] = {"name_zh": "上海丙丁科技有限公司", "name_en": "Bingding Tech",
                                "zone_id": "zhangjiang_ai_island", "district_adcode": 310115,
                                "segment": "chips_computing", "founded": "2020-01-16",
                                "registered_capital": 12.25, "employees": 121,
                                "status": "suspended", "provenance": "reported"}
    stored = _stored([_firm(c) for c in CODES])
    # In the stored order: compared row by row, without a search.
    frame = _frame([_firm(CODES[0]), _firm(CODES[1], **{column: other[column]}),
                    _firm(CODES[2], **{column: None})])
    found = compare(frame, stored)
    assert found is not None
    assert found.unchanged.tolist() == [True, False, False]
    indexed = column in ENT_INDEXED
    assert found.keys_kept.tolist() == [True, not indexed, not indexed]


def test_a_column_typed_unlike_the_stored_one_leaves_every_row_to_the_merge() -> None:
    stored = _stored([_firm(c) for c in CODES]).set_column(
        8, "employees", pa.array(["120"] * 3))
    found = compare(_frame([_firm(c) for c in CODES]), stored)
    assert found is not None
    assert not found.unchanged.any() and not found.keys_kept.any() and not found.clean


def test_a_column_stored_empty_throughout_matches_missing_values_only() -> None:
    stored = _stored([_firm(c, zone_id=None) for c in CODES]).set_column(
        3, "zone_id", pa.nulls(3, pa.int64()))
    frame = _frame([_firm(CODES[0], zone_id=None), _firm(CODES[1]),
                    _firm(CODES[2], zone_id=None)])
    found = compare(frame, stored)
    assert found is not None
    assert found.unchanged.tolist() == [True, False, True]


def test_codes_that_are_not_eighteen_ascii_characters_are_not_compared() -> None:
    stored = _stored([_firm(c) for c in CODES])
    assert compare(_frame([_firm("9131000AAAAAAAAA1")]), stored) is None
    assert compare(_frame([_firm("91310000ÄAAAAAAAA1")]), stored) is None


def _register_db(path: Path, rows: Sequence[tuple[object, ...]]) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("""CREATE TABLE enterprises (credit_code TEXT PRIMARY KEY, name_zh TEXT,
                         name_en TEXT, zone_id TEXT, district_adcode INTEGER, segment TEXT,
                         founded DATE, registered_capital FLOAT, employees INTEGER,
                         status TEXT, provenance TEXT)""")
        conn.executemany(f"INSERT INTO enterprises VALUES ({', '.join('?' * 11)})", rows)


def test_the_register_is_read_in_code_order_with_its_types(tmp_path: Path) -> None:
    """Read by a process of its own; a column whose first few thousand rows are empty keeps
    its type (the driver infers types from its first batch)."""
    rows = [(f"91310000{i:09d}X", f"名{i}", None if i < 3000 else f"Name {i}", None, 310104,
             "applications", "2020-01-15", None if i < 3000 else i / 4, None if i < 3000 else i,
             "active", "sample") for i in range(3100, -1, -1)]
    db = tmp_path / "r.db"
    _register_db(db, rows)
    committed = CommittedRegister(db, data_version=0)
    committed.read()
    assert committed.table is not None
    assert committed.table.column_names == ["credit_code", *ENT_COLUMNS]
    # A column empty throughout comes back as integers.
    assert [str(f.type) for f in committed.table.schema][1:] == [
        "string", "string", "int64", "int64", "string", "string", "double", "int64", "string",
        "string"]
    assert committed.table.to_pylist()[3005] == dict(zip(
        ["credit_code", *ENT_COLUMNS], rows[3100 - 3005], strict=True))


def test_a_register_that_cannot_be_read_is_staged_whole(tmp_path: Path) -> None:
    db = tmp_path / "none.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE other (x)")
    committed = CommittedRegister(db, data_version=0)
    committed.read()
    assert committed.table is None


@pytest.fixture
def loaded(load_scale: Callable[[int, int], tuple[Engine, Path]]) -> tuple[Engine, Path]:
    return load_scale(FIRMS, 5)


def _copy(engine: Engine, to: Path) -> Engine:
    path = sqlite_path(str(engine.url))
    assert path is not None
    engine.dispose()
    with sqlite3.connect(path) as source, sqlite3.connect(to) as target:
        source.backup(target)
    return make_engine(to)


def _firms_beside(engine: Engine) -> None:
    """Three firms of another source beside the drop's, founded before its quarters."""
    path = sqlite_path(str(engine.url))
    assert path is not None
    with sqlite3.connect(path) as conn:
        run = conn.execute("SELECT max(id) FROM etl_runs").fetchone()[0]
        conn.executemany(
            """INSERT INTO enterprises (credit_code, name_zh, district_adcode, segment, founded,
                                        status, provenance, etl_run_id)
               VALUES (?, '旁', ?, 'applications', '2019-05-01', 'active', 'reported', ?)""",
            [(f"91310000ZZZZZZZZ0{i}", 310104 + i, run) for i in range(3)])


@pytest.mark.parametrize("beside", [False, True])
@pytest.mark.parametrize("revised", [False, True])
def test_a_refresh_stores_the_same_with_unchanged_rows_left_out(
        loaded: tuple[Engine, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        revised: bool, beside: bool) -> None:
    """The same database after the same refresh, with and without the comparison: the
    register's view for the aggregates is then made from the drop and the committed firms
    not in it (``beside``), during validation."""
    engine, drop = loaded
    if beside:
        _firms_beside(engine)
    out = tmp_path / "next" / NEXT_QUARTER
    refresh = (write_revised_quarter(drop, out, share=0.05) if revised
               else write_next_quarter(drop, out))
    whole = _copy(engine, tmp_path / "whole.db")
    # Below the threshold: the register is staged whole.
    assert load.COMPARE_MIN_FIRMS > FIRMS
    expected = load_drop(whole, refresh, progress=False)

    found: list[Comparison] = []

    def spy(frame: pd.DataFrame, stored: pa.Table) -> Comparison | None:
        result = compare(frame, stored)
        assert result is not None
        found.append(result)
        return result

    written: list[str] = []
    real_write = merge._write_register

    def write(conn: sqlite3.Connection, rows: str, *args: object) -> object:
        written.append(rows)
        return real_write(conn, rows, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(load, "COMPARE_MIN_FIRMS", 1)
    monkeypatch.setattr(bg, "compare", spy)
    monkeypatch.setattr(merge, "_write_register", write)
    result = load_drop(engine, refresh, progress=False)
    assert [int(f.unchanged.sum()) for f in found] == [FIRMS - (FIRMS // 20 if revised else 0)]
    # The revised rows, each known to be changed, are written from the stage itself.
    assert written == (["stage_enterprises.enterprises"] if revised else [])
    assert (result.inserted, result.updated, result.derived_inserted,
            result.derived_updated) == (expected.inserted, expected.updated,
                                        expected.derived_inserted, expected.derived_updated)
    ours, theirs = dump(engine, DATA_TABLES), dump(whole, DATA_TABLES)
    for rows in (ours, theirs):  # the runs' times differ
        rows["etl_runs"] = [r[:2] + r[4:] for r in rows["etl_runs"]]
    assert bool(ours["enterprise_versions"]) == revised
    assert ours == theirs
    path = sqlite_path(str(engine.url))
    assert path is not None
    with sqlite3.connect(path) as conn:
        # Every firm founded by the quarter's end counts, the three beside the drop's too.
        assert conn.execute(
            """SELECT value FROM observations WHERE metric = 'enterprise_count'
               AND scope_type = 'city' AND period = ? AND superseded_by IS NULL""",
            (NEXT_QUARTER,)).fetchone()[0] == FIRMS + (3 if beside else 0)
    whole.dispose()


def test_a_register_read_before_another_writer_committed_is_not_used(
        loaded: tuple[Engine, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The register is read while the drop is, before the load holds the write lock: a change
    committed in between would make a stale row look unchanged."""
    engine, drop = loaded
    refresh = write_next_quarter(drop, tmp_path / "next" / NEXT_QUARTER)
    path = sqlite_path(str(engine.url))
    assert path is not None
    with sqlite3.connect(path) as conn:
        code, employees = conn.execute(
            "SELECT credit_code, employees FROM enterprises WHERE employees IS NOT NULL "
            "ORDER BY credit_code LIMIT 1").fetchone()

    def read_now(self: bg.Background, committed: CommittedRegister) -> None:
        committed.read()  # before the drop is read, rather than while it is

    real_read = load.read_tables

    def read_after_a_commit(*args: object, **kwargs: object) -> object:
        with sqlite3.connect(path) as other:
            other.execute("UPDATE enterprises SET employees = employees + 1 "
                          "WHERE credit_code = ?", (code,))
        return real_read(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(load, "COMPARE_MIN_FIRMS", 1)
    monkeypatch.setattr(bg.Background, "read_committed", read_now)
    monkeypatch.setattr(load, "read_tables", read_after_a_commit)
    result = load_drop(engine, refresh, progress=False)
    # The drop's value is stored again, the other writer's kept as a version.
    assert result.updated == 1
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT employees FROM enterprises WHERE credit_code = ?",
                            (code,)).fetchone() == (employees,)
        assert conn.execute("SELECT employees FROM enterprise_versions WHERE credit_code = ?",
                            (code,)).fetchall() == [(employees + 1,)]


def test_only_a_large_register_is_read_and_not_by_a_dry_run(
        monkeypatch: pytest.MonkeyPatch, loaded: tuple[Engine, Path], tmp_path: Path) -> None:
    engine, drop = loaded
    reads: list[Path] = []
    monkeypatch.setattr(CommittedRegister, "read", lambda self: reads.append(self.path))
    monkeypatch.setattr(load, "COMPARE_MIN_FIRMS", FIRMS)
    refresh = write_next_quarter(drop, tmp_path / "next" / NEXT_QUARTER)
    load_drop(engine, refresh, progress=False, dry_run=True)
    assert reads == []
    monkeypatch.setattr(load, "COMPARE_MIN_FIRMS", FIRMS + 1)
    load_drop(engine, refresh, progress=False)
    assert reads == []
    monkeypatch.setattr(load, "COMPARE_MIN_FIRMS", FIRMS)
    revised = write_revised_quarter(drop, tmp_path / "rev" / NEXT_QUARTER, share=0.05)
    assert load_drop(engine, revised, progress=False).updated
    assert reads == [sqlite_path(str(engine.url))]
