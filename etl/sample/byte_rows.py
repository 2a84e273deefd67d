"""CSV rows built as byte matrices: how the scale drop writes millions of rows in seconds.

A field of rows is a byte matrix (rows x width) plus a mask of the bytes that are real; the rows
are joined by stacking fields side by side and keeping the masked bytes in row order. Texts go
in as they are: the caller writes any CSV quoting as a constant field.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Field = tuple[np.ndarray, np.ndarray]


def const(text: str, n: int) -> Field:
    """The same ``text`` on each of ``n`` rows."""
    raw = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    return np.broadcast_to(raw, (n, raw.size)), np.ones((n, raw.size), dtype=bool)


def fixed(mat: np.ndarray) -> Field:
    """A byte matrix whose bytes are all real (fixed width)."""
    return mat, np.ones(mat.shape, dtype=bool)


def choice_table(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``texts`` as a padded byte matrix and their lengths, for :func:`pick`."""
    encoded = [t.encode("utf-8") for t in texts]
    width = max(1, max(len(e) for e in encoded))
    table = np.zeros((len(encoded), width), dtype=np.uint8)
    for i, e in enumerate(encoded):
        table[i, :len(e)] = np.frombuffer(e, dtype=np.uint8)
    return table, np.array([len(e) for e in encoded])


def pick(table: tuple[np.ndarray, np.ndarray], index: np.ndarray) -> Field:
    """Row i holds text ``index[i]`` of a :func:`choice_table`."""
    mat, lengths = table
    return mat[index], np.arange(mat.shape[1])[None, :] < lengths[index][:, None]


def number(values: np.ndarray, decimals: int = 0) -> Field:
    """Non-negative integers (in units of 10**-decimals) as decimal text, without floats."""
    values = values.astype(np.int64)
    unit = 10 ** decimals
    whole = values // unit
    width = max(1, len(str(int(whole.max()))) if whole.size else 1)
    pows = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    digits = ((whole[:, None] // pows) % 10 + 48).astype(np.uint8)
    n_digits = 1 + (whole[:, None] >= pows[None, :-1]).sum(axis=1) if width > 1 else \
        np.ones(whole.shape[0], dtype=np.int64)
    keep = np.arange(width)[None, :] >= (width - n_digits)[:, None]
    if decimals == 0:
        return digits, keep
    fpows = 10 ** np.arange(decimals - 1, -1, -1, dtype=np.int64)
    frac = (((values % unit)[:, None] // fpows) % 10 + 48).astype(np.uint8)
    n = values.shape[0]
    dot = np.full((n, 1), ord("."), dtype=np.uint8)
    return (np.concatenate([digits, dot, frac], axis=1),
            np.concatenate([keep, np.ones((n, 1 + decimals), dtype=bool)], axis=1))


def iso_dates(days: np.ndarray) -> Field:
    """datetime64[D] values as YYYY-MM-DD."""
    years = days.astype("datetime64[Y]").astype(np.int64) + 1970
    months = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    dom = (days - days.astype("datetime64[M]")).astype(np.int64) + 1
    parts = []
    for values, width in ((years, 4), (months, 2), (dom, 2)):
        pows = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
        parts.append(((values[:, None] // pows) % 10 + 48).astype(np.uint8))
    n = days.shape[0]
    dash = np.full((n, 1), ord("-"), dtype=np.uint8)
    return fixed(np.concatenate([parts[0], dash, parts[1], dash, parts[2]], axis=1))


def join_rows(fields: Sequence[Field]) -> bytes:
    """The fields side by side, as the bytes of the rows in order."""
    mat = np.concatenate([f[0] for f in fields], axis=1)
    keep = np.concatenate([f[1] for f in fields], axis=1)
    return mat[keep].tobytes()
