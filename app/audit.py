"""The audit trail: sign-ins, refusals and every export, as JSON lines in a file of their own.

The dashboard never opens the data database for writing; what it must remember goes here,
to ``$AIDASH_AUDIT_LOG`` (default ``data/audit.jsonl``), one JSON object per line::

    {"time": "2026-12-06T08:15:02Z", "event": "export", "user": "wang.li@example.gov.cn",
     "role": "analyst", "page": "enterprises", "format": "csv", "rows": 25,
     "filters": "Zones: Zhangjiang AI Island", "scope": "zone-zhangjiang_ai_island",
     "file": "enterprises_….csv", "client": "10.0.0.7"}

(``client`` is the address Streamlit reports for the connection: a proxy's behind one, and
none for a browser on the server itself.)

Each line is appended with one ``write`` under an exclusive ``flock``, so several server
processes can share the file. ``aidash audit`` prints it (:func:`read_events`).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ENV_VAR = "AIDASH_AUDIT_LOG"
DEFAULT_PATH = Path("data") / "audit.jsonl"
# What can happen, in the order a person meets them.
EVENTS = ("sign_in", "no_access", "refused", "export")
# The columns `aidash audit` shows, in order; any other key goes under "detail".
COLUMNS = ("time", "event", "user", "role", "page", "format", "rows", "filters", "file", "client")


class AuditLogError(OSError):
    """The audit log cannot be written or read; the message names the file and what to do."""


def log_path() -> Path:
    """``$AIDASH_AUDIT_LOG``, else ``data/audit.jsonl`` (read every call: tests and
    deployments point it elsewhere)."""
    return Path(os.environ.get(ENV_VAR) or DEFAULT_PATH)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _open(path: Path) -> int:
    try:
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError as exc:
        raise _unwritable(path, exc) from exc


def _unwritable(path: Path, exc: OSError) -> AuditLogError:
    return AuditLogError(f"the audit log {path} cannot be written ({exc.strerror}); point "
                         f"{ENV_VAR} at a file the dashboard may append to")


def _append(path: Path, line: str) -> None:
    fd = _open(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, (line + "\n").encode("utf-8"))
    except OSError as exc:
        raise _unwritable(path, exc) from exc
    finally:
        os.close(fd)


def record(event: str, *, user: str | None, role: str, path: Path | None = None,
           **fields: Any) -> dict[str, Any]:
    """Append one event and return it. ``fields`` are the event's own (``page``, ``format``,
    ``rows``, ``filters``, ``file``, ``client``, ``reason``…); None values are left out.

    :raises AuditLogError: if the line cannot be appended (the caller must not go on with
        what it was about to record).
    """
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r}; use one of {', '.join(EVENTS)}")
    entry: dict[str, Any] = {"time": _now(), "event": event, "user": user, "role": role}
    entry.update((k, v) for k, v in fields.items() if v is not None)
    _append(path or log_path(), json.dumps(entry, ensure_ascii=False, default=str))
    return entry


def check_writable(path: Path | None = None) -> None:
    """Raise :class:`AuditLogError` unless the audit log can be appended to (creating it
    empty if it does not exist). The dashboard serves nothing it could not record."""
    target = path or log_path()
    if target.exists() and not target.is_file():
        raise AuditLogError(f"the audit log {target} is not a regular file; point {ENV_VAR} at "
                            "a file the dashboard may append to")
    os.close(_open(target))


@dataclass(frozen=True)
class Query:
    """Which events ``aidash audit`` shows: from a day on, of one person."""

    since: date | None = None
    user: str | None = None

    def keeps(self, entry: dict[str, Any]) -> bool:
        if self.user is not None and str(entry.get("user") or "").lower() != self.user.lower():
            return False
        if self.since is not None:
            return str(entry.get("time", ""))[:10] >= self.since.isoformat()
        return True


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        handle = path.open(encoding="utf-8")
    except FileNotFoundError:
        raise AuditLogError(f"there is no audit log at {path} yet (nothing has been recorded); "
                            f"set {ENV_VAR} if the dashboard writes it elsewhere") from None
    except OSError as exc:
        raise AuditLogError(f"the audit log {path} cannot be read ({exc.strerror})") from exc
    with handle:
        yield from enumerate(handle, start=1)


def read_events(path: Path | None = None, query: Query = Query()) -> list[dict[str, Any]]:
    """The events of the log that ``query`` keeps, oldest first.

    :raises AuditLogError: for a missing or unreadable file, or a line that is not a JSON
        object (with its line number: the log is append-only, so such a line means it was
        edited or cut).
    """
    target = path or log_path()
    events = []
    for number, line in _lines(target):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            entry = None
        if not isinstance(entry, dict):
            raise AuditLogError(f"{target} line {number} is not an audit event (a JSON object "
                                "per line); the log may have been edited or cut there")
        if query.keeps(entry):
            events.append(entry)
    return events


def as_row(entry: dict[str, Any]) -> dict[str, str]:
    """One event as text cells under :data:`COLUMNS` plus ``detail`` (the other keys)."""
    def cell(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, (dict, list)):
            return json.dumps(value, ensure_ascii=False, sort_keys=True)
        return str(value)

    row = {column: cell(entry.get(column)) for column in COLUMNS}
    rest = {k: v for k, v in entry.items() if k not in COLUMNS}
    row["detail"] = cell(rest) if rest else ""
    return row
