"""The Typst source of a briefing. Every text goes in as a Typst string literal (``#"…"``),
never as markup, so a name with ``#``, ``*``, ``_``, ``$``, ``@``, ``<`` or brackets in it prints
as written and cannot run as code; :func:`literal` is the one place that escapes.
"""

from __future__ import annotations

import re

from app.briefing.fonts import FAMILY
from app.briefing.model import Block, Briefing, Bullets, Figure, Note, Paragraph, Table

# Page and type, in Typst's units.
PAGE = '#set page(paper: "a4", margin: (x: 16mm, top: 16mm, bottom: 18mm), footer: {footer})'
BODY_SIZE = "9pt"
SMALL_SIZE = "7.5pt"
_PLACEHOLDER = re.compile(r"\{(page|pages)\}")
# Typst expressions for the footer's placeholders.
_COUNTERS = {"page": "counter(page).display()",
             "pages": "str(counter(page).final().first())"}


def literal(text: str) -> str:
    """``text`` as a Typst string literal (backslash, quote and line ends escaped)."""
    escaped = (str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
               .replace("\r", "\\r").replace("\t", "\\t"))
    return f'"{escaped}"'


def content(text: str) -> str:
    """``text`` as a Typst content block holding only that string."""
    return f"[#{literal(text)}]"


def _footer(template: str) -> str:
    """The footer (``Page {page} of {pages}``): the template's words as strings, the page
    numbers as counters."""
    parts, last = [], 0
    for match in _PLACEHOLDER.finditer(template):
        if match.start() > last:
            parts.append(literal(template[last:match.start()]))
        parts.append(_COUNTERS[match.group(1)])
        last = match.end()
    if last < len(template):
        parts.append(literal(template[last:]))
    body = " + ".join(parts) if parts else '""'
    return ("context align(center, text(size: " + SMALL_SIZE + ", fill: luma(90), "
            f"{body}))")


def _block(block: Block) -> str:
    if isinstance(block, Paragraph):
        return f"#par({content(block.text)})\n"
    if isinstance(block, Note):
        return f"#text(size: {SMALL_SIZE}, fill: luma(70), {literal(block.text)})\n"
    if isinstance(block, Figure):
        return (f"#align(center, image({literal(block.name)}, width: {block.width * 100:g}%))\n"
                f"#text(size: {SMALL_SIZE}, fill: luma(70), {literal(block.caption)})\n")
    if isinstance(block, Bullets):
        return "#list(" + ", ".join(content(item) for item in block.items) + ")\n"
    if isinstance(block, Table):
        widths = block.widths or [1.0] * len(block.header)
        columns = "(" + ", ".join(f"{w:g}fr" for w in widths) + ",)"
        header = ", ".join(f"[#strong({literal(h)})]" for h in block.header)
        cells = ", ".join(content(cell) for row in block.rows for cell in row)
        return (f"#text(size: {SMALL_SIZE}, table(columns: {columns}, "
                f"table.header({header}), {cells}))\n")
    raise TypeError(f"not a briefing block: {block!r}")


def build(briefing: Briefing) -> str:
    """The whole document's Typst source."""
    lang = "zh" if briefing.lang == "zh" else "en"
    region = ', region: "cn"' if lang == "zh" else ""
    out = [
        f"#set document(title: {literal(briefing.title + ' · ' + briefing.subtitle)})",
        PAGE.format(footer=_footer(briefing.footer)),
        f'#set text(font: {literal(FAMILY)}, lang: "{lang}"{region}, size: {BODY_SIZE})',
        "#set par(leading: 0.62em, spacing: 0.9em)",
        "#set table(stroke: 0.4pt + luma(185), inset: (x: 3pt, y: 2.5pt))",
        "#show heading: set text(size: 11.5pt)",
        "#show heading: set block(above: 1.3em, below: 0.7em)",
        f"#text(size: 17pt, weight: \"bold\", {literal(briefing.title)})",
        f"#v(-4pt)\n#text(size: 12pt, {literal(briefing.subtitle)})",
        (f"#v(-2pt)\n#text(size: {SMALL_SIZE}, fill: luma(70), "
         f"{literal(briefing.made_at + ' · ' + briefing.data_line)})"),
        ("#block(fill: rgb(\"#FFF4E0\"), inset: 6pt, radius: 2pt, width: 100%, "
         f"text(size: 8pt, {literal(briefing.sample_note)}))"),
    ]
    for section in briefing.sections:
        out.append(f"#heading(level: 1, {literal(section.title)})")
        out.extend(_block(block) for block in section.blocks)
    return "\n".join(out) + "\n"
