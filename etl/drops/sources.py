"""The ``sources`` row of a drop: from its ``source.json``, else named after its folder."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from typing import Any

from models.tables import CONFIDENCES

DROP_SOURCE_PREFIX = "drop:"


def source_row(source: dict[str, Any] | None, folder: str,
               default_provenance: str) -> dict[str, Any]:
    """The ``sources`` row of a drop: from its ``source.json``, else "Quarterly drop <folder>"."""
    if source:
        title = str(source["title"]).strip()
        publisher = str(source.get("publisher") or "").strip() or None
        published = str(source.get("published") or "").strip() or None
        digest = hashlib.sha256(json.dumps([title, publisher, published],
                                           ensure_ascii=False).encode()).hexdigest()[:16]
        confidence = str(source.get("confidence") or "")
        if confidence not in CONFIDENCES:
            confidence = "low" if default_provenance == "sample" else "high"
        caveat = source.get("caveat") or source.get("note")
        return {"key": f"{DROP_SOURCE_PREFIX}{digest}", "title": title, "publisher": publisher,
                "url_or_publication": source.get("url") or source.get("url_or_publication"),
                "published": published, "quote": source.get("quote"),
                "confidence": confidence, "caveat": str(caveat) if caveat else None,
                "provenance": default_provenance}
    return {"key": f"{DROP_SOURCE_PREFIX}folder:{folder}", "title": f"Quarterly drop {folder}",
            "publisher": None, "url_or_publication": None, "published": None, "quote": None,
            "confidence": "low" if default_provenance == "sample" else "high",
            "caveat": None, "provenance": default_provenance}


def ensure_source(conn: sqlite3.Connection, row: dict[str, Any]) -> tuple[int, bool]:
    """The id of the source with ``row``'s key, inserted if missing; whether it was."""
    found = conn.execute("SELECT id FROM sources WHERE key = ?", (row["key"],)).fetchone()
    if found:
        return int(found[0]), False
    cols = ", ".join(row)
    cur = conn.execute(f"INSERT INTO sources ({cols}) VALUES ({', '.join('?' * len(row))})",
                       tuple(row.values()))
    return int(cur.lastrowid or 0), True
