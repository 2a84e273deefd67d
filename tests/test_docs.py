"""The README documents every command of the CLI and every file kind of a drop."""

from __future__ import annotations

import csv

import typer.main

from aidash.cli import app
from tests.conftest import DATA_DIR, ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
DROP_FORMAT = (ROOT / "docs" / "drop-format.md").read_text(encoding="utf-8")


def _commands(group: typer.Typer, prefix: str = "aidash") -> list[str]:
    click_group = typer.main.get_command(group)
    names = []
    for name, cmd in click_group.commands.items():  # type: ignore[attr-defined]
        if hasattr(cmd, "commands"):
            names += [f"{prefix} {name} {sub}" for sub in cmd.commands]
        else:
            names.append(f"{prefix} {name}")
    return sorted(names)


def test_every_cli_command_is_in_the_readme() -> None:
    commands = _commands(app)
    assert "aidash etl rollback" in commands and "aidash audit" in commands
    assert [c for c in commands if f"`{c}" not in README] == []


def test_readme_gives_the_two_commands() -> None:
    assert "make run" in README and "make test" in README


def test_every_column_of_the_column_map_is_documented_in_both_languages() -> None:
    with open(DATA_DIR / "column_map.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    missing = [(r["column"], r["header_zh"]) for r in rows
               if f"| {r['column']} |" not in DROP_FORMAT or r["header_zh"] not in DROP_FORMAT]
    assert rows and missing == []
