"""Finding a drop's data files, hashing them and finding their text encoding.

The first step of reading a drop (:func:`etl.drops.read.read_drop`): which entries of the folder
are data files and of which kind (from their names), the SHA-256 of each (a rerun of the same
drop is recognised by it), and, for a CSV, the encoding its bytes decode in. The drop's
``source.json`` is read here too. Which entries may be opened at all, and how without following
a link, is :mod:`etl.drops.drop_files`; parsing the files is :mod:`etl.drops.csv_reader` and
:mod:`etl.drops.xlsx_reader`.

Encoding: UTF-8 (with or without BOM) is tried strictly first, then GB18030 strictly (a superset
of GBK and GB2312, what Excel on Chinese Windows writes). The rule is deterministic;
charset-normalizer is only asked for a hint when neither decodes.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa

from etl.drops import workbook_limits
from etl.drops.drop_files import (
    UnsafeEntry,
    csv_size_problem,
    entry_problem,
    open_entry,
    read_entry,
)
from models.problems import Problem

# File stems of each kind, English and Chinese (docs/drop-format.md).
FILE_KINDS: dict[str, tuple[str, ...]] = {
    "enterprises": ("enterprises", "企业名录"),
    "revenue": ("revenue", "营业收入"),
    "zone_metrics": ("zone_metrics", "园区指标"),
}
KIND_ORDER = tuple(FILE_KINDS)
DATA_SUFFIXES = (".csv", ".xlsx")
SOURCE_JSON = "source.json"
REPORT_NAME = "rejections.csv"
# 4 MiB: large enough that hashing and decoding run at disk speed, small enough to stream.
READ_CHUNK = 1 << 22
UTF8_BOM = codecs.BOM_UTF8

REASON_XLS = "old Excel .xls format is not read: save the file as XLSX or CSV"


@dataclass
class DropFile:
    """One file of a drop folder: its kind (from the name), checksum and encoding."""

    path: Path
    name: str
    kind: str | None
    size: int = 0
    sha256: str = ""
    encoding: str | None = None
    quotes: int = 0
    # (st_dev, st_ino) of the entry when the folder was listed: every open checks it.
    identity: tuple[int, int] | None = None

    def open(self) -> BinaryIO:
        """The file for reading, never through a link (see :func:`etl.drops.drop_files.open_entry`)."""
        return open_entry(self.path, self.identity)

    def read_bytes(self) -> bytes:
        return read_entry(self.path, self.identity)


def file_kind(name: str) -> str | None:
    """The kind of a data file from its stem: ``revenue.csv``, ``营业收入.xlsx`` or a stem
    that starts with one of those and a separator (``revenue_part2.csv``)."""
    stem = unicodedata.normalize("NFKC", Path(name).stem).strip().lower()
    for kind, stems in FILE_KINDS.items():
        for s in stems:
            if stem == s or (stem.startswith(s) and stem[len(s)] in "_- .（("):
                return kind
    return None


def discover(drop_dir: Path, *, ignore: tuple[Path, ...] = ()) -> tuple[list[DropFile],
                                                                         list[Problem]]:
    """The data files of a drop folder, enterprises first, and problems with file names.

    ``source.json``, an earlier ``rejections.csv``, hidden files, Excel lock files (``~$…``),
    other sub-folders and files that are neither CSV nor XLSX (a README) are not data and are left
    alone; a CSV or XLSX whose name is no known kind is a problem (a typo in a file name must
    not silently drop a file). An entry named like a data file must be a regular file of the
    folder (see :mod:`etl.drops.drop_files`): a link, FIFO, device, folder or hard-linked file is a
    problem, and is never opened.

    :param ignore: further paths that are not data (the rejection report about to be written).
    """
    ignored = {_entry_key(p) for p in ignore}
    files: list[DropFile] = []
    problems: list[Problem] = []
    for path in sorted(drop_dir.iterdir(), key=lambda p: p.name):
        name = path.name
        if (name.startswith((".", "~$")) or name == SOURCE_JSON or name == REPORT_NAME
                or _entry_key(path) in ignored):
            continue
        suffix = path.suffix.lower()
        if suffix not in (*DATA_SUFFIXES, ".xls"):
            continue
        try:
            st = path.lstat()
        except FileNotFoundError:  # removed while the folder was listed
            continue
        unsafe = entry_problem(st)
        if unsafe is not None:
            problems.append(Problem(name, None, None, None, None, unsafe))
            continue
        if suffix == ".xls":
            problems.append(Problem(name, None, None, None, None, REASON_XLS))
            continue
        kind = file_kind(name)
        if kind is None:
            names = ", ".join(f"{en}/{zh}" for en, zh in FILE_KINDS.values())
            problems.append(Problem(name, None, None, None, None,
                                    f"file name is not a known kind: name it {names} "
                                    "(.csv or .xlsx)"))
            continue
        size = (csv_size_problem(st.st_size) if suffix == ".csv"
                else workbook_limits.file_size_problem(st.st_size))
        if size is not None:
            problems.append(Problem(name, None, None, None, None, size))
            continue
        files.append(DropFile(path, name, kind, identity=(st.st_dev, st.st_ino)))
    files.sort(key=lambda f: (KIND_ORDER.index(f.kind or ""), f.name))
    if not files and not problems:
        problems.append(Problem(drop_dir.name, None, None, None, None,
                                "the folder holds no data file: expected enterprises, revenue "
                                "or zone_metrics as .csv or .xlsx"))
    return files, problems


def _entry_key(path: Path) -> Path:
    """A folder entry as compared with the paths to ignore: its folder resolved, its own name
    kept (a link is its own entry, not the file it points to)."""
    return path.parent.resolve() / path.name


def fingerprint(file: DropFile) -> Problem | None:
    """Hash the file and, for a CSV, find its encoding; a problem if the bytes do not decode.

    One streaming pass computes the SHA-256 and checks strict UTF-8 (``utf-8-sig`` when the
    file starts with a BOM); a second pass tries strict GB18030 only if that fails. A CSV that
    holds a NUL byte where it still reads as UTF-8 is no text file (binary, UTF-16 without a
    BOM, or a sparse file of zeros): the pass stops there rather than read the rest.
    """
    sha = hashlib.sha256()
    utf8 = _Utf8Check()
    first = True
    size = 0
    quotes = 0
    is_csv = file.path.suffix.lower() == ".csv"
    nul: int | None = None
    try:
        with file.open() as fh:
            while chunk := fh.read(READ_CHUNK):
                at = chunk.find(b"\0") if is_csv else -1
                start = size
                sha.update(chunk)
                size += len(chunk)
                quotes += chunk.count(b'"')
                if first and chunk.startswith(UTF8_BOM):
                    utf8.skip(len(UTF8_BOM))
                    chunk = chunk[len(UTF8_BOM):]
                first = False
                # At a NUL byte the pass stops: everything before it is checked now.
                utf8.feed(chunk, final=at >= 0)
                # Where the bytes stop being UTF-8 first (UTF-16 with its BOM), the encoding
                # problem below says more than the NUL byte.
                if at >= 0 and (utf8.error is None or start + at < utf8.error):
                    nul = start + at
                    break
    except UnsafeEntry as exc:
        return Problem(file.name, None, None, None, None, exc.reason)
    if nul is not None:
        return _nul_problem(file, nul)
    utf8.finish()
    file.size, file.sha256, file.quotes = size, sha.hexdigest(), quotes
    if not is_csv:
        return None
    if utf8.error is None:
        file.encoding = "utf-8-sig" if utf8.skipped else "utf-8"
        return None
    gb = _StrictDecoder("gb18030")
    with file.open() as fh:
        while chunk := fh.read(READ_CHUNK):
            gb.feed(chunk)
            if gb.error is not None:
                break
    gb.finish()
    if gb.error is None:
        file.encoding = "gb18030"
        return None
    offset = max(utf8.error, gb.error)
    with file.open() as fh:
        head = fh.read(offset + 1)
    line = head.count(b"\n", 0, offset) + 1
    hint = _encoding_hint(file)
    return Problem(file.name, None, line, None, f"0x{head[offset]:02X}",
                   f"cannot be read as UTF-8 or GB18030: byte 0x{head[offset]:02X} at byte offset "
                   f"{offset} (line {line}) is not valid in either{hint}; save the file as UTF-8 "
                   "or GB18030")


def _nul_problem(file: DropFile, offset: int) -> Problem:
    """A CSV holding a NUL byte at ``offset``: text never does (only the bytes before it are
    read again, to count lines)."""
    with file.open() as fh:
        head = fh.read(min(offset, READ_CHUNK))
    line = head.count(b"\n") + 1 if offset <= READ_CHUNK else None
    where = f" (line {line})" if line is not None else ""
    return Problem(file.name, None, line, None, "0x00",
                   f"holds a NUL byte at byte offset {offset}{where}, which a text CSV never "
                   f"does (a binary file, or UTF-16 text){_encoding_hint(file)}; save the data "
                   "as CSV in UTF-8 or GB18030")


def _valid_utf8(data: bytes | memoryview) -> bool:
    """Whether ``data`` is UTF-8 (Arrow's validator: a tenth of the time of decoding it)."""
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64))
    try:
        pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(data)]
                              ).validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


