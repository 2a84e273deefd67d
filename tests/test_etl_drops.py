"""Loading quarterly drops (etl.drops.load, etl.drops.validate, etl.drops.derive): one test per behaviour.

The drops are the committed files of tests/fixtures/drops/ (see make_fixtures.py); large ones
for the crash and concurrency tests are generated in tmp_path.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from backends import connect, dump
from fixtures.make_fixtures import (
    BAD,
    C1,
    C2,
    C3,
    C4,
    C5,
    C6,
    DATA_TABLES,
    FORMULA,
    GOOD,
    TODAY,
    write_scale_drop,
)
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from etl import credit_code
from etl.drops import derive
from etl.drops.convert import (
    check_codes,
    factorize,
    parse_date,
    parse_dates,
    parse_drop_period,
    to_number,
)
from etl.drops.load import load_drop
from etl.drops.report import display_path
from models.db import create_db_and_tables, make_engine
from models.errors import DatabaseMissing, DropRejected
from models.metrics import COUNT_METRIC, REVENUE_METRIC
from models.migrations import upgrade

ROOT = Path(__file__).resolve().parent.parent


pytestmark = pytest.mark.both_backends


def _db(engine: Engine) -> Path:
    return Path(engine.url.database or "")


def _db_arg(engine: Engine) -> str:
    """The database as ``--db`` takes it: the SQLite file, or the PostgreSQL URL."""
    if engine.dialect.name == "postgresql":
        return engine.url.render_as_string(hide_password=False)
    return str(_db(engine))


def _query(engine: Engine, sql: str, *params: object) -> list[tuple]:
    with connect(engine) as conn:
        return conn.execute(sql, params).fetchall()


def _current(engine: Engine, metric: str, scope_type: str, period: str) -> dict[str, tuple]:
    rows = _query(engine, """SELECT scope_id, value, provenance FROM observations
                             WHERE metric = ? AND scope_type = ? AND period = ?
                               AND superseded_by IS NULL""", metric, scope_type, period)
    return {r[0]: (r[1], r[2]) for r in rows}


# ------------------------------------------------------------------------------ loading


def test_load_base_drop_writes_every_table(geo_engine: Engine) -> None:
    result = load_drop(geo_engine, GOOD / "2025Q1", today=TODAY)
    assert (result.run_id, result.changed, result.read, result.inserted, result.updated,
            result.rejected) == (2, True, 11, 11, 0, 0)
    assert result.summary_line() == (
        f"Loaded 2025Q1: 3 files, 11 rows read, 11 inserted, 0 updated, 0 rejected in "
        f"{result.seconds:.1f} s (run 2)")
    assert _query(geo_engine, """SELECT credit_code, name_zh, zone_id, district_adcode, segment,
                                        founded, registered_capital, employees, status,
                                        provenance, etl_run_id FROM enterprises
                                 ORDER BY founded""") == [
        (C5, "上海长阳数据有限公司", "changyang_chuanggu", 310110, "data_infrastructure",
         "2018-05-20", 8.0, 30, "suspended", "reported", 2),
        (C3, "上海马桥机器人有限公司", "maqiao_ai_pilot_zone", 310112, "robotics_embodied",
         "2019-03-01", 50.0, 80, "active", "reported", 2),
        (C1, "上海西岸大模型科技有限公司", "westbund_ai_tower", 310104, "foundation_models",
         "2020-01-15", 12.5, 120, "active", "reported", 2),
        (C2, "上海张江芯片有限公司", "zhangjiang_ai_island", 310115, "chips_computing",
         "2021-06-03", 300.0, 450, "active", "reported", 2),
        (C4, "上海徐汇应用软件有限公司", None, 310104, "applications", "2023-11-30", 1.2, 15,
         "active", "reported", 2),
    ]
    assert sorted(_query(geo_engine, "SELECT credit_code, period, revenue, from_ytd, etl_run_id,"
                                     " superseded_by FROM enterprise_revenue_vintages")) == sorted([
        (C1, "2025Q1", 10.0, 0, 2, None), (C2, "2025Q1", 250.5, 0, 2, None),
        (C3, "2025Q1", 40.25, 0, 2, None), (C4, "2025Q1", 0.8, 0, 2, None)])
    zones = _query(geo_engine, """SELECT o.metric, o.scope_id, o.period, o.period_end, o.value,
                                         o.unit, o.basis, o.provenance, s.title
                                  FROM observations o JOIN sources s ON s.id = o.source_id
                                  WHERE o.scope_type = 'zone' AND o.metric LIKE 'zone_%'
                                  ORDER BY o.metric, o.scope_id""")
    assert len(zones) == 10
    assert zones[0] == ("zone_computing_pflops", "westbund_ai_tower", "2025Q1", "2025-03-31",
                        500.5, "PFLOPS", "point", "reported", "Test drop 2025Q1")
    run = _query(geo_engine, """SELECT kind, status, drop_path, data_period, rows_read,
                                       rows_inserted, rows_updated, rows_rejected
                                FROM etl_runs WHERE id = 2""")[0]
    assert run == ("drop", "succeeded", display_path(GOOD / "2025Q1"), "2025Q1", 11, 11, 0, 0)
    files = _query(geo_engine, """SELECT file_name, sheet, encoding, rows_read, rows_inserted,
                                         length(sha256) FROM etl_run_files WHERE run_id = 2
                                  ORDER BY id""")
    assert files == [("enterprises.csv", None, "utf-8", 5, 5, 64),
                     ("revenue.csv", None, "utf-8-sig", 4, 4, 64),
                     ("zone_metrics.csv", None, "utf-8", 2, 2, 64)]


def test_drop_path_is_relative_to_the_working_directory(geo_engine: Engine,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    load_drop(geo_engine, (GOOD / "2025Q1").resolve(), today=TODAY)
    assert _query(geo_engine, "SELECT drop_path FROM etl_runs WHERE id = 2") == [
        ("tests/fixtures/drops/good/2025Q1",)]


def test_derived_aggregates_by_city_district_zone_and_segment(base: Engine) -> None:
    revenue = {k: (round(v, 6), p) for k, (v, p) in
               _current(base, "enterprise_revenue", "city", "2025Q1").items()}
    assert revenue == {"310000": (301.55, "derived")}
    assert _current(base, "enterprise_revenue", "district", "2025Q1") == {
        "310104": (10.8, "derived"), "310115": (250.5, "derived"), "310112": (40.25, "derived")}
    assert _current(base, "enterprise_revenue", "zone", "2025Q1") == {
        "westbund_ai_tower": (10.0, "derived"), "zhangjiang_ai_island": (250.5, "derived"),
        "maqiao_ai_pilot_zone": (40.25, "derived")}
    assert _current(base, "enterprise_revenue", "segment", "2025Q1") == {
        "foundation_models": (10.0, "derived"), "chips_computing": (250.5, "derived"),
        "robotics_embodied": (40.25, "derived"), "applications": (0.8, "derived")}
    # The suspended firm (C5, district 310110) is not counted.
    assert _current(base, "enterprise_count", "city", "2025Q1") == {"310000": (4.0, "derived")}
    assert _current(base, "enterprise_count", "district", "2025Q1") == {
        "310104": (2.0, "derived"), "310115": (1.0, "derived"), "310112": (1.0, "derived")}
    unit, basis, method = _query(base, """SELECT unit, basis, method FROM observations
                                          WHERE metric = 'enterprise_revenue'
                                            AND scope_type = 'city'""")[0]
    assert (unit, basis) == ("million CNY", "quarterly")
    assert method == ("Derived on load (run 2): sum of the current quarterly revenue of 4 "
                      "enterprise(s) in this city, by their district, zone and segment in the "
                      "register.")


def test_gb18030_year_to_date_figures_become_quarters(base: Engine) -> None:
    result = load_drop(base, GOOD / "2025Q2_ytd", today=TODAY)
    assert (result.read, result.inserted, result.updated) == (5, 4, 1)
    assert [(f.file, f.encoding) for f in result.files] == [("营业收入.csv", "gb18030")]
    rows = _query(base, """SELECT credit_code, period, revenue, from_ytd FROM enterprise_revenue
                           WHERE etl_run_id = 3""")
    assert sorted(rows) == sorted([
        (C1, "2025Q2", 15.0, 1),   # 1-6月 25.0 minus the stored Q1 10.0
        (C2, "2025Q1", 260.0, 1),  # 1-3月 revises the stored Q1 (250.5)
        (C2, "2025Q2", 300.0, 1),  # 1-6月 56000 万元 minus 1-3月 26000 万元 of the same drop
        (C3, "2025Q2", 45.0, 0),   # a quarterly figure (当季)
        (C4, "2025Q2", 0.7, 1),    # 1.5 minus the stored 0.8
    ])
    # Both quarters the drop touched are re-aggregated.
    city = {p: _current(base, "enterprise_revenue", "city", p)["310000"][0]
            for p in ("2025Q1", "2025Q2")}
    assert city == {"2025Q1": pytest.approx(311.05), "2025Q2": pytest.approx(360.7)}
    method = _query(base, """SELECT method FROM observations WHERE metric = 'enterprise_revenue'
                             AND scope_type = 'city' AND period = '2025Q2'""")[0][0]
    assert method.endswith("; 3 of the figures were converted from year-to-date values.")


def test_xlsx_with_chinese_headers(base: Engine) -> None:
    result = load_drop(base, GOOD / "2025Q2_xlsx", today=TODAY)
    assert [(f.file, f.sheet, f.rows_read, f.inserted, f.updated) for f in result.files] == [
        ("企业名录.xlsx", "企业名录", 2, 1, 1), ("revenue.xlsx", "营业收入", 1, 1, 0)]
    assert _query(base, """SELECT name_zh, name_en, zone_id, district_adcode, segment, founded,
                                  registered_capital, employees, status, provenance
                           FROM enterprises WHERE credit_code = ?""", C6) == [
        ("上海张江小镇模型有限公司", "Zhangjiang Town Models", "zhangjiang_ai_town", 310115,
         "foundation_models", "2024-07-01", 50.0, 60, "active", "sample")]
    # A formula cell is stored as its formula text, never evaluated.
    assert _query(base, "SELECT name_en, status FROM enterprises WHERE credit_code = ?",
                  C5) == [(FORMULA, "deregistered")]
    assert _query(base, "SELECT revenue FROM enterprise_revenue WHERE credit_code = ?",
                  C6) == [(12.345,)]
    # Provenance follows the inputs: the zone's only firm is sample.
    assert _current(base, "enterprise_count", "zone", "2025Q2")["zhangjiang_ai_town"] == (
        1.0, "sample")


def test_enterprise_upsert_keeps_the_before_image(base: Engine) -> None:
    load_drop(base, GOOD / "2025Q2_xlsx", today=TODAY)
    assert _query(base, """SELECT credit_code, superseded_by, name_en, status, etl_run_id
                           FROM enterprise_versions""") == [
        (C5, 3, "Changyang Data Ltd.", "suspended", 2)]
    assert _query(base, "SELECT etl_run_id FROM enterprises WHERE credit_code = ?", C5) == [(3,)]
    # Firms the drop does not mention stay as they are.
    assert _query(base, "SELECT etl_run_id FROM enterprises WHERE credit_code = ?", C1) == [(2,)]


# ------------------------------------------------------------------- versions and repeats


def test_loading_the_same_drop_again_changes_nothing(base: Engine) -> None:
    before = dump(base, DATA_TABLES)
    result = load_drop(base, GOOD / "2025Q1", today=TODAY)
    assert (result.changed, result.repeat_of) == (False, 2)
    assert result.summary_line() == "2025Q1 already loaded as run 2; nothing changed"
    assert dump(base, DATA_TABLES) == before
    assert _query(base, "SELECT id, status, message FROM etl_runs WHERE id = 3") == [
        (3, "noop", "already loaded as run 2; nothing changed")]


def test_same_values_in_other_bytes_write_nothing(base: Engine, tmp_path: Path) -> None:
    drop = tmp_path / "2025Q1"
    shutil.copytree(GOOD / "2025Q1", drop)
    text = (drop / "revenue.csv").read_text(encoding="utf-8-sig")
    (drop / "revenue.csv").write_text(text.replace("\r\n", "\n"), encoding="utf-8")
    before = dump(base, DATA_TABLES)
    result = load_drop(base, drop, today=TODAY)
    assert (result.changed, result.inserted, result.updated, result.repeat_of) == (
        False, 0, 0, None)
    assert result.summary_line().endswith("(run 3; nothing changed)")
    assert dump(base, DATA_TABLES) == before
    assert _query(base, "SELECT status FROM etl_runs WHERE id = 3") == [("noop",)]


def test_corrected_drop_revises_and_keeps_the_earlier_vintage(base: Engine) -> None:
    c2_row = _query(base, "SELECT * FROM enterprise_revenue_vintages WHERE credit_code = ?", C2)
    assert len(c2_row) == 1
    result = load_drop(base, GOOD / "2025Q1_revised", today=TODAY)
    assert (result.run_id, result.inserted, result.updated) == (3, 0, 2)
    assert _query(base, """SELECT revenue, etl_run_id, superseded_by FROM enterprise_revenue_vintages
                           WHERE credit_code = ? ORDER BY etl_run_id""", C1) == [
        (10.0, 2, 3), (11.0, 3, None)]
    assert _query(base, """SELECT credit_code, revenue, etl_run_id, superseded_by
                           FROM enterprise_revenue_versions""") == [(C1, 10.0, 2, 3)]
    # The unchanged figure is not rewritten.
    assert _query(base, "SELECT * FROM enterprise_revenue_vintages WHERE credit_code = ?",
                  C2) == c2_row
    # The earlier vintage stays queryable: the values as of run 2.
    vintage = """SELECT revenue FROM enterprise_revenue_vintages WHERE credit_code = ?
                 AND etl_run_id <= ? AND (superseded_by IS NULL OR superseded_by > ?)"""
    assert _query(base, vintage, C1, 2, 2) == [(10.0,)]
    assert _query(base, vintage, C1, 3, 3) == [(11.0,)]
    firms = _query(base, """SELECT value, etl_run_id, superseded_by FROM observations
                            WHERE metric = 'zone_enterprises' AND scope_id = 'westbund_ai_tower'
                            ORDER BY id""")
    assert firms == [(120.0, 2, 3), (125.0, 3, None)]
    city = _query(base, """SELECT value, superseded_by FROM observations
                           WHERE metric = 'enterprise_revenue' AND scope_type = 'city'
                           ORDER BY id""")
    assert [(round(v, 6), s) for v, s in city] == [(301.55, 3), (302.55, None)]
    # Zone figures that did not change keep their first version.
    assert _query(base, """SELECT count(*) FROM observations WHERE metric LIKE 'zone_%'
                           AND etl_run_id = 3""") == [(1,)]


def test_reloading_an_earlier_drop_after_a_revision_is_a_real_load(base: Engine) -> None:
    load_drop(base, GOOD / "2025Q1_revised", today=TODAY)
    result = load_drop(base, GOOD / "2025Q1", today=TODAY)
    assert result.repeat_of is None and result.changed
    assert _query(base, "SELECT revenue FROM enterprise_revenue WHERE credit_code = ?",
                  C1) == [(10.0,)]
    assert _query(base, """SELECT revenue, etl_run_id, superseded_by FROM enterprise_revenue_versions
                           WHERE credit_code = ? ORDER BY id""", C1) == [(10.0, 2, 3), (11.0, 3, 4)]


# ---------------------------------------------------------------------------- dry runs


def test_dry_run_validates_and_writes_nothing(base: Engine) -> None:
    everything = ("etl_runs", "etl_run_files", *DATA_TABLES)
    before = dump(base, everything)
    result = load_drop(base, GOOD / "2025Q2_xlsx", today=TODAY, dry_run=True)
    assert (result.run_id, result.inserted, result.updated) == (None, 2, 1)
    assert result.summary_line() == (
        f"Dry run of 2025Q2_xlsx: 2 files, 3 rows read, 2 would be inserted, 1 updated, "
        f"0 rejected in {result.seconds:.1f} s (nothing written)")
    assert dump(base, everything) == before


def test_dry_run_of_a_bad_drop_reports_but_records_no_run(base: Engine, tmp_path: Path) -> None:
    runs = _query(base, "SELECT count(*) FROM etl_runs")
    with pytest.raises(DropRejected):
        load_drop(base, BAD / "negative_value", today=TODAY, dry_run=True,
                  report_path=tmp_path / "r.csv")
    assert (tmp_path / "r.csv").is_file()
    assert _query(base, "SELECT count(*) FROM etl_runs") == runs


# --------------------------------------------------------------- failures and concurrency


def test_database_without_tables(db_path: Path) -> None:
    engine = make_engine(db_path)
    with pytest.raises(DatabaseMissing) as info:
        load_drop(engine, GOOD / "2025Q1", today=TODAY)
    assert str(info.value) == f"database {db_path} has no tables; build it with `aidash init`"
    engine.dispose()


@pytest.mark.parametrize("bad", ["unknown_enterprise", "unknown_zone", "negative_value",
                                 "many_problems"])
def test_constraints_hold_though_the_merge_does_not_check_them(base: Engine, bad: str,
                                                               tmp_path: Path) -> None:
    """The load switches SQLite's row-by-row foreign key and CHECK constraint checks off for
    its bulk merge: the validator must still reject a drop that references a firm or zone that
    does not exist or breaks a CHECK (negative revenue or capital, unknown status), the database must
    have no dangling reference and pass its integrity check, and the checks must be back on
    after."""
    before = dump(base, DATA_TABLES)
    with pytest.raises(DropRejected):
        load_drop(base, BAD / bad, today=TODAY, report_path=tmp_path / "report.csv")
    assert dump(base, DATA_TABLES) == before
    load_drop(base, GOOD / "2025Q1_revised", today=TODAY)
    if base.dialect.name == "postgresql":
        return  # it checks every key and CHECK constraint of every statement
    assert _query(base, "PRAGMA foreign_key_check") == []
    assert _query(base, "PRAGMA integrity_check") == [("ok",)]
    with base.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA ignore_check_constraints").scalar() == 0


def test_unexpected_error_rolls_back_and_records_a_failed_run(
        base: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    before = dump(base, DATA_TABLES)

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(derive, "refresh_aggregates", boom)
    with pytest.raises(RuntimeError):
        load_drop(base, GOOD / "2025Q1_revised", today=TODAY)
    assert dump(base, DATA_TABLES) == before
    assert _query(base, "SELECT status, message FROM etl_runs ORDER BY id DESC LIMIT 1") == [
        ("failed", "RuntimeError: disk on fire")]


def test_readers_see_the_database_before_or_after_a_load(
        base: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    counts_sql = ("SELECT (SELECT count(*) FROM enterprise_revenue_vintages), "
                  "(SELECT count(*) FROM observations), (SELECT count(*) FROM etl_runs)")
    before = _query(base, counts_sql)
    seen: list[list[tuple]] = []
    real = derive.refresh_aggregates

    def read_mid_load(conn: sqlite3.Connection, *args: object, **kwargs: object) -> object:
        # The load's transaction is open and has written its rows: another connection
        # still sees the database as it was.
        assert conn.in_transaction
        assert conn.execute("SELECT count(*) FROM enterprise_revenue").fetchone()[0] > before[0][0]
        seen.append(_query(base, counts_sql))
        return real(conn, *args, **kwargs)

    monkeypatch.setattr(derive, "refresh_aggregates", read_mid_load)
    load_drop(base, GOOD / "2025Q2_ytd", today=TODAY)
    assert seen == [before]
    after = _query(base, counts_sql)
    assert after[0][0] == before[0][0] + 5 and after[0][2] == before[0][2] + 1


@pytest.mark.slow
@pytest.mark.sqlite_only
def test_load_killed_mid_write_leaves_the_database_as_it_was(geo_engine: Engine,
                                                              tmp_path: Path) -> None:
    """SIGKILL while the load's pages are going into the WAL: nothing of it survives."""
    db = _db(geo_engine)
    drop = write_scale_drop(tmp_path / "2024Q4", enterprises=20_000,
                            quarters=["2024Q3", "2024Q4"])
    geo_engine.dispose()
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = dump(geo_engine, DATA_TABLES)
    runs_before = _query(geo_engine, "SELECT * FROM etl_runs")
    wal = Path(f"{db}-wal")
    assert wal.stat().st_size == 0
    # A small page cache makes the load spill its pages into the WAL while it runs.
    env = {**os.environ, "AIDASH_LOAD_CACHE_KIB": "1024"}
    proc = subprocess.Popen([sys.executable, "-m", "etl", "etl", "load", str(drop), "--db",
                             str(db), "--no-forecast"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if wal.stat().st_size > 1 << 20:
                break
            time.sleep(0.005)
        assert proc.poll() is None, "the load finished before it could be killed: " + (
            proc.stderr.read().decode() if proc.stderr else "")
        # Mid-write, a second connection sees the database as it was.
        assert _query(geo_engine, "SELECT count(*) FROM enterprises") == [(0,)]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert dump(geo_engine, DATA_TABLES) == before
    assert _query(geo_engine, "SELECT * FROM etl_runs") == runs_before
    # The killed load's scratch file is left behind; the next load removes it.
    stale = list(db.parent.glob(f".{db.name}.load-*.tmp"))
    assert len(stale) == 1
    # And the same drop then loads completely.
    engine = make_engine(db)
    result = load_drop(engine, drop)
    assert (result.read, result.inserted) == (60_000, 60_000)
    engine.dispose()
    assert list(db.parent.glob(f".{db.name}.load-*")) == []


def test_progress_bar_on_request(base: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    result = load_drop(base, GOOD / "2025Q2_ytd", today=TODAY, progress=True)
    assert result.changed
    assert capsys.readouterr().out == ""


# ------------------------------------------------------------------------------ the CLI


def _cli(args: list[str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from etl import cli

    # Rich wraps at 80 columns when not on a terminal; the lines tested here are longer.
    monkeypatch.setattr(cli.out, "width", 200)
    monkeypatch.setattr(cli.err, "width", 200)
    return CliRunner().invoke(cli.app, args)


def test_cli_load_prints_the_summary_line(geo_engine: Engine,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    db = _db_arg(geo_engine)
    result = _cli(["etl", "load", str(GOOD / "2025Q1"), "--db", db, "--no-forecast"],
                  monkeypatch)
    assert result.exit_code == 0, result.output
    line = result.stdout.strip()
    assert re.fullmatch(r"Loaded 2025Q1: 3 files, 11 rows read, 11 inserted, 0 updated, "
                        r"0 rejected in \d+\.\d s \(run 2\)", line), line
    again = _cli(["etl", "load", str(GOOD / "2025Q1"), "--db", db], monkeypatch)
    assert again.exit_code == 0, again.output
    assert again.stdout.strip() == "2025Q1 already loaded as run 2; nothing changed"


def test_cli_load_rejected_exits_1_with_the_summary(geo_engine: Engine, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    db = _db_arg(geo_engine)
    report = tmp_path / "report.csv"
    result = _cli(["etl", "load", str(BAD / "unknown_enterprise"), "--db", db, "--report",
                   str(report), "--no-forecast"], monkeypatch)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "Drop unknown_enterprise rejected: 1 problem in 1 file."
    assert lines[-1] == (f"Nothing was loaded. Fix the rows listed in {report} and run the "
                         "load again.")
    assert report.is_file()


def test_cli_dry_run(geo_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    db = _db_arg(geo_engine)
    result = _cli(["etl", "load", str(GOOD / "2025Q1"), "--db", db, "--dry-run"], monkeypatch)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Dry run of 2025Q1: 3 files, 11 rows read, 11 would be "
                                    "inserted, 0 updated, 0 rejected in ")
    assert _query(geo_engine, "SELECT count(*) FROM etl_runs WHERE kind = 'drop'") == [(0,)]


def test_cli_load_without_tables(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db_path.touch()  # an empty file is an SQLite database with no tables
    result = _cli(["etl", "load", str(GOOD / "2025Q1"), "--db", str(db_path)], monkeypatch)
    assert result.exit_code == 1
    assert result.stderr.strip() == (f"Error: database {db_path} has no tables; build it with "
                                     "`aidash init`")


# -------------------------------------------------------------------- validation units


def test_vectorised_check_digit_agrees_with_credit_code_problem() -> None:
    rng = random.Random(3)
    codes = [credit_code.make(rng, 310104) for _ in range(300)]
    codes += [c[:17] + rng.choice(credit_code.ALPHABET) for c in codes[:200]]
    codes += ["", "ABC", "9131010" + "I" * 11, codes[0].lower(), codes[1] + "0"]
    got = check_codes(pd.Series(codes, dtype="str")).tolist()
    assert got == [credit_code.problem(c) for c in codes]
    # Missing codes get no reason (the required check reports them); repeats the same one.
    with_missing = pd.Series([None, codes[-1], codes[0], None, codes[-1]], dtype="str")
    assert check_codes(with_missing).tolist() == [
        None, credit_code.problem(codes[-1]), None, None, credit_code.problem(codes[-1])]


def test_factorize_agrees_with_pandas_on_chunked_text() -> None:
    # Arrow-backed text as etl.drops.read makes it (several chunks, missing values) goes through
    # pyarrow's dictionary encoding; the codes and distinct values must be pandas' own.
    rng = random.Random(5)
    values = [None if i % 7 == 0 else f"v{rng.randrange(50)}" for i in range(2_000)]
    chunks = [pa.array(values[i:i + 300], type=pa.string()) for i in range(0, 2_000, 300)]
    series = pd.Series(pa.chunked_array(chunks).to_pandas())
    codes, uniques = factorize(series)
    want_codes, want_uniques = pd.factorize(series, use_na_sentinel=True)
    assert codes.tolist() == want_codes.tolist()
    assert uniques.tolist() == list(want_uniques)
    codes, uniques = factorize(pd.Series([None, None], dtype="str"))
    assert codes.tolist() == [-1, -1] and uniques.empty
    codes, uniques = factorize(pd.Series(["b", None, "a", "b"], dtype=object))
    assert codes.tolist() == [0, -1, 1, 0] and uniques.tolist() == ["b", "a"]


@pytest.mark.parametrize(("text", "value"), [
    ("12", 12.0), ("1,234.5", 1234.5), ("１２.５", 12.5), ("-3", -3.0), ("1e3", 1000.0),
    ("12,34", None), ("abc", None), ("inf", None), ("nan", None), ("=A1", None)])
def test_to_number(text: str, value: float | None) -> None:
    values, bad = to_number(pd.Series([text], dtype="str"))
    assert (None if bad[0] else values[0]) == value


@pytest.mark.parametrize(("text", "day"), [
    ("2021-06-03", date(2021, 6, 3)), ("2021/6/3", date(2021, 6, 3)),
    ("2021年6月3日", date(2021, 6, 3)), ("２０２１-０６-０３", date(2021, 6, 3)),
    ("2021-06-03 00:00:00", date(2021, 6, 3)), ("44350", date(2021, 6, 3)),
    ("2021-02-30", None), ("June 3", None), ("12", None)])
def test_parse_date(text: str, day: date | None) -> None:
    assert parse_date(text) == day


def test_parse_dates_agrees_with_parse_date_row_by_row() -> None:
    # A column (repeats, missing cells, text that is no date, a year before 1677, Excel
    # serials): each row gets parse_date's day, as datetime64 and as ISO text.
    texts = ["2021/6/3", None, "2021-06-03", "June 3", "1000-01-01", "44350", "2021/6/3",
             "２０２１-０６-０３", "2021-02-30", None]
    when, iso = parse_dates(pd.Series(texts, dtype="str"))
    days = [None if t is None else parse_date(t) for t in texts]
    assert iso.tolist() == [d.isoformat() if d else None for d in days]
    assert [None if pd.isna(w) else w.date() for w in when] == days
    assert str(when.dtype) == "datetime64[s]"


@pytest.mark.parametrize(("text", "expected"), [
    ("2025Q2", ("2025Q2", date(2025, 6, 30), False)),
    ("2025年2季度", ("2025Q2", date(2025, 6, 30), False)),
    ("2025-06", ("2025Q2", date(2025, 6, 30), False)),
    ("2025年1-6月", ("2025Q2", date(2025, 6, 30), True)),
    ("2025-05", ("period '2025-05' is a month, not a quarter: use YYYYQn (2025Q2), YYYY年n季度 "
                "or YYYY年1-n月")),
    ("2025", ("period '2025' is a year, not a quarter: use YYYYQn (2025Q2), YYYY年n季度 or "
             "YYYY年1-n月")),
])
def test_parse_drop_period(text: str, expected: object) -> None:
    got = parse_drop_period(text)
    if isinstance(expected, str):
        assert got == expected
    else:
        assert (got.period, got.period_end, got.ytd) == expected  # type: ignore[union-attr]


def test_column_map_ships_consistent() -> None:
    from etl.drops.headers import load_column_map

    cm = load_column_map()
    assert cm.match("revenue", "营业收入（万元）") == ("revenue", 0.01)
    assert cm.match("revenue", "Revenue") == ("revenue", 1.0)
    assert cm.match("enterprises", "Credit Code") == ("credit_code", 1.0)
    assert cm.match("zone_metrics", "算力(PFLOPS)") == ("computing_pflops", 1.0)
    assert cm.match("revenue", "营业收入") is None
    metrics = {s.metric for s in cm.specs["zone_metrics"].values() if s.metric}
    assert metrics == {"zone_enterprises", "zone_foundation_model_enterprises",
                       "zone_registered_foundation_models", "zone_investment_institutions",
                       "zone_computing_pflops"}


def test_bundled_metric_catalogue_has_every_metric_a_drop_writes() -> None:
    from etl.drops.headers import load_column_map

    catalogue = set(pd.read_csv(ROOT / "data" / "metrics.csv")["code"])
    metrics = {s.metric for s in load_column_map().specs["zone_metrics"].values() if s.metric}
    assert metrics | {REVENUE_METRIC, COUNT_METRIC} <= catalogue


def test_fixture_codes_are_valid() -> None:
    assert all(credit_code.is_valid(c) for c in (C1, C2, C3, C4, C5, C6))


def test_missing_drop_folder(geo_engine: Engine, tmp_path: Path) -> None:
    from models.errors import AidashError

    with pytest.raises(AidashError) as info:
        load_drop(geo_engine, tmp_path / "2025Q9", today=TODAY)
    assert str(info.value) == f"drop folder {tmp_path / '2025Q9'} does not exist"


OLD_REVENUE_DDL = [
    """CREATE TABLE enterprise_revenue (
        id INTEGER NOT NULL, credit_code VARCHAR NOT NULL, period VARCHAR NOT NULL,
        revenue FLOAT NOT NULL, from_ytd BOOLEAN DEFAULT '0' NOT NULL,
        provenance VARCHAR DEFAULT 'sample' NOT NULL, etl_run_id INTEGER NOT NULL,
        superseded_by INTEGER, PRIMARY KEY (id),
        FOREIGN KEY(credit_code) REFERENCES enterprises (credit_code),
        FOREIGN KEY(etl_run_id) REFERENCES etl_runs (id),
        FOREIGN KEY(superseded_by) REFERENCES etl_runs (id))""",
    """CREATE UNIQUE INDEX ix_revenue_current ON enterprise_revenue (credit_code, period)
       WHERE superseded_by IS NULL""",
    """CREATE INDEX ix_revenue_period ON enterprise_revenue (period, superseded_by, credit_code,
       revenue, from_ytd, provenance)""",
]


def _to_old_layout(conn: sqlite3.Connection) -> None:
    """Give the database the revenue table of an earlier version (every vintage in one rowid
    table, with its indexes), rows included."""
    rows = conn.execute("""SELECT credit_code, period, revenue, from_ytd, provenance,
                                  etl_run_id FROM enterprise_revenue""").fetchall()
    conn.execute("DROP VIEW enterprise_revenue_vintages")
    conn.execute("DROP TABLE enterprise_revenue")
    conn.execute("DROP TABLE enterprise_revenue_versions")
    for ddl in OLD_REVENUE_DDL:
        conn.execute(ddl)
    conn.executemany("""INSERT INTO enterprise_revenue (credit_code, period, revenue, from_ytd,
                            provenance, etl_run_id) VALUES (?, ?, ?, ?, ?, ?)""", rows)


def _revenue_schema(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return [(t, n, " ".join(sql.split())) for t, n, sql in conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name LIKE '%revenue%' "
            "AND sql IS NOT NULL ORDER BY type, name")]


@pytest.mark.sqlite_only
def test_a_load_brings_an_older_database_in_line(base: Engine, tmp_path: Path) -> None:
    """A database built by an earlier version kept every revenue vintage in one rowid table
    (and lacked an index); upgrading moves it to the current layout, keeping every vintage,
    and adds the index without touching the others."""
    with connect(base) as conn:
        _to_old_layout(conn)
        rows = sorted(conn.execute("""SELECT credit_code, period, revenue, from_ytd, provenance,
                                             etl_run_id FROM enterprise_revenue"""))
        # An earlier vintage of C1's quarter, which run 2 revised.
        conn.execute("""INSERT INTO enterprise_revenue (credit_code, period, revenue, from_ytd,
                            provenance, etl_run_id, superseded_by)
                        VALUES (?, '2025Q1', 9.5, 0, 'reported', 2, 2)""", (C1,))
        conn.execute("DROP INDEX ix_enterprises_founded")
        others = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND "
                              "tbl_name != 'enterprise_revenue'").fetchall()
    fresh = make_engine(tmp_path / "fresh.db")
    create_db_and_tables(fresh)
    assert upgrade(base) == ["enterprise_revenue", "ix_enterprises_founded"]
    assert upgrade(base) == []  # nothing left to change
    assert _revenue_schema(_db(base)) == _revenue_schema(tmp_path / "fresh.db")
    with connect(base) as conn:
        assert sorted(conn.execute("""SELECT credit_code, period, revenue, from_ytd, provenance,
                                             etl_run_id FROM enterprise_revenue""")) == rows
        assert conn.execute("""SELECT credit_code, period, revenue, etl_run_id, superseded_by
                               FROM enterprise_revenue_versions""").fetchall() == [
            (C1, "2025Q1", 9.5, 2, 2)]
        indexes = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND "
                               "tbl_name NOT LIKE 'enterprise_revenue%'").fetchall()
        assert sorted(set(indexes) - set(others)) == [
            ("ix_enterprises_founded",
             "CREATE INDEX ix_enterprises_founded ON enterprises (founded)")]
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


@pytest.mark.sqlite_only
def test_a_load_upgrades_an_older_database_first(base: Engine) -> None:
    with sqlite3.connect(_db(base)) as conn:
        _to_old_layout(conn)
    result = load_drop(base, GOOD / "2025Q1_revised", today=TODAY)
    assert (result.inserted, result.updated) == (0, 2)
    assert _query(base, """SELECT revenue, etl_run_id, superseded_by FROM enterprise_revenue_vintages
                           WHERE credit_code = ? ORDER BY etl_run_id""", C1) == [
        (10.0, 2, 3), (11.0, 3, None)]


def test_founded_by_is_the_end_of_the_founding_quarter() -> None:
    import numpy as np

    from etl.drops.founded_by import founded_by

    dates = np.array([b"2020-01-01", b"2020-03-31", b"2020-04-01", b"2021-09-30",
                      b"2021-10-01", b"1999-12-31", b"0000-00-00"], dtype="S10")
    assert founded_by(dates).tolist() == [
        "2020-03-31", "2020-03-31", "2020-06-30", "2021-09-30", "2021-12-31", "1999-12-31",
        "0000-00-00"]


def test_a_new_database_has_large_pages_and_an_older_one_keeps_its_own(tmp_path: Path) -> None:
    from models.db import PAGE_SIZE

    new = make_engine(tmp_path / "new.db")
    create_db_and_tables(new)
    older = tmp_path / "older.db"
    with sqlite3.connect(older) as conn:
        conn.execute("PRAGMA page_size = 4096")
        conn.execute("CREATE TABLE t (a)")
    old = make_engine(older)
    create_db_and_tables(old)
    assert _query(new, "PRAGMA page_size") == [(PAGE_SIZE,)]
    assert _query(old, "PRAGMA page_size") == [(4096,)]
    assert _query(old, "PRAGMA journal_mode") == [("wal",)]
