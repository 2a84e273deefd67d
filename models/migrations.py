"""Bringing a database built by an earlier version in line with ``models/tables.py``.

``create_db_and_tables`` (``models/db.py``) only creates what is missing; a table that exists
keeps its old layout. Each schema change since is a named function here, and :data:`STEPS`
lists them in the order :func:`upgrade` runs them. A step reads the schema and changes only what
differs from ``models/tables.py``, so it is safe on a database of any age and changes nothing on
one that is up to date; which steps ran is therefore not recorded in the database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator

from sqlalchemy import Table, inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.reflection import Inspector
from sqlalchemy.schema import CreateColumn, CreateIndex, CreateTable
from sqlmodel import SQLModel

from models import tables
from models.dialect import is_postgres


def split_revenue_versions(engine: Engine) -> list[str]:
    """Move an earlier version's revenue table, which kept every vintage in one rowid table
    (``id``, ``superseded_by``), to the current layout: current rows in ``enterprise_revenue``
    keyed on (period, credit code), revised ones in ``enterprise_revenue_versions``. One
    transaction: a failure leaves the old table as it was.

    :returns: ``["enterprise_revenue"]`` if there was anything to move, else ``[]``.
    """
    if is_postgres(engine):
        return []  # no PostgreSQL database was ever built with the old layout
    raw = engine.raw_connection()
    conn: sqlite3.Connection = raw.driver_connection  # type: ignore[assignment]
    try:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(enterprise_revenue)")}
        if "superseded_by" not in columns:
            return []
        if conn.in_transaction:
            conn.rollback()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("ALTER TABLE enterprise_revenue RENAME TO enterprise_revenue_old")
            for name, in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                    "AND tbl_name = 'enterprise_revenue_old'").fetchall():
                conn.execute(f'DROP INDEX "{name}"')
            for model in (tables.EnterpriseRevenue, tables.EnterpriseRevenueVersion):
                table = model.__table__  # type: ignore[union-attr]
                if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                (table.name,)).fetchone():
                    continue
                conn.execute(str(CreateTable(table).compile(dialect=engine.dialect)))
                for index in table.indexes:
                    conn.execute(str(CreateIndex(index).compile(dialect=engine.dialect)))
            conn.execute(f"""INSERT INTO enterprise_revenue ({tables.REVENUE_COLUMNS})
                SELECT {tables.REVENUE_COLUMNS} FROM enterprise_revenue_old
                WHERE superseded_by IS NULL ORDER BY period, credit_code""")
            conn.execute(f"""INSERT INTO enterprise_revenue_versions ({tables.REVENUE_COLUMNS},
                                 superseded_by)
                SELECT {tables.REVENUE_COLUMNS}, superseded_by FROM enterprise_revenue_old
                WHERE superseded_by IS NOT NULL ORDER BY id""")
            conn.execute("DROP TABLE enterprise_revenue_old")
            for ddl in tables.VIEWS:
                conn.execute(ddl)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        return ["enterprise_revenue"]
    finally:
        raw.close()


def _built_tables(conn: Connection) -> Iterator[tuple[Table, Inspector]]:
    """The tables of ``models/tables.py`` the database has, in dependency order, each with
    the inspector that read the database's catalogue."""
    inspector = inspect(conn)
    present = set(inspector.get_table_names())
    for table in SQLModel.metadata.sorted_tables:
        if table.name in present:
            yield table, inspector


def add_missing_columns(engine: Engine) -> list[str]:
    """Add to existing tables the columns ``models/tables.py`` has gained since the database
    was built (``metrics.comparable_group``, ``observations.scope_relation`` …). Such columns
    are nullable or have a default, so ``ALTER TABLE … ADD COLUMN`` is enough and existing
    rows keep their values; the views select ``*`` and pick the columns up.

    :returns: the ``table.column`` names added (none when all are present).
    """
    added: list[str] = []
    with engine.begin() as conn:
        for table, inspector in _built_tables(conn):
            stored = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in stored:
                    continue
                ddl = str(CreateColumn(column).compile(dialect=engine.dialect)).strip()
                conn.exec_driver_sql(f'ALTER TABLE "{table.name}" ADD COLUMN {ddl}')
                added.append(f"{table.name}.{column.name}")
    return added


def _normalised(sql: str) -> str:
    """Index DDL compared without regard to spacing or case, as SQLite keeps it as written."""
    return " ".join(sql.replace("(", " ( ").replace(")", " ) ").split()).lower()


def sync_indexes(engine: Engine) -> list[str]:
    """Bring the indexes of an existing database in line with ``models/tables.py``: create
    missing ones, rebuild those whose definition changed (e.g. a narrower covering index).
    Indexes are the one part of the schema that can change without ``aidash init --force``.

    :returns: the names of the indexes created or rebuilt (none when all match).
    """
    changed: list[str] = []
    if is_postgres(engine):
        return _create_missing_indexes(engine)
    with engine.begin() as conn:
        stored: dict[str, str] = dict(conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        ).all())
        present = {name for (name,) in conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table in SQLModel.metadata.sorted_tables:
            if table.name not in present:
                continue
            for index in sorted(table.indexes, key=lambda i: str(i.name)):
                ddl = str(CreateIndex(index).compile(dialect=engine.dialect)).strip()
                old = stored.get(str(index.name))
                if old is not None and _normalised(old) == _normalised(ddl):
                    continue
                if old is not None:
                    conn.exec_driver_sql(f'DROP INDEX "{index.name}"')
                conn.exec_driver_sql(ddl)
                changed.append(str(index.name))
    return changed


def _create_missing_indexes(engine: Engine) -> list[str]:
    """On PostgreSQL: create the indexes of ``models/tables.py`` a database lacks (by name)."""
    created: list[str] = []
    with engine.begin() as conn:
        for table, inspector in _built_tables(conn):
            stored = {i["name"] for i in inspector.get_indexes(table.name)}
            for index in sorted(table.indexes, key=lambda i: str(i.name)):
                if index.name not in stored:
                    conn.execute(CreateIndex(index))
                    created.append(str(index.name))
    return created


# The steps :func:`upgrade` runs, in this order: the revenue table's layout first (its new
# tables are created whole, with their indexes), then the columns added since, then the indexes,
# whose definitions may name those columns.
STEPS: tuple[Callable[[Engine], list[str]], ...] = (
    split_revenue_versions,
    add_missing_columns,
    sync_indexes,
)


def upgrade(engine: Engine) -> list[str]:
    """Bring a database built by an earlier version in line with ``models/tables.py``: the
    revenue table's layout (:func:`split_revenue_versions`), the columns added since
    (:func:`add_missing_columns`), then the indexes (:func:`sync_indexes`). Loads and rollbacks
    call it first; it changes nothing on a database that is up to date.

    :returns: what it changed (table, ``table.column`` and index names).
    """
    changed: list[str] = []
    for step in STEPS:
        changed += step(engine)
    return changed
