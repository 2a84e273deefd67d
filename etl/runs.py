"""The history of loads, and rolling a load back.

Every load records one ``etl_runs`` row. Rows it wrote carry its id (``etl_run_id``); rows it
replaced carry it as ``superseded_by``; enterprises and revenue it changed left their
before-image in ``enterprise_versions`` and ``enterprise_revenue_versions``. :func:`rollback`
uses exactly that to return the database to its state before a run: it deletes the run's rows,
makes the observations it superseded current again, restores the register and revenue from the
before-images and deletes the firms the run added. Later runs
still in force are rolled back first (newest first), all in one transaction, because a later
run may have revised what the earlier one wrote.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from etl.transaction import busy_writer, driver_connection, write_transaction
from models.dialect import PgConnection
from models.errors import AidashError, DatabaseMissing, RunNotFound
from models.migrations import upgrade
from models.tables import REVENUE_COLUMNS, EtlRun

# Run kinds whose rows carry etl_run_id and can be taken out again. A geography run upserts
# reference tables without versions: undoing it means rebuilding the database.
ROLLBACK_KINDS = ("drop", "facts", "forecast")
# Sources the loaders create per drop (and the derived aggregates' one): removed with the last
# row that points at them.
LOADER_SOURCE_PATTERNS = ("drop:%", "derived:%")
_ENTERPRISE_COLUMNS = ("name_zh", "name_en", "zone_id", "district_adcode", "segment", "founded",
                       "registered_capital", "employees", "status", "provenance", "source_id",
                       "etl_run_id")


def require_database(engine: Engine) -> None:
    """Raise :class:`DatabaseMissing` unless the schema exists.

    :raises DatabaseMissing: "database <path> has no tables; build it with `aidash init`".
    """
    if not inspect(engine).has_table("etl_runs"):
        name = engine.url.database or str(engine.url)
        raise DatabaseMissing(f"database {name} has no tables; build it with `aidash init`")


def list_runs(engine: Engine) -> list[EtlRun]:
    """Every run, newest first.

    :raises DatabaseMissing: the database has no tables.
    """
    require_database(engine)
    with Session(engine) as session:
        runs = session.exec(select(EtlRun).order_by(EtlRun.id.desc())).all()  # type: ignore[union-attr]
        for run in runs:
            session.expunge(run)
    return list(runs)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def rollback(engine: Engine, run_id: int) -> list[int]:
    """Return the database to its state before ``run_id``, in one transaction.

    Later runs still in force are rolled back first, newest first; rejected, failed and noop
    runs wrote nothing and are left as they are.

    :returns: the ids rolled back, in the order they were undone.
    :raises DatabaseMissing: the database has no tables.
    :raises RunNotFound: no run has this id.
    :raises AidashError: the run was already rolled back, wrote nothing, or is a geography run.
    :raises DatabaseBusy: another writer held the database past the busy timeout; nothing was
        rolled back.
    """
    require_database(engine)
    with busy_writer(engine, "nothing was rolled back",
                     f"run `aidash etl rollback {run_id}` again"):
        upgrade(engine)  # the undo below expects the current layout
        with driver_connection(engine) as conn, _foreign_keys_off(conn), write_transaction(conn):
            return _rollback(conn, run_id)


@contextmanager
def _foreign_keys_off(conn: sqlite3.Connection) -> Iterator[None]:
    """Foreign keys unchecked in the block (outside a transaction: the pragma is a no-op in
    one), as they were after it."""
    # The undo returns to a state that was consistent (later runs are undone first), so the
    # foreign keys are not checked row by row: deleting the firms a run added would otherwise
    # scan all revenue once per firm (no index leads with credit_code; 2,000 firms over 800k
    # revenue rows took 90 s). The tests check the keys after every rollback.
    if isinstance(conn, PgConnection):
        # PostgreSQL checks every key (its checks cannot be switched off without superuser
        # rights): the undo deletes children before parents, so they hold throughout.
        yield
        return
    fk = conn.execute("PRAGMA foreign_keys").fetchone()[0]
    conn.execute("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA foreign_keys = {int(fk)}")


def _rollback(conn: sqlite3.Connection, run_id: int) -> list[int]:
    """:func:`rollback` inside its write transaction."""
    row = conn.execute("SELECT kind, status, rolled_back_at FROM etl_runs WHERE id = ?",
                       (run_id,)).fetchone()
    if row is None:
        raise RunNotFound(f"no run {run_id}; see `aidash etl history`")
    kind, status, rolled_back_at = row
    if status == "rolled_back":
        when = str(rolled_back_at)[:19]
        raise AidashError(f"run {run_id} was already rolled back at {when} UTC; "
                          "see `aidash etl history`")
    if status != "succeeded":
        raise AidashError(f"run {run_id} wrote nothing (status {status}); there is "
                          "nothing to roll back")
    later = [(r, k) for r, k in conn.execute(
        "SELECT id, kind FROM etl_runs WHERE id > ? AND status = 'succeeded' "
        "ORDER BY id DESC", (run_id,))]
    for rid, k in [*later, (run_id, kind)]:
        if k not in ROLLBACK_KINDS:
            raise AidashError(f"run {rid} loaded the {k}, which cannot be rolled back; "
                              "rebuild the database with `aidash init --force`")
    undone = []
    now = _now()
    for rid, _kind in [*later, (run_id, kind)]:
        undo_run(conn, rid, now)
        undone.append(rid)
    _drop_orphan_sources(conn)
    return undone


def undo_run(conn: sqlite3.Connection, run_id: int, now: str) -> None:
    """Take one run out, inside the caller's transaction (children before parents)."""
    p = {"run": run_id}
    forecasts = "SELECT id FROM forecast_runs WHERE vintage_run_id = :run"
    conn.execute(f"""DELETE FROM target_probabilities
                     WHERE forecast_id IN ({forecasts})
                        OR target_observation_id IN (SELECT id FROM observations
                                                     WHERE etl_run_id = :run)""", p)
    conn.execute(f"DELETE FROM forecast_points WHERE forecast_id IN ({forecasts})", p)
    conn.execute("DELETE FROM forecast_runs WHERE vintage_run_id = :run", p)
    # Delete first, then make the superseded rows current: never two current rows at once
    # (revenue's primary key would refuse it).
    conn.execute("DELETE FROM observations WHERE etl_run_id = :run", p)
    conn.execute("UPDATE observations SET superseded_by = NULL WHERE superseded_by = :run", p)
    conn.execute("DELETE FROM enterprise_revenue WHERE etl_run_id = :run", p)
    conn.execute(f"""INSERT INTO enterprise_revenue ({REVENUE_COLUMNS})
                     SELECT {REVENUE_COLUMNS} FROM enterprise_revenue_versions
                     WHERE superseded_by = :run ORDER BY period, credit_code""", p)
    conn.execute("DELETE FROM enterprise_revenue_versions WHERE superseded_by = :run", p)
    sets = ", ".join(f"{c} = v.{c}" for c in _ENTERPRISE_COLUMNS)
    conn.execute(f"""UPDATE enterprises SET {sets}
                     FROM enterprise_versions v
                     WHERE v.superseded_by = :run AND v.credit_code = enterprises.credit_code""",
                 p)
    # What still carries the run's id after the restore was first inserted by it.
    conn.execute("DELETE FROM enterprises WHERE etl_run_id = :run", p)
    conn.execute("DELETE FROM enterprise_versions WHERE superseded_by = :run", p)
    conn.execute("UPDATE etl_runs SET status = 'rolled_back', rolled_back_at = :now "
                 "WHERE id = :run", {"run": run_id, "now": now})


def _drop_orphan_sources(conn: sqlite3.Connection) -> None:
    """Sources the loaders made that no row points at any more."""
    like = " OR ".join("key LIKE ?" for _ in LOADER_SOURCE_PATTERNS)
    conn.execute(f"""DELETE FROM sources WHERE ({like})
                     AND NOT EXISTS (SELECT 1 FROM observations o WHERE o.source_id = sources.id)
                     AND NOT EXISTS (SELECT 1 FROM enterprises e WHERE e.source_id = sources.id)""",
                 LOADER_SOURCE_PATTERNS)
