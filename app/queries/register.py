"""The enterprise register: filtered, searched, sorted, paged and counted in SQL.

The register (``enterprises``, up to a million firms; filled by ``etl/drops/merge.py`` from each
drop's ``enterprises`` file) is firm-level data: every function here that reads firms takes the
caller's ``role`` and raises :class:`app.access.AccessDenied` for a role that sees aggregates
only, whatever page called it. It is never read whole: only one page reaches pandas. A name search
finds its matches in memory (:mod:`app.search`); every other filter goes through an index, and
the page is found by one of four strategies (:func:`enterprise_page`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import pandas as pd
from sqlalchemy import text
from sqlalchemy.engine import Engine

from app import search
from app.access import require_firm_rows
from app.cached import cached_query
from app.filters import MIN_SEARCH_CHARS, EnterpriseFilters, build_where
from app.queries.frames import read_frame
from app.queries.health import run_info

# Sort keys the enterprise table offers, mapped to SQL (never user text in ORDER BY).
SORT_COLUMNS = {
    "name_zh": "e.name_zh",
    "name_en": "e.name_en",
    "founded": "e.founded",
    "employees": "e.employees",
    "registered_capital": "e.registered_capital",
    "credit_code": "e.credit_code",
}
# Sort keys whose column is NOT NULL in the schema (no "NULLs last" term needed).
NOT_NULL_SORTS = frozenset({"name_zh", "credit_code"})
PAGE_SIZES = (25, 50, 100)
# A name search counts its matches up to here ("1,000+ matches"), then stops scanning.
SEARCH_COUNT_CAP = 1000
# A name matching more firms than this is searched in SQL instead (see enterprise_search_codes).
SEARCH_LOOKUP_MAX = 20_000
# A zone/district filter matching at least this many firms is checked while walking the sort
# index (the page is found after ~25 × register / matches rows) instead of sorted in full.
WALK_MIN_ROWS = 20_000


@cached_query
def enterprise_filter_options(engine: Engine) -> dict[str, int | None]:
    """The founding-year range of the register (for the slider); None when the table is empty."""
    # Two scalar subqueries, so each is one seek at an end of ix_enterprises_founded (a single
    # SELECT MIN(), MAX() scans the table).
    with engine.connect() as conn:
        lo, hi = conn.execute(text(
            "SELECT (SELECT MIN(founded) FROM enterprises), "
            "(SELECT MAX(founded) FROM enterprises)")).one()
    return {"founded_min": int(str(lo)[:4]) if lo else None,
            "founded_max": int(str(hi)[:4]) if hi else None}


@cached_query
def enterprise_count(engine: Engine, filters: EnterpriseFilters, *, role: str) -> int:
    """How many enterprises match ``filters`` (a separate COUNT, never a len() of rows)."""
    require_firm_rows(role, "the register")
    where, params = build_where(filters)
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT COUNT(*) FROM enterprises e {where}"),
                                params).scalar_one())


@cached_query
def enterprise_search_codes(engine: Engine, filters: EnterpriseFilters,
                            cap: int | None = None, *, role: str) -> tuple[str, ...]:
    """The credit codes (sorted) of the enterprises matching ``filters``, at most ``cap + 1``
    (default :data:`SEARCH_COUNT_CAP`): more than ``cap`` means "more than ``cap`` match" (the
    page shows "1,000+").

    A name search cannot use an index: the names are searched in memory
    (:mod:`app.search`), and the other filters are then checked on those firms only (primary
    key lookups). When the name matches more than :data:`SEARCH_LOOKUP_MAX` firms, one pass
    over the register stops at the cap instead (with matches that common it stops early). The
    Enterprises page counts with this and then sorts and pages only these rows
    (:func:`enterprise_page` ``matches=``).
    """
    require_firm_rows(role, "the register")
    cap = SEARCH_COUNT_CAP if cap is None else cap
    if cap < 1:
        raise ValueError(f"cap must be at least 1, not {cap}")
    term = filters.search.strip()
    hits = None
    if len(term) >= MIN_SEARCH_CHARS:
        names = search.name_index(engine, run_info(engine).token)
        hits = names.find(term, SEARCH_LOOKUP_MAX)
    if hits is not None:
        rest = replace(filters, search="")
        if rest.is_empty():
            return tuple(hits[:cap + 1])
        where, params = build_where(rest)
        params.update(hits=json.dumps(hits), cap=cap + 1)
        with engine.connect() as conn:
            # CROSS JOIN keeps the hits as the outer loop: one primary-key lookup each.
            codes = conn.execute(text(
                "SELECT e.credit_code FROM json_each(:hits) j CROSS JOIN enterprises e "
                f"ON e.credit_code = j.value {where} "
                "ORDER BY e.credit_code LIMIT :cap"), params).scalars()
            return tuple(codes)
    where, params = build_where(filters)
    params["cap"] = cap + 1
    with engine.connect() as conn:
        codes = conn.execute(text(
            f"SELECT e.credit_code FROM enterprises e {where} LIMIT :cap"), params).scalars()
        return tuple(sorted(codes))


@dataclass(frozen=True)
class EnterpriseTotal:
    """How many firms the explorer's filters match, as the Enterprises page shows it."""

    total: int  # exact, or SEARCH_COUNT_CAP when over_cap
    over_cap: bool  # a name search matched more than SEARCH_COUNT_CAP ("1,000+")
    matches: tuple[str, ...] | None  # a search's matching codes, for enterprise_page


