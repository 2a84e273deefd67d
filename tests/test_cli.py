"""The ``aidash`` command line (etl/cli.py), in-process with typer's ``CliRunner``: every command's
exit code and the lines it prints.

What other modules already cover is left to them: loading, rejecting and dry-running a drop
and a database without tables (test_etl_drops.py), ``etl history`` and ``etl rollback``
(test_etl_runs.py), every command on a missing or damaged database (test_damaged_db.py), a
scale sample (test_sample.py), and the hostile drops through a real subprocess
(test_hostile_drops.py).
"""

from __future__ import annotations

import re
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import Result
from fixtures.make_fixtures import GOOD
from typer.testing import CliRunner

from models.db import ENV_VAR
from tests.conftest import DATA_DIR

FIRST_DROP = "2019Q1"  # the one bundled drop of the small data folder
SECONDS = r"\d+\.\d s"
USAGE_ERROR = 2  # click's exit code for a bad argument or option


def _cli(args: list[str], monkeypatch: pytest.MonkeyPatch) -> Result:
    from typer import rich_utils

    from etl import cli

    # Rich wraps at 80 columns when not on a terminal; the lines tested here are longer (a
    # path in click's error box, too).
    monkeypatch.setattr(cli.out, "width", 250)
    monkeypatch.setattr(cli.err, "width", 250)
    monkeypatch.setattr(rich_utils, "MAX_WIDTH", 400)
    return CliRunner().invoke(cli.app, args, prog_name="aidash")


def _panel(text: str) -> str:
    """The message inside click's error box (``╭─ Error ─╮ │ … │ ╰─╯``)."""
    return " ".join(line.strip("│ ") for line in text.splitlines() if line.startswith("│"))


def _query(db: Path, sql: str) -> list[tuple]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql).fetchall()


