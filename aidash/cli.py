"""The ``aidash`` console script: ``etl``'s commands (init, etl, forecast, sample) plus the
commands that read the way the dashboard reads (the audit trail, the briefing).

``etl`` and ``app`` never import each other (docs/ARCHITECTURE.md); a command that needs
``app`` is registered here, above both.
"""

from __future__ import annotations

import csv
import sys
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from etl.cli import app, err, out

# The table a terminal shows; `--csv` writes every column.
TABLE_COLUMNS = ("time", "event", "user", "role", "page", "format", "rows", "filters", "detail")


@app.command()
def audit(
    since: Annotated[datetime | None, typer.Option(
        "--since", formats=["%Y-%m-%d"],
        help="Only events on or after this day (YYYY-MM-DD, UTC).")] = None,
    user: Annotated[str | None, typer.Option(
        "--user", metavar="EMAIL", help="Only this person's events (e-mail, any case).")] = None,
    as_csv: Annotated[bool, typer.Option(
        "--csv", help="Write CSV to standard output instead of a table.")] = False,
) -> None:
    """Print the dashboard's audit trail: sign-ins, refusals and every export.

    \b
    Reads $AIDASH_AUDIT_LOG (default data/audit.jsonl), oldest first.
    Example:
        aidash audit --since 2026-12-01 --user wang.li@example.gov.cn
        aidash audit --csv > audit.csv
    """
    from app import audit as trail

    query = trail.Query(since=since.date() if since else None, user=user)
    try:
        events = trail.read_events(query=query)
    except trail.AuditLogError as exc:
        err.print(f"Error: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(code=1) from None
    rows = [trail.as_row(e) for e in events]
    if as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=[*trail.COLUMNS, "detail"],
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return
    out.print(f"{trail.log_path()}: {len(rows)} event(s)", markup=False, soft_wrap=True)
    table = Table(*TABLE_COLUMNS)
    for column in table.columns:
        column.overflow = "fold"
    for row in rows:
        table.add_row(*(row[c] for c in TABLE_COLUMNS))
    out.print(table)


def main() -> None:
    """Entry point of the ``aidash`` console script."""
    app()
