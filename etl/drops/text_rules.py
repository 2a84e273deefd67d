"""Rules every cell of a drop obeys before its type is looked at: printable text, bounded length.

A control character in a stored name breaks what reads it later: the XLSX export refuses it
(openpyxl's ``IllegalCharacterError``), and the in-memory name search (``app/search.py``)
separates names with ``\\x1f`` and ``\\n``, so one such name switches the search off for every
user. No column of the drop format holds more than one line: names are shown, searched and
exported as one line, and every other column is a code, number, date, period or enumeration.
So every C0 control character (U+0000–U+001F, tab and line breaks included: a quoted CSV cell
may span lines, but a name may not), DEL (U+007F) and every C1 control character
(U+0080–U+009F) is refused, in every cell of every file kind.

A value longer than any legitimate one is refused too, before any other check quotes it in the
report: a name has at most :data:`NAME_LIMIT` characters, any other cell :data:`CELL_LIMIT`.

The checks run on the Arrow buffers behind the text columns: one pass over the raw UTF-8 bytes
of a chunk decides that it is clean (the common case, a few milliseconds per million values);
only a chunk with a suspect byte is searched value by value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# The longest Chinese register names run to about 50 characters and their English renderings
# to about 120 ("Shanghai … Artificial Intelligence Technology Development Co., Ltd.").
NAME_LIMIT = 200
# Every other column holds a code, number, date, period or enumerated value: the longest valid
# one (a zone's Chinese name, a number with thousands separators) is well under 50 characters.
CELL_LIMIT = 100
# Characters of an over-long value the report shows before "…".
SHOWN_CHARS = 50
# column_map dtypes whose cells are names (free text, stored verbatim).
NAME_DTYPES = ("text",)
# The refused characters, as a regular expression (Python's re and Arrow's RE2 alike).
CONTROL_PATTERN = r"[\x00-\x1f\x7f-\x9f]"
_CONTROL = re.compile(CONTROL_PATTERN)
_ESCAPED = re.compile(r"[\\\x00-\x1f\x7f-\x9f]")
# What a reader calls the control characters a spreadsheet can put in a cell.
_CONTROL_NAMES = {"\t": "a tab", "\n": "a line break", "\r": "a line break"}
# Values converted to Arrow at a time when a column is not Arrow-backed already.
CONVERT_ROWS = 1 << 20
# UTF-8 of the C1 controls: 0xC2 followed by 0x80…0x9F.
_C1_LEAD = 0xC2


@dataclass(frozen=True)
class CellProblem:
    """One cell that breaks a rule: its position in the column, its value as a report shows it
    (see :func:`shown`) and the reason."""

    position: int
    value: str
    reason: str


def limit_for(dtype: str) -> int:
    """The most characters a cell of a column of ``dtype`` (``data/column_map.csv``) may hold."""
    return NAME_LIMIT if dtype in NAME_DTYPES else CELL_LIMIT


def check_column(series: pd.Series, limit: int) -> list[CellProblem]:
    """Every cell of ``series`` that holds a control character or more than ``limit``
    characters, in row order (a cell that breaks both rules has two problems, the control
    character first). Missing values are never a problem here.
    """
    problems: list[CellProblem] = []
    start = 0
    for chunk in _arrow_chunks(series):
        if len(chunk) and _suspect(chunk, limit):
            control = pc.fill_null(pc.match_substring_regex(chunk, CONTROL_PATTERN), False)
            long = pc.fill_null(pc.greater(pc.utf8_length(chunk), limit), False)
            hits = np.flatnonzero(np.asarray(control) | np.asarray(long))
            for i in hits.tolist():
                value = chunk[i].as_py()
                problems.extend(_cell_problems(start + i, value, limit))
        start += len(chunk)
    return problems


def shown(value: str) -> str:
    """A value as a report shows it: cut to its first :data:`SHOWN_CHARS` characters and "…";
    if it holds a control character, each one written as ``\\x`` and its code in two hex digits
    (as in a Python string: ``Acme\\x1fLtd``, a line break ``\\x0a``) and a backslash doubled,
    so that the report holds no control character and shows where it was."""
    text = value if len(value) <= SHOWN_CHARS else value[:SHOWN_CHARS] + "…"
    if first_control(text) is None:
        return text
    return _ESCAPED.sub(lambda m: "\\\\" if m.group() == "\\" else f"\\x{ord(m.group()):02x}",
                        text)


def first_control(value: str) -> str | None:
    """The first control character of ``value``, or None."""
    found = _CONTROL.search(value)
    return found.group() if found else None


def control_reason(ch: str) -> str:
    """``holds a control character (U+001F): …``: the report's reason for a control character."""
    name = f"U+{ord(ch):04X}"
    if ch in _CONTROL_NAMES:
        name += f", {_CONTROL_NAMES[ch]}"
    return (f"holds a control character ({name}): delete it; a cell holds one line of printable "
            "text")


def length_reason(length: int, limit: int) -> str:
    """``too long: 20,000 characters, this column allows at most 200``."""
    return f"too long: {length:,} characters, this column allows at most {limit:,}"


def _cell_problems(position: int, value: str, limit: int) -> list[CellProblem]:
    out = []
    ch = first_control(value)
    if ch is not None:
        out.append(CellProblem(position, shown(value), control_reason(ch)))
    if len(value) > limit:
        out.append(CellProblem(position, shown(value), length_reason(len(value), limit)))
    return out


def _arrow_chunks(series: pd.Series) -> Iterator[pa.Array]:
    """The column as Arrow string arrays: the buffers themselves for Arrow-backed text, else
    converted :data:`CONVERT_ROWS` values at a time (a whole column of 8M values converted at
    once would add its full size to the load's peak memory)."""
    array = series.array
    if hasattr(array, "__arrow_array__"):
        converted = array.__arrow_array__()
        chunks = converted.chunks if isinstance(converted, pa.ChunkedArray) else [converted]
    else:
        values = series.to_numpy(dtype=object)
        chunks = (pa.array(values[i:i + CONVERT_ROWS], type=pa.large_string(), from_pandas=True)
                  for i in range(0, len(values), CONVERT_ROWS))
    for c in chunks:
        yield (c if pa.types.is_large_string(c.type) or pa.types.is_string(c.type)
               else c.cast(pa.large_string()))


def _suspect(chunk: pa.Array, limit: int) -> bool:
    """Whether a chunk may break a rule, from its raw bytes alone: a byte below 0x20, DEL, the
    lead byte of a C1 control (0xC2, also that of ``·`` or ``©``: a false alarm only costs
    the exact search), or a value of more than ``limit`` bytes (a character is at least one)."""
    _validity, offsets_buf, data_buf = chunk.buffers()
    if data_buf is None or offsets_buf is None:
        return False
    width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    offsets = np.frombuffer(offsets_buf, dtype=width)[chunk.offset:chunk.offset + len(chunk) + 1]
    if offsets[-1] == offsets[0]:
        return False
    if np.diff(offsets).max() > limit:
        return True
    raw = np.frombuffer(data_buf, dtype=np.uint8)[offsets[0]:offsets[-1]]
    return bool(raw.min() < 0x20 or (raw == 0x7F).any() or (raw == _C1_LEAD).any())
