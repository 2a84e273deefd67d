"""What an XLSX workbook may claim before it is read, and how large its sheets may be.

An XLSX file is a zip of XML parts, and both layers can make a tiny file cost minutes or
gigabytes: a part that inflates a thousandfold (a zip bomb), XML entities that expand without
bound ("billion laughs"), a sheet with one cell at XFD1048576. The zip's directory is checked
with :mod:`zipfile` before openpyxl opens the workbook, and the sheets' rows and columns are
checked as they stream, so a hostile workbook is refused in seconds, with the limit named.
(Entity declarations are refused by openpyxl itself, which parses with ``defusedxml`` when it
is installed, as it is here: see ``pyproject.toml``.)

The limits, and why (openpyxl, parsing through defusedxml, read 100,000 rows of eight columns
in 22 to 47 s on the shared 2-core server, about half as fast as with the bare stdlib parser;
pyarrow reads a CSV at over a million rows a second, so a large sheet belongs in a CSV, which
has only its size limit, see :data:`etl.drops.drop_files.MAX_CSV_BYTES`):

* :data:`MAX_XLSX_PARTS` 10,000: a workbook has a few dozen parts (sheets, strings, styles,
  images); :mod:`zipfile` reads the whole directory into memory before anything can be
  checked, and a directory of a million empty parts fits in 50 MiB. The count the zip's end
  record declares is checked first.
* :data:`MAX_XLSX_BYTES` 50 MiB: a sheet at :data:`MAX_SHEET_ROWS` rows is about 7 MB zipped.
* :data:`MAX_XLSX_UNPACKED` 200 MiB of XML in all: that sheet is about 90 MB unzipped.
* :data:`MAX_INFLATE_RATIO` 100 for a part over 1 MiB: sheet XML deflates 10 to 20-fold;
  100 is Apache POI's default bound (``ZipSecureFile`` min inflate ratio 0.01).
* :data:`MAX_SHEET_ROWS` 200,000: one to two minutes of reading; the register of every AI
  firm in Shanghai is a few thousand rows.
* :data:`MAX_SHEET_COLUMNS` 256 (Excel 2003's last column, IV): the widest file kind has 11
  columns, which leaves room for notes columns.

A workbook that links to other workbooks (``xl/externalLinks/``) is refused: a value it
takes from another file cannot be checked, and that file is on someone else's disk.
"""

from __future__ import annotations

import os
import struct
import zipfile
from typing import BinaryIO

from etl.drops.drop_files import MAX_COLUMNS, size_text

MAX_XLSX_BYTES = 50 << 20
MAX_XLSX_PARTS = 10_000
MAX_XLSX_UNPACKED = 200 << 20
MAX_INFLATE_RATIO = 100
# Parts smaller than this are not held to the ratio: a small part of repeated markup (styles,
# an empty sheet) deflates far better than data, and costs nothing to read.
RATIO_GRACE_BYTES = 1 << 20
MAX_SHEET_ROWS = 200_000
MAX_SHEET_COLUMNS = MAX_COLUMNS
EXTERNAL_LINKS = "xl/externalLinks/"

EXPORT_CSV = "export the sheet as CSV (UTF-8)"
REASON_XML_ENTITIES = ("workbook XML declares entities (a DTD), which Excel never writes and "
                       "which can expand without bound: open it in Excel and save it again, or "
                       f"{EXPORT_CSV}")


