"""PostgreSQL benchmark: the first load and the quarterly refresh against their COPY bound, and
every page warm, on a server this run starts.

Run (from the repository root; ``make bench`` runs it through ``benchmarks.run_all``)::

    python -m benchmarks.postgres_bench                 # 100k and 1M firms; prints the table
    python -m benchmarks.postgres_bench --sizes 100k    # any sizes
    python -m benchmarks.postgres_bench --write         # also writes its section of benchmarks/README.md

At each size N (the scale benchmark's drop: N firms, 8 quarters of revenue each, made by
``etl.sample.write_scale_drop``, loaded onto a database holding the bundled geography):

* **COPY bound**: the drop's rows, typed and already in memory as Arrow tables, written by the
  ADBC PostgreSQL driver (binary ``COPY``) into plain tables of the same columns, one
  transaction: what the server can take, measured in the same run.
* **first load**: ``etl.drops.load_drop`` end to end (read, validate, stage, merge, derive,
  commit), its time per step from the loader's ``on_step`` hook; the ratio load / bound is the
  figure that counts.
* **index builds**: the register's and revenue's indexes built alone on the loaded database
  (``REINDEX TABLE``, rolled back): work the bound leaves out that every first load does; the
  load is also given against bound + index builds.
* **quarterly refresh**: the register resent unchanged and a new quarter of revenue (N rows)
  loaded onto that database, against the COPY of the same rows.
* **pages**: every page with ``streamlit.testing.v1.AppTest``, cold (caches cleared) and warm
  (median of three reruns), on the loaded database.
* **two servers** (largest size): two ``streamlit run`` processes over that database, a load of
  a few more firms through ``aidash etl load``, and the run each then shows
  (:mod:`benchmarks.two_servers`).

The server runs with its defaults (fsync on) plus what a DBA would give a bulk-loading
database: ``shared_buffers``, ``max_wal_size`` and ``maintenance_work_mem``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmarks import two_servers
from benchmarks.scale_shared import ROOT, parse_size, size_label

sys.path.insert(0, str(ROOT / "tests"))  # the tests' server helper (initdb + pg_ctl)

DEFAULT_SIZES = (100_000, 1_000_000)
SERVER_SETTINGS = ("-c shared_buffers=1GB -c max_wal_size=8GB -c maintenance_work_mem=512MB "
                   "-c work_mem=64MB")
WARM_RUNS = 3
TWO_SERVERS_FIRMS = 50  # the drop loaded while two servers run (new firms, one quarter)
TWO_SERVERS_SEED = 7
SECTION = "## PostgreSQL"


def _log(msg: str) -> None:
    print(f"[pg {time.strftime('%H:%M:%S')} load {os.getloadavg()[0]:.1f}] {msg}",
          file=sys.stderr, flush=True)


def _arrow_tables(drop: Path) -> dict[str, Any]:
    """The drop's CSV files as typed Arrow tables (the bound's input, read before timing)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    types = {"district_code": pa.int64(), "registered_capital": pa.float64(),
             "employees": pa.int64(), "revenue": pa.float64(), "firms": pa.int64(),
             "foundation_model_firms": pa.int64(), "registered_models": pa.int64(),
             "investment_institutions": pa.int64(), "computing_pflops": pa.float64()}
    out = {}
    for name in ("enterprises", "revenue", "zone_metrics"):
        path = drop / f"{name}.csv"
        if path.exists():
            header = path.open(encoding="utf-8").readline().strip().split(",")
            convert = pacsv.ConvertOptions(
                column_types={c: types.get(c, pa.string()) for c in header},
                strings_can_be_null=True)
            out[name] = pacsv.read_csv(path, convert_options=convert)
    return out


def copy_bound(uri: str, drop: Path) -> dict[str, Any]:
    """Seconds to COPY the drop's rows into plain tables (ADBC ingest, one transaction)."""
    import adbc_driver_postgresql.dbapi as adbc

    tables = _arrow_tables(drop)
    rows = sum(t.num_rows for t in tables.values())
    with adbc.connect(uri) as conn, conn.cursor() as cur:
        for name in tables:
            cur.execute(f"DROP TABLE IF EXISTS bound_{name}")
        conn.commit()
        start = time.perf_counter()
        for name, table in tables.items():
            cur.adbc_ingest(f"bound_{name}", table, mode="create")
        conn.commit()
        seconds = time.perf_counter() - start
        for name in tables:
            cur.execute(f"DROP TABLE bound_{name}")
        conn.commit()
    return {"seconds": seconds, "rows": rows}


