"""What differs between the two backends, SQLite (the default) and PostgreSQL, in one place.

The project's SQL is written once, in SQLite's dialect where the two differ. On PostgreSQL,
:func:`to_postgres` rewrites the few SQLite spellings it uses (``GLOB``, ``group_concat``,
``char()``, ``printf``, ``json_each``, ``IS`` / ``IS NOT`` as null-safe comparisons, ``LIKE`` (case-blind for
ASCII on SQLite), ``rowid``, the ``main.`` and ``temp.`` schema names, ``REAL``) and, for statements sent straight to the driver, the ``?``
and ``:name`` placeholders. :class:`PgConnection` gives a psycopg connection the part of the
``sqlite3.Connection`` interface the writers use (``execute``, ``executemany``, ``commit``,
``rollback``, ``in_transaction``, a cursor's ``lastrowid``), so that the loader, the rollback
and the run records are the same code on both. Where speed needs its own SQL (the bulk stage:
``etl/drops/pg_stage.py``) the writer asks :func:`is_postgres`.

A write transaction (``BEGIN IMMEDIATE`` on SQLite) is, on PostgreSQL, ``BEGIN`` plus the
transaction-scoped advisory lock :data:`WRITE_LOCK_KEY`: two writers are serialised as on
SQLite, the second waits up to ``models.db.BUSY_TIMEOUT_MS`` and then fails with the same
message (``models.errors.busy_as_error``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import URL, Connection, Engine, make_url

# The advisory lock every writer takes for its transaction (an arbitrary 64-bit constant:
# "aidash" in ASCII), so that two loads, rollbacks or forecast refreshes never interleave.
WRITE_LOCK_KEY = 0x616964617368
# Helper functions SQLite has built in and the shared SQL relies on, created with the schema.
PG_FUNCTIONS = (
    """CREATE OR REPLACE FUNCTION round(double precision, integer) RETURNS double precision
       AS 'SELECT round($1::numeric, $2)::double precision' LANGUAGE sql IMMUTABLE""",
    """CREATE OR REPLACE FUNCTION instr(text, text) RETURNS integer
       AS 'SELECT strpos($1, $2)' LANGUAGE sql IMMUTABLE""",
)

# Tables whose foreign keys are not declared on PostgreSQL. Its keys are checked by triggers,
# row by row, with a row lock on the referenced row: 93 % of a first load of 100k firms (800k
# revenue rows) went there. The loader checks the same references set-based, once per merge,
# before they are written (``etl.drops.merge.check_references``), as SQLite's loads run with
# foreign keys off behind the validator.
PG_UNDECLARED_FOREIGN_KEYS = ("enterprises", "enterprise_revenue")

_LITERAL = re.compile(r"'(?:[^']|'')*'")
_GLOB = re.compile(r"(NOT\s+)?GLOB\s+'((?:[^']|'')*)'", re.IGNORECASE)
_IS_NOT = re.compile(r"\bIS\s+NOT\s+(?!NULL\b|TRUE\b|FALSE\b|DISTINCT\b)", re.IGNORECASE)
_IS = re.compile(r"\bIS\s+(?!NOT\b|NULL\b|TRUE\b|FALSE\b|DISTINCT\b)", re.IGNORECASE)
_ORDER_ROWID = re.compile(r"\s+ORDER\s+BY\s+(?:\w+\.)?rowid\b(?!\s*,)", re.IGNORECASE)
_JSON_EACH = re.compile(r"json_each\((%\(\w+\)s|:\w+|\?)\)\s+(\w+)\s+CROSS\s+JOIN",
                        re.IGNORECASE)
_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


def is_postgres(target: Engine | URL | str) -> bool:
    """Whether ``target`` (an engine, URL or URL text) is a PostgreSQL database."""
    if isinstance(target, Engine):
        return target.dialect.name == "postgresql"
    return make_url(target).get_backend_name() == "postgresql"


def upsert(conn: Connection, table: Table) -> Any:
    """An ``INSERT`` of ``table`` with ``on_conflict_do_update``, in the connection's dialect
    (both dialects spell the clause the same)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def lock_for_writing(conn: Connection, timeout_ms: int) -> None:
    """On PostgreSQL, take the writers' advisory lock for the SQLAlchemy connection's current
    transaction, waiting up to ``timeout_ms``."""
    conn.exec_driver_sql(f"SET LOCAL lock_timeout = {int(timeout_ms)}")
    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")
    conn.exec_driver_sql("SET LOCAL lock_timeout = 0")