class _StrictDecoder:
    """An incremental strict decoder that remembers the byte offset of the first error."""

    def __init__(self, encoding: str) -> None:
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
        self.consumed = 0
        self.error: int | None = None
        self.skipped = 0

    def skip(self, n: int) -> None:
        self.consumed += n
        self.skipped += n

    def feed(self, chunk: bytes, final: bool = False) -> None:
        if self.error is not None:
            return
        try:
            self._decoder.decode(chunk, final)
        except UnicodeDecodeError as exc:
            # exc.object is what the decoder saw: its pending bytes, then this chunk.
            pending = len(exc.object) - len(chunk)
            self.error = self.consumed - pending + exc.start
        self.consumed += len(chunk)

    def finish(self) -> None:
        self.feed(b"", final=True)


class _Utf8Check(_StrictDecoder):
    """:class:`_StrictDecoder` for UTF-8, fast on the usual file.

    The bytes are checked up to the last line end of what has been fed (a line end is never
    inside a multi-byte character), the rest carried to the next chunk. On the first piece that
    is not UTF-8, or data with no line end, the strict decoder takes over from the start of
    that piece, so :attr:`error` is the offset it would have given.
    """

    def __init__(self) -> None:
        super().__init__("utf-8")
        self._pending = b""
        self._strict = False

    def feed(self, chunk: bytes, final: bool = False) -> None:
        if self.error is not None:
            return
        if self._strict:
            super().feed(chunk, final)
            return
        # Checked in two parts, so that a chunk is not copied: the carried bytes with the
        # chunk's first line end, then the chunk up to its last line end.
        first = len(chunk) if final else chunk.find(b"\n") + 1
        last = len(chunk) if final else chunk.rfind(b"\n") + 1
        view = memoryview(chunk)
        if (first == 0 or not _valid_utf8(self._pending + chunk[:first])
                or not _valid_utf8(view[first:last])):
            # ``consumed`` counts the bytes checked so far: the decoder starts there.
            self._strict = True
            data, self._pending = self._pending + chunk, b""
            super().feed(data, final)
            return
        self.consumed += len(self._pending) + last
        self._pending = chunk[last:]


