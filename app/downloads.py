"""The CSV and Excel buttons under every table and chart (the bytes come from
:mod:`app.export`), each export recorded in the audit trail before its file is made.

The buttons are deferred downloads: the file is made only when someone clicks, by a function
that first appends the export to the audit trail (:mod:`app.audit`: who, role, page, filters,
format, rows, file) and only then builds the bytes. If the line cannot be written the download
fails, so no file leaves the dashboard unrecorded; and a rerun that only redraws the page
builds no workbook at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from app import audit, auth, export
from app.i18n import SHANGHAI, Translator


def recorded(make: Callable[[], bytes], **event: Any) -> Callable[[], bytes]:
    """``make``, preceded by recording the export ``event`` (captured now, when the button is
    drawn: the click runs outside the script, where no session state can be read)."""
    access = auth.current()
    fields = {"page": st.session_state.get(auth.PAGE_KEY), "client": auth.client(), **event}

    def deliver() -> bytes:
        audit.record("export", user=access.user, role=access.role, **fields)
        return make()

    return deliver


def offer_downloads(df: pd.DataFrame, *, stem: str,
                    about: Sequence[tuple[str, str]] | Callable[[pd.DataFrame],
                                                                Sequence[tuple[str, str]]],
                    key: str, csv_label: str, xlsx_label: str, sheet_name: str = "Data",
                    about_sheet: str = "About", filters: str = "",
                    scope: str | None = None) -> None:
    """Two download buttons (CSV, XLSX) for ``df`` under the element they belong to; each
    file is made on the click, after its export is recorded (:func:`recorded`).

    :param about: the About sheet's rows, or a function of the exported frame that makes them
        (on the click, so a rerun that only redraws the page does not work them out).
    :param key: a page-unique prefix for the buttons' widget keys.
    :param filters: the filters as the About sheet states them, for the audit trail.
    :param scope: the filter slug of the file name, for the audit trail.
    """
    frame = df.copy()

    def csv() -> bytes:
        return export.to_csv_bytes(frame)

    def xlsx() -> bytes:
        rows = [(str(label), str(value))
                for label, value in (about(frame) if callable(about) else about)]
        return export.to_xlsx_bytes(frame, rows, sheet_name=sheet_name, about_sheet=about_sheet)

    event = {"rows": len(frame), "filters": filters or None, "scope": scope}
    with st.container(horizontal=True, gap="small"):
        st.download_button(csv_label, data=recorded(csv, format="csv", file=f"{stem}.csv",
                                                    **event),
                           file_name=f"{stem}.csv", mime=export.CSV_MIME, key=f"{key}_csv",
                           icon=":material/download:", on_click="ignore")
        st.download_button(xlsx_label, data=recorded(xlsx, format="xlsx",
                                                     file=f"{stem}.xlsx", **event),
                           file_name=f"{stem}.xlsx", mime=export.XLSX_MIME, key=f"{key}_xlsx",
                           icon=":material/table_view:", on_click="ignore")


def downloads(df: pd.DataFrame, tr: Translator, *, what: str, scope: str, title: str,
              filters: str, sources: str, run_id: int | None, data_period: str | None,
              key: str, sample: bool, now: datetime | None = None) -> None:
    """CSV + XLSX buttons for one table or chart, with the About sheet filled in.

    :param what: the first word of the file name (``enterprises``, ``trend``).
    :param scope: the filter slug (``zone-zhangjiang_ai_island``) or ``all``.
    """
    moment = now or datetime.now(SHANGHAI)

    def about(frame: pd.DataFrame) -> list[tuple[str, str]]:
        # Counting the cells to escape reads every text cell: done on the click, not per rerun.
        return export.about_rows(tr, title=title, filters=filters, sources=sources,
                                 run_id=run_id, data_period=data_period, exported_at=moment,
                                 rows=len(frame), sample=sample,
                                 escaped=export.escaped_cells(frame))

    offer_downloads(df, stem=export.file_stem(what, scope, data_period, moment), about=about,
                    key=key, csv_label=tr("export.csv"), xlsx_label=tr("export.xlsx"),
                    sheet_name=tr("export.data_sheet"), about_sheet=tr("export.about_sheet"),
                    filters=filters, scope=scope)
