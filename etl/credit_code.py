"""Unified social credit codes (统一社会信用代码, GB 32100-2015): the one owner of the check rules.

Eighteen characters from a 31-character alphabet (digits and upper-case letters without I, O,
Z, S, V): registration authority, organisation type, the six-digit administrative division,
the nine-character organisation code, and a check character. The check character makes the
weighted sum of all eighteen values a multiple of 31, with weights 3**i mod 31. The ninth
character of the organisation code is its own GB 11714 check (weights 3, 7, 9, 10, 5, 8, 4, 2,
modulo 11).

Each rule comes twice, from the same constants: for one code (:func:`check_char`,
:func:`problem`, :func:`is_valid`, :func:`make`) and over whole arrays (:func:`check_values`,
:func:`org_check_values`, :func:`char_values`, :func:`valid_mask`), which the validator runs on a
million codes and the scale sample generator uses to write them.
"""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pyarrow as pa

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  # 1, 3, 9, 27, 19, 26, 16, …
# GB 11714 organisation-code check (positions 9–17 of the credit code).
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
CODE_LENGTH = 18
# The alphabet as ASCII bytes (value → byte), and each byte's value (byte → value, -1 outside).
ALPHABET_BYTES = np.frombuffer(ALPHABET.encode("ascii"), dtype=np.uint8)
_BYTE_VALUE = np.full(256, -1, dtype=np.int8)
_BYTE_VALUE[ALPHABET_BYTES] = np.arange(len(ALPHABET))


def check_char(first17: str) -> str:
    """The check character for the first 17 characters of a code.

    :raises ValueError: if a character is outside the GB 32100 alphabet.
    """
    total = 0
    for ch, w in zip(first17, WEIGHTS):
        if ch not in _VALUE:
            raise ValueError(f"character {ch!r} is not allowed in a credit code")
        total += _VALUE[ch] * w
    return ALPHABET[(31 - total % 31) % 31]


def problem(code: str) -> str | None:
    """Why ``code`` is not a valid credit code, or None if it is.

    The reasons are the exact texts shown in a rejection report.
    """
    if len(code) != CODE_LENGTH:
        return f"credit code must have 18 characters, this one has {len(code)}"
    bad = sorted({ch for ch in code if ch not in _VALUE})
    if bad:
        return ("credit code contains characters outside GB 32100 (digits and capitals "
                f"without I, O, Z, S, V): {''.join(bad)}")
    expected = check_char(code[:17])
    if code[17] != expected:
        return f"check digit is {code[17]}, GB 32100-2015 requires {expected}"
    return None


def is_valid(code: str) -> bool:
    """True if ``code`` has 18 allowed characters and a correct check character."""
    return problem(code) is None


def _org_check(first8: str) -> str:
    """The GB 11714 check character of an eight-character organisation code."""
    total = sum(_VALUE[ch] * w for ch, w in zip(first8, ORG_WEIGHTS))
    c = 11 - total % 11
    return {10: "X", 11: "0"}.get(c, str(c))


def make(rng: random.Random, adcode: int | str, *, authority: str = "9", org_type: str = "1") -> str:
    """A synthetic, valid code for an enterprise registered in ``adcode`` (both check digits hold).

    Used by the sample generator only; the organisation code is random.
    """
    org8 = "".join(rng.choice(ALPHABET) for _ in range(8))
    first17 = f"{authority}{org_type}{adcode}{org8}{_org_check(org8)}"
    return first17 + check_char(first17)


# ------------------------------------------------------------------------------ vectorised


def check_values(values: np.ndarray) -> np.ndarray:
    """:func:`check_char` over the rows of an (n, 17) matrix of character values (0–30;
    further columns are ignored): the value of each row's check character.

    Summed column by column, so that a million rows of small integers never become an
    (n, 17) matrix of 64-bit products.
    """
    total = np.zeros(len(values), dtype=np.int64)
    for j, w in enumerate(WEIGHTS):
        total += values[:, j].astype(np.int64) * w
    return (31 - total % 31) % 31


def org_check_values(values: np.ndarray) -> np.ndarray:
    """The GB 11714 check of :func:`make` over the rows of an (n, 8) matrix of organisation-code
    character values: the value of each row's ninth character (10 is ``X``, 11 is ``0``)."""
    total = np.zeros(len(values), dtype=np.int64)
    for j, w in enumerate(ORG_WEIGHTS):
        total += values[:, j].astype(np.int64) * w
    check = 11 - total % 11
    return np.where(check == 10, _VALUE["X"], np.where(check == 11, 0, check))


def char_values(raw: np.ndarray) -> np.ndarray:
    """The value (0–30) of each ASCII byte of ``raw`` (any shape, uint8), -1 where the byte is
    not in the alphabet."""
    return _BYTE_VALUE[raw]


def valid_mask(codes: pd.Series) -> np.ndarray:
    """:func:`is_valid` over a Series of text (no missing values): True where a code has 18
    allowed characters and a correct check character.

    The 18-character ASCII candidates become one (n, 18) byte matrix read from their Arrow
    buffer, small integers throughout: a million codes must not become a million Python strings
    or int64 matrices.
    """
    ok = np.zeros(len(codes), dtype=bool)
    lengths = codes.str.len().to_numpy()
    ascii_ = codes.str.isascii().to_numpy(dtype=bool)
    cand = np.flatnonzero((lengths == CODE_LENGTH) & ascii_)
    if not len(cand):
        return ok
    chosen = pa.array(codes.iloc[cand], type=pa.large_string())
    if isinstance(chosen, pa.ChunkedArray):  # a column's own Arrow data
        chosen = chosen.combine_chunks()
    # Fresh buffers whose offsets start at 0: every candidate is 18 ASCII bytes, so the data
    # buffer is the matrix itself.
    chosen = pa.concat_arrays([chosen])
    raw = np.frombuffer(chosen.buffers()[2], dtype=np.uint8)[:CODE_LENGTH * len(chosen)]
    values = char_values(raw.reshape(-1, CODE_LENGTH))
    del raw, chosen
    allowed = (values >= 0).all(axis=1)
    ok[cand] = allowed & (values[:, CODE_LENGTH - 1] == check_values(values))
    return ok
