"""GB 32100 credit codes (etl.credit_code): the vectorised checks agree with the scalar ones."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd

from etl import credit_code

_rng = random.Random(32100)
CODES = [credit_code.make(_rng, a) for a in (310101, 310104, 310115, 310151) * 50]


def _values(texts: list[str]) -> np.ndarray:
    raw = np.frombuffer("".join(texts).encode("ascii"), dtype=np.uint8)
    return credit_code.char_values(raw.reshape(len(texts), -1))


def test_check_values_match_check_char() -> None:
    got = credit_code.check_values(_values([c[:17] for c in CODES]))
    assert [credit_code.ALPHABET[v] for v in got] == [credit_code.check_char(c[:17])
                                                      for c in CODES]
    assert [credit_code.ALPHABET[v] for v in got] == [c[17] for c in CODES]


def test_org_check_values_match_the_ninth_organisation_character() -> None:
    # Characters 9–16 are the organisation code, 17 its GB 11714 check.
    got = credit_code.org_check_values(_values([c[8:16] for c in CODES]))
    assert [credit_code.ALPHABET[v] for v in got] == [c[16] for c in CODES]


def test_char_values_marks_bytes_outside_the_alphabet() -> None:
    raw = np.frombuffer(b"09AYIOZSVa-", dtype=np.uint8)
    assert credit_code.char_values(raw).tolist() == [0, 9, 10, 30, -1, -1, -1, -1, -1, -1, -1]


def test_valid_mask_matches_is_valid() -> None:
    rng = random.Random(7)
    codes = CODES[:20]
    codes += [c[:17] + rng.choice(credit_code.ALPHABET) for c in CODES[20:60]]
    codes += [CODES[0][:17], CODES[1] + "0", CODES[2][:16] + "I" + CODES[2][17],
              CODES[3].lower(), "９" + CODES[4][1:], ""]
    got = credit_code.valid_mask(pd.Series(codes, dtype="str"))
    assert got.tolist() == [credit_code.is_valid(c) for c in codes]
    assert got[:20].all()


def test_valid_mask_of_nothing() -> None:
    assert credit_code.valid_mask(pd.Series([], dtype="str")).tolist() == []
