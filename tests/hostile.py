"""A harness for hostile drops: each is loaded through the real command line, in a subprocess.

A case builds its drop under the test's ``tmp_path`` and says what must come of it: refused
within :data:`DEADLINE_S` with a non-zero exit, no traceback, exactly the expected problems
in the report and every data table unchanged; or, for legitimate input, loaded exactly as its
CSV twin. Test modules import what they need from here (see tests/test_hostile_drops.py).
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import sqlite3
import struct
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fixtures.make_fixtures import GOOD, TODAY, dump_tables

from models.problems import Problem

ROOT = Path(__file__).resolve().parent.parent
# The refusal deadline: a hostile drop is refused within ten seconds, on the shared
# 2-core test machine, including the start of a Python process.
DEADLINE_S = 10.0


@dataclass(frozen=True)
class CliRun:
    """What one ``aidash etl load`` subprocess did."""

    code: int
    stdout: str
    stderr: str
    seconds: float


@dataclass(frozen=True)
class Drop:
    """A built drop: its folder and the command-line options it is loaded with."""

    folder: Path
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Refused:
    """A hostile drop and the exact problems its refusal reports.

    :param build: makes the drop under the given folder (the test's ``tmp_path``).
    :param problems: the report's rows, in order; a callable receives the built drop, for a
        reason that depends on what was built (sizes a zip library chose).
    """

    name: str
    build: Callable[[Path], Drop]
    problems: list[Problem] | Callable[[Drop], list[Problem]] = field(default_factory=list)

    def expected(self, drop: Drop) -> list[Problem]:
        return self.problems(drop) if callable(self.problems) else self.problems


def build_base(path: Path) -> Path:
    """A database file holding the geography and the base drop ``good/2025Q1``."""
    from etl.drops.load import load_drop
    from etl.geography import load_geography
    from models.db import create_db_and_tables, make_engine

    engine = make_engine(path)
    try:
        create_db_and_tables(engine)
        load_geography(engine, ROOT / "data")
        load_drop(engine, GOOD / "2025Q1", today=TODAY)
    finally:
        engine.dispose()
    return path


def run_load(db: Path, drop: Drop, *, report: Path | None = None) -> CliRun:
    """``python -m etl etl load DROP --db DB --no-forecast [--report R]`` as a subprocess."""
    args = [sys.executable, "-m", "etl", "etl", "load", str(drop.folder), "--db", str(db),
            "--no-forecast", *drop.options]
    if report is not None:
        args += ["--report", str(report)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIDASH_")}
    start = time.perf_counter()
    proc = subprocess.run(args, check=False, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120)
    return CliRun(proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - start)


def assert_refused_cleanly(run: CliRun, db: Path, before: dict[str, list[tuple]]) -> None:
    """Exit code not 0, no traceback, within the deadline, every data table as it was."""
    assert run.code != 0, run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr, run.stderr
    assert run.seconds < DEADLINE_S, f"refused after {run.seconds:.1f} s"
    assert dump_tables(db) == before


def check_refused(case: Refused, db: Path, tmp_path: Path) -> CliRun:
    """Build ``case`` under ``tmp_path``, load it into ``db`` through the command line, and
    check the refusal: cleanly (:func:`assert_refused_cleanly`), with exactly the expected
    problems in the report and the summary's first line counting them.

    :returns: the run, for checks of a case's own.
    """
    drop = case.build(tmp_path)
    before = dump_tables(db)
    report = tmp_path / "report.csv"
    run = run_load(db, drop, report=report)
    assert_refused_cleanly(run, db, before)
    expected = case.expected(drop)
    assert read_report(report) == expected
    n = len(expected)
    files = len({p.file for p in expected})
    assert run.stderr.splitlines()[0] == (
        f"Drop {drop.folder.name} rejected: {n:,} problem{'s' if n != 1 else ''} in {files} "
        f"file{'s' if files != 1 else ''}.")
    return run


def read_report(path: Path) -> list[Problem]:
    """The rows of a rejection report as problems (empty cells as None, rows as numbers)."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [Problem(r["file"], r["sheet"] or None, int(r["row"]) if r["row"] else None,
                    r["column"] or None, r["value"] or None, r["reason"]) for r in rows]


def last_run_message(db: Path) -> str:
    """``etl_runs.message`` of the latest run (what the dashboard's history shows)."""
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT message FROM etl_runs ORDER BY id DESC").fetchone()[0] or ""


# ------------------------------------------------------------------------------ builders


def write_csv(path: Path, rows: list[list[object]]) -> Path:
    """A UTF-8 CSV with LF line ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def xlsx_bytes(rows: list[list[object]], title: str = "data") -> bytes:
    """A one-sheet workbook as openpyxl writes it."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = title
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def rewrite_zip(data: bytes, edit: Callable[[str, bytes], bytes | None],
                extra: dict[str, bytes] | None = None) -> bytes:
    """A copy of a zip with each member passed through ``edit(name, bytes)`` (None keeps it)
    and ``extra`` members added, all deflated."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            changed = edit(info.filename, body)
            dst.writestr(info.filename, body if changed is None else changed)
        for name, body in (extra or {}).items():
            dst.writestr(name, body)
    return out.getvalue()


def edit_sheet(data: bytes, edit: Callable[[str], str]) -> bytes:
    """A copy of a workbook with the text of its first sheet's XML edited."""
    return rewrite_zip(data, lambda name, body: edit(body.decode("utf-8")).encode("utf-8")
                       if name == "xl/worksheets/sheet1.xml" else None)


def set_dimension(xml: str, ref: str) -> str:
    """Sheet XML with its ``<dimension ref>`` set to ``ref`` (the size a sheet declares)."""
    edited, n = re.subn(r'<dimension ref="[^"]*"\s*/>', f'<dimension ref="{ref}"/>', xml)
    if n != 1:
        raise ValueError("the sheet has no <dimension ref> to edit")
    return edited


def declare_size(data: bytes, member: str, size: int) -> bytes:
    """A copy of a zip whose central directory claims ``size`` bytes for ``member`` (a lie,
    as a hostile archive tells it; the data are not changed)."""
    raw = bytearray(data)
    at = raw.find(b"PK\x01\x02")
    while at >= 0:
        name_len = struct.unpack_from("<H", raw, at + 28)[0]
        if raw[at + 46:at + 46 + name_len].decode() == member:
            struct.pack_into("<I", raw, at + 24, size)
            return bytes(raw)
        at = raw.find(b"PK\x01\x02", at + 46)
    raise KeyError(member)


def copy_base(template: Path, folder: Path) -> Path:
    """A fresh copy of the base database for one test."""
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(template, folder / template.name))