def _runs(db: Path) -> list[tuple[int, str, str]]:
    return _query(db, "SELECT id, kind, status FROM etl_runs ORDER BY id")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled data with one sample drop (the first quarter): ``init`` in seconds."""
    folder = tmp_path_factory.mktemp("data") / "data"
    drops = Path("sample") / "drops"
    shutil.copytree(DATA_DIR, folder, ignore=lambda where, names: [
        n for n in names if Path(where) == DATA_DIR / drops and n != FIRST_DROP])
    return folder


@pytest.fixture(scope="module")
def built(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Result]:
    """``aidash init`` on the small data folder: the database and what the command printed."""
    with pytest.MonkeyPatch.context() as mp:
        db = tmp_path_factory.mktemp("built") / "ai_industry.db"
        return db, _cli(["init", "--db", str(db), "--data-dir", str(data_dir)], mp)


@pytest.fixture
def db(built: tuple[Path, Result], tmp_path: Path) -> Path:
    """A copy of the built database, for a test that writes."""
    path = tmp_path / "ai_industry.db"
    shutil.copyfile(built[0], path)
    return path


# --------------------------------------------------------------------------------- init


def test_init_prints_each_step_then_the_summary(built: tuple[Path, Result],
                                                data_dir: Path) -> None:
    db, result = built
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:2] == ["geography: districts, segments, zones, metrics loaded",
                         f"facts: {data_dir / 'reference' / 'shanghai_ai_facts.csv'} loaded"]
    assert re.fullmatch(rf"Loaded {FIRST_DROP}: 3 files, 3,836 rows read, 3,836 inserted, "
                        rf"0 updated, 0 rejected in {SECONDS} \(run 3\)", lines[2]), lines[2]
    assert re.fullmatch(rf"Forecast \d+ series \(\d+ unchanged since an earlier fit, \d+ too short\), \d+ target probabilities, "
                        rf"vintage run 3, in {SECONDS}", lines[3]), lines[3]
    series = re.match(r"Forecast (\d+) series", lines[3])
    assert series is not None
    assert re.fullmatch(rf"Built {re.escape(str(db))} from {re.escape(str(data_dir))}: "
                        rf"geography, facts, 1 sample drops and {series[1]} forecasts in "
                        rf"{SECONDS}", lines[4]), lines[4]
    assert len(lines) == 5
    assert result.stderr == ""
    # Built beside the target and moved into place: nothing else is left behind.
    assert sorted(p.name for p in db.parent.iterdir()) == ["ai_industry.db"]
    assert _runs(db) == [(1, "geography", "succeeded"), (2, "facts", "succeeded"),
                         (3, "drop", "succeeded")]


def test_init_keeps_an_existing_database_without_force(db: Path, data_dir: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    before = db.read_bytes()
    result = _cli(["init", "--db", str(db), "--data-dir", str(data_dir)], monkeypatch)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"Error: database {db} already exists; pass --force to rebuild it from the bundled data"]
    assert db.read_bytes() == before


def test_init_force_rebuilds_it(db: Path, data_dir: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    from etl.drops.load import load_drop
    from models.db import make_engine

    engine = make_engine(db)
    load_drop(engine, GOOD / "2025Q1", progress=False)  # run 4: gone after the rebuild
    engine.dispose()
    result = _cli(["init", "--db", str(db), "--data-dir", str(data_dir), "--force"],
                  monkeypatch)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith(f"Built {db} from {data_dir}: ")
    assert _runs(db) == [(1, "geography", "succeeded"), (2, "facts", "succeeded"),
                         (3, "drop", "succeeded")]


def test_init_builds_sqlite_or_postgresql_only(monkeypatch: pytest.MonkeyPatch) -> None:
    result = _cli(["init", "--db", "sqlite://"], monkeypatch)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        ("Error: `aidash init` builds SQLite files or PostgreSQL databases; sqlite:// is "
         "neither (use a path, sqlite:///PATH or postgresql+psycopg://…)")]


# ---------------------------------------------------------------------------- etl load


def test_load_refreshes_the_forecasts_after_a_change(db: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    result = _cli(["etl", "load", str(GOOD / "2025Q1"), "--db", str(db)], monkeypatch)
    assert result.exit_code == 0, result.output
    loaded, forecast = result.stdout.splitlines()
    assert re.fullmatch(rf"Loaded 2025Q1: 3 files, 11 rows read, 11 inserted, 0 updated, "
                        rf"0 rejected in {SECONDS} \(run 4\)", loaded), loaded
    assert re.fullmatch(rf"Forecast \d+ series \(\d+ unchanged since an earlier fit, \d+ too short\), \d+ target probabilities, "
                        rf"vintage run 4, in {SECONDS}", forecast), forecast
    assert result.stderr == ""


def test_load_without_forecast_and_a_dry_run_print_one_line(
        db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    forecasts = _query(db, "SELECT count(*) FROM forecast_runs")
    result = _cli(["etl", "load", str(GOOD / "2025Q1"), "--db", str(db), "--no-forecast"],
                  monkeypatch)
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 1
    assert _query(db, "SELECT count(*) FROM forecast_runs") == forecasts
    dry = _cli(["etl", "load", str(GOOD / "2025Q1_revised"), "--db", str(db), "--dry-run"],
               monkeypatch)
    assert dry.exit_code == 0, dry.output
    assert re.fullmatch(rf"Dry run of 2025Q1_revised: 2 files, 4 rows read, 0 would be "
                        rf"inserted, 2 updated, 0 rejected in {SECONDS} \(nothing written\)\n",
                        dry.stdout), dry.stdout
    assert [r[0] for r in _runs(db)] == [1, 2, 3, 4]


@pytest.mark.parametrize(("where", "reason"), [
    ("missing", "dir '{path}' does not exist."),
    ("file", "dir '{path}' is a file."),
])
def test_load_checks_the_drop_folder_before_any_work(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     where: str, reason: str) -> None:
    path = tmp_path / "2025Q2"
    if where == "file":
        path.write_text("credit_code\n", encoding="utf-8")
    db = tmp_path / "never.db"
    result = _cli(["etl", "load", str(path), "--db", str(db)], monkeypatch)
    assert result.exit_code == USAGE_ERROR
    assert result.stdout == ""
    assert result.stderr.splitlines()[:2] == ["Usage: aidash etl load [OPTIONS] {drop_dir}",
                                              "Try 'aidash etl load --help' for help."]
    assert _panel(result.stderr) == (
        f"Invalid value for 'drop_dir': {reason.format(path=path)}")
    assert not db.exists()


# ----------------------------------------------------------- history, rollback, forecasts


def test_the_database_comes_from_the_environment_without_db(
        db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(db))
    result = _cli(["etl", "history"], monkeypatch)
    assert result.exit_code == 0, result.output
    assert "2019Q1" in result.stdout
    rolled = _cli(["etl", "rollback", "3"], monkeypatch)
    assert rolled.exit_code == 0, rolled.output
    assert rolled.stdout.splitlines() == ["Rolled back run(s) 3."]
    assert _runs(db)[-1] == (3, "drop", "rolled_back")


def test_rollback_takes_a_run_number(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = _cli(["etl", "rollback", "last", "--db", str(db)], monkeypatch)
    assert result.exit_code == USAGE_ERROR
    assert _panel(result.stderr) == (
        "Invalid value for 'run_id': Input should be a valid integer, unable to parse string "
        "as an integer")
    assert [r[2] for r in _runs(db)] == ["succeeded"] * 3


def test_forecast_refresh_prints_one_summary_line(db: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    result = _cli(["forecast", "refresh", "--db", str(db)], monkeypatch)
    assert result.exit_code == 0, result.output
    assert re.fullmatch(rf"Forecast \d+ series \(\d+ unchanged since an earlier fit, \d+ too short\), \d+ target probabilities, "
                        rf"vintage run 3, in {SECONDS}\n", result.stdout), result.stdout
    assert result.stderr == ""


# ------------------------------------------------------------------------------- sample


def test_sample_writes_the_bundled_drops(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The generator itself is tested in test_sample.py (its bytes against the committed
    drops); here, what the command hands it and what it prints."""
    from etl import sample

    calls: list[tuple[Path, int]] = []

    def write_bundled_drops(out: Path, *, seed: int) -> list[Path]:
        calls.append((out, seed))
        return [out / "2019Q1" / "enterprises.csv", out / "2019Q1" / "revenue.csv"]

    monkeypatch.setattr(sample, "write_bundled_drops", write_bundled_drops)
    out = tmp_path / "drops"
    result = _cli(["sample", "--out", str(out), "--seed", "7"], monkeypatch)
    assert result.exit_code == 0, result.output
    assert calls == [(out, 7)]
    assert result.stdout.splitlines() == [f"Wrote 2 file(s) under {out}."]


