"""The ``aidash`` command line: build the database, load quarterly drops, forecast, make samples.

Commands are thin: options in, one library call, one summary line out. Known errors
(:class:`models.errors.AidashError`) become a one-line message and exit code 1.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from models.errors import AidashError, DropRejected

# The forecasts fit hundreds of tiny models; OpenBLAS threads only contend on a 2-core server
# (measured: smoothing fits ~50x slower). Set before numpy is first imported (the commands
# import numpy lazily).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="SQLite file path or SQLAlchemy URL (sqlite:///PATH, "
        "postgresql+psycopg://USER@HOST/DB). Default: $AIDASH_DATABASE_URL, "
        "else data/ai_industry.db.",
        show_default=False,
    ),
]

app = typer.Typer(
    help="Shanghai AI industry data: build, refresh, roll back and forecast.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
etl_app = typer.Typer(help="Quarterly refresh: load a drop, list runs, roll a run back.",
                      no_args_is_help=True)
forecast_app = typer.Typer(help="Growth forecasts stored in the database.", no_args_is_help=True)
app.add_typer(etl_app, name="etl")
app.add_typer(forecast_app, name="forecast")

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _engine(db: str | None):  # type: ignore[no-untyped-def]
    """The engine of an existing database; a missing or damaged one is a one-line error (a
    damaged one is checked read-only first: writing to it would spread the damage)."""
    from models.db import make_engine, resolve_url, sqlite_path
    from models.health import require_intact

    path = sqlite_path(resolve_url(db))
    if path is not None and not path.exists():
        _fail(f"database {path} does not exist; build it with `aidash init`")
    if path is not None and path.stat().st_size == 0:  # left alone: `aidash init` builds it
        _fail(f"database {path} has no tables; build it with `aidash init`")
    if path is not None:
        try:
            require_intact(path)
        except AidashError as exc:
            _fail(str(exc))
    return make_engine(db)


def _fail(message: str) -> None:
    err.print(f"Error: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(code=1)


@app.command()
def init(
    db: DbOption = None,
    data_dir: Annotated[Path, typer.Option(help="Folder of bundled data.")] = Path("data"),
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if the database exists.")] = False,
) -> None:
    """Build the database from the bundled data: geography, reported facts, every sample drop.

    \b
    Example:
        aidash init
        aidash init --db /tmp/test.db --force
    """
    from etl.build import build_database

    try:
        summary = build_database(db, data_dir=data_dir, force=force, console=out)
    except AidashError as exc:
        _fail(str(exc))
    out.print(summary, markup=False, soft_wrap=True)


@etl_app.command("load")
def etl_load(
    drop_dir: Annotated[Path, typer.Argument(exists=True, file_okay=False, dir_okay=True,
                                             help="Folder of one quarterly drop.")],
    db: DbOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and report; write nothing.")] = False,
    report: Annotated[Path | None, typer.Option(
        help="Where to write the rejection report CSV (default: <drop>/rejections.csv).")] = None,
    no_forecast: Annotated[bool, typer.Option("--no-forecast",
                                              help="Skip the forecast refresh after the load.")] = False,
) -> None:
    """Validate a quarterly drop and load all of it, or none of it.

    \b
    Example:
        aidash etl load data/sample/drops/2025Q2
        aidash etl load ~/incoming/2025Q3 --dry-run
    """
    from etl.drops.load import load_drop
    from etl.forecast_ahead import ForecastsAhead

    engine = _engine(db)
    # The forecasts are read and fitted while the load commits, and stored after it.
    ahead = ForecastsAhead() if not (dry_run or no_forecast) else None
    try:
        result = load_drop(engine, drop_dir, dry_run=dry_run, report_path=report,
                           progress=sys.stderr.isatty(),
                           before_commit=ahead.start if ahead is not None else None)
    except DropRejected as exc:
        err.print(exc.summary, markup=False, soft_wrap=True)
        raise typer.Exit(code=1)
    except AidashError as exc:
        _fail(str(exc))
    out.print(result.summary_line(), markup=False, soft_wrap=True)
    if result.changed and ahead is not None:
        from etl.forecasts import refresh_forecasts

        try:
            refreshed = refresh_forecasts(engine, vintage_run_id=result.run_id,
                                          planned=ahead.take(result.run_id))
        except AidashError as exc:
            _fail(str(exc))
        out.print(refreshed.summary_line(), markup=False, soft_wrap=True)


@etl_app.command("history")
def etl_history(db: DbOption = None) -> None:
    """List every load, newest first.

    \b
    Example:
        aidash etl history
    """
    from etl.runs import list_runs

    try:
        runs = list_runs(_engine(db))
    except AidashError as exc:
        _fail(str(exc))
    table = Table("run", "kind", "status", "started (UTC)", "seconds", "period", "read",
                  "inserted", "updated", "rejected", "drop / message")
    for r in runs:
        seconds = (r.finished_at - r.started_at).total_seconds() if r.finished_at else None
        table.add_row(str(r.id), r.kind, r.status, r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
                      f"{seconds:.1f}" if seconds is not None else "", r.data_period or "",
                      str(r.rows_read), str(r.rows_inserted), str(r.rows_updated),
                      str(r.rows_rejected), r.drop_path or (r.message or ""))
    out.print(table)


@etl_app.command("rollback")
def etl_rollback(
    run_id: Annotated[int, typer.Argument(help="The run to undo (see `aidash etl history`).")],
    db: DbOption = None,
) -> None:
    """Return the database to its state before RUN_ID (later runs are rolled back first).

    \b
    Example:
        aidash etl rollback 27
    """
    from etl.runs import rollback

    try:
        undone = rollback(_engine(db), run_id)
    except AidashError as exc:
        _fail(str(exc))
    out.print(f"Rolled back run(s) {', '.join(str(i) for i in undone)}.", markup=False, soft_wrap=True)


@app.command("copy")
def copy(
    source: Annotated[str, typer.Option("--from", help="The database to copy: a path or "
                                        "SQLAlchemy URL (read only).", show_default=False)],
    target: Annotated[str, typer.Option("--to", help="The database to fill: a path or "
                                        "SQLAlchemy URL, with no tables yet.",
                                        show_default=False)],
    force: Annotated[bool, typer.Option("--force", help="Replace the target's tables if it "
                                        "has them.")] = False,
) -> None:
    """Copy a whole database to another backend: every table, run and vintage.

    \b
    Example:
        aidash copy --from data/ai_industry.db --to postgresql+psycopg://aidash@db/aidash
    """
    from etl.copy import copy_database

    try:
        result = copy_database(source, target, force=force)
    except AidashError as exc:
        _fail(str(exc))
    out.print(result.summary_line(), markup=False, soft_wrap=True)


@forecast_app.command("refresh")
def forecast_refresh(db: DbOption = None) -> None:
    """Fit every series the dashboard shows and store the forecasts with their vintage.

    \b
    Example:
        aidash forecast refresh
    """
    from etl.forecasts import refresh_forecasts

    try:
        summary = refresh_forecasts(_engine(db))
    except AidashError as exc:
        _fail(str(exc))
    out.print(summary.summary_line(), markup=False, soft_wrap=True)


@app.command()
def sample(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the drop(s) into.")] = Path(
        "data/sample/drops"),
    enterprises: Annotated[int | None, typer.Option(
        "--enterprises", min=1, help="Write one scale drop with this many enterprises.")] = None,
    quarters: Annotated[int, typer.Option("--quarters", min=1, max=40,
                                          help="Quarters of revenue in a scale drop.")] = 8,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed writes the same bytes.")] = 20250630,
) -> None:
    """Write sample drops: the bundled 2019Q1–2025Q2 series, or one scale drop of N enterprises.

    \b
    Example:
        aidash sample                      # regenerate data/sample/drops/2019Q1 … 2025Q2
        aidash sample --enterprises 100000 --quarters 8 --out /tmp/scale100k
    """
    from etl import sample as sample_mod

    if enterprises is None:
        written = sample_mod.write_bundled_drops(out_dir, seed=seed)
    else:
        written = sample_mod.write_scale_drop(out_dir, enterprises=enterprises, quarters=quarters,
                                              seed=seed)
    out.print(f"Wrote {len(written)} file(s) under {out_dir}.", markup=False, soft_wrap=True)


def main() -> None:
    """Entry point of the ``aidash`` console script."""
    app()
