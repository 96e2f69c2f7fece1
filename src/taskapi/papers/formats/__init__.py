"""The doors into a project's library from files and JSON: BibTeX, RIS, CSL-JSON and JSON Lines
import files (``taskapi papers import``), and the JSON record of ``POST /api/v1/papers``.

Every door yields normalised ``PaperRecord`` values (``records.py``); import files also yield the
local PDFs the export names (Zotero's BibTeX ``file`` field, RIS ``L1``), so a Zotero library arrives
with its PDFs. The parsing is done by maintained libraries (bibtexparser 2, rispy, ``json``); this
package maps their fields onto the library's and says precisely where a file is wrong.
"""

from __future__ import annotations

from taskapi.papers.formats._common import ImportedRecord, ImportFormatError
from taskapi.papers.formats._json_record import record_from_json
from taskapi.papers.formats._reader import FORMATS, detect_format, read_records

__all__ = [
    "FORMATS",
    "ImportFormatError",
    "ImportedRecord",
    "detect_format",
    "read_records",
    "record_from_json",
]