@cached_query
def enterprise_total(engine: Engine, filters: EnterpriseFilters, *, role: str) -> EnterpriseTotal:
    """Count the firms ``filters`` match: through an index without a name search; with one,
    by finding its matches once (:func:`enterprise_search_codes`, capped), which the page
    then sorts and pages without searching again."""
    if not filters.search.strip():
        return EnterpriseTotal(enterprise_count(engine, filters, role=role), False, None)
    matches = enterprise_search_codes(engine, filters, role=role)
    if len(matches) > SEARCH_COUNT_CAP:
        return EnterpriseTotal(SEARCH_COUNT_CAP, True, None)
    return EnterpriseTotal(len(matches), False, matches)


def _broad_area(engine: Engine, filters: EnterpriseFilters) -> bool:
    """True if the filters pick zones or districts but no segment, and those match at least
    :data:`WALK_MIN_ROWS` enterprises (counted through the zone/district index, stopping there)."""
    if not (filters.zones or filters.districts) or filters.segments:
        return False
    where, params = build_where(EnterpriseFilters(zones=filters.zones,
                                                  districts=filters.districts))
    params["n"] = WALK_MIN_ROWS
    with engine.connect() as conn:
        n = conn.execute(text(f"SELECT COUNT(*) FROM (SELECT 1 FROM enterprises e {where} "
                              "LIMIT :n)"), params).scalar_one()
    return n >= WALK_MIN_ROWS


def _nulls_last_codes(engine: Engine, where: str, params: dict, column: str, direction: str,
                      offset: int, limit: int) -> tuple[str, ...]:
    """The credit codes of one page in the order ``column IS NULL, column, credit_code``,
    read as two queries SQLite can answer from an index on ``column`` without sorting the
    register: the rows with a value, then (on the page where they run out) the NULL rows."""
    both = f"{where} AND " if where else "WHERE "
    with engine.connect() as conn:
        valued = list(conn.execute(text(
            f"SELECT e.credit_code FROM enterprises e {both}{column} IS NOT NULL "
            f"ORDER BY {column} {direction}, e.credit_code {direction} "
            "LIMIT :lim OFFSET :off"), {**params, "lim": limit, "off": offset}).scalars())
        if len(valued) == limit:
            return tuple(valued)
        if valued:
            null_offset = 0
        else:
            n_valued = conn.execute(text(
                f"SELECT COUNT(*) FROM enterprises e {both}{column} IS NOT NULL"),
                params).scalar_one()
            null_offset = offset - n_valued
        nulls = conn.execute(text(
            f"SELECT e.credit_code FROM enterprises e {both}{column} IS NULL "
            f"ORDER BY e.credit_code {direction} LIMIT :lim OFFSET :off"),
            {**params, "lim": limit - len(valued), "off": max(null_offset, 0)}).scalars()
        return tuple(valued) + tuple(nulls)