def index_builds(uri: str) -> dict[str, float]:
    """Seconds to build the register's and revenue's indexes on the loaded database (``REINDEX
    TABLE``, each in a transaction rolled back): the part of a first load that the COPY bound
    leaves out and that no loader of these tables avoids."""
    import psycopg

    out = {}
    with psycopg.connect(uri) as conn:
        for table in ("enterprises", "enterprise_revenue"):
            start = time.perf_counter()
            conn.execute(f"REINDEX TABLE {table}")
            out[table] = time.perf_counter() - start
            conn.rollback()
    return out


def timed_load(url: str, drop: Path) -> dict[str, Any]:
    """``load_drop`` end to end, with its seconds per step."""
    from etl.drops.load import load_drop
    from models.db import make_engine

    steps: dict[str, float] = defaultdict(float)

    def on_step(timing: Any) -> None:
        key = timing.step.value + (" (thread)" if timing.in_thread else "")
        steps[key] += timing.seconds

    engine = make_engine(url)
    try:
        start = time.perf_counter()
        result = load_drop(engine, drop, on_step=on_step)
        seconds = time.perf_counter() - start
    finally:
        engine.dispose()
    return {"seconds": seconds, "run_id": result.run_id, "inserted": result.inserted,
            "updated": result.updated, "steps": dict(steps)}


