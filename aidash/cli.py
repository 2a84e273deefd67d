"""The ``aidash`` console script: ``etl``'s commands (init, etl, forecast, sample) plus the
commands that read the way the dashboard reads (the audit trail, the briefing).

``etl`` and ``app`` never import each other (docs/ARCHITECTURE.md); a command that needs
``app`` is registered here, above both.
"""

from __future__ import annotations

import csv
import logging
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from etl.cli import DbOption, app, err, out

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


@app.command()
def briefing(
    out_file: Annotated[Path, typer.Option(
        "--out", metavar="FILE.pdf", dir_okay=False, writable=True,
        help="Where to write the PDF (overwritten if it exists).")],
    quarter: Annotated[str | None, typer.Option(
        "--quarter", metavar="YYYYQn", help="The quarter (default: the latest in the data).")
    ] = None,
    lang: Annotated[str, typer.Option(
        "--lang", metavar="zh|en", help="The language of the edition.")] = "en",
    db: DbOption = None,
) -> None:
    """Make the quarterly briefing: a sourced PDF of 2-6 A4 pages in Chinese or English.

    \b
    Headline figures with their sources, the city's trend and forecast, the chance of
    reaching the target, the map, movers, what changed since the last load, data notes and
    sources. Aggregates only. Reads the database read-only.
    Example:
        aidash briefing --quarter 2025Q2 --lang zh --out briefing-2025Q2-zh.pdf
    """
    from streamlit.logger import get_logger

    from etl.cli import _engine, _fail

    # The query functions are cached inside the dashboard; outside it Streamlit warns on
    # import that it has no runtime, which is expected here.
    get_logger("streamlit.runtime.caching.cache_data_api").setLevel(logging.ERROR)
    from app.briefing import make_pdf, page_count
    from models.errors import AidashError

    if not out_file.parent.is_dir():
        _fail(f"folder {out_file.parent} does not exist; create it or pass another --out")
    started = time.perf_counter()
    engine = _engine(db)
    try:
        pdf = make_pdf(engine, quarter, lang)
    except AidashError as exc:
        _fail(str(exc))
    finally:
        engine.dispose()
    out_file.write_bytes(pdf)
    out.print(f"Wrote {out_file}: {page_count(pdf)} pages, {len(pdf) / 1024:,.0f} KB in "
              f"{time.perf_counter() - started:.1f} s", markup=False, soft_wrap=True)


def main() -> None:
    """Entry point of the ``aidash`` console script."""
    app()
