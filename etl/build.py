"""``aidash init``: build the whole database from the bundled data.

Order: geography (districts, segments, zones, metric catalogue), the reported facts, then every
sample drop in quarter order through the same loader a real refresh uses, then the forecasts.
The database is built beside its final path and moved into place at the end, so a dashboard
reading the old file never sees a half-built one.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from rich.console import Console
from sqlalchemy import inspect
from sqlalchemy.engine import Engine, make_url

from models.db import (
    create_db_and_tables,
    drop_db_and_tables,
    make_engine,
    resolve_url,
    sqlite_path,
)
from models.dialect import is_postgres
from models.errors import AidashError

SAMPLE_DROPS = Path("sample") / "drops"
FACTS = Path("reference") / "shanghai_ai_facts.csv"


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def drop_dirs(data_dir: Path) -> list[Path]:
    """The bundled sample drops, oldest quarter first."""
    root = data_dir / SAMPLE_DROPS
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def build_database(db: str | None, *, data_dir: Path = Path("data"), force: bool = False,
                   console: Console | None = None) -> str:
    """Build the database named by ``db`` from ``data_dir``; return a one-line summary.

    :raises AidashError: if the database exists and ``force`` is not set, or a bundled file
        does not load.
    """
    console = console or Console(quiet=True)
    url = resolve_url(db)
    if is_postgres(url):
        return _build_postgres(url, data_dir=data_dir, force=force, console=console)
    final = sqlite_path(url)
    if final is None:
        raise AidashError(f"`aidash init` builds SQLite files or PostgreSQL databases; {url} "
                          "is neither (use a path, sqlite:///PATH or postgresql+psycopg://…)")
    if final.exists() and final.stat().st_size > 0 and not force:  # an empty file holds nothing
        raise AidashError(f"database {final} already exists; pass --force to rebuild it "
                          "from the bundled data")
    final.parent.mkdir(parents=True, exist_ok=True)
    building = final.with_name(final.name + ".building")
    _remove_sqlite(building)

    start = time.perf_counter()
    engine = make_engine(building)
    try:
        n_drops, n_series = _fill(engine, data_dir, console)
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.exec_driver_sql("PRAGMA optimize")
    except BaseException:
        engine.dispose()
        _remove_sqlite(building)
        raise
    engine.dispose()
    _remove_sqlite(final)
    os.replace(building, final)
    Path(f"{building}-wal").unlink(missing_ok=True)
    Path(f"{building}-shm").unlink(missing_ok=True)
    return (f"Built {final} from {data_dir}: geography, facts, {n_drops} sample drops and "
            f"{n_series} forecasts in {time.perf_counter() - start:.1f} s")


def _fill(engine: Engine, data_dir: Path, console: Console) -> tuple[int, int]:
    """Create the schema and load everything bundled; (sample drops, forecast series)."""
    from etl.drops.load import load_drop
    from etl.facts import load_facts
    from etl.forecasts import refresh_forecasts
    from etl.geography import load_geography

    create_db_and_tables(engine)
    load_geography(engine, data_dir)
    console.print("geography: districts, segments, zones, metrics loaded")
    load_facts(engine, data_dir / FACTS)
    console.print(f"facts: {data_dir / FACTS} loaded")
    drops = drop_dirs(data_dir)
    last_run = None
    for drop in drops:
        result = load_drop(engine, drop, progress=False)
        last_run = result.run_id
        console.print(result.summary_line(), markup=False, soft_wrap=True)
    forecasts = refresh_forecasts(engine, vintage_run_id=last_run)
    console.print(forecasts.summary_line(), markup=False, soft_wrap=True)
    return len(drops), forecasts.series


def _build_postgres(url: str, *, data_dir: Path, force: bool, console: Console) -> str:
    """``aidash init`` on PostgreSQL: the database must exist (a DBA creates it, with its
    owner); its tables are built in place. ``--force`` drops this schema's tables and views
    first. A failed build drops what it made, so the next ``aidash init`` starts clean."""
    engine = make_engine(url)
    name = make_url(url).render_as_string(hide_password=True)
    try:
        if inspect(engine).has_table("etl_runs"):
            if not force:
                raise AidashError(f"database {name} already has the tables; pass --force to "
                                  "rebuild it from the bundled data")
            drop_db_and_tables(engine)
        start = time.perf_counter()
        try:
            n_drops, n_series = _fill(engine, data_dir, console)
        except BaseException:
            drop_db_and_tables(engine)
            raise
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
        return (f"Built {name} from {data_dir}: geography, facts, {n_drops} sample drops and "
                f"{n_series} forecasts in {time.perf_counter() - start:.1f} s")
    finally:
        engine.dispose()

