"""Writing a valid drop, inside the load's open transaction: stage, merge, derive, record.

The register and zone metrics are staged (the register perhaps already, in the staging thread,
while the rest was validated) and merged; revenue is staged in the staging thread meanwhile,
then merged; the aggregates of the touched quarters are derived last, from the drop's own
revenue rows when they are the whole of their quarters. The run row is inserted first and
finished last, all in the same transaction (see :mod:`etl.drops.load`). On PostgreSQL, rows whose
keys are new to their table skip the stage and go straight in by COPY (``etl.drops.pg_direct``:
a first load's register, already in the thread while revenue was validated, and revenue of
quarters that hold none).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from etl.drops import before_load, derive, merge
from etl.drops.background import Background, stage_frame, stage_specs
from etl.drops.code_bytes import codes_of, sorted_codes
from etl.drops.committed_register import CommittedRegister
from etl.drops.read import ReadResult
from etl.drops.results import FileResult, LoadResult
from etl.drops.run_record import insert_run, insert_run_files
from etl.drops.sources import ensure_source, source_row
from etl.drops.stage import Stage
from etl.drops.steps import Step, Steps
from etl.drops.validate import ValidDrop

if TYPE_CHECKING:
    from etl.drops.pg_direct import RevenuePlan

# source.json's provenance values that make a drop's rows sample data.
SAMPLE_PROVENANCES = ("sample", "样例", "样本")


@dataclass(frozen=True)
class RunRows:
    """The run row and source row of a load, inserted before its writes began."""

    run_id: int
    source_id: int
    source_created: bool


def drop_provenance(read: ReadResult) -> str:
    """The provenance of a drop's rows that do not name one: its ``source.json``'s."""
    source = read.source or {}
    return ("sample" if str(source.get("provenance", "")).strip().lower()
            in SAMPLE_PROVENANCES else "reported")


def begin_run(conn: sqlite3.Connection, read: ReadResult, *, drop_name: str, drop_label: str,
              started: str, data_period: str | None) -> RunRows:
    """Insert the load's ``running`` run row and its source (if new), in the transaction."""
    run_id = insert_run(conn, status="running", drop_path=drop_label,
                        data_period=data_period, started=started)
    source_id, source_created = ensure_source(
        conn, source_row(read.source, drop_name, drop_provenance(read)))
    return RunRows(run_id, source_id, source_created)


