"""The dashboard's pages: URL path → script, in navigation order (one list for the app, its
tests and the benchmark)."""

from __future__ import annotations

VIEWS = {
    "overview": "app/views/overview.py",
    "map": "app/views/map.py",
    "trends": "app/views/trends.py",
    "enterprises": "app/views/enterprises.py",
    "sources": "app/views/sources.py",
}
