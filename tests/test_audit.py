"""The audit trail (app/audit.py) and `aidash audit` (aidash/cli.py)."""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aidash.cli import app as cli
from app import audit


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich wraps at 80 columns off a terminal; the lines checked here are longer."""
    from typer import rich_utils

    from etl import cli as etl_cli

    monkeypatch.setattr(etl_cli.out, "width", 250)
    monkeypatch.setattr(etl_cli.err, "width", 250)
    monkeypatch.setattr(rich_utils, "MAX_WIDTH", 400)


def _invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["audit", *args], prog_name="aidash")


def _write(path: Path, *entries: dict) -> None:
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries),
                    encoding="utf-8")


EVENTS = (
    {"time": "2026-11-30T23:59:59Z", "event": "sign_in", "user": "wang.li@example.gov.cn",
     "role": "analyst"},
    {"time": "2026-12-01T08:00:00Z", "event": "export", "user": "wang.li@example.gov.cn",
     "role": "analyst", "page": "enterprises", "format": "csv", "rows": 25,
     "filters": "区: 徐汇区", "file": "enterprises_district-310104.csv", "client": "10.0.0.7"},
    {"time": "2026-12-02T09:30:00Z", "event": "refused", "user": "zhao@example.gov.cn",
     "role": "viewer", "page": "enterprises", "query": {"q": ["商汤"]}},
)


def test_record_appends_one_json_line_per_event(audit_log: Path) -> None:
    first = audit.record("sign_in", user="wang.li@example.gov.cn", role="analyst")
    audit.record("export", user=None, role="open", page="trends", format="xlsx", rows=12,
                 filters="指标: 产业规模", file=None)
    lines = audit_log.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0]) == first
    second = json.loads(lines[1])
    assert {k: v for k, v in second.items() if k != "time"} == {
        "event": "export", "user": None, "role": "open", "page": "trends", "format": "xlsx",
        "rows": 12, "filters": "指标: 产业规模"}  # None fields (file) are left out
    assert "指标" in lines[1]  # written as UTF-8, not \\u escapes
    assert audit_log.stat().st_mode & 0o777 == 0o600


def _append_many(path: str, tag: int) -> None:
    import os

    os.environ[audit.ENV_VAR] = path
    for i in range(200):
        audit.record("export", user=f"p{tag}@example.gov.cn", role="analyst", rows=i,
                     filters="x" * 3000)


def test_processes_appending_at_once_never_mix_their_lines(audit_log: Path) -> None:
    """Several dashboard servers may share one log: each line stays whole."""
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_append_many, args=(str(audit_log), t)) for t in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    events = audit.read_events(audit_log)
    assert len(events) == 800
    assert sorted({e["user"] for e in events}) == [f"p{t}@example.gov.cn" for t in range(4)]


def test_an_unknown_event_is_a_programming_error(audit_log: Path) -> None:
    with pytest.raises(ValueError) as caught:
        audit.record("login", user=None, role="open")
    assert str(caught.value) == ("unknown audit event 'login'; use one of sign_in, no_access, "
                                 "refused, export")
    assert not audit_log.exists()


def test_an_unwritable_log_says_which_file_and_what_to_do(tmp_path: Path) -> None:
    target = tmp_path / "missing-folder" / "audit.jsonl"
    with pytest.raises(audit.AuditLogError) as caught:
        audit.record("sign_in", user="a@b.cn", role="viewer", path=target)
    assert str(caught.value) == (f"the audit log {target} cannot be written (No such file or "
                                 "directory); point AIDASH_AUDIT_LOG at a file the dashboard may "
                                 "append to")
    with pytest.raises(audit.AuditLogError) as caught:
        audit.check_writable(tmp_path)
    assert str(caught.value) == (f"the audit log {tmp_path} is not a regular file; point "
                                 "AIDASH_AUDIT_LOG at a file the dashboard may append to")


def test_read_filters_by_day_and_person(audit_log: Path) -> None:
    _write(audit_log, *EVENTS)
    assert audit.read_events() == list(EVENTS)
    assert [e["event"] for e in audit.read_events(query=audit.Query(since=date(2026, 12, 1)))] \
        == ["export", "refused"]
    assert [e["event"] for e in audit.read_events(query=audit.Query(user="WANG.LI@example.gov.cn"))] \
        == ["sign_in", "export"]


def test_a_line_that_is_not_an_event_is_named(audit_log: Path) -> None:
    _write(audit_log, EVENTS[0])
    with audit_log.open("a", encoding="utf-8") as f:
        f.write('{"time": "2026-12-01T08:00:00Z", "event": "exp\n')
    with pytest.raises(audit.AuditLogError) as caught:
        audit.read_events()
    assert str(caught.value) == (f"{audit_log} line 2 is not an audit event (a JSON object per "
                                 "line); the log may have been edited or cut there")


def test_cli_prints_the_trail_as_a_table(audit_log: Path) -> None:
    _write(audit_log, *EVENTS)
    result = _invoke("--since", "2026-12-01")
    assert result.exit_code == 0, result.output
    assert f"{audit_log}: 2 event(s)" in result.output
    assert "refused" in result.output and "sign_in" not in result.output


def test_cli_writes_csv_with_every_column(audit_log: Path) -> None:
    _write(audit_log, *EVENTS)
    result = _invoke("--csv", "--user", "zhao@example.gov.cn")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert rows == [{"time": "2026-12-02T09:30:00Z", "event": "refused",
                     "user": "zhao@example.gov.cn", "role": "viewer", "page": "enterprises",
                     "format": "", "rows": "", "filters": "", "file": "", "client": "",
                     "detail": '{"query": {"q": ["商汤"]}}'}]


def test_cli_errors_are_one_line(audit_log: Path) -> None:
    result = _invoke()
    assert result.exit_code == 1
    assert result.output == (f"Error: there is no audit log at {audit_log} yet (nothing has been "
                             "recorded); set AIDASH_AUDIT_LOG if the dashboard writes it "
                             "elsewhere\n")
    result = _invoke("--since", "1 Dec")
    assert result.exit_code == 2
    panel = " ".join(line.strip("│ ") for line in result.output.splitlines()
                     if line.startswith("│"))
    assert panel == ("Invalid value for '--since': Value error, '1 Dec' does not match the "
                     "formats '%Y-%m-%d'.")