def pages(url: str) -> dict[str, dict[str, float]]:
    """Every page cold and warm (median of :data:`WARM_RUNS`), in seconds."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from app.pages import VIEWS

    os.environ["AIDASH_DATABASE_URL"] = url
    out: dict[str, dict[str, float]] = {}
    for page, path in VIEWS.items():
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=600)
        if page != "overview":
            at.switch_page(path)
        start = time.perf_counter()
        at.run()
        cold = time.perf_counter() - start
        if at.exception:
            raise RuntimeError(f"page {page}: {at.exception}")
        warm = []
        for _ in range(WARM_RUNS):
            start = time.perf_counter()
            at.run()
            warm.append(time.perf_counter() - start)
        out[page] = {"cold": cold, "warm": statistics.median(warm)}
    # The Enterprises page builds its name index in a thread: let it end before the server does.
    for thread in threading.enumerate():
        if thread.name == "aidash-name-index":
            thread.join()
    return out


def run(sizes: list[int], *, skip_pages: bool = False) -> list[dict[str, Any]]:
    """Every measurement at every size; one dict per size."""
    from postgres_server import start_server

    from benchmarks.path_drops import write_next_quarter
    from etl.geography import load_geography
    from etl.sample import write_scale_drop
    from models.db import create_db_and_tables, make_engine

    results = []
    server = start_server(SERVER_SETTINGS)
    try:
        base = server.create_database("base")
        engine = make_engine(base)
        create_db_and_tables(engine)
        load_geography(engine, ROOT / "data")
        engine.dispose()
        with tempfile.TemporaryDirectory(prefix="aidash-pg-bench-") as tmp:
            for n in sizes:
                label = size_label(n)
                _log(f"{label}: writing the drop")
                drop = Path(tmp) / label / "2025Q2"
                write_scale_drop(drop, enterprises=n)
                nxt = write_next_quarter(drop, Path(tmp) / f"next_{label}" / "2025Q3")
                res: dict[str, Any] = {"size": label}
                _log(f"{label}: COPY bound")
                res["bound"] = copy_bound(server.libpq("base"), drop)
                res["refresh_bound"] = copy_bound(server.libpq("base"), nxt)
                url = server.create_database(f"load_{label.lower()}", "base")
                _log(f"{label}: first load")
                res["load"] = timed_load(url, drop)
                _log(f"{label}: index builds")
                res["indexes"] = index_builds(server.libpq(f"load_{label.lower()}"))
                _log(f"{label}: quarterly refresh")
                res["refresh"] = timed_load(url, nxt)
                if not skip_pages:
                    _log(f"{label}: pages")
                    res["pages"] = pages(url)
                if n == sizes[-1]:
                    _log(f"{label}: two dashboard servers, a load while both run")
                    small = Path(tmp) / "two_servers" / "2025Q2"
                    write_scale_drop(small, enterprises=TWO_SERVERS_FIRMS, quarters=1,
                                     seed=TWO_SERVERS_SEED)
                    res["two_servers"] = two_servers.check(url, small)
                results.append(res)
                _log(f"{label}: {render([res])}")
    finally:
        server.stop()
    return results


def render(results: list[dict[str, Any]]) -> str:
    """The results as a Markdown table, then each load's seconds per step."""
    header = ("| size | first load | its COPY bound | ratio | quarterly refresh | its COPY bound "
              "| ratio | pages cold (s) | pages warm (s) |")
    lines = [header, "|---|---|---|---|---|---|---|---|---|"]
    details = []
    for r in results:
        load, bound = r["load"]["seconds"], r["bound"]["seconds"]
        ref, rbound = r["refresh"]["seconds"], r["refresh_bound"]["seconds"]
        cold = warm = "—"
        if "pages" in r:
            colds = [p["cold"] for p in r["pages"].values()]
            warms = [p["warm"] for p in r["pages"].values()]
            cold = f"{min(colds):.2f}–{max(colds):.2f}"
            warm = f"{min(warms):.3f}–{max(warms):.3f}"
        lines.append(f"| {r['size']} ({r['bound']['rows']:,} rows) | {load:.1f} s | {bound:.1f} s "
                     f"| {load / bound:.2f}× | {ref:.1f} s | {rbound:.1f} s | {ref / rbound:.2f}× "
                     f"| {cold} | {warm} |")
        if "indexes" in r:
            built = sum(r["indexes"].values())
            details.append(
                f"- {r['size']} first load beside its floor: the COPY bound leaves out the "
                f"tables' indexes; building them alone (REINDEX, rolled back) took {built:.1f} s ("
                + ", ".join(f"{t} {v:.1f} s" for t, v in r["indexes"].items())
                + f"), so COPY bound + index builds = {bound + built:.1f} s "
                f"({(bound + built) / bound:.2f}× the bound); the load is "
                f"{load / (bound + built):.2f}× that")
        for kind in ("load", "refresh"):
            steps = ", ".join(f"{k} {v:.2f}" for k, v in
                              sorted(r[kind]["steps"].items(), key=lambda kv: -kv[1]))
            details.append(f"- {r['size']} {kind}, seconds per step: {steps}")
        if "pages" in r:
            details.append(f"- {r['size']} pages (cold / warm s): " + ", ".join(
                f"{p} {v['cold']:.2f} / {v['warm']:.3f}" for p, v in r["pages"].items()))
        if "two_servers" in r:
            details.append(f"- {r['size']}, two `streamlit run` servers on this database, "
                           f"then `aidash etl load` of {TWO_SERVERS_FIRMS} more firms: "
                           + two_servers.render(r["two_servers"]))
    return "\n".join(lines) + "\n\n" + "\n".join(details)


def write_section(table: str, command: str) -> None:
    """Replace the PostgreSQL section of ``benchmarks/README.md`` (appended if missing)."""
    readme = ROOT / "benchmarks" / "README.md"
    text = readme.read_text(encoding="utf-8")
    section = (f"{SECTION}\n\nMeasured with `{command}` on this machine (2 cores, shared; "
               "figures move with the load of the machine: compare the ratios).\n\n"
               f"{table}\n")
    if SECTION in text:
        head, _, rest = text.partition(SECTION)
        # up to the next section, or the next marked one (the capacity section's marker)
        ends = [i for i in (rest.find("\n## "), rest.find("\n<!-- ")) if i >= 0]
        tail = rest[min(ends):] if ends else ""
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section
    readme.write_text(text, encoding="utf-8")


def build_parser(prog: str = "python -m benchmarks.postgres_bench") -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default=",".join(size_label(n) for n in DEFAULT_SIZES),
                    help="comma-separated sizes (10k, 100k, 1M)")
    ap.add_argument("--skip-pages", action="store_true", help="loads only")
    ap.add_argument("--write", action="store_true", help="write benchmarks/README.md's section")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    table = render(run(sizes, skip_pages=args.skip_pages))
    print(table)
    if args.write:
        command = "python -m benchmarks.postgres_bench " + " ".join(
            sys.argv[1:] if argv is None else argv)
        write_section(table, command.strip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
