"""``aidash copy``: a whole database moved between SQLite and PostgreSQL (issue 14)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from backends import dump, query
from fixtures.make_fixtures import GOOD, TODAY
from postgres_server import PostgresServer
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel
from typer.testing import CliRunner

from etl.drops.load import load_drop
from etl.runs import rollback
from models.db import make_engine

EVERY_TABLE = tuple(t.name for t in SQLModel.metadata.sorted_tables)


def _cli(args: list[str]):  # type: ignore[no-untyped-def]
    from etl import cli

    return CliRunner().invoke(cli.app, args)


@pytest.fixture
def target(pg_server: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """A PostgreSQL database of its own, with no tables, dropped afterwards."""
    name = f"copy_{request.node.name}".replace("[", "_").replace("]", "")[:60].lower()
    url = pg_server.create_database(name)
    yield url
    pg_server.drop_database(name)


def test_copy_to_postgresql_moves_every_table_runs_and_vintages(base: Engine,
                                                                target: str) -> None:
    revised = load_drop(base, GOOD / "2025Q1_revised", today=TODAY).run_id
    assert revised is not None
    result = _cli(["copy", "--from", str(base.url.database), "--to", target])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Copied {base.url.database} to postgresql+psycopg://")
    copied = make_engine(target)
    try:
        assert set(EVERY_TABLE) <= set(inspect(copied).get_table_names())
        assert dump(copied, EVERY_TABLE) == dump(base, EVERY_TABLE)
        # The copy carries on: a rollback of the revision on each gives the same data again.
        rollback(base, revised)
        rollback(copied, revised)
        data = tuple(t for t in EVERY_TABLE if t != "etl_runs")  # rolled_back_at differs
        assert dump(copied, data) == dump(base, data)
        status = "SELECT id, status FROM etl_runs ORDER BY id"
        assert query(copied, status) == query(base, status)
        # New rows are numbered on from the copied ids.
        again = load_drop(copied, GOOD / "2025Q1_revised", today=TODAY)
        assert again.run_id == revised + 1
    finally:
        copied.dispose()


def test_copy_back_to_sqlite_gives_the_same_tables(base: Engine, target: str,
                                                   tmp_path: Path) -> None:
    assert _cli(["copy", "--from", str(base.url.database), "--to", target]).exit_code == 0
    back = tmp_path / "back.db"
    result = _cli(["copy", "--from", target, "--to", str(back)])
    assert result.exit_code == 0, result.output
    engine = make_engine(back)
    try:
        assert dump(engine, EVERY_TABLE) == dump(base, EVERY_TABLE)
    finally:
        engine.dispose()


def test_copy_refuses_a_target_with_tables_unless_forced(base: Engine, target: str) -> None:
    assert _cli(["copy", "--from", str(base.url.database), "--to", target]).exit_code == 0
    result = _cli(["copy", "--from", str(base.url.database), "--to", target])
    assert result.exit_code == 1
    assert result.stderr.strip() == (f"Error: database {target} already has the tables; pass "
                                     "--force to replace them with the copy")
    forced = _cli(["copy", "--from", str(base.url.database), "--to", target, "--force"])
    assert forced.exit_code == 0, forced.output


def test_copy_from_a_missing_file(tmp_path: Path) -> None:
    result = _cli(["copy", "--from", str(tmp_path / "no.db"), "--to", str(tmp_path / "x.db")])
    assert result.exit_code == 1
    assert result.stderr.strip() == (f"Error: database {tmp_path / 'no.db'} does not exist; "
                                     "check --from")
