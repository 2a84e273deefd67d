"""etl.drops.stage: the staging file and the index rebuild, on their own."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from etl.drops import stage as staging


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    c = sqlite3.connect(tmp_path / "main.db", isolation_level=None)
    yield c
    c.close()


def test_stage_keeps_values_types_and_order_across_batches(
        conn: sqlite3.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(staging, "BATCH", 2)
    frame = pd.DataFrame({
        "code": pd.Categorical(["b", "a", "c", "a", "b"]),
        "text": [None, None, "x", "y", None],  # the first batch is all null
        "never": [None] * 5,  # no value at all
        "n": pd.array([1, None, 3, 4, 5], dtype="Int64"),
        "v": [1.5, float("nan"), 2.5, 0.0, -1.0],
        "flag": [True, False, True, False, True],
    })
    order = np.array([1, 3, 0, 4, 2])
    batches: list[int] = []
    with staging.Stage(conn, tmp_path / "main.db") as stage:
        table = stage.put("t", frame, {c: c for c in frame.columns} | {"code": "key"},
                          order=order, on_batch=batches.append)
        stage.attach("t")
        rows = conn.execute(f"SELECT key, text, never, n, v, flag FROM {table} ORDER BY rowid"
                            ).fetchall()
        types = conn.execute(f"SELECT typeof(key), typeof(n), typeof(v), typeof(flag) "
                             f"FROM {table} WHERE rowid = 2").fetchone()
        path = stage.file("t")
        assert path.exists() and stage.path.exists()
        assert table == "stage_t.t"
    assert rows == [("a", None, None, None, None, 0), ("a", "y", None, 4, 0.0, 0),
                    ("b", None, None, 1, 1.5, 1), ("b", None, None, 5, -1.0, 1),
                    ("c", "x", None, 3, 2.5, 1)]
    assert types == ("text", "integer", "real", "integer")
    assert batches == [2, 2, 1]
    # Closed: detached and deleted.
    assert not path.exists() and not stage.path.exists()
    assert [r[1] for r in conn.execute("PRAGMA database_list")] == ["main"]


def test_a_table_cannot_be_staged_again_once_attached(conn: sqlite3.Connection,
                                                      tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1]})
    with staging.Stage(conn, tmp_path / "main.db") as stage:
        stage.put("one", frame, {"a": "a"})
        stage.attach("one")
        with pytest.raises(RuntimeError) as info:
            stage.put("one", frame, {"a": "a"})
        assert str(info.value) == "the stage table one is attached already: put it first"
        # Another table can still be staged, and read beside the first.
        stage.put("two", pd.DataFrame({"a": [2]}), {"a": "a"})
        stage.attach("two")
        assert conn.execute("SELECT o.a, t.a FROM stage_one.one o, stage_two.two t"
                            ).fetchall() == [(1, 2)]


def test_a_cancelled_put_stops_at_its_next_batch(conn: sqlite3.Connection, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(staging, "BATCH", 2)
    seen: list[int] = []
    with staging.Stage(conn, tmp_path / "main.db") as stage:

        def after_batch(n: int) -> None:
            seen.append(n)
            stage.cancel()

        with pytest.raises(staging.StageCancelled) as info:
            stage.put("t", pd.DataFrame({"a": range(10)}), {"a": "a"}, on_batch=after_batch)
        assert str(info.value) == "t"
    assert seen == [2]
    assert list(tmp_path.glob(".main.db.load-*")) == []


def test_indexes_are_rebuilt_only_for_a_write_that_doubles_the_table(
        conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(staging, "REBUILD_MIN_ROWS", 10)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a, b)")
    conn.execute("CREATE INDEX ix_a ON t (a)")
    conn.execute("CREATE INDEX ix_b ON t (b) WHERE b IS NOT NULL")
    conn.executemany("INSERT INTO t (a) VALUES (?)", [(i,) for i in range(20)])
    schema = conn.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
    conn.execute("BEGIN")
    with staging.indexes_rebuilt(conn, "t", 19) as rebuilt:  # less than the 20 rows there
        assert not rebuilt
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'index'"
                            ).fetchone()[0] == 2
    with staging.indexes_rebuilt(conn, "t", 20, keep=("ix_b",)) as rebuilt:
        assert rebuilt
        assert [n for (n,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index'")] == ["ix_b"]
        conn.executemany("INSERT INTO t (a) VALUES (?)", [(i,) for i in range(20)])
    conn.execute("COMMIT")
    assert conn.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall() == schema
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def test_a_failed_write_leaves_the_indexes_to_the_rollback(
        conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(staging, "REBUILD_MIN_ROWS", 1)
    conn.execute("CREATE TABLE t (a)")
    conn.execute("CREATE INDEX ix_a ON t (a)")
    schema = conn.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
    conn.execute("BEGIN")
    with pytest.raises(ValueError), staging.indexes_rebuilt(conn, "t", 5):
        raise ValueError("write failed")
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'index'"
                        ).fetchone()[0] == 0
    conn.execute("ROLLBACK")
    assert conn.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall() == schema


def test_stale_scratch_files_are_removed_but_not_the_running_one(
        conn: sqlite3.Connection, tmp_path: Path) -> None:
    db = tmp_path / "main.db"
    stale = tmp_path / ".main.db.load-killed.tmp"
    stale.write_bytes(b"left by a killed load")
    other = tmp_path / ".other.db.load-x.tmp"  # another database's: not ours to remove
    other.write_bytes(b"")
    with staging.Stage(conn, db) as stage:
        stage.put("t", pd.DataFrame({"a": [1]}), {"a": "a"})
        assert stage.remove_stale() == [stale]
        assert stage.path.exists() and stage.file("t").exists()
        assert not stale.exists() and other.exists()


@pytest.mark.parametrize("dtype", ["str", object])
def test_key_order_is_a_stable_sort_by_the_keys(dtype: object) -> None:
    from etl.drops import merge

    rng = np.random.default_rng(3)
    words = ["b", "ä", "a", "Z", "张江", "zz", "a b", "9"]
    frame = pd.DataFrame({
        "text": pd.array(rng.choice(words, 500), dtype=dtype),
        "cat": pd.Categorical(rng.choice(["q1", "q2", "q3"], 500)),
        "n": rng.integers(0, 4, 500),
    })
    for keys in (["text"], ["cat", "text"], ["text", "n"]):
        order = merge.key_order(frame, keys)
        assert order is not None
        expected = frame.sort_values(keys, kind="stable").index.to_numpy()
        assert order.tolist() == expected.tolist(), keys
    # In order already: nothing to reorder.
    ordered = frame.sort_values(["text", "n"], kind="stable").reset_index(drop=True)
    assert merge.key_order(ordered, ["text", "n"]) is None
    # A missing value sorts last (the Arrow path steps aside for it).
    with_na = pd.DataFrame({"text": pd.array(["b", None, "a"], dtype=dtype)})
    assert merge.key_order(with_na, ["text"]).tolist() == [2, 0, 1]


@pytest.mark.parametrize("dtype", ["str", object])
def test_sorted_factorize_matches_pandas(dtype: object) -> None:
    from etl.drops.convert import sorted_factorize

    values = pd.Series(pd.array(["b", None, "ä", "a", "b", "张江", None, "a"], dtype=dtype))
    codes, uniques = sorted_factorize(values)
    want_codes, want_uniques = pd.factorize(values, sort=True, use_na_sentinel=True)
    assert codes.tolist() == want_codes.tolist() == [1, -1, 2, 0, 1, 3, -1, 0]
    assert uniques.tolist() == list(want_uniques) == ["a", "b", "ä", "张江"]
    # Not text: pandas' own.
    codes, uniques = sorted_factorize(pd.Series([3, 1, 3]))
    assert (codes.tolist(), uniques.tolist()) == ([1, 0, 1], [1, 3])


@pytest.mark.parametrize("seed", range(6))
def test_sorted_factorize_of_values_of_one_width_matches_pandas(seed: int) -> None:
    """Values of one byte width (credit codes; here also multi-byte characters of one width)
    are sorted as numpy byte strings: the same codes and values as pandas' sorted factorize,
    and the same as Arrow's sort where a value of another width sends them there."""
    from etl.drops import convert
    from etl.drops.convert import sorted_factorize

    rng = np.random.default_rng(seed)
    alphabet = list("0123456789ABZ") + ["张", "江", "ä"] if seed % 2 else list("09AZaz~ ")
    width = 3 if seed % 2 else 18
    texts = ["".join(rng.choice(alphabet, width)) for _ in range(400)]
    texts = [t for t in texts if len(t.encode()) == len(texts[0].encode())]
    values = pd.Series(texts + texts[:50], dtype="str")
    assert convert.fixed_width(pa.array(values.array)) is not None
    codes, uniques = sorted_factorize(values)
    want_codes, want_uniques = pd.factorize(values, sort=True, use_na_sentinel=True)
    assert codes.tolist() == want_codes.tolist()
    assert uniques.tolist() == list(want_uniques)
    assert str(uniques.dtype) == "str"
    # One value of another width: Arrow's sort, the same result.
    longer = pd.Series([*values, texts[0] + "X"], dtype="str")
    assert convert.fixed_width(pa.array(longer.array)) is None
    codes, uniques = sorted_factorize(longer)
    want_codes, want_uniques = pd.factorize(longer, sort=True, use_na_sentinel=True)
    assert (codes.tolist(), uniques.tolist()) == (want_codes.tolist(), list(want_uniques))
