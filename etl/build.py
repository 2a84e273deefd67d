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

from models.db import create_db_and_tables, make_engine, resolve_url, sqlite_path
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
    from etl.drops.load import load_drop
    from etl.facts import load_facts
    from etl.forecasts import refresh_forecasts
    from etl.geography import load_geography

    console = console or Console(quiet=True)
    url = resolve_url(db)
    final = sqlite_path(url)
    if final is None:
        raise AidashError(f"`aidash init` builds SQLite files only; {url} is not one")
    if final.exists() and final.stat().st_size > 0 and not force:  # an empty file holds nothing
        raise AidashError(f"database {final} already exists; pass --force to rebuild it "
                          "from the bundled data")
    final.parent.mkdir(parents=True, exist_ok=True)
    building = final.with_name(final.name + ".building")
    _remove_sqlite(building)

    start = time.perf_counter()
    engine = make_engine(building)
    try:
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
    return (f"Built {final} from {data_dir}: geography, facts, {len(drops)} sample drops and "
            f"{forecasts.series} forecasts in {time.perf_counter() - start:.1f} s")
