"""CSV for spreadsheets: defusedcsv, plus the leading characters it leaves alone.

defusedcsv prefixes "'" to cells starting with = + - @ | %; OWASP also lists tab, CR, LF
and NUL, which some spreadsheets strip before evaluating the rest of the cell.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TextIO

import defusedcsv.csv as defused

_ALSO_RISKY = ("\t", "\r", "\n", "\0")
# What a neutralised cell starts with once the "'" is added; the reader strips the "'" again.
FORMULA_STARTS = ("=", "+", "-", "@", "|", "%", *_ALSO_RISKY)


class SafeWriter:
    """A csv writer whose every cell is safe to open in a spreadsheet."""

    def __init__(self, out: TextIO) -> None:
        self._writer = defused.writer(out)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow(
            "'" + cell if isinstance(cell, str) and cell.startswith(_ALSO_RISKY) else cell
            for cell in row
        )


# Columns every Keyslip account export has; a file with all of them came from an export.
EXPORT_SIGNATURE = frozenset({"username", "given_name", "family_name", "state", "last_sign_in"})


def is_keyslip_export(header: list[str]) -> bool:
    """Tell whether a header row is that of a Keyslip account export."""
    return EXPORT_SIGNATURE <= {name.strip().lower() for name in header}


def unneutralise(cell: str) -> str:
    """Undo the "'" an export put before a formula character, so a re-import is verbatim."""
    if len(cell) > 1 and cell[0] == "'" and cell[1] in FORMULA_STARTS:
        return cell[1:].replace("\\|", "|") if cell[1] == "|" else cell[1:]
    return cell
