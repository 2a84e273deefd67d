"""Hostile cells and a locked database (issue 10, items 4, 5, 6 and 8).

Each rejected drop is loaded through the real command line on top of ``good/2025Q1``: it must
exit 1 with the rejection summary (no traceback), list exactly the expected problems in its
report, and leave every data table as it was. Legitimate text (Chinese names with full-width
punctuation, a name of exactly the longest allowed length) still loads verbatim.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fixtures.make_fixtures import (
    C1,
    C2,
    C3,
    GOOD,
    REVENUE_HEADER,
    TODAY,
    ZONE_HEADER,
    base_enterprises,
    dump_tables,
)
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from etl.drops.csv_reader import REASON_UNTERMINATED
from etl.drops.load import load_drop
from etl.drops.text_rules import CELL_LIMIT, NAME_LIMIT
from models import db as db_module
from models.errors import DropRejected
from models.problems import Problem

CONTROL = "holds a control character ({}): delete it; a cell holds one line of printable text"


def _db(engine: Engine) -> Path:
    return Path(engine.url.database or "")


def _csv(rows: list[list[object]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode("utf-8")


def _enterprises(change: Callable[[list[list[object]]], None]) -> dict[str, bytes]:
    rows = base_enterprises()
    change(rows)
    return {"enterprises.csv": _csv(rows)}


def _revenue(*rows: list[object]) -> dict[str, bytes]:
    return {"revenue.csv": _csv([REVENUE_HEADER, *rows])}


def _set(row: int, column: int, value: str) -> Callable[[list[list[object]]], None]:
    """Put ``value`` into data row ``row`` (the spreadsheet's row number) of the register."""
    def change(rows: list[list[object]]) -> None:
        rows[row - 1][column] = value
    return change


def _name_xlsx() -> dict[str, bytes]:
    """企业名录.xlsx whose names hold an Alt+Enter line break and a C1 control (both are legal
    in a workbook's XML)."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    for row in base_enterprises()[:3]:
        ws.append(row)
    ws["B2"] = "上海西岸大模型\n科技有限公司"
    ws["C3"] = "Zhangjiang\x9bChips"
    buf = io.BytesIO()
    wb.save(buf)
    return {"企业名录.xlsx": buf.getvalue()}


STRAY_TAIL = "".join(f"{C3},2025Q2,{i}.5\n" for i in range(20_000))


def _stray_quote() -> bytes:
    """revenue.csv: a quote opened in row 3 and never closed, then 20,000 more rows: the rest
    of the file is one field, far over the csv module's 131,072-character limit."""
    return (f"credit_code,period,revenue\n{C1},2025Q2,12\n{C2},2025Q2,\"260\n"
            + STRAY_TAIL).encode("utf-8")


def _two_stray_quotes() -> bytes:
    """A quote opened in row 3 and another after 20,000 rows: an even count, so the quoted
    field closes there, and row 3's revenue is those 20,000 lines."""
    return _stray_quote() + f'{C3},2025Q3,"7\n'.encode()


# Row 3's revenue in _two_stray_quotes: the text after a closing quote joins the field.
TWO_QUOTES_FIELD = "260\n" + STRAY_TAIL + f"{C3},2025Q3,7"


LONG_NAME = "Shanghai West Bund " + "Large Model " * 1665 + "Ltd."  # 20,003 characters
LONG_CODE = "9" * 5_000
TWO_QUOTES_SHOWN = TWO_QUOTES_FIELD[:50].replace("\n", "\\x0a") + "…"

REJECTED: dict[str, tuple[dict[str, bytes], list[Problem]]] = {
    # 4. Control characters, in any column of any file kind.
    "unit_separator_in_name": (
        _enterprises(_set(2, 1, "上海西岸\x1f大模型科技有限公司")),
        [Problem("enterprises.csv", None, 2, "name_zh", "上海西岸\\x1f大模型科技有限公司",
                 CONTROL.format("U+001F"))]),
    "bell_in_english_name": (
        _enterprises(_set(3, 2, "Zhangjiang\x07Chips Co., Ltd.")),
        [Problem("enterprises.csv", None, 3, "name_en", "Zhangjiang\\x07Chips Co., Ltd.",
                 CONTROL.format("U+0007"))]),
    # The cell gets this one problem, not also "not a number".
    "delete_in_number": (
        _revenue([C1, "2025Q2", "12\x7f5"]),
        [Problem("revenue.csv", None, 2, "revenue", "12\\x7f5", CONTROL.format("U+007F"))]),
    "c1_control_in_zone": (
        {"zone_metrics.csv": _csv([ZONE_HEADER,
                                   ["westbund\x9b_ai_tower", "2025Q2", 1, 1, 1, 1, 1]])},
        [Problem("zone_metrics.csv", None, 2, "zone_id", "westbund\\x9b_ai_tower",
                 CONTROL.format("U+009B"))]),
    # A quoted cell may span lines in CSV, but no column holds more than one line: the rows
    # after it keep their numbers (records, as a spreadsheet shows them).
    "line_break_in_quoted_name": (
        _enterprises(lambda rows: (_set(3, 1, "上海张江\n芯片有限公司")(rows),
                                   _set(5, 2, "Xuhui\tApps")(rows))),
        [Problem("enterprises.csv", None, 3, "name_zh", "上海张江\\x0a芯片有限公司",
                 CONTROL.format("U+000A, a line break")),
         Problem("enterprises.csv", None, 5, "name_en", "Xuhui\\x09Apps",
                 CONTROL.format("U+0009, a tab"))]),
    "line_break_and_c1_in_xlsx": (
        _name_xlsx(),
        [Problem("企业名录.xlsx", "Sheet", 2, "name_zh", "上海西岸大模型\\x0a科技有限公司",
                 CONTROL.format("U+000A, a line break")),
         Problem("企业名录.xlsx", "Sheet", 3, "name_en", "Zhangjiang\\x9bChips",
                 CONTROL.format("U+009B"))]),
    # 5. Length caps: the value is cut short in the report, the limit named.
    "name_of_20000_characters": (
        _enterprises(_set(2, 2, LONG_NAME)),
        [Problem("enterprises.csv", None, 2, "name_en", LONG_NAME[:50] + "…",
                 f"too long: 20,003 characters, this column allows at most {NAME_LIMIT}")]),
    "code_of_5000_characters": (
        _revenue([LONG_CODE, "2025Q2", "12"]),
        [Problem("revenue.csv", None, 2, "credit_code", "9" * 50 + "…",
                 f"too long: 5,000 characters, this column allows at most {CELL_LIMIT}")]),
    # A header is text too: an unknown one is shown cut short and escaped in the report.
    "hostile_header": (
        {"revenue.csv": _csv([["credit_code", "period", "revenue", "x\x07" + "y" * 60_000],
                              [C1, "2025Q2", "12", ""]])},
        [Problem("revenue.csv", None, 1, "x\\x07" + "y" * 48 + "…", None,
                 "unknown column: expected one of credit_code (统一社会信用代码), period (报告期), "
                 "revenue (营业收入(万元)), basis (统计口径), provenance (数据性质)")]),
    # 6. A stray quote in a large file: reported at the row where it opened.
    "stray_quote_in_large_file": (
        {"revenue.csv": _stray_quote()},
        [Problem("revenue.csv", None, 3, None, None, REASON_UNTERMINATED)]),
    "two_stray_quotes_far_apart": (
        {"revenue.csv": _two_stray_quotes()},
        [Problem("revenue.csv", None, 3, "revenue", TWO_QUOTES_SHOWN,
                 CONTROL.format("U+000A, a line break")),
         Problem("revenue.csv", None, 3, "revenue", TWO_QUOTES_SHOWN,
                 f"too long: {len(TWO_QUOTES_FIELD):,} characters, this column allows at most "
                 f"{CELL_LIMIT}")]),
}


def _cli(args: list[str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from etl import cli

    # Rich wraps at 80 columns when not on a terminal; the lines tested here are longer.
    monkeypatch.setattr(cli.out, "width", 400)
    monkeypatch.setattr(cli.err, "width", 400)
    return CliRunner().invoke(cli.app, args)


def _write_drop(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def _report(path: Path) -> list[Problem]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return [Problem(r["file"], r["sheet"] or None, int(r["row"]) if r["row"] else None,
                        r["column"] or None, r["value"] or None, r["reason"])
                for r in csv.DictReader(fh)]


@pytest.mark.parametrize("case", sorted(REJECTED))
def test_hostile_cells_are_refused(base: Engine, case: str, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    files, expected = REJECTED[case]
    drop = _write_drop(tmp_path / "2025Q2", files)
    report = tmp_path / "rejections.csv"
    before = dump_tables(_db(base))
    result = _cli(["etl", "load", str(drop), "--db", str(_db(base)), "--report", str(report),
                   "--no-forecast"], monkeypatch)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert result.stderr.startswith(f"Drop 2025Q2 rejected: {len(expected)} problem")
    assert result.stderr.rstrip().endswith("Nothing was loaded. Fix the rows listed in "
                                           f"{report} and run the load again.")
    assert _report(report) == expected
    assert dump_tables(_db(base)) == before


def test_legitimate_names_load_verbatim(base: Engine, tmp_path: Path) -> None:
    names = {
        C1: ("上海西岸（徐汇）大模型科技有限公司", "Ｗｅｓｔ　Ｂｕｎｄ：Models·AI © Co., Ltd."),
        C2: ("上海张江“芯”片有限公司——浦东", "Z" * NAME_LIMIT),
    }

    def change(rows: list[list[object]]) -> None:
        for row in rows[1:]:
            if row[0] in names:
                row[1], row[2] = names[str(row[0])]

    drop = _write_drop(tmp_path / "2025Q2", _enterprises(change))
    result = load_drop(base, drop, today=TODAY)
    assert result.rejected == 0
    with sqlite3.connect(_db(base)) as conn:
        stored = {code: (zh, en) for code, zh, en in conn.execute(
            "SELECT credit_code, name_zh, name_en FROM enterprises WHERE credit_code IN (?, ?)",
            (C1, C2))}
    assert stored == names


# ------------------------------------------------------------ a database another writer holds


def _busy(db: Path, undone: str, retry: str) -> str:
    return (f"Error: another writer holds the database {db} (a load, rollback or forecast "
            f"refresh that is still running) and did not release it within 0.05 s; {undone}. "
            f"Wait for the other job to finish, then {retry}.")


@pytest.fixture
def other_writer(base: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[sqlite3.Connection]:
    """A second connection holding the database's write lock (BEGIN IMMEDIATE), and a busy
    timeout of 50 ms for every connection opened from now on (the default waits 30 s)."""
    monkeypatch.setattr(db_module, "BUSY_TIMEOUT_MS", 50)
    base.dispose()  # the fixture's pooled connections keep the long timeout
    other = sqlite3.connect(_db(base), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield other
    finally:
        if other.in_transaction:
            other.execute("ROLLBACK")
        other.close()


@pytest.mark.parametrize(("args", "undone", "retry"), [
    (["etl", "load", str(GOOD / "2025Q1_revised"), "--no-forecast"], "nothing was loaded",
     "run the load again"),
    # The files of run 2 again: the "already loaded" run row cannot be written either.
    (["etl", "load", str(GOOD / "2025Q1")], "nothing was loaded", "run the load again"),
    (["etl", "rollback", "2"], "nothing was rolled back", "run `aidash etl rollback 2` again"),
    (["forecast", "refresh"], "no forecast was stored", "run `aidash forecast refresh` again"),
])
def test_a_locked_database_is_one_line_and_changes_nothing(
        base: Engine, other_writer: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch,
        args: list[str], undone: str, retry: str) -> None:
    db = _db(base)
    before = dump_tables(db)
    runs_before = dump_tables(db, ("etl_runs", "etl_run_files"))
    result = _cli([*args, "--db", str(db)], monkeypatch)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.stderr.strip() == _busy(db, undone, retry)
    assert dump_tables(db) == before
    assert dump_tables(db, ("etl_runs", "etl_run_files")) == runs_before
    # Once the other writer is done, the same command runs.
    other_writer.execute("ROLLBACK")
    again = _cli([*args, "--db", str(db)], monkeypatch)
    assert again.exit_code == 0, again.output


def test_a_rejection_still_shows_its_problems_when_the_run_cannot_be_recorded(
        base: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Another writer takes the lock after the drop was checked, before its 'rejected' run is
    recorded: the problems are still reported, and the summary says the run is missing."""
    from etl.drops import report as drops

    monkeypatch.setattr(db_module, "BUSY_TIMEOUT_MS", 50)
    base.dispose()
    other = sqlite3.connect(_db(base), isolation_level=None)
    summary = drops.rejection_summary

    def lock_then_summarise(*args: object) -> str:
        other.execute("BEGIN IMMEDIATE")
        return summary(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(drops, "rejection_summary", lock_then_summarise)
    drop = _write_drop(tmp_path / "2025Q2", _revenue([C1, "2025Q2", "-5"]))
    runs_before = dump_tables(_db(base), ("etl_runs",))
    try:
        with pytest.raises(DropRejected) as info:
            load_drop(base, drop, today=TODAY, report_path=tmp_path / "r.csv")
    finally:
        if other.in_transaction:
            other.execute("ROLLBACK")
        other.close()
    assert info.value.problems == [Problem("revenue.csv", None, 2, "revenue", "-5",
                                           "must not be negative")]
    assert info.value.summary.splitlines()[-2:] == [
        (f"Nothing was loaded. Fix the rows listed in {tmp_path / 'r.csv'} and run the load "
         "again."),
        "The attempt is not in `aidash etl history`: another writer holds the database."]
    assert dump_tables(_db(base), ("etl_runs",)) == runs_before
