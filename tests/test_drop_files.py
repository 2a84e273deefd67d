"""Reading drop entries safely (etl.drops.drop_files) and the workbook limits (etl.drops.workbook_limits).

The end-to-end cases (links, FIFOs, zip bombs … through the command line) are the catalogue in
tests/test_hostile_drops.py; these are the pieces that a whole drop cannot show: an entry
replaced between the listing and the read, and the XML parser openpyxl uses.
"""

from __future__ import annotations

import codecs
import os
from pathlib import Path

import pytest

from etl.drops.drop_files import REASON_REPLACED, REASON_SYMLINK, UnsafeEntry, open_entry, size_text
from etl.drops.files import DropFile, discover, fingerprint
from models.problems import Problem

CSV = b"credit_code,period,revenue\n"


def test_openpyxl_parses_workbook_xml_with_defusedxml() -> None:
    """openpyxl refuses entity declarations only when defusedxml is installed (issue 10)."""
    import openpyxl
    from openpyxl.xml import functions

    assert openpyxl.DEFUSEDXML is True
    assert functions.iterparse.__module__.startswith("defusedxml.")


@pytest.mark.parametrize(("swap", "reason"), [
    ("file", REASON_REPLACED),
    ("link", REASON_SYMLINK),
])
def test_entry_replaced_after_the_listing_is_not_read(tmp_path: Path, swap: str,
                                                      reason: str) -> None:
    drop = tmp_path / "2025Q2"
    drop.mkdir()
    (drop / "revenue.csv").write_bytes(CSV)
    [file], problems = discover(drop)
    assert problems == []
    secret = tmp_path / "secret.csv"
    secret.write_bytes(b"host,secret\n")
    # The listed file stays alive under another name, so that its inode number is not reused.
    os.replace(drop / "revenue.csv", tmp_path / "listed.csv")
    if swap == "file":
        (drop / "revenue.csv").write_bytes(b"host,secret\n")
    else:
        (drop / "revenue.csv").symlink_to(secret)
    assert fingerprint(file) == Problem("revenue.csv", None, None, None, None, reason)


def test_open_entry_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "revenue.csv")
    with pytest.raises(UnsafeEntry) as info:
        open_entry(tmp_path / "revenue.csv")
    assert info.value.reason == ("is a named pipe (FIFO), not a regular file: only regular files "
                                 "are read; copy the data into a regular file")


@pytest.mark.parametrize(("data", "problem"), [
    # A NUL byte where the file is still UTF-8: reading stops there.
    (codecs.BOM_UTF8 + b"a,b\n\0\0", Problem(
        "revenue.csv", None, 2, None, "0x00",
        "holds a NUL byte at byte offset 7 (line 2), which a text CSV never does (a binary "
        "file, or UTF-16 text); save the data as CSV in UTF-8 or GB18030")),
    # UTF-16 with its BOM stops being UTF-8 first: the encoding problem, as before.
    (codecs.BOM_UTF16_LE + "a,b\n".encode("utf-16-le"), Problem(
        "revenue.csv", None, 1, None, "0xFF",
        "cannot be read as UTF-8 or GB18030: byte 0xFF at byte offset 0 (line 1) is not valid "
        "in either (it looks like UTF-16, Excel's \"Unicode Text\"); save the file as UTF-8 or "
        "GB18030")),
])
def test_nul_bytes_in_a_csv(tmp_path: Path, data: bytes, problem: Problem) -> None:
    path = tmp_path / "revenue.csv"
    path.write_bytes(data)
    assert fingerprint(DropFile(path, path.name, "revenue")) == problem


@pytest.mark.parametrize(("n", "text"), [
    (512, "512 bytes"), (1 << 10, "1 KiB"), (1536, "1.5 KiB"), (50 << 20, "50 MiB"),
    (3 << 30, "3 GiB")])
def test_size_text(n: int, text: str) -> None:
    assert size_text(n) == text


# ------------------------------------------------------------- the UTF-8 check, chunk by chunk


def _first_error(checker, chunks: list[bytes]) -> int | None:  # type: ignore[no-untyped-def]
    for chunk in chunks:
        checker.feed(chunk)
    checker.finish()
    return checker.error


@pytest.mark.parametrize("seed", range(40))
def test_fast_utf8_check_finds_the_strict_decoders_first_error(seed: int) -> None:
    """Arrow's validator on whole lines gives the offset Python's strict decoder gives, however
    the bytes are cut into chunks: multi-byte characters split across chunks, bad bytes early,
    late or nowhere, and a long stretch with no line end."""
    import random

    from etl.drops.files import _StrictDecoder, _Utf8Check

    rng = random.Random(seed)
    lines = [rng.choice(["上海市浦东新区张江", "West Bund 西岸", "913101154G1PL31P2K", "€ 1,234.5",
                         "x" * rng.randrange(0, 300), "𝒳 emoji 🙂"]) for _ in range(200)]
    if seed % 3 == 0:
        lines[rng.randrange(len(lines))] += "y" * 5000  # no line end for a while
    data = bytearray("\n".join(lines).encode())
    if seed % 4 != 0:  # a bad byte (a lone continuation byte, or an invalid lead byte)
        ascii_at = [i for i, b in enumerate(data) if b < 0x80]
        data[rng.choice(ascii_at)] = rng.choice([0x80, 0xFF, 0xC0])
    if seed % 5 == 0:
        data += "尾".encode()[:2]  # the file ends inside a character
    cuts = sorted(rng.sample(range(1, len(data)), 12))
    chunks = [bytes(data[a:b]) for a, b in zip([0, *cuts], [*cuts, len(data)])]
    want = _first_error(_StrictDecoder("utf-8"), chunks)
    assert _first_error(_Utf8Check(), chunks) == want
    if seed % 4 != 0 or seed % 5 == 0:
        assert want is not None  # the case checks an error, not only clean text
