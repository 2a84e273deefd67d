"""One validation problem, as it appears in a rejection report."""

from __future__ import annotations

from dataclasses import dataclass, fields

REPORT_COLUMNS = ("file", "sheet", "row", "column", "value", "reason")


@dataclass(frozen=True)
class Problem:
    """What is wrong, and where: ``row`` is the 1-based line or sheet row as a spreadsheet shows it
    (the header is row 1), or None when the problem concerns the whole file."""

    file: str
    sheet: str | None
    row: int | None
    column: str | None
    value: str | None
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