def write_drop(conn: sqlite3.Connection, stage: Stage, background: Background,
               valid: ValidDrop, read: ReadResult, *, drop_name: str, drop_label: str,
               started: str, steps: Steps, run: RunRows | None = None,
               direct: bool = False, revenue_plan: RevenuePlan | None = None) -> LoadResult:
    """Every write of a valid drop, inside the open transaction.

    :param background: the staging thread (the register may be in the stage already, or,
        on PostgreSQL, being written straight into its table: ``run`` is then the run its
        rows name).
    :param run: the run row, if inserted already (its data period is set here).
    :param direct: on PostgreSQL, a load (not a dry run): revenue of quarters that hold none
        yet is COPY-ed straight into its table (``etl.drops.pg_direct``) instead of staged.
    :param revenue_plan: how it is written (``etl.drops.pg_direct.revenue_plan``), if
        computed already (else computed in the thread while the register is merged).
    :returns: the counts; the run row is left ``succeeded`` (or ``noop``) but not finished.
    """
    default_provenance = drop_provenance(read)
    # A run inserted already: the register is being written straight into its empty table.
    register_copied = run is not None
    if run is None:
        run = begin_run(conn, read, drop_name=drop_name, drop_label=drop_label,
                        started=started, data_period=valid.data_period)
    else:
        conn.execute("UPDATE etl_runs SET data_period = ? WHERE id = ?",
                     (valid.data_period, run.run_id))
    run_id, source_id, source_created = run.run_id, run.source_id, run.source_created
    per_table: dict[int, tuple[int, int]] = {}
    specs = stage_specs(valid)
    staged: dict[str, merge.Staged] = {}
    # The validated register, when the table will hold exactly its values: written whole into
    # the empty table (a first load), or resent whole (see below). The aggregates' view of the
    # register is then made from it in the thread, while revenue is written, instead of being
    # read back from the table.
    firms = valid.enterprises if register_copied else None
    resent = (valid.enterprises if firms is None and valid.enterprises is not None
              and merge.resends_every_value(valid.enterprises) else None)
    early = background.result("enterprises")
    # A register resent mostly unchanged: the aggregates' view of the register it leaves is
    # being made in the thread (:func:`early_register`), perhaps still.
    register_pending = background.started("register")
    # It will be made (see early_register) when the comparison left most of the register out
    # of the stage and classified the rest.
    early_expected = (register_pending and isinstance(early, merge.Staged) and early.classified
                      and valid.enterprises is not None
                      and 2 * early.left_out >= len(valid.enterprises))
    rev_direct = None
    if direct and valid.revenue is not None and len(valid.revenue) and not merge.revenue_stored(
            conn, valid.revenue_periods):
        rev_direct = valid.revenue  # written after the register's merge
        if revenue_plan is None:
            from etl.drops import pg_direct

            # The drop's register is in the table before revenue is written: its credit
            # codes need not be looked up there.
            background.run("revenue plan", Step.MERGE, pg_direct.revenue_plan, rev_direct,
                           pg_direct.codes_of(valid.enterprises)
                           if valid.enterprises is not None else None)
    written_register = False
    if isinstance(early, merge.Written):
        per_table.update(early.inserted())
        written_register = True
    elif early is not None:
        staged["enterprises"] = early
        stage.attach("enterprises")
    for kind, label in (("enterprises", "Staging enterprises"),
                        ("zone_metrics", "Staging zone metrics")):
        if written_register and kind == "enterprises":
            continue
        if kind in specs and kind not in staged:
            steps.show(label, len(specs[kind][0]))
            with steps.timed(Step.STAGE):
                staged[kind] = stage_frame(stage, kind, *specs[kind], on_batch=steps.advance)
            stage.attach(kind)
    count_periods = [valid.data_period] if (
        valid.data_period and valid.enterprises is not None) else []
    # The revenue rows are kept for the aggregates, in case they turn out to be the whole of
    # their quarters; the other frames are staged: free them before the merges, whose SQL
    # (page cache, sorts, index builds) needs the memory.
    revenue = (valid.revenue[list(derive.REVENUE_COLUMNS)]
               if valid.revenue is not None else None)
    valid.enterprises = valid.revenue = valid.observations = None
    rev_spec = specs.pop("revenue", None)
    del specs
    if rev_direct is not None:
        rev_spec = None
    rev_put = rev_spec is not None
    register_later = False
    # Revenue is staged in the background while this thread merges the register and
    # rebuilds its indexes.
    steps.show("Merging the register" + (", staging revenue" if rev_spec else ""),
               len(rev_spec[0]) if rev_spec else None)
    database = before_load.database_file(conn)
    stored_quarters = (merge.stored_periods(conn, valid.revenue_periods)
                       if database is not None and revenue is not None else [])
    if rev_spec is not None:
        frame, columns, keys = rev_spec
        with steps.timed(Step.MERGE):
            frame["_cmp"] = merge.may_be_stored(conn, frame, valid.revenue_periods)
        if register_pending and stored_quarters:
            # The thread is still making the register's view, and will then read and sum a
            # revised quarter's rows: revenue is staged by a second worker meanwhile, rather
            # than queued behind that work, while this thread merges the register.
            background.run_aside("revenue", Step.STAGE, stage_frame, stage, "revenue", frame,
                                 {**columns, "_cmp": "cmp"}, keys, steps.advance)
            # The register's merge does not need the early register: it is taken after.
            # (Not when revenue is queued behind it in the thread: the register's merge
            # would then only take cores from the work revenue waits for.)
            register_later = early_expected
        else:
            background.put("revenue", frame, {**columns, "_cmp": "cmp"}, keys,
                           on_batch=steps.advance)
        del frame
    del rev_spec
    # The early register, None unless made (or until taken below).
    register = None if register_later else background.result("register")
    made_early = register_later or register is not None
    if (not made_early and not direct and resent is not None
            and (valid.revenue_periods or count_periods)):
        # A register resent whole: once merged, the table may hold exactly its values (checked
        # after the merge). The aggregates' view of it is made from the frame in the thread
        # meanwhile, instead of reading a million firms back after the merge.
        background.run("register view", Step.AGGREGATE, _register_view, resent,
                       default_provenance)
    if stored_quarters and database is not None:
        # The quarters' other rows, should the drop's be written whole (see the revenue's
        # merge below): read from the committed state by a process of their own, and less
        # the drop's firms in the thread, meanwhile.
        background.run("committed revenue", Step.AGGREGATE, before_load.committed_others,
                       before_load.read_quarters(database, stored_quarters), stored_quarters,
                       revenue)
    if "enterprises" in staged:
        with steps.timed(Step.MERGE):
            per_table.update(merge.merge_enterprises(
                conn, staged["enterprises"], run_id=run_id, source_id=source_id,
                default_provenance=default_provenance, steps=steps))
    if "zone_metrics" in staged:
        with steps.timed(Step.MERGE):
            merge.merge_observations(conn, staged["zone_metrics"], run_id=run_id,
                                     source_id=source_id)
            # A zone row counts once: updated if any of its values was revised, else
            # inserted if any was new.
            per_table.update(merge.file_counts(conn, """
                SELECT t, sum(CASE WHEN changed = 0 AND new = 1 THEN 1 ELSE 0 END),
                       sum(changed) FROM (
                    SELECT t, row,
                           max(CASE WHEN action = 'changed' THEN 1 ELSE 0 END) AS changed,
                           max(CASE WHEN action = 'new' THEN 1 ELSE 0 END) AS new
                    FROM temp.obs_chg GROUP BY t, row) AS per_row GROUP BY t"""))
    if register_later:
        register = background.result("register")
        made_early = register is not None
    count_periods += valid.revenue_periods
    if (rev_direct is not None and revenue is not None and resent is not None
            and conn.execute("SELECT count(*) FROM enterprises").fetchone()[0] == len(resent)):
        firms = resent  # the register holds no firm but the drop's, each with its values
    del resent
    if rev_direct is None or revenue is None:
        firms = None  # the view is made in the thread only while revenue is written
    # The aggregates' read of the register, while the staging thread may still be busy.
    if not made_early and firms is None and (valid.revenue_periods or count_periods):
        view = background.result("register view")  # None unless made
        if view is not None:
            # The drop's firms hold its values: the others are read back alone.
            with steps.timed(Step.READ_REGISTER):
                codes = _drop_codes(conn, staged.get("enterprises"))
                register = derive.register_beside(
                    conn, view, codes if codes is not None else sorted_codes(view))
                del codes
        if register is None:
            with steps.timed(Step.READ_REGISTER):
                register = derive.read_register(conn)
        del view
    split_rows: list[tuple[object, ...]] | None = None
    drop_sums = None
    if made_early and rev_put and revenue is not None and not stored_quarters:
        # The register was ready before revenue is, and the drop's quarters are new: their
        # rows are summed here while the thread stages them. (A revised quarter's are summed
        # in the thread, while this one merges them and the thread reads the quarter's
        # other rows: summed here, they would wait on the same interpreter as that read.)
        with steps.timed(Step.AGGREGATE):
            drop_sums = derive.aggregate_rows(register, revenue, valid.revenue_periods,
                                              count_periods)
    rev_staged = background.result("revenue")
    if rev_direct is not None:
        from etl.drops import pg_direct

        if (register is not None or firms is not None) and revenue is not None:
            # The drop's rows are the whole of their quarters: summed in the thread while
            # this one writes them.
            background.run("aggregates", Step.AGGREGATE, _aggregate_rows, register, firms,
                           default_provenance, revenue, valid.revenue_periods, count_periods)
        del firms
        steps.show("Writing revenue", len(rev_direct))
        with steps.timed(Step.MERGE):
            per_table.update(pg_direct.write_revenue(
                conn, stage, rev_direct, run_id=run_id, steps=steps,  # type: ignore[arg-type]
                on_batch=steps.advance,
                plan=revenue_plan or background.result("revenue plan")).inserted())
        del rev_direct
    elif rev_staged is not None:
        staged["revenue"] = rev_staged
        stage.attach("revenue")
        if drop_sums is None and register is not None and revenue is not None:
            # The drop's rows will be the whole of their quarters, or (if every one of them
            # is written) a part of them apart from the rest: they are summed in the thread
            # while this one merges them (unused if neither).
            background.run("aggregates", Step.AGGREGATE, derive.aggregate_rows, register,
                           revenue, valid.revenue_periods, count_periods)
        steps.show("Merging revenue")
        with steps.timed(Step.MERGE):
            counts, whole = merge.merge_revenue(conn, staged["revenue"], valid.revenue_periods,
                                                run_id=run_id)
        per_table.update(counts)
        if not whole:
            # Every row of the drop new or changed: each now carries this run.
            written = sum(i + u for i, u in counts.values()) == (
                len(revenue) if revenue is not None else -1)
            committed = background.result("committed revenue")
            split_rows = (_with_other_runs(
                conn, revenue, register, valid.revenue_periods, run_id, steps,
                drop_part=(partial(background.result, "aggregates") if drop_sums is None
                           else lambda: drop_sums),
                committed=committed)
                if written else None)
            del committed
            revenue = None
    steps.show("Deriving aggregates")
    base_rows = drop_sums if drop_sums is not None else background.result("aggregates")
    if revenue is None:
        base_rows = split_rows  # None: computed from the stored rows instead
    with steps.timed(Step.DERIVE):
        derived = derive.refresh_aggregates(
            conn, run_id, revenue_periods=valid.revenue_periods, count_periods=count_periods,
            revenue_rows=revenue, register=register, base_rows=base_rows)
    del revenue, register, base_rows
    if source_created and not conn.execute(
            """SELECT EXISTS (SELECT 1 FROM observations WHERE source_id = :s)
                   OR EXISTS (SELECT 1 FROM enterprises WHERE source_id = :s)""",
            {"s": source_id}).fetchone()[0]:
        conn.execute("DELETE FROM sources WHERE id = ?", (source_id,))

    results = []
    for ti, table in enumerate(read.tables):
        inserted, updated = per_table.get(ti, (0, 0))
        results.append(FileResult(table.file, table.sheet, table.kind, table.encoding,
                                  table.sha256, table.rows_read, inserted, updated, 0))
    insert_run_files(conn, run_id, results)
    inserted = sum(r.inserted for r in results)
    updated = sum(r.updated for r in results)
    rows_read = sum(r.rows_read for r in results)
    changed = bool(inserted or updated or derived.inserted or derived.updated)
    message = (f"derived aggregates: {derived.inserted:,} inserted, {derived.updated:,} updated; "
               f"source: {source_row(read.source, drop_name, default_provenance)['title']}")
    conn.execute(
        """UPDATE etl_runs SET status = ?, rows_read = ?, rows_inserted = ?, rows_updated = ?,
               rows_rejected = 0, message = ? WHERE id = ?""",
        ("succeeded" if changed else "noop", rows_read, inserted, updated,
         message if changed else f"no values changed; {message}", run_id))
    return LoadResult(drop_name, run_id, changed, read=rows_read, inserted=inserted,
                      updated=updated, rejected=0, files=results,
                      data_period=valid.data_period, derived_inserted=derived.inserted,
                      derived_updated=derived.updated)


