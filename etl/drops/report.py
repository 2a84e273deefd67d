"""Rejecting a drop: the rejection report CSV, the summary the CLI prints, the ``rejected`` run.

The report lists every problem, one row each; the summary counts them by file and reason,
shows the first few and says what to do next.
"""

from __future__ import annotations

import csv
import os
import sqlite3
import tempfile
from contextlib import suppress
from pathlib import Path
from typing import NoReturn

import numpy as np
import pandas as pd

from etl.drops.collector import problems_as_list
from etl.drops.run_record import record_run
from etl.drops.validate import ValidDrop
from models.errors import DropRejected, is_busy
from models.problems import REPORT_COLUMNS

# The summary shows this many (file, reason) counts, then this many problems in full.
SUMMARY_GROUPS = 8
SUMMARY_EXAMPLES = 5
# Leading characters that make Excel treat a cell of a CSV as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def display_path(path: Path) -> str:
    """The path as given, made relative to the working directory when it lies below it."""
    if path.is_absolute():
        try:
            return str(path.relative_to(Path.cwd()))
        except ValueError:
            return str(path)
    return str(path)


def _excel_safe(value: object) -> object:
    """Report cells that Excel would evaluate get a leading apostrophe (plain numbers stay)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        try:
            float(value)
            return value
        except ValueError:
            return "'" + value
    return value


def write_report(path: Path, problems: pd.DataFrame) -> None:
    """The rejection report: one row per problem, UTF-8 with BOM so Excel opens it.

    It is written to a new file in the report's folder, then renamed over ``path``: a
    ``rejections.csv`` that is a link (left in a drop, perhaps to a file of the host) is
    replaced, never written through, and a reader never sees half a report.

    :raises OSError: the folder does not exist or cannot be written (nothing is left behind).
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(REPORT_COLUMNS)
            for rec in problems.itertuples(index=False, name=None):
                writer.writerow(["" if v is None or v is pd.NA or (isinstance(v, float)
                                                                  and np.isnan(v))
                                 else _excel_safe(v) for v in rec])
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


def rejection_summary(drop_name: str, problems: pd.DataFrame, report: str,
                      report_error: str | None = None) -> str:
    """A few lines: problems by file and reason, the first few, and what to do next.

    :param report_error: why the report could not be written to ``report``, if it could not.
    """
    n = len(problems)
    n_files = problems["file"].nunique()
    lines = [(f"Drop {drop_name} rejected: {n:,} problem{'s' if n != 1 else ''} in "
              f"{n_files} file{'s' if n_files != 1 else ''}.")]
    groups = problems.groupby(["file", "reason"], sort=False).size()
    for (file, reason), count in list(groups.items())[:SUMMARY_GROUPS]:
        lines.append(f"  {file}: {count:,} × {reason}")
    if len(groups) > SUMMARY_GROUPS:
        lines.append(f"  … and {len(groups) - SUMMARY_GROUPS:,} more kinds of problem")
    lines.append("First problems:")
    for p in problems_as_list(problems.head(SUMMARY_EXAMPLES)):
        where = p.file + (f" sheet {p.sheet}" if p.sheet else "") + (
            f" row {p.row}" if p.row is not None else "") + (
            f", column {p.column}" if p.column else "") + (
            f", value '{p.value}'" if p.value is not None else "")
        lines.append(f"  {where}: {p.reason}")
    if report_error is not None:
        lines.append(f"Nothing was loaded. The report could not be written to {report} "
                     f"({report_error}): fix the problems above, or pass --report a file in a "
                     "folder you can write to for the full list, and run the load again.")
    else:
        lines.append(f"Nothing was loaded. Fix the rows listed in {report} and run the load "
                     "again.")
    return "\n".join(lines)


def reject(conn: sqlite3.Connection, valid: ValidDrop, report: Path, *, drop_name: str,
           drop_label: str, started: str, rows_read: int, dry_run: bool) -> NoReturn:
    """Write the report, record the ``rejected`` run (not for a dry run) and raise.

    :param conn: the load's connection, outside any transaction.
    :raises DropRejected: always, with the summary and every problem.
    """
    report_error = None
    try:
        write_report(report, valid.problems)
    except OSError as exc:
        report_error = exc.strerror or str(exc)
    summary = rejection_summary(drop_name, valid.problems, display_path(report), report_error)
    rejected_rows = valid.problems.dropna(subset=["row"]).drop_duplicates(
        ["file", "sheet", "row"])
    if not dry_run:
        try:
            record_run(conn, status="rejected", drop_path=drop_label,
                       data_period=valid.data_period, started=started, message=summary,
                       rows_read=rows_read, rows_rejected=len(rejected_rows))
        except Exception as exc:  # sqlite3's "locked", or PostgreSQL's lock timeout
            if not is_busy(exc):
                raise
            # The problems matter more than the history row: show them, and say why the
            # attempt is missing from the history.
            summary += ("\nThe attempt is not in `aidash etl history`: another writer holds "
                        "the database.")
    raise DropRejected(summary, problems_as_list(valid.problems),
                       display_path(report) if report_error is None else None)
