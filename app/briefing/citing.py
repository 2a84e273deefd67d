"""How a briefing names a source: a short label beside a figure (the publisher, in the reader's
language where the locale knows it), and a full line in the list of sources.

Titles stay as published (a title is a name, in whichever language it was written); the
words around them are the reader's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from urllib.parse import urlparse

from app.i18n import Translator, get_translator

# Publishers the locale files name in both languages (``briefing.publishers.<key>``), looked
# for in a source's title and publication, first match wins.
KNOWN_PUBLISHERS = ("peoples_daily", "xinhua", "china_daily", "shanghai_daily", "the_paper",
                    "jiefang_daily")


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def publisher(source: Mapping, tr: Translator) -> str | None:
    """The known publisher of ``source`` (a ``sources`` row) in the reader's language."""
    english = get_translator("en")
    haystack = f"{_text(source.get('title'))} {_text(source.get('url_or_publication'))}".lower()
    for key in KNOWN_PUBLISHERS:
        if english(f"briefing.publishers.{key}").lower() in haystack:
            return tr(f"briefing.publishers.{key}")
    return None


def outlet(source: Mapping) -> str:
    """Where the source appeared: its publication, or the host of its address."""
    where = _text(source.get("url_or_publication"))
    if where.startswith(("http://", "https://")):
        return urlparse(where).hostname or where
    return where


def short_label(source: Mapping, tr: Translator) -> str:
    """The label beside a figure: the sample generator, a known publisher, else the outlet."""
    if _text(source.get("provenance")) == "sample":
        return tr("briefing.sample_source")
    return publisher(source, tr) or outlet(source) or _text(source.get("title"))


def citation(number: int | None, source: Mapping, tr: Translator) -> str:
    """``People's Daily, 2025-05-07 [1]`` / ``人民日报，2025年5月7日 [1]``."""
    label = short_label(source, tr)
    if _text(source.get("provenance")) != "sample" and _text(source.get("published")):
        label = tr("briefing.source_dated", source=label,
                   date=tr.date(_text(source.get("published"))))
    return f"{label} [{number}]" if number is not None else label


def source_line(number: int, source: Mapping, tr: Translator) -> str:
    """One entry of the list of sources."""
    provenance = _text(source.get("provenance"))
    if provenance in ("sample", "derived"):  # the loader's own: no title to quote
        return f"[{number}] " + tr(f"briefing.{provenance}_source_line")
    where = outlet(source)
    known = publisher(source, tr)
    if known and known.lower() not in where.lower():
        where = tr("briefing.outlet_of", publisher=known, outlet=where) if where else known
    return f"[{number}] " + tr("briefing.source_line", title=_text(source.get("title")),
                               outlet=where or "—", date=tr.date(_text(source.get("published"))))