class WorkbookTooLarge(Exception):
    """A workbook, or one of its sheets, over a limit: the reason names it and what to do.

    :param sheet: the sheet concerned, if one is.
    :param row: the sheet row where the limit was passed, if one was.
    """

    def __init__(self, reason: str, sheet: str | None = None, row: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.sheet = sheet
        self.row = row


def file_size_problem(size: int) -> str | None:
    """Why a workbook of ``size`` bytes is not opened, or None."""
    if size <= MAX_XLSX_BYTES:
        return None
    return (f"workbook is {size_text(size)}, more than the {size_text(MAX_XLSX_BYTES)} an XLSX "
            f"file may be: {EXPORT_CSV}")


def check_archive(fh: BinaryIO) -> None:
    """Check a workbook's zip directory before any part of it is inflated.

    The sizes are those the directory declares; :mod:`zipfile` (which openpyxl reads through)
    stops at the declared size and checks the CRC, so a part cannot inflate beyond them.

    :raises WorkbookTooLarge: too much XML in all, a part that inflates too far, or links to
        other workbooks.
    :raises zipfile.BadZipFile: not a zip at all (reported as an unreadable workbook).
    """
    parts = declared_parts(fh)
    if parts is not None and parts > MAX_XLSX_PARTS:
        raise WorkbookTooLarge(
            f"workbook has {parts:,} parts, more than the {MAX_XLSX_PARTS:,} a workbook may "
            f"hold: open it in Excel and save it again, or {EXPORT_CSV}")
    fh.seek(0)
    with zipfile.ZipFile(fh) as archive:
        infos = archive.infolist()
    links = sorted(i.filename for i in infos if i.filename.startswith(EXTERNAL_LINKS))
    if links:
        raise WorkbookTooLarge(
            f"workbook links to other workbooks ({links[0]}): values taken from another file "
            "cannot be checked; break the links in Excel (Data → Edit Links → Break Link) and "
            f"save again, or {EXPORT_CSV}")
    unpacked = sum(i.file_size for i in infos)
    if unpacked > MAX_XLSX_UNPACKED:
        raise WorkbookTooLarge(
            f"workbook unpacks to {size_text(unpacked)} of XML, more than the "
            f"{size_text(MAX_XLSX_UNPACKED)} a workbook may hold: {EXPORT_CSV}")
    for info in infos:
        if info.file_size > RATIO_GRACE_BYTES and (
                info.file_size > MAX_INFLATE_RATIO * max(info.compress_size, 1)):
            ratio = info.file_size / max(info.compress_size, 1)
            raise WorkbookTooLarge(
                f"workbook part {info.filename} inflates {ratio:,.0f}-fold "
                f"({size_text(info.compress_size)} to {size_text(info.file_size)}), more than "
                f"the {MAX_INFLATE_RATIO}-fold a workbook's data does (a zip bomb?): open it in "
                f"Excel and save it again, or {EXPORT_CSV}")


# The zip's end of central directory record: signature, then the entry count at offset 10.
_END_RECORD = b"PK\x05\x06"
_END_RECORD_SIZE = 22
_MAX_COMMENT = 0xFFFF


def declared_parts(fh: BinaryIO) -> int | None:
    """The number of parts a zip's end record declares (65,535 for a ZIP64 archive, which
    has more), or None when there is no end record (:mod:`zipfile` then says it is no zip)."""
    end = fh.seek(0, os.SEEK_END)
    start = max(0, end - _END_RECORD_SIZE - _MAX_COMMENT)
    fh.seek(start)
    tail = fh.read(end - start)
    at = tail.rfind(_END_RECORD)
    if at < 0 or at + _END_RECORD_SIZE > len(tail):
        return None
    return int(struct.unpack_from("<H", tail, at + 10)[0])


def check_sheet_row(sheet: str, number: int, width: int) -> None:
    """Check one non-empty sheet row: its number and the column of its last value.

    :raises WorkbookTooLarge: the row lies beyond :data:`MAX_SHEET_ROWS`, or has a value
        beyond column :data:`MAX_SHEET_COLUMNS`.
    """
    if number > MAX_SHEET_ROWS:
        raise WorkbookTooLarge(
            f"sheet has values in row {number:,}, beyond the {MAX_SHEET_ROWS:,} rows a sheet "
            f"may hold: {EXPORT_CSV}, which has no row limit", sheet, number)
    if width > MAX_SHEET_COLUMNS:
        from openpyxl.utils import get_column_letter

        raise WorkbookTooLarge(
            f"sheet has a value in column {get_column_letter(width)} (column {width:,}), beyond "
            f"the {MAX_SHEET_COLUMNS} columns a sheet may use: delete the stray cells and save "
            f"again, or {EXPORT_CSV}", sheet, number)
