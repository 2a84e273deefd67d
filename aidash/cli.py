"""The ``aidash`` console script: ``etl``'s commands (init, etl, forecast, sample) plus the
commands that read the way the dashboard reads (the audit trail, the briefing).

``etl`` and ``app`` never import each other (docs/ARCHITECTURE.md); a command that needs
``app`` is registered here, above both.
"""

from __future__ import annotations

from etl.cli import app


def main() -> None:
    """Entry point of the ``aidash`` console script."""
    app()
