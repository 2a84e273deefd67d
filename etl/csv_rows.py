"""Small hand-edited CSV files of ``data/`` (zones, segments, metrics, facts, scope map)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple


class CsvRow(NamedTuple):
    """One data row of a CSV file with its spreadsheet row number (the header is row 1)."""

    row: int
    values: dict[str, str]


def read_rows(path: Path, required: Sequence[str], *, missing_file: type[Exception],
              invalid: type[Exception]) -> list[CsvRow]:
    """Read a UTF-8 CSV (BOM allowed), check that ``required`` columns are present, trim cells
    and skip blank rows.

    :param missing_file: raised when the file does not exist.
    :param invalid: raised for a missing column or a row with more cells than the header.
    """
    if not path.is_file():
        raise missing_file(f"{path.name}: file not found at {path}")
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in reader.fieldnames or []]
        missing = [c for c in required if c not in header]
        if missing:
            raise invalid(f"{path.name}: missing column(s) {', '.join(missing)}; "
                          f"the header must name {', '.join(required)}")
        rows = []
        for number, raw in enumerate(reader, start=2):
            if None in raw:  # more cells than header columns: usually an unquoted comma
                raise invalid(f"{path.name}, row {number}: {len(header) + len(raw[None])} values "
                              f"for {len(header)} columns; quote cells that contain commas")
            values = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
            if any(values.values()):
                rows.append(CsvRow(number, values))
    return rows
