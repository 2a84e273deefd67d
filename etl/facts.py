"""Load the reported facts (``data/reference/shanghai_ai_facts.csv``) as observations.

Read → clean → write:

* :func:`read_facts` and :func:`read_scope_map` read the two CSV files;
* :func:`clean_facts` turns each fact into one observation row and one source row, or skips it
  with a recorded reason (a date as value, a scope that is not an area, no reference period);
  the fields of a fact (unit and markers, source key, date, kind, basis) are read by
  :mod:`etl.fact_fields`;
* :func:`load_facts` writes them in one transaction and records one ``etl_runs`` row
  (kind ``facts``).

Every fact keeps its source: one ``sources`` row per distinct (title, publication, date, quote),
keyed by a hash of those four, with the fact's confidence and caveat. Facts for the same metric,
scope and period from different sources all load, side by side; the ``series_of_record`` view
picks one of them (confidence, then publication date, then source id).

Rerunning with an unchanged file writes nothing and records a ``noop`` run. A fact whose value
(or unit, bounds, period label …) changed is *superseded*: the old observation gets
``superseded_by`` = the new run and the new value is inserted. A fact that left the file is
superseded without a replacement. Nothing is deleted.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Table, and_, bindparam, insert, select, update
from sqlalchemy.engine import Connection, Engine

from etl.csv_rows import CsvRow, read_rows
from etl.fact_fields import (
    fact_basis,
    fact_kind,
    parse_unit,
    published_date,
    source_key,
)
from etl.geography import ETL_RUNS, UpsertCounts, start_run, upsert_rows, utcnow
from models.errors import AidashError, CellError
from models.periods import parse_fact_period
from models.tables import CONFIDENCES, SCOPE_RELATIONS, SCOPE_TYPES, Observation, Source

OBSERVATIONS: Table = Observation.__table__  # type: ignore[attr-defined]
SOURCES: Table = Source.__table__  # type: ignore[attr-defined]

FACT_COLUMNS = ("metric", "zone_or_scope", "period", "value", "unit", "source_title",
                "source_url_or_publication", "source_date", "quote", "confidence", "caveat")
SCOPE_MAP_FILE = "scope_map.csv"
SCOPE_MAP_COLUMNS = ("scope_text", "scope_type", "scope_id", "note")
# scope_map.csv may send a scope to no observation at all; the note is the recorded reason.
SKIP_SCOPE = "skip"

# Published unit → catalogue unit it may be converted to, and the factor.
UNIT_CONVERSIONS = {
    ("million square metres", "square metres"): 1_000_000.0,
    ("EFLOPS", "PFLOPS"): 1_000.0,
}
# A parenthesis that only carries a unit marker ("(lower bound: 'over')", "(approx.)").
_MARKER_ONLY = re.compile(r"\s*\((?:lower bound|approx\.?)(?:[:,]\s*'[^']*')?\)", re.IGNORECASE)
_RANGE_VALUE = re.compile(r"^(\d+(?:\.\d+)?)\s*[-–—~]\s*(\d+(?:\.\d+)?)$")
# Why a fact may be left out of the observations (each skip also carries a full reason).
SKIP_CATEGORIES = {"date": "a date as value", "scope": "not an area",
                   "period": "no single reference period"}
# What a fact contributes to its observation's identity (the natural key) …
NATURAL_KEY = ("metric", "scope_type", "scope_id", "period", "basis", "kind", "source_id")
# … and what, when changed, makes a new vintage of it.
VALUE_FIELDS = ("period_end", "period_label", "scope_label", "scope_relation", "value", "unit",
                "lower_bound", "approximate", "method")


class FactsError(AidashError):
    """The facts file or its scope map cannot be loaded."""


class FactsFileMissing(FactsError):
    """The facts file or the scope map does not exist."""


class GeographyNotLoaded(FactsError):
    """The metric catalogue, districts or zones are not in the database yet."""


class InvalidFact(CellError, FactsError):
    """One cell of the facts file (or the scope map) is invalid."""


@dataclass(frozen=True)
class Skipped:
    """A fact that is not loaded as an observation, and why."""

    row: int
    metric: str
    category: str  # one of SKIP_CATEGORIES
    reason: str


@dataclass
class FactsPlan:
    """What the facts file becomes: observation rows (keyed by source key), sources, skips."""

    observations: list[dict[str, Any]] = field(default_factory=list)
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)
    rows_read: int = 0


# --------------------------------------------------------------------------------------- read


def _read(path: Path, required: tuple[str, ...]) -> list[CsvRow]:
    return read_rows(path, required, missing_file=FactsFileMissing, invalid=FactsError)


def read_facts(path: Path) -> list[CsvRow]:
    """Read the facts CSV: (spreadsheet row number, row) pairs.

    :raises FactsFileMissing: no such file.
    :raises FactsError: a required column is missing.
    """
    return _read(path, FACT_COLUMNS)


def read_scope_map(path: Path) -> dict[str, tuple[int, dict[str, str]]]:
    """Read ``scope_map.csv``: scope text as the facts write it → (row number, row).

    :raises FactsFileMissing: no such file.
    :raises InvalidFact: a scope text appears twice, has an unknown scope_type or relation
        (``wider``, ``part`` or blank: how the text relates to the scope it is shown on).
    """
    out: dict[str, tuple[int, dict[str, str]]] = {}
    for n, row in _read(path, SCOPE_MAP_COLUMNS):
        text = row["scope_text"]
        if text in out:
            raise InvalidFact(path.name, n, "scope_text",
                              f"'{text}' already appears in row {out[text][0]}")
        if row["scope_type"] not in (*SCOPE_TYPES, SKIP_SCOPE):
            raise InvalidFact(path.name, n, "scope_type",
                              f"unknown scope_type '{row['scope_type']}'; use one of "
                              f"{', '.join((*SCOPE_TYPES, SKIP_SCOPE))}")
        if row["scope_type"] == SKIP_SCOPE and not row["note"]:
            raise InvalidFact(path.name, n, "note", "a skipped scope needs the reason as its note")
        if row["scope_type"] != SKIP_SCOPE and not row["scope_id"]:
            raise InvalidFact(path.name, n, "scope_id", "required, but empty")
        relation = row.setdefault("relation", "")
        if relation and relation not in SCOPE_RELATIONS:
            raise InvalidFact(path.name, n, "relation",
                              f"unknown relation '{relation}'; use {' or '.join(SCOPE_RELATIONS)}"
                              f", or leave it blank when the text names the scope itself")
        if relation and not row["note"]:
            raise InvalidFact(path.name, n, "note",
                              f"a {relation} scope needs a note saying how it relates to "
                              f"{row['scope_id']}")
        out[text] = (n, row)
    return out


# -------------------------------------------------------------------------------------- clean


def _known(conn: Connection, sql_table: str, column: str) -> set[str]:
    return {str(v) for (v,) in conn.exec_driver_sql(f"SELECT {column} FROM {sql_table}")}


def _check_scope_map(scope_map: dict[str, tuple[int, dict[str, str]]], conn: Connection,
                     file: str) -> None:
    allowed = {"district": _known(conn, "districts", "adcode"),
               "zone": _known(conn, "zones", "zone_id"),
               "segment": _known(conn, "segments", "code")}
    for n, row in scope_map.values():
        ids = allowed.get(row["scope_type"])
        if ids is not None and row["scope_id"] not in ids:
            raise InvalidFact(file, n, "scope_id",
                              f"no {row['scope_type']} '{row['scope_id']}' in the database; "
                              f"check data/zones.csv and the district adcodes")


def clean_facts(rows: Sequence[tuple[int, dict[str, str]]],
                scope_map: dict[str, tuple[int, dict[str, str]]],
                metric_units: dict[str, str], file: str) -> FactsPlan:
    """Turn fact rows into observation and source rows, or skips with reasons.

    :param rows: from :func:`read_facts`.
    :param scope_map: from :func:`read_scope_map`.
    :param metric_units: the metric catalogue: code → unit_en.
    :param file: the facts file's name, for messages.
    :raises InvalidFact: an unknown metric or scope, a value that is not a number, a unit that
        does not match the catalogue, an unknown confidence, a flow without a span, or two
        facts with the same natural key.
    """
    plan = FactsPlan(rows_read=len(rows))
    seen: dict[tuple[Any, ...], int] = {}
    for n, row in rows:
        metric = row["metric"]
        if metric not in metric_units:
            raise InvalidFact(file, n, "metric",
                              f"unknown metric '{metric}'; add it to data/metrics.csv")
        unit = parse_unit(row["unit"])
        if unit.unit.startswith("date"):
            plan.skipped.append(Skipped(n, metric, "date", (
                f"value {row['value']} is a date, not a number; zone opening dates live in "
                f"data/zones.csv (opened, opened_source)")))
            continue
        scope_text = row["zone_or_scope"]
        if scope_text not in scope_map:
            raise InvalidFact(file, n, "zone_or_scope",
                              f"'{scope_text}' is not in {SCOPE_MAP_FILE}; add a row "
                              f"(scope_text, scope_type, scope_id, note) for it")
        scope = scope_map[scope_text][1]
        if scope["scope_type"] == SKIP_SCOPE:
            plan.skipped.append(Skipped(n, metric, "scope", f"scope '{scope_text}': {scope['note']}"))
            continue
        period = parse_fact_period(row["period"])
        if period is None:
            plan.skipped.append(Skipped(n, metric, "period", (
                f"period '{row['period']}' names no single reference period")))
            continue

        methods: list[str] = []
        target_unit = metric_units[metric]
        value_text = row["value"].replace(",", "")
        lower_bound = unit.lower_bound
        if m := _RANGE_VALUE.match(value_text):
            value = float(m[1])
            lower_bound = True
            methods.append(f"published as the range {row['value']}; the lower end is stored "
                           f"as a lower bound")
        else:
            try:
                value = float(value_text)
            except ValueError:
                raise InvalidFact(file, n, "value",
                                  f"'{row['value']}' is not a number") from None
        if unit.unit != target_unit:
            factor = UNIT_CONVERSIONS.get((unit.unit, target_unit))
            if factor is None:
                raise InvalidFact(file, n, "unit", (
                    f"'{row['unit']}' reads as '{unit.unit}', but metric {metric} is in "
                    f"'{target_unit}'; fix the unit, or add the spelling to UNIT_ALIASES"))
            methods.append(f"converted from {row['value']} {unit.unit} (x {factor:,.0f})")
            value = round(value * factor, 9)
        if _MARKER_ONLY.sub("", row["unit"]).strip() != unit.unit and not any(
                m.startswith("converted") for m in methods):
            methods.append(f"unit as published: {row['unit']}")

        basis = fact_basis(metric, target_unit, period)
        if basis is None:
            raise InvalidFact(file, n, "period", (
                f"'{row['period']}' is a {'month' if period.freq == 'M' else 'day'}, but "
                f"{metric} is a flow ({target_unit}); give a year, a quarter or a year-to-date "
                f"range"))
        confidence = row["confidence"]
        if confidence not in CONFIDENCES:
            raise InvalidFact(file, n, "confidence", f"unknown confidence '{confidence}'; use "
                                                     f"one of {', '.join(CONFIDENCES)}")
        key = source_key(row["source_title"], row["source_url_or_publication"],
                         row["source_date"], row["quote"])
        caveat = row["caveat"] or None
        published = published_date(row["source_date"])
        if row["source_date"] != published:
            note = f"Publication date as given: '{row['source_date']}'."
            caveat = f"{caveat} {note}" if caveat else note
        source = {
            "key": key,
            "title": row["source_title"],
            "publisher": (None if row["source_url_or_publication"].startswith("http")
                          else row["source_url_or_publication"] or None),
            "url_or_publication": row["source_url_or_publication"] or None,
            "published": published,
            "quote": row["quote"] or None,
            "confidence": confidence,
            "caveat": caveat,
            "provenance": "reported",
        }
        earlier = plan.sources.setdefault(key, source)
        if earlier != source:
            raise InvalidFact(file, n, "confidence", (
                "the same source (title, publication, date, quote) appears in an earlier row "
                "with a different confidence or caveat; make them agree"))
        obs = {
            "metric": metric,
            "scope_type": scope["scope_type"],
            "scope_id": scope["scope_id"],
            "scope_label": scope_text,
            "scope_relation": scope.get("relation") or None,
            "period": period.period,
            "period_end": period.period_end,
            "period_label": row["period"],
            "value": value,
            "unit": target_unit,
            "basis": basis,
            "kind": fact_kind(metric, period.kind),
            "lower_bound": lower_bound,
            "approximate": unit.approximate,
            "provenance": "reported",
            "method": "; ".join(methods) or None,
            "source_key": key,
        }
        natural = tuple(obs[k] for k in NATURAL_KEY if k != "source_id") + (key,)
        if natural in seen:
            raise InvalidFact(file, n, "value", (
                f"row {seen[natural]} already gives {metric} for the same scope, period, basis, "
                f"kind and source"))
        seen[natural] = n
        plan.observations.append(obs)
    return plan


# -------------------------------------------------------------------------------------- write


def _current_facts(conn: Connection) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Current observations written by facts runs, by natural key."""
    o = OBSERVATIONS
    stmt = (select(o).join(ETL_RUNS, ETL_RUNS.c.id == o.c.etl_run_id)
            .where(and_(ETL_RUNS.c.kind == "facts", o.c.superseded_by.is_(None))))
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in conn.execute(stmt):
        m = dict(row._mapping)
        out[tuple(m[k] for k in NATURAL_KEY)] = m
    return out


