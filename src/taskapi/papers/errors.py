"""The papers library's answers to a caller's mistake, worded like the task service's ("Task 5 not
found"), so the API maps them to its 404 envelope and the CLI to exit code 1.

This module imports nothing of ours.
"""

from __future__ import annotations


class PaperNotFound(LookupError):
    """No paper has this id."""

    def __init__(self, paper_id: int, message: str | None = None) -> None:
        super().__init__(message or f"Paper {paper_id} not found")
        self.paper_id = paper_id


class PaperFileNotFound(PaperNotFound):
    """The paper exists but has no stored PDF (not crawled or imported with one yet), or its file is
    gone from the file store. A kind of not found: the PDF asked for is not there."""

    def __init__(self, paper_id: int, reason: str = "has no stored PDF") -> None:
        super().__init__(paper_id, f"Paper {paper_id} {reason}")
