"""Sidebar selections → one SQL WHERE clause with named parameters.

Nothing a user types reaches SQL text: every value becomes a ``:param``; column names are
fixed here. The same selections also give the export's description and file-name slug.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Employee bands (inclusive bounds; None = open). "unknown" is a NULL head count.
SIZE_BANDS: dict[str, tuple[int, int | None] | None] = {
    "micro": (0, 19),
    "small": (20, 99),
    "medium": (100, 299),
    "large": (300, 999),
    "xlarge": (1000, None),
    "unknown": None,
}
# Search terms shorter than this would scan the whole register for almost nothing.
MIN_SEARCH_CHARS = 1
_LIKE_ESCAPE = "\\"
# Appended to a prefix, the upper bound of every text that starts with it.
CODE_PREFIX_END = "\U0010ffff"


@dataclass(frozen=True)
class EnterpriseFilters:
    """The enterprise explorer's selections. Empty lists and None mean "no restriction"."""

    zones: tuple[str, ...] = ()
    districts: tuple[int, ...] = ()
    segments: tuple[str, ...] = ()
    founded_from: int | None = None
    founded_to: int | None = None
    sizes: tuple[str, ...] = ()
    search: str = ""

    def is_empty(self) -> bool:
        """True if nothing restricts the register."""
        return not (self.zones or self.districts or self.segments or self.sizes
                    or self.founded_from or self.founded_to or self.search.strip())


def in_clause(column: str, values: list[str] | list[int] | tuple, prefix: str) -> tuple[
        str, dict[str, object]]:
    """``column IN (:prefix_0, :prefix_1)`` and its params; ``0 = 1`` for an empty list.

    :param column: a column expression from code, never from user input.
    :param prefix: the parameter-name prefix (letters, digits, underscores).
    """
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", prefix):
        raise ValueError(f"bad parameter prefix {prefix!r}")
    values = list(values)
    if not values:
        return "0 = 1", {}
    names = [f"{prefix}_{i}" for i in range(len(values))]
    return (f"{column} IN ({', '.join(':' + n for n in names)})",
            dict(zip(names, values)))


def escape_like(term: str) -> str:
    """Escape LIKE wildcards so a search for ``50%`` finds the text ``50%``."""
    return (term.replace(_LIKE_ESCAPE, _LIKE_ESCAPE * 2).replace("%", _LIKE_ESCAPE + "%")
            .replace("_", _LIKE_ESCAPE + "_"))


def build_where(f: EnterpriseFilters, alias: str = "e", *, founded_index: bool = True,
                area_index: bool = True) -> tuple[str, dict[str, object]]:
    """The WHERE clause (with the keyword, or an empty string) and params for ``f``.

    :param alias: the enterprises table alias used in the query.
    :param founded_index: False writes the founding-year bounds as ``+e.founded`` so SQLite
        does not read the year range through its index (and then sort it) when walking the
        sort column's index and stopping at the page is cheaper. Same rows either way.
    :param area_index: the same for the zone and district lists (``+e.zone_id IN ...``).
    :raises ValueError: for an unknown size band or a reversed year range.
    """
    a = alias
    parts: list[str] = []
    params: dict[str, object] = {}
    if f.zones:
        plus = "" if area_index else "+"
        clause, p = in_clause(f"{plus}{a}.zone_id", list(f.zones), "zone")
        parts.append(clause)
        params.update(p)
    if f.districts:
        plus = "" if area_index else "+"
        clause, p = in_clause(f"{plus}{a}.district_adcode", [int(d) for d in f.districts],
                              "district")
        parts.append(clause)
        params.update(p)
    if f.segments:
        clause, p = in_clause(f"{a}.segment", list(f.segments), "segment")
        parts.append(clause)
        params.update(p)
    if f.founded_from and f.founded_to and f.founded_from > f.founded_to:
        raise ValueError(f"founding years reversed: {f.founded_from} > {f.founded_to}")
    founded = f"{a}.founded" if founded_index else f"+{a}.founded"
    if f.founded_from:
        parts.append(f"{founded} >= :founded_from")
        params["founded_from"] = f"{int(f.founded_from):04d}-01-01"
    if f.founded_to:
        parts.append(f"{founded} <= :founded_to")
        params["founded_to"] = f"{int(f.founded_to):04d}-12-31"
    if f.sizes:
        ors = []
        for i, band in enumerate(f.sizes):
            if band not in SIZE_BANDS:
                raise ValueError(f"unknown size band {band!r}; use one of "
                                 f"{', '.join(SIZE_BANDS)}")
            bounds = SIZE_BANDS[band]
            if bounds is None:
                ors.append(f"{a}.employees IS NULL")
                continue
            lo, hi = bounds
            params[f"size_lo_{i}"] = lo
            if hi is None:
                ors.append(f"{a}.employees >= :size_lo_{i}")
            else:
                params[f"size_hi_{i}"] = hi
                ors.append(f"{a}.employees BETWEEN :size_lo_{i} AND :size_hi_{i}")
        parts.append("(" + " OR ".join(ors) + ")")
    term = f.search.strip()
    if len(term) >= MIN_SEARCH_CHARS:
        escaped = escape_like(term)
        # A credit-code prefix is a range on the primary key (an index seek, not a LIKE on
        # every row): codes starting with q sort from q up to q + the highest code point.
        parts.append(f"({a}.name_zh LIKE :q ESCAPE '\\' OR {a}.name_en LIKE :q ESCAPE '\\' "
                     f"OR ({a}.credit_code >= :q_code AND {a}.credit_code < :q_code_end))")
        params["q"] = f"%{escaped}%"
        params["q_code"] = term.upper()
        params["q_code_end"] = term.upper() + CODE_PREFIX_END
    if not parts:
        return "", params
    return "WHERE " + " AND ".join(parts), params


def slug(f: EnterpriseFilters) -> str:
    """A short, file-name-safe summary of the filters (``zone-zhangjiang_ai_island``)."""
    bits: list[str] = []
    if f.zones:
        bits.append("zone-" + "+".join(f.zones[:2]) + ("+more" if len(f.zones) > 2 else ""))
    if f.districts:
        bits.append("district-" + "+".join(map(str, f.districts[:2]))
                    + ("+more" if len(f.districts) > 2 else ""))
    if f.segments:
        bits.append("segment-" + "+".join(f.segments[:2]) + ("+more" if len(f.segments) > 2
                                                             else ""))
    if f.founded_from or f.founded_to:
        bits.append(f"founded-{f.founded_from or ''}-{f.founded_to or ''}")
    if f.sizes:
        bits.append("size-" + "+".join(f.sizes))
    if f.search.strip():
        bits.append("search")
    text = "_".join(bits) or "all"
    return re.sub(r"[^A-Za-z0-9_+\-]", "", text)[:80]
