"""On PostgreSQL, a drop's rows COPY-ed straight into their tables when its keys are new to them.

A first load (the register is empty) and a new quarter of revenue (no row is stored for its
quarters) conflict with nothing: staging them (``etl.drops.pg_stage``) and then inserting them
from the stage (``etl.drops.merge``) would write every row twice. Here the validated frame goes,
Arrow record batches written as CSV by Arrow's writer (in C++, no Python per row), through
``COPY … FROM STDIN`` on the load's own connection, inside its transaction: a failure, a
rejection or a kill rolls it back with everything else. Around a write that at least doubles its
table the indexes are dropped and built again in the same transaction
(:func:`etl.drops.stage.indexes_rebuilt`), and the references the foreign keys would check are
checked on the distinct values the frame writes (:func:`check_values`): a million credit codes
rather than the eight million revenue rows written, and of those only the codes the drop's own
register does not hold are looked up in the table.

The register is written by the staging thread while the main thread still validates revenue
(:func:`write_register`): it holds the connection's lock (``models.dialect.PgConnection.lock``)
for the whole write, so the validator's own queries, and a rollback, wait until it has ended.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from etl.drops import merge
from etl.drops.convert import fixed_width
from etl.drops.stage import (
    BATCH,
    ScratchTables,
    StageCancelled,
    _arrow_type,
    batch_reader,
    indexes_rebuilt,
)
from etl.drops.steps import Steps
from etl.drops.validate import ENTERPRISE_OPTIONAL
from models.dialect import PgConnection
from models.errors import AidashError

_CSV = pacsv.WriteOptions(include_header=False)
# The order a first load's register is written in: that of its widest index
# (``ix_enterprises_district``). The index builds after the COPY then sort rows that are
# in order, or nearly (the same names side by side): the six builds of a million firms took
# 5.3-5.6 s on a table in this order against 7.3-8.8 s in credit-code order, same server.
REGISTER_ORDER = ("district_adcode", "segment", "name_zh", "founded")
# PostgreSQL's binary COPY: the header (signature, flags, no extension) and the trailer.
_BINARY_HEADER = b"PGCOPY\n\xff\r\n\0" + bytes(8)
_BINARY_TRAILER = b"\xff\xff"
# The types binary revenue rows are laid out for (information_schema's names); a table that
# differs (an older layout, say) is written in CSV, which the server converts.
_REVENUE_TYPES = {"period": "character varying", "credit_code": "character varying",
                  "revenue": "double precision", "from_ytd": "boolean",
                  "provenance": "character varying", "etl_run_id": "integer"}
# Frame columns that are flags (0/1): written as booleans, as their table columns are.
BOOL_COLUMNS = ("from_ytd",)


# The SQL type of a referencing column's values, as bound for the lookup in its parent table.
_SQL_TYPES = {"credit_code": "text", "zone_id": "text", "segment": "text",
              "district_adcode": "bigint"}


def distinct_values(series: pd.Series) -> pa.Array:
    """The distinct non-null values of a frame column, as Arrow (a categorical's categories
    that its rows use: no hashing of its rows)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy()
        used = np.bincount(codes[codes >= 0], minlength=len(series.cat.categories)) > 0
        values = pa.array(series.cat.categories[used], from_pandas=True)
    else:
        values = pc.unique(pa.array(series, from_pandas=True).drop_null())
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values.drop_null()


def not_in(values: pa.Array, known: pa.Array) -> pa.Array:
    """The ``values`` that are not in ``known``."""
    if not len(values) or not len(known):
        return values
    if values.type != known.type:
        known = known.cast(values.type)
    return values.filter(pc.invert(pc.is_in(values, value_set=known)))


def check_values(conn: PgConnection, kind: str, column: str, values: pa.Array, *,
                 known: pa.Array | None = None) -> None:
    """Refuse a write whose ``column`` holds a value that its parent table does not (the
    check the undeclared foreign key would make, :data:`etl.drops.merge.REFERENCES`; the
    validator refuses such drops first: this is the database's own guarantee), given the
    column's distinct values (:func:`distinct_values`).

    :param known: values known to be in the parent table already, in this transaction (the
        credit codes of the drop's register, written or merged before revenue): only the
        others are looked up.
    :raises AidashError: naming the least dangling value, as
        :func:`etl.drops.merge.check_references` does; nothing is written.
    """
    parent, key = next((p, k) for c, p, k in merge.REFERENCES[kind] if c == column)
    if known is not None:
        values = not_in(values, known)
    if not len(values):
        return
    row = conn.execute(
        f"""SELECT min(v) FROM unnest(CAST(? AS {_SQL_TYPES[column]}[])) AS u(v)
            WHERE NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.{key} = u.v)""",
        (values.to_pylist(),)).fetchone()
    if row is not None and row[0] is not None:
        raise AidashError(f"{kind}: {column} {row[0]!r} is not in {parent}; nothing was "
                          "loaded (report this: the validator should have refused it)")


