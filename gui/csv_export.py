"""CSV export that a spreadsheet cannot turn into code.

Spreadsheets run a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula (and some also
after a leading tab or carriage return), so a patient ID like ``=HYPERLINK("http://x", "open")``
would become a live link or worse (OWASP "CSV Injection"). Such text cells get a leading
apostrophe, which spreadsheets show as plain text; numbers are written as numbers.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    """A cell value safe to open in a spreadsheet: risky text gets a leading apostrophe; None -> ""."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Path:
    """Write UTF-8 CSV (with a BOM so spreadsheets detect the encoding of names in any script).

    Raises:
        OSError: the file cannot be written.
    """
    with Path(path).open("w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh)
        writer.writerow([neutralise(h) for h in header])
        for row in rows:
            writer.writerow([neutralise(v) for v in row])
    return Path(path)
