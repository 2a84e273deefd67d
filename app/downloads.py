"""The CSV and Excel buttons under every table and chart (the bytes come from
:mod:`app.export`), with each workbook built once per table, not on every rerun."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from app import export
from app.cached import data_token, database_url
from app.i18n import SHANGHAI, Translator


def frame_digest(df: pd.DataFrame) -> str:
    """A digest of every cell, column name and dtype of ``df`` (exact, never sampled)."""
    h = hashlib.blake2b(digest_size=20)
    h.update(repr([(str(c), str(t)) for c, t in df.dtypes.items()]).encode("utf-8"))
    h.update(pd.util.hash_pandas_object(df, index=True).to_numpy().tobytes())
    return h.hexdigest()


@st.cache_data(show_spinner=False, max_entries=64)
def _xlsx(url: str, token: str, key: str, digest: str, sheet_name: str, about_sheet: str,
          _df: pd.DataFrame, _about: tuple) -> bytes:
    return export.to_xlsx_bytes(_df, _about, sheet_name=sheet_name, about_sheet=about_sheet)


def xlsx_bytes(df: pd.DataFrame, about: Any, *, sheet_name: str, about_sheet: str,
               key: str) -> bytes:
    """:func:`app.export.to_xlsx_bytes` once per table contents, ``key`` and data version: a
    rerun that shows the same table reuses the workbook instead of rebuilding it.

    :param key: everything else the workbook depends on (the About rows that matter).
    """
    return _xlsx(database_url(), data_token(), key, frame_digest(df), sheet_name, about_sheet,
                 df, tuple(tuple(row) for row in about))


def offer_downloads(df: pd.DataFrame, *, stem: str, about: Sequence[tuple[str, str]],
                    key: str, csv_label: str, xlsx_label: str, sheet_name: str = "Data",
                    about_sheet: str = "About", cache_key: str | None = None) -> None:
    """Two download buttons (CSV, XLSX) for ``df`` under the element they belong to.

    :param key: a page-unique prefix for the buttons' widget keys.
    :param cache_key: when given, the XLSX is built once per ``df`` contents, ``cache_key``
        and ETL run (:func:`xlsx_bytes`) instead of on every rerun.
    """
    if cache_key is None:
        xlsx = export.to_xlsx_bytes(df, about, sheet_name=sheet_name, about_sheet=about_sheet)
    else:
        xlsx = xlsx_bytes(df, about, sheet_name=sheet_name, about_sheet=about_sheet,
                          key=cache_key)
    with st.container(horizontal=True, gap="small"):
        st.download_button(csv_label, data=export.to_csv_bytes(df), file_name=f"{stem}.csv",
                           mime=export.CSV_MIME, key=f"{key}_csv",
                           icon=":material/download:", on_click="ignore")
        st.download_button(xlsx_label, data=xlsx,
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
    about = export.about_rows(tr, title=title, filters=filters, sources=sources,
                              run_id=run_id, data_period=data_period, exported_at=moment,
                              rows=len(df), sample=sample, escaped=export.escaped_cells(df))
    # The workbook is reused while nothing but the export time changes within the minute the
    # file name carries (the About sheet then shows the first build's second of that minute).
    stamp = tr("export.about_exported")
    cache_key = repr((what, scope, moment.strftime("%Y%m%d-%H%M"),
                      [row for row in about if row[0] != stamp]))
    offer_downloads(df, stem=export.file_stem(what, scope, data_period, moment), about=about,
                    key=key, csv_label=tr("export.csv"), xlsx_label=tr("export.xlsx"),
                    sheet_name=tr("export.data_sheet"), about_sheet=tr("export.about_sheet"),
                    cache_key=cache_key)