# Encodings charset-normalizer may name that a drop plausibly arrives in, as a report names
# them. Its other guesses on a small file (cp775, mac_latin2 …) would mislead more than help.
_HINTS = {"cp1252": "Windows-1252 (Western)", "latin_1": "Latin-1 (Western)",
          "iso8859_15": "Latin-9 (Western)", "big5": "Big5 (traditional Chinese)",
          "cp950": "Big5 (traditional Chinese)", "shift_jis": "Shift-JIS (Japanese)",
          "cp932": "Shift-JIS (Japanese)", "euc_kr": "EUC-KR (Korean)",
          "cp949": "EUC-KR (Korean)", "utf_16": "UTF-16", "utf_16_le": "UTF-16",
          "utf_16_be": "UTF-16"}


def _encoding_hint(file: DropFile) -> str:
    """``' (it looks like UTF-16)'``: a UTF-16 BOM, else charset-normalizer's guess if it is
    a common encoding; otherwise nothing."""
    with file.open() as fh:
        head = fh.read(1 << 20)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return " (it looks like UTF-16, Excel's \"Unicode Text\")"
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(head).best()
    except Exception:  # noqa: BLE001  (a hint is a courtesy: never let it hide the problem)
        return ""
    if best is None or best.encoding not in _HINTS:
        return ""
    return f" (it looks like {_HINTS[best.encoding]})"


def read_source(drop_dir: Path) -> tuple[dict[str, object] | None, list[Problem]]:
    """The drop's ``source.json`` (title, publisher, published …), if there is one."""
    import json

    path = drop_dir / SOURCE_JSON
    if not os.path.lexists(path):
        return None, []
    try:
        doc = json.loads(read_entry(path).decode("utf-8-sig"))
    except UnsafeEntry as exc:
        return None, [Problem(SOURCE_JSON, None, None, None, None, exc.reason)]
    except UnicodeDecodeError:
        return None, [Problem(SOURCE_JSON, None, None, None, None,
                              "source.json is not UTF-8: save it as UTF-8")]
    except json.JSONDecodeError as exc:
        return None, [Problem(SOURCE_JSON, None, exc.lineno, None, None,
                              f"source.json is not valid JSON: {exc.msg} (line {exc.lineno}, "
                              f"column {exc.colno})")]
    if not isinstance(doc, dict):
        return None, [Problem(SOURCE_JSON, None, None, None, None,
                              "source.json must hold one JSON object such as "
                              '{"title": "…", "publisher": "…", "published": "2025-07-15"}')]
    if not str(doc.get("title") or "").strip():
        return None, [Problem(SOURCE_JSON, None, None, "title", None,
                              "source.json has no title")]
    return doc, []
