"""What only PostgreSQL needs testing for (issue 14): read-only sessions for the dashboard, the
writers' advisory lock, the scratch tables of a killed load, ``aidash init`` on a server.

Every test here runs against the server the session starts (``tests/postgres_server.py``).
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from backends import dump, query
from fixtures.make_fixtures import DATA_TABLES, GOOD, TODAY
from postgres_server import PostgresServer
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InternalError
from typer.testing import CliRunner

from etl.drops.load import load_drop
from etl.drops.pg_stage import PREFIX
from models import db as models_db
from models.db import make_engine
from models.dialect import WRITE_LOCK_KEY, libpq_uri, to_postgres
from models.errors import DatabaseBusy

pytest_plugins = ["dashboard_fixtures"]

WRITES = ["INSERT INTO segments (code, name_en, name_zh) VALUES ('x', 'x', 'x')",
          "UPDATE districts SET area_km2 = 1", "DELETE FROM etl_runs",
          "CREATE TABLE u (b INTEGER)", "DROP TABLE observations CASCADE"]


@pytest.fixture
def pg_base(backend: str, base: Engine) -> Engine:
    assert base.dialect.name == "postgresql"
    return base


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
@pytest.mark.parametrize("sql", WRITES)
def test_the_read_only_engine_refuses_every_write(pg_base: Engine, sql: str) -> None:
    engine = make_engine(pg_base.url.render_as_string(hide_password=False), read_only=True)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM districts")).scalar_one() == 16
            with pytest.raises(InternalError) as info:
                conn.exec_driver_sql(sql)
        verb = " ".join(sql.split()[:2]) if sql.startswith(("CREATE", "DROP")) else sql.split()[0]
        assert str(info.value.orig) == f"cannot execute {verb} in a read-only transaction"
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_second_writer_waits_then_fails_with_a_clear_message(
        pg_base: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models_db, "BUSY_TIMEOUT_MS", 300)
    before = dump(pg_base, DATA_TABLES)
    with psycopg.connect(libpq_uri(pg_base.url)) as other:
        other.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))  # a load's lock
        with pytest.raises(DatabaseBusy) as info:
            load_drop(pg_base, GOOD / "2025Q1_revised", today=TODAY)
        other.rollback()
    assert str(info.value) == (
        f"another writer holds the database {pg_base.url.database} (a load, rollback or "
        "forecast refresh that is still running) and did not release it within 0.3 s; nothing "
        "was loaded. Wait for the other job to finish, then run the load again.")
    assert dump(pg_base, DATA_TABLES) == before
    # Once the other writer is done, the same load goes through.
    assert load_drop(pg_base, GOOD / "2025Q1_revised", today=TODAY).updated == 2


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_killed_loads_scratch_tables_are_dropped_by_the_next(pg_base: Engine) -> None:
    stale = f"{PREFIX}dead0000_enterprises"
    with psycopg.connect(libpq_uri(pg_base.url), autocommit=True) as conn:
        conn.execute(f'CREATE UNLOGGED TABLE "{stale}" (credit_code text)')
    load_drop(pg_base, GOOD / "2025Q1_revised", today=TODAY)
    assert query(pg_base, "SELECT tablename FROM pg_tables WHERE tablename LIKE 'aidash%'") == []


@pytest.mark.parametrize(("sqlite", "postgres"), [
    ("SELECT a FROM t WHERE b IS NOT c AND d IS e",
     "SELECT a FROM t WHERE b IS DISTINCT FROM c AND d IS NOT DISTINCT FROM e"),
    ("SELECT x IS NOT NULL, y IS NULL FROM t", "SELECT x IS NOT NULL, y IS NULL FROM t"),
    ("SELECT group_concat(a, char(10)) FROM main.t", "SELECT string_agg(a, chr(10)) FROM t"),
    ("SELECT p FROM t WHERE p GLOB '[0-9][0-9]Q[1-4]' AND m NOT GLOB 'ai_*'",
     r"SELECT p FROM t WHERE p ~ '^[0-9][0-9]Q[1-4]$' AND m !~ '^ai\_.*$'"),
    ("INSERT INTO x SELECT a FROM temp.y ORDER BY rowid", "INSERT INTO x SELECT a FROM pg_temp.y"),
    ("SELECT z.a FROM zones z ORDER BY z.kind, z.rowid",
     "SELECT z.a FROM zones z ORDER BY z.kind, z.ctid"),
    ("SELECT 1 FROM s WHERE key LIKE 'drop:%' AND v = ?",
     "SELECT 1 FROM s WHERE key ILIKE 'drop:%' AND v = ?"),
])
def test_the_sqlite_spellings_the_shared_sql_uses_are_rewritten(sqlite: str,
                                                                 postgres: str) -> None:
    assert to_postgres(sqlite) == postgres


def test_placeholders_are_rewritten_outside_literals_only() -> None:
    assert to_postgres("SELECT ':x', ? FROM t WHERE a = :run AND b LIKE 'd:%' AND c::text = ?",
                       placeholders=True) == (
        "SELECT ':x', %s FROM t WHERE a = %(run)s AND b ILIKE 'd:%%' AND c::text = %s")


@pytest.mark.slow
def test_init_builds_a_postgresql_database_and_refuses_to_overwrite_it(
        pg_server: PostgresServer) -> None:
    from etl import cli

    url = pg_server.create_database("init_test")
    try:
        result = CliRunner().invoke(cli.app, ["init", "--db", url])
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines()[-1].startswith(
            f"Built {url} from data: geography, facts, ")
        again = CliRunner().invoke(cli.app, ["init", "--db", url])
        assert again.exit_code == 1
        assert again.stderr.strip() == (f"Error: database {url} already has the tables; pass "
                                        "--force to rebuild it from the bundled data")
        history = CliRunner().invoke(cli.app, ["etl", "history", "--db", url])
        assert history.exit_code == 0, history.output
        refreshed = CliRunner().invoke(cli.app, ["forecast", "refresh", "--db", url])
        assert refreshed.exit_code == 0, refreshed.output
        assert refreshed.stdout.startswith("Forecast "), refreshed.stdout
        engine = make_engine(url)
        try:
            assert query(engine, "SELECT kind, status FROM etl_runs ORDER BY id")[:3] == [
                ("geography", "succeeded"), ("facts", "succeeded"), ("drop", "succeeded")]
        finally:
            engine.dispose()
    finally:
        pg_server.drop_database("init_test")


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_undeclared_foreign_keys_are_checked_set_based_by_the_merge(pg_base: Engine) -> None:
    from etl.drops.merge import Staged, check_references
    from etl.transaction import driver_connection
    from models.errors import AidashError

    declared = query(pg_base, "SELECT conrelid::regclass::text FROM pg_constraint "
                              "WHERE contype = 'f' AND conrelid::regclass::text "
                              "IN ('enterprises', 'enterprise_revenue')")
    assert declared == []
    with driver_connection(pg_base) as conn:
        conn.execute("CREATE TEMP TABLE staged_revenue (credit_code text)")
        conn.execute("INSERT INTO staged_revenue VALUES ('91310000NOSUCHFIRM')")
        with pytest.raises(AidashError) as info:
            check_references(conn, Staged("staged_revenue", {}), "revenue")
    assert str(info.value) == ("revenue: credit_code '91310000NOSUCHFIRM' is not in "
                               "enterprises; nothing was loaded (report this: the validator "
                               "should have refused it)")


@pytest.mark.slow
def test_the_dashboard_shows_a_new_run_without_a_restart(
        seeded_db_path: Path, pg_server: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """As on SQLite (tests/test_pages.py): results are cached per data version, and a new run
    written by another process shows on the next rerun of the same session."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from etl.copy import copy_database
    from models.db import ENV_VAR

    url = pg_server.create_database("new_run_view")
    copy_database(str(seeded_db_path), url)
    monkeypatch.setenv(ENV_VAR, url)
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(Path(__file__).parent.parent / "streamlit_app.py"),
                           default_timeout=60)
    at.query_params["lang"] = "en"
    at.run()
    assert at.metric[0].value == "≥ 450.0 billion CNY"
    with psycopg.connect(libpq_uri(url), autocommit=True) as conn:
        conn.execute("UPDATE observations SET value = 460 WHERE metric = 'ai_industry_scale' "
                     "AND period = '2024'")
    at.run()
    assert at.metric[0].value == "≥ 450.0 billion CNY"  # same data version: from the cache
    with psycopg.connect(libpq_uri(url), autocommit=True) as conn:
        conn.execute("INSERT INTO etl_runs (kind, started_at, finished_at, status) VALUES "
                     "('facts', '2026-01-01 00:00:00', '2026-01-01 00:00:01', 'succeeded')")
    at.run()
    assert not at.exception
    assert at.metric[0].value == "≥ 460.0 billion CNY"
    st.cache_data.clear()
    st.cache_resource.clear()
