"""The quarterly briefing: a sourced, bilingual PDF of 2–6 A4 pages made from the database in
one step, by ``aidash briefing`` and the Overview's "Briefing (PDF)" button.

* :mod:`~app.briefing.document`: :func:`make_pdf` (check, assemble, typeset) and its errors.
* :mod:`~app.briefing.headline`, :mod:`~app.briefing.places`, :mod:`~app.briefing.notes`:
  the sections, from the same query functions the pages use (``app/queries/``).
* :mod:`~app.briefing.numbers`, :mod:`~app.briefing.citing`: numbers and sources as the
  reader's language writes them (sentences from ``[briefing]`` in ``app/locales/``).
* :mod:`~app.briefing.charts`: matplotlib charts as SVG; :mod:`~app.briefing.typst_source`:
  the Typst source; :mod:`~app.briefing.fonts`: the Noto CJK font both use.

Aggregates only: no firm's name or credit code is read, so a viewer may have it.
"""

from app.briefing.document import (
    PDF_MIME,
    BriefingError,
    check_quarter,
    make_pdf,
    page_count,
    quarters,
)
from app.briefing.fonts import FontMissing, font_dir

__all__ = ["PDF_MIME", "BriefingError", "FontMissing", "check_quarter", "font_dir", "make_pdf",
           "page_count", "quarters"]
