"""Reading a quarterly drop: every data file, or every data sheet of a workbook, as a Table.

This is the *read* step of the drop loader (``etl.drops.load``). :func:`read_drop` finds the
files and hashes them (:mod:`etl.drops.files`), parses each (:mod:`etl.drops.csv_reader`,
:mod:`etl.drops.xlsx_reader`) and maps its headers (:mod:`etl.drops.headers`): the result is a
:class:`~etl.drops.headers.Table` per file or sheet, a DataFrame of stripped strings under the
canonical column names of ``data/column_map.csv``. Nothing here converts types or looks at the
database; that is ``etl.drops.validate``. Everything that can be wrong with a file as a file
(its name, its encoding, a truncated row, an unknown or missing column) becomes a
:class:`~models.problems.Problem` instead of an exception, so that one run reports every
problem of a drop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from etl.drops.csv_reader import read_csv_file
from etl.drops.drop_files import UnsafeEntry
from etl.drops.files import DropFile, discover, fingerprint, read_source
from etl.drops.headers import ColumnMap, Table, load_column_map
from etl.drops.xlsx_reader import read_xlsx_file
from models.problems import Problem


@dataclass
class ReadResult:
    """Everything read from a drop folder."""

    files: list[DropFile] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    source: dict[str, object] | None = None


def read_drop(drop_dir: Path, *, column_map: ColumnMap | None = None,
              ignore: tuple[Path, ...] = (),
              on_file: Callable[[DropFile], None] | None = None) -> ReadResult:
    """Read every data file of a drop folder (files are hashed first: see
    :func:`etl.drops.files.fingerprint`).

    :param ignore: paths in the folder that are not data (the report about to be written).
    :param on_file: called after each file is read (progress display).
    """
    column_map = column_map or load_column_map()
    result = ReadResult()
    result.files, result.problems = discover(drop_dir, ignore=ignore)
    result.source, source_problems = read_source(drop_dir)
    result.problems.extend(source_problems)
    for file in result.files:
        problem = fingerprint(file)
        if problem is not None:
            result.problems.append(problem)
    result.tables, problems = read_tables(result.files, column_map, on_file=on_file)
    result.problems.extend(problems)
    return result


def read_tables(files: list[DropFile], column_map: ColumnMap, *,
                on_file: Callable[[DropFile], None] | None = None,
                ) -> tuple[list[Table], list[Problem]]:
    """Parse fingerprinted files into tables (files that did not decode are skipped)."""
    tables: list[Table] = []
    problems: list[Problem] = []
    for file in files:
        try:
            if file.path.suffix.lower() == ".csv":
                if file.encoding is None:
                    continue
                got, found = read_csv_file(file, column_map)
            else:
                got, found = read_xlsx_file(file, column_map)
        except UnsafeEntry as exc:  # replaced by a link or another file since it was hashed
            got, found = [], [Problem(file.name, None, None, None, None, exc.reason)]
        tables.extend(got)
        problems.extend(found)
        # pyarrow's allocator keeps freed blocks (the raw text of the file just parsed) for
        # reuse; hand them back so that they do not add to the peak of the steps that follow.
        pa.default_memory_pool().release_unused()
        if on_file is not None:
            on_file(file)
    return tables, problems
