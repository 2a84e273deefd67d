"""The rules a drop's values follow, and the words a rejection report gives each broken rule.

The enumerations a drop may spell several ways (status, provenance, basis), the report text of
every check (:data:`REASONS`), and the range checks as a pandera schema built from
``data/column_map.csv`` (:func:`range_schema`). Pandera's failure cases are turned back into
this module's own texts, so a report never shows a library's wording.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pandera.pandas as pa_schema

from etl.drops.headers import ColumnMap

STATUS_VALUES = {"active": "active", "存续": "active", "在业": "active", "开业": "active",
                 "suspended": "suspended", "停业": "suspended", "歇业": "suspended",
                 "deregistered": "deregistered", "注销": "deregistered",
                 "movedout": "moved_out", "迁出": "moved_out"}
PROVENANCE_VALUES = {"reported": "reported", "报告": "reported", "上报": "reported",
                     "sample": "sample", "样例": "sample", "样本": "sample"}
BASIS_VALUES = {"quarterly": "quarterly", "当季": "quarterly", "本季": "quarterly",
                "ytd": "ytd", "累计": "ytd", "年初至今": "ytd"}

REASONS = {
    "missing": "required value is missing",
    "number": "not a number",
    "formula": "a formula, not a number: paste the values instead (Paste Special → Values)",
    "nonnegative": "must not be negative",
    "whole": "must be a whole number",
    "zone": "unknown zone: not in the zones table (data/zones.csv)",
    "district": "unknown district: expected one of the 16 district adcodes 310101…310151",
    "segment": "unknown segment: expected a code or Chinese name from data/segments.csv",
    "status": ("unknown status: expected active/存续, suspended/停业, deregistered/注销 or "
               "moved_out/迁出"),
    "provenance": "unknown provenance: expected reported or sample/样例",
    "basis": "unknown basis: expected quarterly/当季 or ytd/累计",
    "date": "not a date: use YYYY-MM-DD, YYYY/M/D or YYYY年M月D日",
    "unknown_enterprise": ("unknown enterprise: the credit code is neither in this drop's "
                           "enterprises file nor in the database"),
    "zone_ytd": ("zone metrics are stocks at the end of a quarter: give the quarter, not a "
                 "year-to-date period"),
    "no_values": "row has no metric values",
    "basis_conflict": "basis says quarterly but the period is year-to-date (1-n月)",
}



def range_schema(column_map: ColumnMap, kind: str,
                 today: date) -> tuple[pa_schema.DataFrameSchema, dict[tuple[str, int], str]]:
    """The pandera schema of a kind's typed frame: the range checks of its columns.

    Numbers and counts must not be negative, counts must be whole, dates and periods must not
    lie in the future. Returns the schema and the name of each (column, check number): a key
    of :data:`REASONS` or ``future_date``/``future_period``, which the report words itself.
    """
    columns: dict[str, pa_schema.Column] = {}
    names: dict[tuple[str, int], str] = {}
    limit = pd.Timestamp(today)

    def add(column: str, checks: list[tuple[str, pa_schema.Check]]) -> None:
        columns[column] = pa_schema.Column(checks=[c for _, c in checks], nullable=True,
                                           required=False)
        for i, (name, _) in enumerate(checks):
            names[(column, i)] = name

    for column, spec in column_map.specs[kind].items():
        checks: list[tuple[str, pa_schema.Check]] = []
        if spec.dtype in ("number", "int"):
            checks.append(("nonnegative", pa_schema.Check.ge(0)))
        if spec.dtype == "int":
            checks.append(("whole", pa_schema.Check(lambda s: (s % 1) == 0)))
        if spec.dtype == "date":
            checks.append(("future_date", pa_schema.Check(lambda s: s <= limit)))
        if checks:
            add(column, checks)
    add("period_end", [("future_period", pa_schema.Check(lambda s: s <= limit))])
    return pa_schema.DataFrameSchema(columns, strict=False), names


def run_schema(schema: pa_schema.DataFrameSchema, names: dict[tuple[str, int], str],
               typed: pd.DataFrame) -> pd.DataFrame:
    """Failure cases of ``schema`` on ``typed``: columns ``index``, ``column``, ``check`` (the
    check's name in ``names``)."""
    try:
        # inplace: the schema only checks (no coercion), so the frame need not be copied.
        schema.validate(typed, lazy=True, inplace=True)
    except pa_schema.errors.SchemaErrors as exc:
        fc = exc.failure_cases.dropna(subset=["index", "check_number"])
        checks = [names[(str(c), int(n))] for c, n in zip(fc["column"], fc["check_number"])]
        return pd.DataFrame({"index": fc["index"].to_numpy(), "column": fc["column"].to_numpy(),
                             "check": checks})
    return pd.DataFrame(columns=["index", "column", "check"])
