"""Finding the CJK font both the typesetter and the charts use: Debian's Noto Sans CJK
(``fonts-noto-cjk``, installed by ``make system-deps``). It covers Latin as well as Chinese, so
one family serves both editions, and Typst embeds the glyphs it uses (SIL Open Font Licence).
"""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from pathlib import Path

from models.errors import AidashError

FAMILY = "Noto Sans CJK SC"
# The files of the family as Debian's fonts-noto-cjk installs them.
REGULAR_FILE = "NotoSansCJK-Regular.ttc"
# Where Debian puts them, looked at when fontconfig cannot be asked.
KNOWN_DIRS = (Path("/usr/share/fonts/opentype/noto"), Path("/usr/share/fonts/truetype/noto"))
MISSING = ("the font {family} is not installed (looked for with fc-match and in {dirs}); "
           "install it with `make system-deps` (Debian's fonts-noto-cjk), then make the "
           "briefing again")


class FontMissing(AidashError):
    """The briefing's font is not installed."""


@cache
def _from_fontconfig() -> Path | None:
    """The file fontconfig gives for the family, if it is the family asked for (asked once
    per process: the Overview checks on every run)."""
    if shutil.which("fc-match") is None:
        return None
    try:
        found = subprocess.run(["fc-match", "-f", "%{family}\t%{file}", f"{FAMILY}:style=Regular"],
                               capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    families, _, file = found.stdout.partition("\t")
    if FAMILY not in families.split(",") or not file:
        return None  # fontconfig falls back to some other font when the family is missing
    return Path(file)


def regular_font() -> Path:
    """The regular face's file (a TrueType/OpenType collection).

    :raises FontMissing: the font is not installed.
    """
    found = _from_fontconfig()
    if found is not None and found.is_file():
        return found
    for folder in KNOWN_DIRS:
        candidate = folder / REGULAR_FILE
        if candidate.is_file():
            return candidate
    raise FontMissing(MISSING.format(family=FAMILY,
                                     dirs=", ".join(str(d) for d in KNOWN_DIRS)))


def font_dir() -> Path:
    """The folder holding the family's files (regular and bold), for Typst's font paths.

    :raises FontMissing: the font is not installed.
    """
    return regular_font().parent
