"""A database that is damaged is told apart from one not built yet (models/health.py), by the
commands that open it; the dashboard's screens are in test_pages.py.

Regression (issue 10): a corrupt or truncated file was reported as "not built yet", and the
commands that write ended in a traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from dashboard_fixtures import DAMAGE_KINDS, damaged_copy
from typer.testing import CliRunner

from models.errors import DatabaseDamaged
from models.health import require_intact

pytest_plugins = ["dashboard_fixtures"]

NEXT_STEP = ("restore it from a backup, or rebuild it with `aidash init --force` (which discards "
             "loaded drops)")
MESSAGES = {
    "missing": "Error: database {path} does not exist; build it with `aidash init`",
    "zero_bytes": "Error: database {path} has no tables; build it with `aidash init`",
    "truncated": ("Error: database {path} is damaged (the file is shorter than its header says: "
                  f"it was cut off); {NEXT_STEP}"),
    "random_bytes": ("Error: database {path} is damaged (the file is not an SQLite database); "
                     f"{NEXT_STEP}"),
    "overwritten_schema": ("Error: database {path} is damaged (SQLite reports that the database "
                           f"disk image is malformed); {NEXT_STEP}"),
    "overwritten_page": ("Error: database {path} is damaged (SQLite's quick check found errors); "
                         f"{NEXT_STEP}"),
}
# Every command that opens an existing database.
COMMANDS = [["etl", "history"], ["etl", "rollback", "2"], ["forecast", "refresh"],
            ["etl", "load", "data/sample/drops/2025Q2"]]


def _cli(args: list[str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from etl import cli

    monkeypatch.setattr(cli.err, "width", 400)  # one line, as on a wide terminal
    return CliRunner().invoke(cli.app, args)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: "-".join(c[:2]))
@pytest.mark.parametrize("kind", DAMAGE_KINDS)
def test_every_command_names_the_state_and_the_next_step(
        seeded_db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        kind: str, command: list[str]) -> None:
    path = damaged_copy(seeded_db_path, tmp_path / "db" / "ai industry #1.db", kind)
    before = _files(path.parent)
    result = _cli([*command, "--db", str(path)], monkeypatch)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    assert result.stderr.strip() == MESSAGES[kind].format(path=path)
    after = _files(path.parent)
    assert {k: v for k, v in after.items() if k in before} == before
    assert set(after) - set(before) <= {f"{path.name}-wal", f"{path.name}-shm"}


@pytest.mark.parametrize("kind", [k for k in DAMAGE_KINDS if k not in ("missing", "zero_bytes")])
def test_require_intact_gives_the_reason(seeded_db_path: Path, tmp_path: Path, kind: str) -> None:
    path = damaged_copy(seeded_db_path, tmp_path / "x.db", kind)
    with pytest.raises(DatabaseDamaged) as info:
        require_intact(path)
    assert "Error: " + str(info.value) == MESSAGES[kind].format(path=path)


def test_a_whole_database_passes(seeded_db_path: Path) -> None:
    require_intact(seeded_db_path)


def test_init_builds_over_a_zero_byte_file_without_force(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The "no tables; build it with `aidash init`" advice holds: init does not refuse an empty
    file as "already exists" (here it goes on to the empty data folder, and stops there)."""
    path = tmp_path / "ai_industry.db"
    path.touch()
    (tmp_path / "data").mkdir()
    result = _cli(["init", "--db", str(path), "--data-dir", str(tmp_path / "data")], monkeypatch)
    assert result.exit_code == 1
    assert result.stderr.strip() == (f"Error: shanghai_districts.geojson: file not found at "
                                     f"{tmp_path / 'data' / 'geo' / 'shanghai_districts.geojson'}")
    assert path.read_bytes() == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ai_industry.db", "data"]