def _drop_codes(conn: sqlite3.Connection, staged: merge.Staged | None) -> np.ndarray | None:
    """The drop's credit codes as sorted 18-byte strings, from its staged register if they
    can be had there (None: they are taken from the register's view)."""
    if staged is None:
        return None
    if staged.codes is not None:
        return staged.codes
    # The stage holds every firm of the drop unless some were left out.
    return codes_of(conn, staged.table) if not staged.left_out else None


def early_register(committed: CommittedRegister, firms: pd.DataFrame,
                   default_provenance: str) -> pd.DataFrame | None:
    """What :func:`etl.drops.derive.read_register` will read back once ``firms``, a register
    resent with every value, is merged: their :func:`_register_view` and the committed firms
    not among them. Made in the thread while the rest of the drop is checked, when most of
    its rows were left out of the stage as unchanged (None otherwise: a first load's register
    is staged whole, and its view is made after validation, past the load's peak of memory).
    """
    others, order = committed.others, committed.order
    if (others is None or order is None or committed.left_out * 2 < len(firms)
            or not committed.resent):
        return None
    # In credit-code order, the committed firms after the drop's (each part sorted): looking
    # firms up in it then needs no sort of a million codes (etl.drops.code_bytes.positions).
    view = _register_view(firms, default_provenance).take(order).reset_index(drop=True)
    if not others.num_rows:
        return view
    return derive.joined(view, derive.register_of(others.to_pandas()))


