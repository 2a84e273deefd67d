"""Which entries of a drop folder may be read, and opening them without following links.

A drop arrives from outside, so its folder is not trusted to hold what its names say. Only a
regular file that lives in the drop folder itself is read: a symbolic link could point at any
file of the host (whose first line would then appear in the rejection report and in
``etl_runs.message``), a FIFO blocks the loader for ever, a device or a folder named
``revenue.csv`` is no data at all, and a file with more than one hard link also lives
somewhere else, where it may be changed while it is read. Such an entry is a problem with a
reason that says what to do; its contents are never read, so never echoed.

The checks are made on the entry itself (``lstat``) when the folder is listed, and again on
the open file (``fstat`` of a descriptor opened with ``O_NOFOLLOW``): an entry swapped for a
link or another file between the two is caught, not followed.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

# 1 GiB. The largest drop measured (a million firms, eight quarters: 8M revenue rows) has a
# revenue file of about 400 MB and loads at a peak of 1.8 GB of memory; a CSV file more than
# twice that size would not fit in the memory of the machines the loader runs on. The cap also
# refuses a sparse or runaway file (gigabytes of NUL bytes) from its size alone, unread.
MAX_CSV_BYTES = 1 << 30
# Columns a data file (or sheet) may have: the widest kind has 11, and 256 (Excel 2003's last
# column, IV) leaves room for notes columns while refusing a header of 100,000 columns, each
# of which would otherwise be reported as an unknown column.
MAX_COLUMNS = 256

_NOT_REGULAR = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
                (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
# O_NONBLOCK: opening a FIFO swapped in after the listing must not wait for a writer.
_OPEN_FLAGS = (os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
               | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))

REASON_SYMLINK = ("is a symbolic link: links are not followed; copy the file itself into the "
                  "drop folder")
REASON_FOLDER = ("is a folder, not a file: a data file must be a regular file; move the data "
                 "file out of the folder, or rename the folder")
REASON_REPLACED = ("was replaced while the drop was read: leave the drop folder alone during "
                   "the load and run it again")


class UnsafeEntry(Exception):
    """A drop entry that is not read: its reason says why and what to do."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def size_text(n: int) -> str:
    """``3.0 GiB``, ``120 MiB``, ``512 bytes``: a size as a report shows it."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            value = n / (1 << shift)
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n:,} bytes"


def entry_problem(st: os.stat_result) -> str | None:
    """Why a drop entry (its ``lstat``) may not be read as a data file, or None if it may."""
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        return REASON_SYMLINK
    if stat.S_ISDIR(mode):
        return REASON_FOLDER
    for test, what in _NOT_REGULAR:
        if test(mode):
            return (f"is {what}, not a regular file: only regular files are read; copy the "
                    "data into a regular file")
    if not stat.S_ISREG(mode):
        return "is not a regular file: only regular files are read; copy the data into one"
    if st.st_nlink > 1:
        return (f"has {st.st_nlink} hard links: a file that also lives elsewhere is not read; "
                "copy the file into the drop folder (a copy, not a link)")
    return None


def csv_size_problem(size: int) -> str | None:
    """Why a CSV file of ``size`` bytes is not read (see :data:`MAX_CSV_BYTES`), or None."""
    if size <= MAX_CSV_BYTES:
        return None
    return (f"file is {size_text(size)}, more than the {size_text(MAX_CSV_BYTES)} a CSV file "
            "may hold: split the drop into smaller drops (one quarter each)")


def columns_problem(n_columns: int) -> str | None:
    """Why a header of ``n_columns`` columns is refused (see :data:`MAX_COLUMNS`), or None."""
    if n_columns <= MAX_COLUMNS:
        return None
    return (f"header has {n_columns:,} columns, more than the {MAX_COLUMNS} a drop file may "
            "have: keep only the columns of docs/drop-format.md")


def open_entry(path: Path, identity: tuple[int, int] | None = None) -> BinaryIO:
    """Open a drop entry for reading, never through a link, and check the open file.

    :param identity: ``(st_dev, st_ino)`` seen when the folder was listed, if known; a
        different file at that name now is refused.
    :raises UnsafeEntry: the entry is a link, not a regular file, has other hard links, or was
        replaced since it was listed.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        # ELOOP: the last component is a symbolic link (O_NOFOLLOW). Anything else (gone,
        # no permission) is reported as it is.
        if os.path.islink(path):
            raise UnsafeEntry(REASON_SYMLINK) from None
        raise UnsafeEntry(f"cannot be opened: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        reason = entry_problem(st)
        if reason is None and identity and identity != (st.st_dev, st.st_ino):
            reason = REASON_REPLACED
        if reason is not None:
            raise UnsafeEntry(reason)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_entry(path: Path, identity: tuple[int, int] | None = None) -> bytes:
    """All bytes of a drop entry, opened as :func:`open_entry` does."""
    with open_entry(path, identity) as fh:
        return fh.read()