def codes_of(register: pd.DataFrame) -> pa.Array:
    """The credit codes of a validated register (one per firm), as Arrow, for
    :func:`check_values`' ``known``."""
    codes = pa.array(register["credit_code"], from_pandas=True)
    return codes.combine_chunks() if isinstance(codes, pa.ChunkedArray) else codes


def register_is_empty(conn: PgConnection) -> bool:
    """Whether the register holds no firm (a first load: no credit code can conflict)."""
    return not conn.execute("SELECT EXISTS (SELECT 1 FROM enterprises)").fetchone()[0]


def _batches(frame: pd.DataFrame, columns: Mapping[str, str], order: np.ndarray | None,
             stage: ScratchTables, name: str,
             on_batch: Callable[[int], None] | None) -> Iterator[pa.RecordBatch]:
    """``frame``'s ``columns`` (frame column → name) as Arrow record batches, in ``order``."""
    source = frame[list(columns)]
    schema = pa.schema([(columns[c], pa.bool_() if columns[c] in BOOL_COLUMNS
                         else _arrow_type(source[c])) for c in columns])
    failed: list[BaseException] = []
    reader = batch_reader(source, columns, schema, name=name, order=order,
                          cancelled=stage.cancelled, on_batch=on_batch, failed=failed)
    try:
        yield from reader
    except Exception:
        if failed:  # the reader wraps an exception of the batches: raise the original
            raise failed[0] from None
        raise


def _csv(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.Buffer]:
    for batch in batches:
        sink = pa.BufferOutputStream()
        pacsv.write_csv(batch, sink, write_options=_CSV)
        yield sink.getvalue()


def _fixed_width_text(series: pd.Series) -> tuple[np.ndarray, np.ndarray] | None:
    """A categorical text column as fixed-width UTF-8 bytes: (each category's bytes, each
    row's category), or None when its categories are not text or differ in width, or a row
    has none."""
    if not isinstance(series.dtype, pd.CategoricalDtype):
        return None
    codes = series.cat.codes.to_numpy()
    if len(codes) and int(codes.min()) < 0:
        return None
    categories = series.cat.categories
    if not pd.api.types.is_string_dtype(categories.dtype):
        return None
    try:
        text = pa.array(categories.array if isinstance(categories.dtype, pd.StringDtype)
                        else categories, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # not all text
        return None
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    if not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type)):
        return None
    # Their bytes as they are, a numpy view (a million credit codes: no Python per value).
    fixed = fixed_width(text)
    return (fixed, codes) if fixed is not None else None