@pytest.mark.parametrize(("args", "message"), [
    (["--enterprises", "0"], ("Invalid value for '--enterprises': Input should be greater than "
                             "or equal to 1")),
    (["--enterprises", "10", "--quarters", "41"], ("Invalid value for '--quarters': Input "
                                                  "should be less than or equal to 40")),
])
def test_sample_checks_its_options_before_writing(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  args: list[str], message: str) -> None:
    result = _cli(["sample", *args, "--out", str(tmp_path / "out")], monkeypatch)
    assert result.exit_code == USAGE_ERROR
    assert _panel(result.stderr) == message
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------------- help


@pytest.mark.parametrize("args", [[], ["etl"], ["forecast"]], ids=["aidash", "etl", "forecast"])
def test_a_group_without_a_command_shows_its_help(args: list[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    result = _cli(args, monkeypatch)
    assert result.exit_code == USAGE_ERROR
    assert f"Usage: aidash {' '.join(args)} [OPTIONS] COMMAND [ARGS]...".replace("  ", " ") \
        in result.stdout


def test_an_unknown_command_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    result = _cli(["load"], monkeypatch)
    assert result.exit_code == USAGE_ERROR
    assert _panel(result.stderr) == "No such command 'load'."


@pytest.mark.parametrize("command", [["init"], ["etl", "load"], ["etl", "history"],
                                     ["etl", "rollback"], ["forecast", "refresh"], ["sample"]],
                         ids=" ".join)
def test_every_command_help_ends_with_an_example(command: list[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    result = _cli([*command, "--help"], monkeypatch)
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "Example:" in text
    examples = text[text.index("Example:"):].splitlines()[1:]
    assert examples[0].strip().startswith(f"aidash {' '.join(command)}")
