"""Domain errors. The CLI and the pages show these as one line; anything else is a bug."""

from __future__ import annotations

from etl.problems import Problem


class AidashError(Exception):
    """Base class of every error a user can cause and fix; its message says what to do next."""


class DatabaseMissing(AidashError):
    """The database file does not exist or has no tables yet."""


class DropRejected(AidashError):
    """A drop failed validation; nothing was written.

    :param summary: the short text printed by the CLI.
    :param problems: every problem found (file, sheet, row, column, value, reason).
    :param report_path: where the rejection report CSV was written, if anywhere.
    """

    def __init__(self, summary: str, problems: list[Problem], report_path: str | None = None):
        super().__init__(summary)
        self.summary = summary
        self.problems = problems
        self.report_path = report_path


class RunNotFound(AidashError):
    """No ETL run has the given id."""

