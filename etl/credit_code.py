"""Unified social credit codes (统一社会信用代码, GB 32100-2015).

Eighteen characters from a 31-character alphabet (digits and upper-case letters without I, O,
Z, S, V): registration authority, organisation type, the six-digit administrative division,
the nine-character organisation code, and a check character. The check character makes the
weighted sum of all eighteen values a multiple of 31, with weights 3**i mod 31.
"""

from __future__ import annotations

import random

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  # 1, 3, 9, 27, 19, 26, 16, …
# GB 11714 organisation-code check (positions 9–17 of the credit code).
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
CODE_LENGTH = 18


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
    total = sum(_VALUE[ch] * w for ch, w in zip(first8, _ORG_WEIGHTS))
    c = 11 - total % 11
    return {10: "X", 11: "0"}.get(c, str(c))


def make(rng: random.Random, adcode: int | str, *, authority: str = "9", org_type: str = "1") -> str:
    """A synthetic, valid code for an enterprise registered in ``adcode`` (both check digits hold).

    Used by the sample generator only; the organisation code is random.
    """
    org8 = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(8))
    first17 = f"{authority}{org_type}{adcode}{org8}{_org_check(org8)}"
    return first17 + check_char(first17)
