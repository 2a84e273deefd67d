"""Name search over the register in memory: a substring search SQLite cannot index.

``LIKE '%term%'`` reads every row of the register (about 300 ms at a million firms). Instead,
the names are read once per data version into one byte string, ``name_zh \\x1f name_en \\n``
per firm, ASCII letters lower-cased as ``LIKE`` compares them. A search is then ``bytes.find``
over that buffer (tens of milliseconds at a million firms) and a binary search for credit-code
prefixes. About 120 MB at a million firms, built in about 1.5 s (SQLite concatenates the names
in one scan) the first time after a start or a load; the Enterprises page starts that in the
background (:func:`warm`).

The result is the same set of firms as :func:`app.filters.build_where`'s clause
(``name_zh LIKE '%term%' OR name_en LIKE '%term%' OR credit_code LIKE 'TERM%'``, ASCII
case-insensitive); ``tests/test_search.py`` checks the two against each other.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from sqlalchemy.engine import Engine

CODE_WIDTH = 18
_FIELD_SEP = b"\x1f"
_ROW_SEP = b"\n"


@dataclass(frozen=True)
class NameIndex:
    """The register's names and credit codes, for substring search (rows in table order)."""

    codes: np.ndarray  # credit codes as fixed-width bytes (S18), in row order
    by_code: np.ndarray  # row numbers in credit-code order (for prefix searches)
    sorted_codes: np.ndarray  # codes[by_code]
    text: bytes  # one line per row: name_zh, 0x1f, name_en, newline; ASCII lower case
    ends: np.ndarray  # offset just past each line's newline (int64, increasing)
    usable: bool = True  # False when a name holds a separator: every search goes to SQL

    @property
    def size(self) -> int:
        return len(self.codes)

    def find(self, term: str, limit: int) -> list[str] | None:
        """Credit codes (sorted) of the firms whose names contain ``term`` or whose code starts
        with it; None when more than ``limit`` match (the caller falls back to SQL, which stops
        early when matches are that common), or when ``term`` or a name holds a separator."""
        needle = term.encode("utf-8").lower()
        if not self.usable or not needle or _FIELD_SEP in needle or _ROW_SEP in needle:
            return None
        rows: set[int] = set(self._prefix_rows(term.upper().encode("utf-8")).tolist())
        if len(rows) > limit:
            return None
        text, ends = self.text, self.ends
        pos = text.find(needle)
        while pos >= 0:
            row = int(np.searchsorted(ends, pos, side="right"))
            rows.add(row)
            if len(rows) > limit:
                return None
            pos = text.find(needle, int(ends[row]))  # next line: one hit per firm is enough
        return sorted(c.decode("ascii") for c in self.codes[list(rows)])

    def _prefix_rows(self, prefix: bytes) -> np.ndarray:
        if not prefix or len(prefix) > CODE_WIDTH:
            return self.by_code[:0]
        ordered = self.sorted_codes
        lo = int(np.searchsorted(ordered, prefix, side="left"))
        hi = int(np.searchsorted(ordered, prefix + b"\xff" * (CODE_WIDTH - len(prefix)),
                                 side="right"))
        return self.by_code[lo:hi]


def build_name_index(engine: Engine) -> NameIndex:
    """Read every firm's code and names in one scan of the register, concatenated by SQLite
    (so the work runs in C, without holding Python's GIL)."""
    with engine.connect() as conn:
        codes_text, names_text = conn.exec_driver_sql(
            "SELECT group_concat(credit_code, ''), "
            "group_concat(name_zh || char(31) || coalesce(name_en, '') || char(10), '') "
            "FROM (SELECT credit_code, name_zh, name_en FROM enterprises ORDER BY rowid) AS names"
        ).one()
    raw = (codes_text or "").encode("utf-8")
    text = (names_text or "").encode("utf-8").lower()
    del codes_text, names_text
    ends = np.flatnonzero(np.frombuffer(text, dtype=np.uint8) == _ROW_SEP[0]) + 1
    n = len(raw) // CODE_WIDTH
    # Every code is 18 ASCII characters (a CHECK constraint); a newline inside a name would
    # shift the lines: then the index is not used at all.
    usable = len(raw) == n * CODE_WIDTH and len(ends) == n and raw.isascii()
    codes = np.frombuffer(raw[:n * CODE_WIDTH], dtype=f"S{CODE_WIDTH}")
    by_code = np.argsort(codes, kind="stable")
    return NameIndex(codes, by_code, codes[by_code], text, ends.astype(np.int64), usable)


_lock = threading.Lock()
_cached: tuple[Engine, str, NameIndex] | None = None


def name_index(engine: Engine, token: str) -> NameIndex:
    """The index of ``engine``'s register as of the data version ``token`` (built on first
    use; one is kept, so a load or rollback replaces it on the next search)."""
    global _cached
    with _lock:
        if _cached is None or _cached[0] is not engine or _cached[1] != token:
            _cached = None  # free the old one before building the new one
            _cached = (engine, token, build_name_index(engine))
        return _cached[2]


def warm(engine: Engine, token: str) -> None:
    """Build the index in a background thread unless it is built or being built, so that the
    first search after a start or a load does not wait for it."""
    current = _cached
    if (current is not None and current[0] is engine and current[1] == token) or _lock.locked():
        return
    threading.Thread(target=name_index, args=(engine, token), daemon=True,
                     name="aidash-name-index").start()
