"""Name search over the register in memory: a substring search SQLite cannot index.

``LIKE '%term%'`` reads every row of the register (about 300 ms at a million firms). Instead,
the names are read once per data version into one byte string, ``name_zh \\x1f name_en \\n``
per firm in credit-code order, ASCII letters lower-cased as ``LIKE`` compares them. A search is
then ``bytes.find`` over that buffer (tens of milliseconds at a million firms) and a binary
search for credit-code prefixes. About 110 MB at a million firms; built in about two seconds on
the first search after a load.

The result is the same set of firms as :func:`app.filters.build_where`'s clause
(``name_zh LIKE '%term%' OR name_en LIKE '%term%' OR credit_code LIKE 'TERM%'``, ASCII
case-insensitive); ``tests/test_search.py`` checks the two against each other.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from sqlalchemy.engine import Engine

# Rows read per fetch while building (bounds the Python objects alive at once).
FETCH_ROWS = 100_000
CODE_WIDTH = 18
_FIELD_SEP = b"\x1f"
_ROW_SEP = b"\n"


@dataclass(frozen=True)
class NameIndex:
    """The register's names and credit codes, for substring search."""

    codes: np.ndarray  # credit codes, sorted, as fixed-width bytes (S18)
    text: bytes  # one line per firm (codes' order): name_zh, 0x1f, name_en; ASCII lower case
    ends: np.ndarray  # offset just past each line's newline (int64, increasing)

    @property
    def size(self) -> int:
        return len(self.codes)

    def find(self, term: str, limit: int) -> list[str] | None:
        """Credit codes (sorted) of the firms whose names contain ``term`` or whose code starts
        with it; None when more than ``limit`` match (the caller falls back to SQL, which stops
        early when matches are that common), or when ``term`` holds a separator character."""
        needle = term.encode("utf-8").lower()
        if not needle or _FIELD_SEP in needle or _ROW_SEP in needle:
            return None
        rows: set[int] = set(self._prefix_rows(term.upper().encode("utf-8")))
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
        return [c.decode("ascii") for c in self.codes[sorted(rows)]]

    def _prefix_rows(self, prefix: bytes) -> range:
        if not prefix or len(prefix) > CODE_WIDTH:
            return range(0)
        lo = int(np.searchsorted(self.codes, prefix, side="left"))
        hi = int(np.searchsorted(self.codes, prefix + b"\xff" * (CODE_WIDTH - len(prefix)),
                                 side="right"))
        return range(lo, hi)


def build_name_index(engine: Engine) -> NameIndex:
    """Read every firm's names and code (one pass, in credit-code order)."""
    codes: list[np.ndarray] = []
    lines: list[bytes] = []
    lengths: list[np.ndarray] = []
    with engine.connect() as conn:
        cursor = conn.connection.driver_connection.execute(  # type: ignore[union-attr]
            "SELECT credit_code, name_zh, coalesce(name_en, '') FROM enterprises "
            "ORDER BY credit_code")
        while rows := cursor.fetchmany(FETCH_ROWS):
            chunk = [f"{zh}\x1f{en}\n".encode() for _code, zh, en in rows]
            codes.append(np.array([r[0] for r in rows], dtype=f"S{CODE_WIDTH}"))
            lengths.append(np.fromiter(map(len, chunk), dtype=np.int64, count=len(chunk)))
            lines.append(b"".join(chunk).lower())
            del rows, chunk
    if not codes:
        return NameIndex(np.array([], dtype=f"S{CODE_WIDTH}"), b"", np.array([], np.int64))
    return NameIndex(np.concatenate(codes), b"".join(lines), np.cumsum(np.concatenate(lengths)))


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