def _register_view(firms: pd.DataFrame, default_provenance: str) -> pd.DataFrame:
    """:func:`etl.drops.derive.register_of` the values the merge stores for ``firms``, a
    register resent with every value (:func:`etl.drops.merge.resends_every_value`)."""
    from etl.drops import pg_direct

    return derive.register_of(pg_direct.stored_register(firms, default_provenance))


def _aggregate_rows(register: pd.DataFrame | None, firms: pd.DataFrame | None,
                    default_provenance: str, revenue: pd.DataFrame, periods: list[str],
                    count_periods: list[str]) -> list[tuple[object, ...]]:
    """:func:`etl.drops.derive.aggregate_rows`, over the register read back or else over the
    view of it made from ``firms``, the validated register the table holds exactly."""
    if register is None:
        from etl.drops import pg_direct

        assert firms is not None
        register = derive.register_of(pg_direct.stored_register(firms, default_provenance))
    return derive.aggregate_rows(register, revenue, periods, count_periods)


def _with_other_runs(conn: sqlite3.Connection, revenue: pd.DataFrame | None,
                     register: pd.DataFrame | None, periods: list[str], run_id: int,
                     steps: Steps, *, drop_part: Callable[[], list[tuple[object, ...]] | None],
                     committed: pd.DataFrame | None = None) -> list[tuple[object, ...]] | None:
    """The aggregate base rows of quarters that held revenue before this drop, when every
    row of the drop was written (new or changed, so that each carries this run): the drop's
    rows and the stored rows of other runs (:func:`etl.drops.derive.other_runs_revenue`) are
    then all there is to them, each part summed apart, since the sums add up.

    :param drop_part: waits for the drop's rows summed in the thread (during the merge),
        and returns them (None if they were not); the other runs' rows are summed here
        meanwhile.
    :param committed: on SQLite, the other runs' rows read from the committed state in the
        thread (:func:`etl.drops.before_load.committed_others`), if they could be.
    """
    if revenue is None or register is None:
        return None
    others = committed if committed is not None else derive.other_runs_revenue(
        conn, len(revenue), periods, run_id, all_written=True)
    if others is None:
        return None
    with steps.timed(Step.AGGREGATE):
        other_rows = derive.aggregate_rows(register, others, periods, [])
    del others
    drop_rows = drop_part()
    return None if drop_rows is None else drop_rows + other_rows
