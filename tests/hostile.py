"""A harness for hostile drops: each is loaded through the real command line, in a process of
its own (a fresh interpreter, or one forked from a :class:`LoadServer` that has the imports
done).

A case builds its drop under the test's ``tmp_path`` and says what must come of it: refused
within :data:`DEADLINE_S` with a non-zero exit, no traceback, exactly the expected problems
in the report and every data table unchanged; or, for legitimate input, loaded exactly as its
CSV twin. Test modules import what they need from here (see tests/test_hostile_drops.py).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import select
import shutil
import signal
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
RUN_TIMEOUT_S = 120


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


def _load_args(db: Path, drop: Drop, report: Path | None) -> list[str]:
    """``etl load DROP --db DB --no-forecast [--report R]``: the arguments after ``-m etl``."""
    args = ["etl", "load", str(drop.folder), "--db", str(db), "--no-forecast", *drop.options]
    return args + (["--report", str(report)] if report is not None else [])


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("AIDASH_")}


def run_load(db: Path, drop: Drop, *, report: Path | None = None,
             server: LoadServer | None = None) -> CliRun:
    """``python -m etl etl load DROP --db DB --no-forecast [--report R]`` in a process of its
    own: a fresh interpreter, or one forked from ``server`` (see :class:`LoadServer`)."""
    args = _load_args(db, drop, report)
    if server is not None:
        return server.run(args)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "etl", *args], check=False, cwd=ROOT,
                          env=_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S)
    return CliRun(proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - start)


# The server's loop: import what every load imports, once; then per request fork a child that
# runs ``python -m etl`` with the request's arguments, its stdin, stdout and stderr on files of
# its own, and report the child's exit status. The child behaves as the interpreter would at
# the end of ``python -m``: SystemExit's code is the exit code, any other exception is printed
# as a traceback with exit code 1.
_SERVER = r"""
import json, os, runpy, sys, time, traceback
t0 = time.perf_counter()
import etl.cli, etl.drops.load
print(json.dumps({"imports_s": time.perf_counter() - t0}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    pid = os.fork()
    if pid == 0:
        fds = [os.open(os.devnull, os.O_RDONLY),
               os.open(req["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
               os.open(req["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)]
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        sys.argv = [sys.argv[0], *req["args"]]
        code = 1
        try:
            runpy.run_module("etl", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            if exc.code is None or isinstance(exc.code, int):
                code = exc.code or 0
            else:
                print(exc.code, file=sys.stderr)
        except BaseException:
            traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    _pid, status = os.waitpid(pid, 0)
    print(json.dumps({"code": os.waitstatus_to_exitcode(status)}), flush=True)
"""


class LoadServer:
    """Runs ``python -m etl`` in processes forked from one interpreter that has imported the
    command line and the loader already: each run is still a process of its own, with its own
    exit code, stdout and stderr, but does not pay the imports (a second of the 1.3 s a run
    takes). A run's time counts the imports, as measured once, so the deadline still covers
    the start of a process.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.runs = 0
        self.proc = subprocess.Popen([sys.executable, "-c", _SERVER], cwd=ROOT, env=_env(),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     start_new_session=True)
        self.imports_s = float(json.loads(self._reply())["imports_s"])

    def _reply(self) -> str:
        assert self.proc.stdout is not None
        ready, _w, _x = select.select([self.proc.stdout], [], [], RUN_TIMEOUT_S)
        if not ready:
            self.close()
            raise TimeoutError(f"no answer from the load server in {RUN_TIMEOUT_S} s")
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the load server exited with {self.proc.wait()}")
        return line

    def run(self, args: list[str]) -> CliRun:
        """One ``python -m etl ARGS`` in a forked process."""
        assert self.proc.stdin is not None
        self.runs += 1
        out, err = self.folder / f"{self.runs}.out", self.folder / f"{self.runs}.err"
        start = time.perf_counter()
        self.proc.stdin.write(json.dumps({"args": args, "stdout": str(out),
                                          "stderr": str(err)}) + "\n")
        self.proc.stdin.flush()
        code = int(json.loads(self._reply())["code"])
        seconds = self.imports_s + time.perf_counter() - start
        return CliRun(code, out.read_text(encoding="utf-8"), err.read_text(encoding="utf-8"),
                      seconds)

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def assert_refused_cleanly(run: CliRun, db: Path, before: dict[str, list[tuple]]) -> None:
    """Exit code not 0, no traceback, within the deadline, every data table as it was."""
    assert run.code != 0, run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr, run.stderr
    assert run.seconds < DEADLINE_S, f"refused after {run.seconds:.1f} s"
    assert dump_tables(db) == before


def check_refused(case: Refused, db: Path, tmp_path: Path,
                  server: LoadServer | None = None) -> CliRun:
    """Build ``case`` under ``tmp_path``, load it into ``db`` through the command line, and
    check the refusal: cleanly (:func:`assert_refused_cleanly`), with exactly the expected
    problems in the report and the summary's first line counting them.

    :returns: the run, for checks of a case's own.
    """
    drop = case.build(tmp_path)
    before = dump_tables(db)
    report = tmp_path / "report.csv"
    run = run_load(db, drop, report=report, server=server)
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