def summarise_skips(skipped: list[Skipped]) -> str:
    """One line: how many facts were skipped and which rows, by reason kind."""
    if not skipped:
        return "skipped none"
    groups: dict[str, list[int]] = {}
    for s in skipped:
        groups.setdefault(SKIP_CATEGORIES[s.category], []).append(s.row)
    parts = [f"{len(rows)} {kind} (row{'s' if len(rows) > 1 else ''} "
             f"{', '.join(str(r) for r in rows)})" for kind, rows in groups.items()]
    return f"skipped {len(skipped)}: " + "; ".join(parts)


def load_facts(engine: Engine, path: Path) -> int:
    """Load every fact of ``path`` as a reported observation with its source; record one run.

    The scope map is read from ``scope_map.csv`` beside ``path``. The geography (metric
    catalogue, districts, zones) must be loaded first. Everything is validated before the
    write transaction starts.

    :param engine: the database.
    :param path: the facts CSV (``data/reference/shanghai_ai_facts.csv``).
    :returns: the run id; the run's status is ``noop`` when nothing changed.
    :raises GeographyNotLoaded: the metric catalogue or zones are empty.
    :raises FactsError: a missing file or column, or an invalid row (named by file, row, column).
    """
    path = Path(path)
    rows = read_facts(path)
    scope_map = read_scope_map(path.parent / SCOPE_MAP_FILE)
    with engine.connect() as conn:
        metric_units = {code: unit for code, unit in
                        conn.exec_driver_sql("SELECT code, unit_en FROM metrics")}
        if not metric_units or not _known(conn, "zones", "zone_id"):
            raise GeographyNotLoaded("the metric catalogue and zones are not loaded yet; "
                                     "load the geography first (aidash init)")
        _check_scope_map(scope_map, conn, SCOPE_MAP_FILE)
    plan = clean_facts(rows, scope_map, metric_units, path.name)

    with engine.begin() as conn:
        run_id = start_run(conn, "facts", utcnow())
        source_counts = upsert_sources(conn, list(plan.sources.values()))
        source_ids = {k: i for k, i in conn.execute(select(SOURCES.c.key, SOURCES.c.id))}
        wanted = {}
        for obs in plan.observations:
            row = {k: v for k, v in obs.items() if k != "source_key"}
            row["source_id"] = source_ids[obs["source_key"]]
            wanted[tuple(row[k] for k in NATURAL_KEY)] = row
        current = _current_facts(conn)
        new = [row | {"etl_run_id": run_id} for key, row in wanted.items()
               if key not in current or any(current[key][f] != row[f] for f in VALUE_FIELDS)]
        retired = [current[key]["id"] for key in current
                   if key not in wanted or any(current[key][f] != wanted[key][f]
                                               for f in VALUE_FIELDS)]
        if retired:
            conn.execute(update(OBSERVATIONS).where(OBSERVATIONS.c.id == bindparam("old_id"))
                         .values(superseded_by=run_id), [{"old_id": i} for i in retired])
        if new:
            conn.execute(insert(OBSERVATIONS), new)
        counts = Counter(o["scope_type"] for o in plan.observations)
        message = (f"{plan.rows_read} facts read: {len(plan.observations)} observations "
                   f"({', '.join(f'{n} {t}' for t, n in sorted(counts.items()))}) from "
                   f"{len(plan.sources)} sources ({source_counts.inserted} new, "
                   f"{source_counts.updated} updated); {len(new)} inserted, {len(retired)} "
                   f"superseded; {summarise_skips(plan.skipped)}")
        changed = new or retired or source_counts.inserted or source_counts.updated
        conn.execute(update(ETL_RUNS).where(ETL_RUNS.c.id == run_id).values(
            finished_at=utcnow(),
            status="succeeded" if changed else "noop",
            rows_read=plan.rows_read,
            rows_inserted=len(new),
            rows_updated=len(retired),
            rows_rejected=len(plan.skipped),
            message=message,
        ))
    return run_id


def upsert_sources(conn: Connection, sources: list[dict[str, Any]]) -> UpsertCounts:
    """Insert new sources and update changed ones (confidence, caveat …), keyed on ``key``.

    ``sources.id`` is the primary key, so the key→id match is made here: a known key keeps its
    id, and observations pointing at it stay valid.
    """
    stored = {r.key: r.id for r in conn.execute(select(SOURCES.c.key, SOURCES.c.id))}
    with_ids = [s | {"id": stored[s["key"]]} for s in sources if s["key"] in stored]
    updated = upsert_rows(conn, SOURCES, with_ids).updated
    new = [s for s in sources if s["key"] not in stored]
    if new:
        conn.execute(insert(SOURCES), new)
    return UpsertCounts(len(sources), len(new), updated)