def libpq_uri(url: URL | str) -> str:
    """The ``postgresql://`` URI libpq (psycopg, the ADBC driver) takes for an SQLAlchemy URL
    (``postgresql+psycopg://…``)."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


def _glob_to_regex(match: re.Match[str]) -> str:
    pattern = match.group(2).replace("''", "'")
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else
                    ch if ch in "[]-" or ch.isalnum() else "\\" + ch for ch in pattern)
    op = "!~" if match.group(1) else "~"
    return f"{op} '^{regex}$'"


@lru_cache(maxsize=2048)
def to_postgres(sql: str, placeholders: bool = False) -> str:
    """Rewrite the project's SQLite-flavoured ``sql`` for PostgreSQL.

    :param placeholders: also turn ``?`` and ``:name`` into psycopg's ``%s`` and ``%(name)s``
        (and a literal ``%`` into ``%%``): for SQL sent straight to the driver, not through
        SQLAlchemy (which has converted its parameters already).
    """
    sql = _GLOB.sub(_glob_to_regex, sql)
    writes = bool(re.match(r"\s*(INSERT|CREATE)\b", sql, re.IGNORECASE))
    parts: list[str] = []
    pos = 0
    for literal in _LITERAL.finditer(sql):
        parts.append(_rewrite_code(sql[pos:literal.start()], placeholders, writes))
        text = literal.group(0)
        parts.append(text.replace("%", "%%") if placeholders else text)
        pos = literal.end()
    parts.append(_rewrite_code(sql[pos:], placeholders, writes))
    out = "".join(parts)
    if "format(" in out:
        # printf's %d is format's %s (format has no numeric conversions).
        out = out.replace("%%d", "%%s") if placeholders else out.replace("%d", "%s")
    return out


def _rewrite_code(code: str, placeholders: bool, writes: bool) -> str:
    """Rewrite SQL outside string literals (``writes``: the statement is an INSERT or a
    CREATE … AS)."""
    code = _IS_NOT.sub("IS DISTINCT FROM ", code)
    code = _IS.sub("IS NOT DISTINCT FROM ", code)
    code = re.sub(r"\bgroup_concat\(", "string_agg(", code, flags=re.IGNORECASE)
    code = re.sub(r"\bchar\((\d+)\)", r"chr(\1)", code, flags=re.IGNORECASE)
    code = re.sub(r"\bprintf\(", "format(", code, flags=re.IGNORECASE)
    code = re.sub(r"\bmain\.", "", code)
    code = re.sub(r"\btemp\.", "pg_temp.", code)
    code = re.sub(r"\bREAL\b", "DOUBLE PRECISION", code)
    # json_each of a bound JSON array, joined with SQLite's CROSS JOIN (which fixes the loop
    # order): PostgreSQL's set-returning function and a plain join.
    code = _JSON_EACH.sub(r"json_array_elements_text(CAST(\1 AS json)) AS \2(value) JOIN", code)
    # SQLite's LIKE ignores the case of ASCII letters; PostgreSQL's does not.
    code = re.sub(r"\bLIKE\b", "ILIKE", code)
    if writes:
        code = _ORDER_ROWID.sub("", code)  # heap order means nothing to an insert
    code = re.sub(r"\browid\b", "ctid", code)
    if placeholders:
        code = code.replace("%", "%%").replace("?", "%s")
        code = _NAMED.sub(r"%(\1)s", code)
    return code


class PgCursor:
    """A psycopg cursor with ``sqlite3.Cursor``'s ``lastrowid`` (the last serial id the
    session drew, asked for only when read)."""

    def __init__(self, cursor: Any, conn: Any) -> None:
        self._cursor = cursor
        self._conn = conn

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return list(self._cursor.fetchall())

    def __iter__(self) -> Any:
        return iter(self._cursor)

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)

    @property
    def lastrowid(self) -> int | None:
        row = self._conn.execute("SELECT lastval()").fetchone()
        return None if row is None else int(row[0])


class PgConnection:
    """A psycopg connection (autocommit, transactions begun explicitly) speaking the part of
    ``sqlite3.Connection`` the writers use; SQL goes through :func:`to_postgres`.

    Every call holds :attr:`lock`, which a thread writing into the load's transaction holds
    for the whole of its work (``etl.drops.pg_direct``): another thread's statement, commit or
    rollback waits until that work has ended, so none runs between two of its statements."""

    def __init__(self, conn: Any, *, lock_timeout_ms: int) -> None:
        self.raw = conn
        self.lock_timeout_ms = lock_timeout_ms
        self.lock = threading.RLock()
        conn.autocommit = True

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return bool(self.raw.info.transaction_status != TransactionStatus.IDLE)

    def execute(self, sql: str, params: Any = None) -> PgCursor:
        head = sql.lstrip()[:20].upper()
        if head.startswith("BEGIN"):
            self.begin(write="IMMEDIATE" in head)
            return PgCursor(self.raw.cursor(), self.raw)
        if head.startswith("PRAGMA"):
            raise ValueError(f"PRAGMA on PostgreSQL: {sql}")
        converted = to_postgres(sql, params is not None)
        with self.lock:
            return PgCursor(self.raw.execute(converted, params), self.raw)

    def executemany(self, sql: str, rows: Any) -> None:
        with self.lock, self.raw.cursor() as cur:
            cur.executemany(to_postgres(sql, True), list(rows))

    def copy_csv(self, table: str, columns: Iterable[str], chunks: Iterable[Any], *,
                 binary: bool = False) -> int:
        """``COPY table (columns) FROM STDIN`` in CSV, each chunk (bytes or a buffer: rows
        without a header) sent as it comes; the rows written. An exception while the chunks
        are made ends the COPY with an error (the transaction is then to be rolled back).

        :param binary: the chunks are PostgreSQL's binary COPY format instead (header, rows
            and trailer: the chunks' bytes one after the other)."""
        from psycopg.copy import QueuedLibpqWriter

        cols = ", ".join(f'"{c}"' for c in columns)
        form = "binary" if binary else "csv"
        # The chunks go to the server from a thread of psycopg's while the next is made.
        with self.lock, self.raw.cursor() as cur:
            with cur.copy(f"COPY {table} ({cols}) FROM STDIN (FORMAT {form})",
                          writer=QueuedLibpqWriter(cur)) as copy:
                for chunk in chunks:
                    copy.write(chunk)
            return int(cur.rowcount)  # read before the cursor closes

    def begin(self, *, write: bool) -> None:
        """Begin a transaction; a writer's waits for the write lock, as long as SQLite's busy
        timeout, and fails with ``lock_not_available`` after it."""
        with self.lock:
            self.raw.execute("BEGIN")
            if write:
                self.raw.execute(f"SET LOCAL lock_timeout = {int(self.lock_timeout_ms)}")
                self.raw.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))
                self.raw.execute("SET LOCAL lock_timeout = 0")

    def commit(self) -> None:
        with self.lock:
            self.raw.commit()

    def rollback(self) -> None:
        with self.lock:
            self.raw.rollback()