@cached_query
def enterprise_page(engine: Engine, filters: EnterpriseFilters, *, sort: str = "name_zh",
                    descending: bool = False, page: int = 1, page_size: int = 25,
                    revenue_period: str | None = None,
                    matches: tuple[str, ...] | None = None, role: str) -> pd.DataFrame:
    """One page of the enterprise register, filtered and sorted in SQL (LIMIT/OFFSET).

    :param sort: a key of :data:`SORT_COLUMNS`.
    :param page: 1-based page number.
    :param revenue_period: also show each firm's revenue in this quarter (joined for the page
        only, through the current-revenue index).
    :param matches: the credit codes of every row ``filters`` match, when known (from
        :func:`enterprise_search_codes`, at most :data:`SEARCH_COUNT_CAP`): only these rows are
        read (primary-key lookups) and sorted. Without it a name search first finds them itself
        when there are few; a broad one walks the sort column's index and stops at the page.
    :param role: the caller's role (:mod:`app.access`); only a role that sees firms gets rows.
    :raises AccessDenied: for a role that sees aggregates only.
    :raises ValueError: for an unknown sort key or page size.
    """
    require_firm_rows(role, "the register")
    if sort not in SORT_COLUMNS:
        raise ValueError(f"unknown sort column {sort!r}; use one of {', '.join(SORT_COLUMNS)}")
    if page_size not in PAGE_SIZES:
        raise ValueError(f"page size must be one of {', '.join(map(str, PAGE_SIZES))}")
    direction = "DESC" if descending else "ASC"
    column = SORT_COLUMNS[sort]
    offset = (max(page, 1) - 1) * page_size
    if matches is None and filters.search.strip():
        found = enterprise_search_codes(engine, filters, role=role)
        if len(found) <= SEARCH_COUNT_CAP:
            matches = found
    # For the index-ordered sorts (name_zh, credit_code) a filter that matches many rows is
    # cheaper to check row by row while walking the sort index, stopping at the page, than to
    # read all its rows through its own index and sort them: "+column" keeps SQLite off that
    # index. A year range always (ix_enterprises_founded would hand over the range unsorted);
    # a zone or district without a segment when it matches at least WALK_MIN_ROWS rows.
    walk = sort in NOT_NULL_SORTS and matches is None
    where, params = build_where(filters, founded_index=not walk,
                                area_index=not (walk and _broad_area(engine, filters)))
    # NULLs last whatever the direction, then the primary key so pages never overlap. Columns
    # that cannot be NULL skip the "IS NULL" term, which would stop SQLite walking an index.
    if sort == "credit_code":
        order = f"e.credit_code {direction}"
    elif sort in NOT_NULL_SORTS:
        order = f"{column} {direction}, e.credit_code {direction}"
    else:
        order = f"{column} IS NULL, {column} {direction}, e.credit_code {direction}"
        if matches is None:
            # The same order in two index-friendly parts: rows with a value, then the NULLs.
            matches = _nulls_last_codes(engine, where, params, column, direction, offset,
                                        page_size)
            offset = 0
    source = "enterprises e"
    if matches is not None:
        # CROSS JOIN keeps json_each as the outer loop: look the matches up, never walk an index.
        source = "json_each(:matches) j CROSS JOIN enterprises e ON e.credit_code = j.value"
        params["matches"] = json.dumps(list(matches))
    params.update({"limit": page_size, "offset": offset, "rev_period": revenue_period or ""})
    df = read_frame(engine, f"""
        WITH page AS (
            SELECT e.credit_code, e.name_zh, e.name_en, e.zone_id, e.district_adcode,
                   e.segment, e.founded, e.employees, e.registered_capital, e.status,
                   e.provenance
            FROM {source} {where}
            ORDER BY {order}
            LIMIT :limit OFFSET :offset)
        SELECT p.*, r.revenue AS revenue_m,
               z.name_en AS zone_en, z.name_zh AS zone_zh,
               d.name_en AS district_en, d.name_zh AS district_zh,
               s.name_en AS segment_en, s.name_zh AS segment_zh
        FROM page p
        LEFT JOIN enterprise_revenue r ON r.credit_code = p.credit_code
             AND r.period = :rev_period
        LEFT JOIN zones z ON z.zone_id = p.zone_id
        LEFT JOIN districts d ON d.adcode = p.district_adcode
        LEFT JOIN segments s ON s.code = p.segment
        ORDER BY {order.replace('e.', 'p.')}""", params)
    return df