def revenue_texts(frame: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    """Revenue's text columns as fixed-width bytes (:func:`_fixed_width_text`: a quarter, a
    credit code and a provenance of one width each, as a drop's usually are), for the binary
    COPY; None if one is not."""
    texts = {}
    for column in ("period", "credit_code", "provenance"):
        text = _fixed_width_text(frame[column])
        if text is None:
            return None
        texts[column] = text
    return texts


def binary_revenue(conn: PgConnection, frame: pd.DataFrame, *,
                   texts: dict[str, tuple[np.ndarray, np.ndarray]] | None = None
                   ) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    """Whether revenue's rows can be written in PostgreSQL's binary COPY format, each row
    of one width (laid out by numpy, no text for the server to parse): the text columns'
    bytes (:func:`revenue_texts`, or ``texts`` if computed ahead), or None (CSV). The table
    must have the columns' types the layout is for."""
    types = dict(conn.execute(
        """SELECT column_name, data_type FROM information_schema.columns
           WHERE table_schema = current_schema() AND table_name = 'enterprise_revenue'"""
    ).fetchall())
    if types != _REVENUE_TYPES:
        return None
    return texts if texts is not None else revenue_texts(frame)


def _binary_rows(frame: pd.DataFrame, texts: Mapping[str, tuple[np.ndarray, np.ndarray]],
                 order: np.ndarray | None, run_id: int, stage: ScratchTables,
                 on_batch: Callable[[int], None] | None) -> Iterator[bytes]:
    """Revenue's rows (``merge.REV_COLUMNS`` and the run) in PostgreSQL's binary COPY
    format, batch by batch in ``order``: a numpy record per row, every field's length before
    it, big-endian, as the server reads them."""
    period, credit_code, provenance = (texts[c][0] for c in ("period", "credit_code",
                                                            "provenance"))
    fields: list[tuple[str, object]] = [("n", ">i2")]
    for name, kind in (("period", period.dtype), ("credit_code", credit_code.dtype),
                       ("revenue", ">f8"), ("from_ytd", "u1"), ("provenance", provenance.dtype),
                       ("etl_run_id", ">i4")):
        fields += [(f"{name}_len", ">i4"), (name, kind)]
    row = np.dtype(fields)
    revenue = frame["revenue"].to_numpy(dtype=np.float64)
    from_ytd = frame["from_ytd"].to_numpy() != 0
    yield _BINARY_HEADER
    for i in range(0, len(frame), BATCH):
        if stage.cancelled.is_set():
            raise StageCancelled("revenue")
        rows = slice(i, i + BATCH) if order is None else order[i:i + BATCH]
        out = np.empty(min(BATCH, len(frame) - i), dtype=row)
        out["n"] = len(fields) // 2
        for name, (values, codes) in texts.items():
            out[f"{name}_len"] = values.dtype.itemsize
            out[name] = values[codes[rows]]
        out["revenue_len"], out["revenue"] = 8, revenue[rows]
        out["from_ytd_len"], out["from_ytd"] = 1, from_ytd[rows]
        out["etl_run_id_len"], out["etl_run_id"] = 4, run_id
        yield out.tobytes()
        if on_batch is not None:
            on_batch(len(out))
    yield _BINARY_TRAILER


def _register_batch(batch: pa.RecordBatch, *, run_id: int, source_id: int,
                    default_provenance: str) -> pa.RecordBatch:
    """The register's columns of a new firm from a batch of the validated register, as
    ``merge.merge_enterprises`` writes them from the stage: an optional column the firm's
    file does not have is null (the ``given`` bits), a firm without a status is active, one
    without a provenance has the drop's."""
    given = batch.column("given")
    out: dict[str, pa.Array] = {"credit_code": batch.column("credit_code")}
    for c in merge.ENT_COLUMNS:
        column = batch.column(c)
        if c in ENTERPRISE_OPTIONAL:
            bit = 1 << ENTERPRISE_OPTIONAL.index(c)
            has = pc.not_equal(pc.bit_wise_and(given, pa.scalar(bit, given.type)), 0)
            column = pc.if_else(has, column, pa.nulls(len(batch), column.type))
        if c == "status":
            column = pc.coalesce(column, pa.scalar("active", column.type))
        elif c == "provenance":
            column = pc.coalesce(column, pa.scalar(default_provenance, column.type))
        out[c] = column
    n = len(batch)
    out["source_id"] = pa.array(np.full(n, source_id, dtype=np.int64))
    out["etl_run_id"] = pa.array(np.full(n, run_id, dtype=np.int64))
    return pa.RecordBatch.from_pydict(out)


def stored_register(frame: pd.DataFrame, default_provenance: str) -> pd.DataFrame:
    """The register's values :func:`write_register` stores for the validated ``frame``
    (the same rules as :func:`_register_batch`), in the frame's order: the columns
    :func:`etl.drops.derive.register_of` takes (the order of its rows means nothing to the
    aggregates, as that of the register read back)."""
    given = frame["given"].to_numpy()
    values = {}
    for c in ("credit_code", "district_adcode", "zone_id", "segment", "founded", "status",
              "provenance"):
        column = frame[c]
        if c in ENTERPRISE_OPTIONAL:
            column = column.where((given & (1 << ENTERPRISE_OPTIONAL.index(c))) != 0)
        values[c] = column
    values["status"] = values["status"].fillna("active")
    values["provenance"] = values["provenance"].fillna(default_provenance)
    return pd.DataFrame(values)


def write_register(conn: PgConnection, stage: ScratchTables, frame: pd.DataFrame, *,
                   run_id: int, source_id: int, default_provenance: str,
                   steps: Steps | None = None) -> merge.Written:
    """COPY the validated register straight into ``enterprises`` (call it only when the
    register is empty, :func:`register_is_empty`), in :data:`REGISTER_ORDER`, its primary
    key and indexes rebuilt.

    Holds the connection's lock throughout (see the module's docstring).

    :param stage: the load's stage, whose cancel flag stops the COPY at its next batch.
    :returns: the rows per drop file, as the stage's merge counts them (every row new).
    :raises etl.drops.stage.StageCancelled: the load failed meanwhile.
    """
    columns = {"credit_code": "credit_code", **{c: c for c in merge.ENT_COLUMNS},
               "given": "given"}
    names = ["credit_code", *merge.ENT_COLUMNS, "source_id", "etl_run_id"]
    order = merge.key_order(frame, list(REGISTER_ORDER))
    with conn.lock:
        # Started after the load failed (and its transaction ended): write nothing, since a
        # statement outside the transaction would commit on its own.
        if stage.cancelled.is_set() or not conn.in_transaction:
            raise StageCancelled("enterprises")
        # The primary key too: checked and built by one sort after the COPY rather than
        # probed for every row (a million firms COPY-ed in 4 s and the key built in 1.3 s,
        # against 9.7 s with the key in place).
        with indexes_rebuilt(conn, "enterprises", len(frame),  # type: ignore[arg-type]
                             primary_key=True, steps=steps, in_thread=True):
            batches = (_register_batch(b, run_id=run_id, source_id=source_id,
                                       default_provenance=default_provenance)
                       for b in _batches(frame, columns, order, stage, "enterprises", None))
            conn.copy_csv("enterprises", names, _csv(batches))
        # The values written are the frame's, or null where its file has no such column.
        for column, _parent, _key in merge.REFERENCES["enterprises"]:
            check_values(conn, "enterprises", column, distinct_values(frame[column]))
    return _per_file(frame)


class RevenuePlan(NamedTuple):
    """What :func:`write_revenue` needs of a frame besides the connection, computed ahead
    (:func:`revenue_plan`), while the connection is busy with the register."""

    # The rows in key order (:func:`etl.drops.merge.key_order`: None when they are already).
    rows: np.ndarray | None
    # The text columns as fixed-width bytes for the binary COPY (:func:`revenue_texts`).
    texts: dict[str, tuple[np.ndarray, np.ndarray]] | None
    # The distinct credit codes to look up in the register: those the drop's own register
    # (written or merged before revenue) does not hold (:func:`check_values`).
    lookup: pa.Array


def revenue_plan(frame: pd.DataFrame, register_codes: pa.Array | None = None) -> RevenuePlan:
    """:class:`RevenuePlan` of ``frame`` (two seconds at 8M rows, done while the connection
    has other work).

    :param register_codes: the credit codes of the drop's register (:func:`codes_of`).
    """
    codes = distinct_values(frame["credit_code"])
    if register_codes is not None:
        codes = not_in(codes, register_codes)
    return RevenuePlan(merge.key_order(frame, list(merge.REV_KEY)), revenue_texts(frame),
                       codes)


def write_revenue(conn: PgConnection, stage: ScratchTables, frame: pd.DataFrame, *,
                  run_id: int, steps: Steps | None = None,
                  on_batch: Callable[[int], None] | None = None,
                  plan: RevenuePlan | None = None) -> merge.Written:
    """COPY the validated revenue straight into ``enterprise_revenue`` (call it only when
    no revenue of its quarters is stored, :func:`etl.drops.merge.revenue_stored`), in key
    order; the primary key and indexes rebuilt when the write at least doubles the table;
    every credit code checked against the register first (:func:`check_values`).

    :param plan: its order, text bytes and the codes to look up, if computed ahead
        (:func:`revenue_plan`, given the codes of the drop's register, every one in the
        register already: only the others are looked up there).
    :returns: the rows per drop file (every row new).
    :raises AidashError: a credit code not in the register (nothing is to be committed).
    """
    columns = {c: c for c in merge.REV_COLUMNS}
    plan = plan if plan is not None else revenue_plan(frame)
    rows = plan.rows
    written = _per_file(frame)
    with conn.lock:
        check_values(conn, "revenue", "credit_code", plan.lookup)
        with indexes_rebuilt(conn, "enterprise_revenue", len(frame),  # type: ignore[arg-type]
                             primary_key=True, steps=steps):
            def batches() -> Iterator[pa.RecordBatch]:
                for b in _batches(frame, columns, rows, stage, "revenue", on_batch):
                    run = pa.array(np.full(len(b), run_id, dtype=np.int64))
                    yield pa.RecordBatch.from_arrays([*b.columns, run],
                                                     names=[*b.schema.names, "etl_run_id"])

            names = [*merge.REV_COLUMNS, "etl_run_id"]
            # Text of one width known ahead, or not (then CSV, without looking again).
            texts = (binary_revenue(conn, frame, texts=plan.texts)
                     if plan.texts is not None else None)
            if texts is not None:
                conn.copy_csv("enterprise_revenue", names,
                              _binary_rows(frame, texts, rows, run_id, stage, on_batch),
                              binary=True)
            else:
                conn.copy_csv("enterprise_revenue", names, _csv(batches()))
    return written


def _per_file(frame: pd.DataFrame) -> merge.Written:
    per_file = frame.groupby("_t").size()
    return merge.Written("", {int(t): int(n) for t, n in per_file.items()})
