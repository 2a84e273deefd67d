"""What a briefing holds, in the reader's language, before it is typeset: sections of
paragraphs, tables, figures and notes, and the register of the sources it cites.

The content modules fill these with finished text (numbers formatted, names chosen); the Typst
builder (:mod:`app.briefing.typst_source`) only lays them out.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Paragraph:
    """Running text."""

    text: str


@dataclass(frozen=True)
class Note:
    """A small-print remark under a table or figure."""

    text: str


@dataclass(frozen=True)
class Table:
    """A table: a header row, body rows, and relative column widths."""

    header: list[str]
    rows: list[list[str]]
    widths: list[float] | None = None


@dataclass(frozen=True)
class Figure:
    """A chart: the file name it is written under, its width (fraction of the text width)
    and caption."""

    name: str
    caption: str
    width: float = 1.0


@dataclass(frozen=True)
class Bullets:
    """A list of short items."""

    items: list[str]


Block = Paragraph | Note | Table | Figure | Bullets


@dataclass
class Section:
    """A heading and what follows it."""

    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Citations:
    """The sources a briefing cites, numbered in the order they are first cited.

    :param same: source id → the id that stands for it (one number per publication).
    """

    same: dict[int, int] = field(default_factory=dict)
    ids: list[int] = field(default_factory=list)

    def cite(self, source_id: int | None) -> int | None:
        """The number of ``source_id`` in the list of sources (``[n]``), adding it if new."""
        if source_id is None:
            return None
        sid = self.same.get(int(source_id), int(source_id))
        if sid not in self.ids:
            self.ids.append(sid)
        return self.ids.index(sid) + 1


@dataclass
class Briefing:
    """One edition: its language, front matter, sections and charts (file name → bytes)."""

    lang: str
    title: str
    subtitle: str
    made_at: str
    data_line: str
    sample_note: str
    footer: str
    sections: list[Section] = field(default_factory=list)
    charts: dict[str, bytes] = field(default_factory=dict)
