"""XLSX bytes that depend only on the workbook's content: for generated drops and fixtures.

openpyxl stamps the document properties with the time of saving, and zipfile stamps every
member; both are pinned to ``stamp`` so the same workbook always gives the same bytes.
"""

from __future__ import annotations

import io
import zipfile
from datetime import datetime
from typing import Any


def pinned_bytes(wb: Any, stamp: datetime, creator: str) -> bytes:
    """Serialise an openpyxl workbook with every timestamp set to ``stamp``."""
    from openpyxl.writer.excel import ExcelWriter

    wb.properties.creator = creator
    wb.properties.lastModifiedBy = creator
    wb.properties.created = stamp
    wb.properties.modified = stamp
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).write_data()
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            pinned = zipfile.ZipInfo(info.filename, date_time=stamp.timetuple()[:6])
            pinned.compress_type = zipfile.ZIP_DEFLATED
            pinned.create_system = 3  # Unix, whatever machine writes it
            pinned.external_attr = 0o644 << 16
            dst.writestr(pinned, src.read(info.filename))
    return out.getvalue()
