"""Run history and rollback (etl.runs), and the ``aidash etl history|rollback`` commands."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from backends import connect, dump, query
from fixtures.make_fixtures import BAD, C1, C5, C6, DATA_TABLES, GOOD, TODAY
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from etl import runs
from etl.drops.load import load_drop
from etl.runs import list_runs, rollback
from models.db import make_engine
from models.errors import AidashError, DatabaseMissing, DropRejected, RunNotFound

pytestmark = pytest.mark.both_backends


def _db(engine: Engine) -> str:
    """The database as ``--db`` takes it: the SQLite file, or the PostgreSQL URL."""
    if engine.dialect.name == "postgresql":
        return engine.url.render_as_string(hide_password=False)
    return engine.url.database or ""


_query = query


def _load(engine: Engine, name: str) -> int:
    result = load_drop(engine, GOOD / name, today=TODAY)
    assert result.run_id is not None
    return result.run_id


def test_list_runs_newest_first(base: Engine) -> None:
    _load(base, "2025Q1_revised")
    got = [(r.id, r.kind, r.status, r.data_period, r.rows_read, r.rows_inserted,
            r.rows_updated) for r in list_runs(base)]
    assert got == [(3, "drop", "succeeded", "2025Q1", 4, 0, 2),
                   (2, "drop", "succeeded", "2025Q1", 11, 11, 0),
                   (1, "geography", "succeeded", None, got[2][4], got[2][5], 0)]
    newest = list_runs(base)[0]
    assert newest.finished_at is not None and newest.finished_at >= newest.started_at


def test_list_runs_without_tables(db_path: Path) -> None:
    engine = make_engine(db_path)
    with pytest.raises(DatabaseMissing) as info:
        list_runs(engine)
    assert str(info.value) == f"database {db_path} has no tables; build it with `aidash init`"
    engine.dispose()


def _keys_hold(engine: Engine) -> None:
    """Every foreign key holds, and the engine's connections enforce them again (PostgreSQL
    checks every key of every statement: a broken one would have failed the rollback)."""
    if engine.dialect.name == "postgresql":
        return
    assert _query(engine, "PRAGMA foreign_key_check") == []
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_rollback_returns_the_state_before_the_run(base: Engine) -> None:
    before = dump(base, DATA_TABLES)
    run = _load(base, "2025Q2_xlsx")
    assert dump(base, DATA_TABLES) != before
    assert rollback(base, run) == [run]
    assert dump(base, DATA_TABLES) == before
    _keys_hold(base)
    status, rolled_back_at = _query(base, "SELECT status, rolled_back_at FROM etl_runs "
                                          "WHERE id = ?", run)[0]
    assert status == "rolled_back" and rolled_back_at is not None
    # The register is back: the updated firm restored, the new one gone.
    assert _query(base, "SELECT status FROM enterprises WHERE credit_code = ?", C5) == [
        ("suspended",)]
    assert _query(base, "SELECT count(*) FROM enterprises WHERE credit_code = ?", C6) == [(0,)]


def test_rollback_undoes_later_runs_first(base: Engine) -> None:
    after_base = dump(base, DATA_TABLES)
    revised = _load(base, "2025Q1_revised")
    ytd = _load(base, "2025Q2_ytd")
    xlsx = _load(base, "2025Q2_xlsx")
    assert rollback(base, revised) == [xlsx, ytd, revised]
    assert dump(base, DATA_TABLES) == after_base
    _keys_hold(base)
    assert _query(base, "SELECT id, status FROM etl_runs WHERE id >= 2 ORDER BY id") == [
        (2, "succeeded"), (revised, "rolled_back"), (ytd, "rolled_back"),
        (xlsx, "rolled_back")]
    assert _query(base, "SELECT revenue FROM enterprise_revenue WHERE credit_code = ?",
                  C1) == [(10.0,)]


def test_rollback_of_the_first_drop_empties_the_data(geo_engine: Engine) -> None:
    before = dump(geo_engine, DATA_TABLES)
    run = _load(geo_engine, "2025Q1")
    _load(geo_engine, "2025Q2_ytd")
    assert rollback(geo_engine, run) == [run + 1, run]
    assert dump(geo_engine, DATA_TABLES) == before


def test_rollback_leaves_runs_that_wrote_nothing(base: Engine, tmp_path: Path) -> None:
    noop = load_drop(base, GOOD / "2025Q1", today=TODAY).run_id
    with pytest.raises(DropRejected):
        load_drop(base, BAD / "negative_value", today=TODAY, report_path=tmp_path / "r")
    revised = _load(base, "2025Q1_revised")
    assert rollback(base, 2) == [revised, 2]
    assert _query(base, "SELECT id, status FROM etl_runs WHERE id > 2 ORDER BY id") == [
        (noop, "noop"), (noop + 1, "rejected"), (revised, "rolled_back")]
    # Rolled back, the drop is no longer "already loaded": it loads again.
    assert load_drop(base, GOOD / "2025Q1", today=TODAY).inserted == 11


def test_rollback_deletes_forecasts_of_the_run(base: Engine) -> None:
    revised = _load(base, "2025Q1_revised")
    with connect(base) as conn:
        target = conn.execute("SELECT id FROM observations LIMIT 1").fetchone()[0]
        for vintage in (2, revised):
            fid = conn.execute(
                """INSERT INTO forecast_runs (series_key, metric, scope_type, scope_id, basis,
                       freq, last_period, vintage_run_id, created_at, model, provenance)
                   VALUES ('k', 'enterprise_revenue', 'city', '310000', 'quarterly', 'Q',
                           '2025Q1', ?, '2025-08-15 00:00:00.000000', 'ets', 'derived')""",
                (vintage,)).lastrowid
            conn.execute("""INSERT INTO forecast_points (forecast_id, period, period_end, mean,
                                lo_80, hi_80, lo_95, hi_95)
                            VALUES (?, '2025Q2', '2025-06-30', 1, 0, 2, 0, 3)""", (fid,))
            conn.execute("""INSERT INTO target_probabilities (forecast_id, target_observation_id,
                                target_value, target_period, probability, method)
                            VALUES (?, ?, 1, '2025', 0.5, 'test')""", (fid, target))
    rollback(base, revised)
    assert _query(base, "SELECT vintage_run_id FROM forecast_runs") == [(2,)]
    assert _query(base, "SELECT count(*) FROM forecast_points") == [(1,)]
    assert _query(base, "SELECT count(*) FROM target_probabilities") == [(1,)]


def test_rollback_is_one_transaction(base: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    revised = _load(base, "2025Q1_revised")
    ytd = _load(base, "2025Q2_ytd")
    everything = dump(base, ("etl_runs", *DATA_TABLES))
    real = runs.undo_run

    def fail_on_second(conn: sqlite3.Connection, run_id: int, now: str) -> None:
        if run_id == revised:
            raise RuntimeError("power cut")
        real(conn, run_id, now)

    monkeypatch.setattr(runs, "undo_run", fail_on_second)
    with pytest.raises(RuntimeError):
        rollback(base, revised)
    assert dump(base, ("etl_runs", *DATA_TABLES)) == everything
    assert ytd > revised


@pytest.mark.parametrize(("run_id", "error", "message"), [
    (99, RunNotFound, "no run 99; see `aidash etl history`"),
    (1, AidashError, ("run 1 loaded the geography, which cannot be rolled back; rebuild the "
                     "database with `aidash init --force`")),
])
def test_rollback_errors(base: Engine, run_id: int, error: type, message: str) -> None:
    with pytest.raises(error) as info:
        rollback(base, run_id)
    assert str(info.value) == message


def test_rollback_twice_and_runs_that_wrote_nothing(base: Engine) -> None:
    noop = load_drop(base, GOOD / "2025Q1", today=TODAY).run_id
    with pytest.raises(AidashError) as info:
        rollback(base, noop)  # type: ignore[arg-type]
    assert str(info.value) == (f"run {noop} wrote nothing (status noop); there is nothing to "
                               "roll back")
    rollback(base, 2)
    with pytest.raises(AidashError) as info:
        rollback(base, 2)
    assert str(info.value).startswith("run 2 was already rolled back at ")
    assert str(info.value).endswith(" UTC; see `aidash etl history`")


# ------------------------------------------------------------------------------ the CLI


def _cli(args: list[str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from etl import cli

    # Rich wraps at 80 columns when not on a terminal; the history table is wider.
    monkeypatch.setattr(cli.out, "width", 220)
    monkeypatch.setattr(cli.err, "width", 220)
    return CliRunner().invoke(cli.app, args)


def test_cli_history(base: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    _load(base, "2025Q1_revised")
    result = _cli(["etl", "history", "--db", str(_db(base))], monkeypatch)
    assert result.exit_code == 0, result.output
    rows = [line.replace("┃", "│").split("│") for line in result.stdout.splitlines()
            if "│" in line or "┃" in line]
    cells = [[c.strip() for c in row[1:-1]] for row in rows]
    cells = [c for c in cells if c[0]]  # a long message wraps onto continuation lines
    assert cells[0] == ["run", "kind", "status", "started (UTC)", "seconds", "period", "read",
                        "inserted", "updated", "rejected", "drop / message"]
    assert [c[:3] for c in cells[1:]] == [["3", "drop", "succeeded"], ["2", "drop", "succeeded"],
                                         ["1", "geography", "succeeded"]]
    assert cells[1][5:10] == ["2025Q1", "4", "0", "2", "0"]
    assert cells[1][10].endswith("2025Q1_revised")


def test_cli_rollback(base: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    revised = _load(base, "2025Q1_revised")
    ytd = _load(base, "2025Q2_ytd")
    result = _cli(["etl", "rollback", str(revised), "--db", str(_db(base))], monkeypatch)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"Rolled back run(s) {ytd}, {revised}."
    again = _cli(["etl", "rollback", "99", "--db", str(_db(base))], monkeypatch)
    assert again.exit_code == 1
    assert again.stderr.strip() == "Error: no run 99; see `aidash etl history`"


def test_cli_history_without_tables(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db_path.touch()  # an empty file is an SQLite database with no tables
    result = _cli(["etl", "history", "--db", str(db_path)], monkeypatch)
    assert result.exit_code == 1
    assert result.stderr.strip() == (f"Error: database {db_path} has no tables; build it with "
                                     "`aidash init`")


def test_cli_on_a_missing_database_does_not_create_it(db_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    result = _cli(["etl", "history", "--db", str(db_path)], monkeypatch)
    assert result.exit_code == 1
    assert result.stderr.strip() == (f"Error: database {db_path} does not exist; build it with "
                                     "`aidash init`")
    assert not db_path.exists()
