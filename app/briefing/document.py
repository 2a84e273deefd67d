"""Making a briefing: check the quarter, gather its sections from the query functions,
typeset them with Typst and return the PDF's bytes.

The same database, quarter and language give the same document; only the time of making
(:func:`clock`, written on the first page and in the PDF's date) differs between two runs.
"""

from __future__ import annotations

import os
import re
import tempfile
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from app.briefing import fonts, typst_source
from app.briefing.model import Briefing, Citations
from app.i18n import LANGS, SHANGHAI, get_translator
from app.queries import changes, reference
from models.db import make_engine
from models.errors import AidashError
from models.metrics import REVENUE_METRIC
from models.periods import quarter_end, split_quarter

PDF_MIME = "application/pdf"
QUARTER_FORM = re.compile(r"\d{4}Q[1-4]")
# Typst counts PDF pages in its page tree; a briefing is 2–6 A4 pages.
_PAGE_OBJECT = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


class BriefingError(AidashError):
    """A briefing cannot be made as asked (a bad quarter or language, no data)."""


def clock() -> datetime:
    """The time of making, in Shanghai time (tests replace it to compare two runs)."""
    return datetime.now(SHANGHAI)


def quarters(engine: Engine) -> list[str]:
    """The quarters a briefing can be made for, oldest first: those of the city's quarterly
    revenue, the series every section is built around."""
    return [p for p in reference.metric_periods(engine, REVENUE_METRIC, "city", "quarterly")
            if QUARTER_FORM.fullmatch(p)]


def check_quarter(engine: Engine, quarter: str | None) -> str:
    """``quarter`` if the database holds it, the latest quarter if None.

    :raises BriefingError: a malformed quarter, one the database does not hold, or no data.
    """
    known = quarters(engine)
    if not known:
        raise BriefingError("the database holds no quarterly figures yet: build it with "
                            "`aidash init` or load a drop with `aidash etl load`")
    if quarter is None:
        return known[-1]
    if not QUARTER_FORM.fullmatch(quarter):
        raise BriefingError(f"{quarter!r} is not a quarter: write it as YYYYQn, e.g. "
                            f"{known[-1]}")
    if quarter not in known:
        raise BriefingError(f"the database holds no figures for {quarter}: pass a quarter "
                            f"from {known[0]} to {known[-1]}")
    return quarter


def check_lang(lang: str) -> str:
    """``lang`` if a briefing can be written in it.

    :raises BriefingError: any other language.
    """
    if lang not in LANGS:
        raise BriefingError(f"no briefing in {lang!r}: use one of {', '.join(LANGS)}")
    return lang


def assemble(engine: Engine, quarter: str, lang: str, made: datetime) -> Briefing:
    """Every section of one edition, charts included, in the reader's language."""
    # Imported here: matplotlib is needed only when a briefing is made, not for the Overview
    # to draw its button.
    from app.briefing import headline, notes, places

    tr = get_translator(lang)
    end = quarter_end(*split_quarter(quarter))
    cited = Citations(same=changes.same_source(engine))
    charts: dict[str, bytes] = {}
    run = reference_run(engine)
    briefing = Briefing(
        lang=lang, title=tr("briefing.title"),
        subtitle=tr("briefing.subtitle", quarter=tr.period(quarter)),
        made_at=tr("briefing.made_at", time=tr.timestamp(made.isoformat())),
        data_line=tr("briefing.data_line", run=run) if run is not None else "",
        sample_note=tr("briefing.sample_banner"), footer=tr("briefing.footer"))
    briefing.sections = [
        headline.headline_section(engine, quarter, end, tr, cited),
        headline.trend_section(engine, quarter, tr, cited, charts),
        places.map_section(engine, quarter, end, tr, charts),
        places.movers_section(engine, quarter, tr),
        notes.changes_section(engine, tr, cited),
        notes.notes_section(engine, tr, cited, places.MIN_BASE_BN),
    ]
    briefing.sections.append(notes.sources_section(engine, tr, cited))
    briefing.charts = charts
    return briefing


def reference_run(engine: Engine) -> int | None:
    """The run the data is as of: the latest succeeded load."""
    runs = changes.loads(engine, 1)
    return int(runs["id"].iloc[0]) if not runs.empty else None


def typeset(briefing: Briefing, made: datetime) -> bytes:
    """The PDF of ``briefing``: its Typst source and charts in a scratch folder, compiled
    with the briefing's font only (system fonts ignored, so every machine makes the same
    file).

    :raises fonts.FontMissing: the font is not installed.
    """
    import typst

    font_dir = fonts.font_dir()
    with tempfile.TemporaryDirectory(prefix="aidash-briefing-") as scratch:
        root = Path(scratch)
        for name, data in briefing.charts.items():
            (root / name).write_bytes(data)
        main = root / "briefing.typ"
        main.write_text(typst_source.build(briefing), encoding="utf-8")
        pdf: bytes = typst.compile(os.fspath(main), root=os.fspath(root),
                                   font_paths=[os.fspath(font_dir)], ignore_system_fonts=True,
                                   timestamp=int(made.timestamp()))
    return pdf


def page_count(pdf: bytes) -> int:
    """How many pages a PDF made here has."""
    return len(_PAGE_OBJECT.findall(pdf))


def make_pdf(engine_or_db: Engine | str | os.PathLike[str] | None, quarter: str | None,
             lang: str, *, made: datetime | None = None) -> bytes:
    """The briefing of ``quarter`` (None: the latest) in ``lang`` as PDF bytes.

    :param engine_or_db: an engine, or a database path or URL (opened read-only).
    :param made: the time of making (default: :func:`clock`).
    :raises BriefingError: a bad quarter or language, or no data.
    :raises fonts.FontMissing: the font is not installed.
    """
    check_lang(lang)
    fonts.font_dir()  # before any work: a missing font is the commonest set-up problem
    engine = engine_or_db if isinstance(engine_or_db, Engine) else make_engine(
        engine_or_db, read_only=True)
    try:
        picked = check_quarter(engine, quarter)
        moment = made or clock()
        return typeset(assemble(engine, picked, lang, moment), moment)
    finally:
        if engine is not engine_or_db:
            engine.dispose()
