"""Map CSV headers to the fields a reader needs, by name rather than position."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from operator import itemgetter

from webapp.roster.decode import Table
from webapp.roster.problems import ProblemLog

_QUIET_PREFIXES = ("metadata.", "ext_", "ext.")


@lru_cache(maxsize=4096)
def norm_header(name: str) -> str:
    """Reduce a header to a comparison key: blind to case, accents, spaces and punctuation.

    "E-Mail" and "email", "Prénom" and "prenom", "Student_ID" and "student id" each
    compare equal.
    """
    # NFKD splits an accented letter into the letter and its accent; only letters and
    # digits are kept, so accents, spaces, punctuation and invisible characters go.
    folded = unicodedata.normalize("NFKD", name.casefold())
    return "".join(ch for ch in folded if ch.isalnum())


class Columns:
    """Column indexes of one table for a set of wanted fields."""

    __slots__ = ("file", "index", "headers", "missing", "width")

    def __init__(
        self,
        table: Table,
        fields: Mapping[str, Sequence[str]],
        required: Sequence[str],
        log: ProblemLog,
        *,
        passthrough: Sequence[str] = (),
    ) -> None:
        """Match table headers to fields; fields maps key -> accepted header names.

        passthrough names headers that are known but unused, so they are not
        reported as unknown.
        """
        self.file = table.file
        self.width = len(table.header)
        self.index: dict[str, int] = {}
        self.headers: dict[str, str] = {}
        lookup: dict[str, str] = {}
        for key, names in fields.items():
            for name in (key, *names):
                lookup.setdefault(norm_header(name), key)
        known = {norm_header(name) for name in passthrough}
        unknown: list[str] = []
        for i, header in enumerate(table.header):
            if not header:
                log.note(f"{table.file}: column {i + 1} has no header and was ignored.")
                continue
            key = lookup.get(norm_header(header))
            if key is None:
                lowered = header.casefold()
                if not lowered.startswith(_QUIET_PREFIXES) and norm_header(header) not in known:
                    unknown.append(header)
                continue
            if key in self.index:
                log.warning(
                    table.file,
                    table.header_line,
                    header,
                    f"Column '{header}' repeats column '{self.headers[key]}'; only the "
                    "first one is read. Delete or rename the other.",
                )
                continue
            self.index[key] = i
            self.headers[key] = header
        if unknown:
            log.note(f"{table.file}: ignored unknown columns: {', '.join(unknown)}.")
        self.missing = [key for key in required if key not in self.index]
        if self.missing:
            names = ", ".join(f"'{key}'" for key in self.missing)
            plural = "columns" if len(self.missing) > 1 else "column"
            log.error(
                table.file,
                None,
                None,
                f"Required {plural} {names} missing, so nothing in this file was imported. "
                f"The header row has: {', '.join(h for h in table.header if h)}. "
                "Add the column (or rename the matching one) and upload again.",
            )

    @property
    def ok(self) -> bool:
        """Tell whether every required column was found."""
        return not self.missing

    def has(self, key: str) -> bool:
        """Tell whether the file has a column for key."""
        return key in self.index

    def name(self, key: str) -> str:
        """Return the header as the file spells it (for messages)."""
        return self.headers.get(key, key)

    def get(self, cells: Sequence[str], key: str) -> str:
        """Return the stripped value of key on a row, or '' if the column is absent."""
        i = self.index.get(key)
        # Table.rows() pads every row to the header's width, so i is in range.
        return "" if i is None else cells[i].strip()

    def picker(self, keys: Sequence[str]) -> Callable[[list[str]], tuple[str, ...]]:
        """Return a function giving the raw values of keys on a row, in that order.

        The column indexes are resolved once per file, and one itemgetter call reads
        every value of a row. Values are not stripped (get() strips); a key the file
        has no column for reads as ''. keys must name at least two fields.
        """
        if len(keys) < 2:
            raise ValueError("picker() needs at least two keys")
        width = self.width
        positions = [self.index.get(key, width) for key in keys]
        getter = itemgetter(*positions)
        if width not in positions:
            return getter  # type: ignore[return-value]

        def pick(cells: list[str]) -> tuple[str, ...]:
            # Rows are exactly `width` cells long (Table.rows() fits them), so one
            # extra empty cell at the end stands in for every absent column.
            if len(cells) == width:
                cells.append("")
            return getter(cells)  # type: ignore[no-any-return]

        return pick
