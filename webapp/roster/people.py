"""Collect people whose rows may repeat (one row per school or per contact)."""

from __future__ import annotations

from dataclasses import replace

from webapp.roster.context import ReadContext
from webapp.roster.records import PersonRecord


class PeopleCollector:
    """Keep one PersonRecord per sourced id, merging schools across repeated rows.

    A repeat with the same core data only adds its schools; a repeat with
    different data is an error that names both lines.
    """

    __slots__ = ("ctx", "people", "_index", "_core")

    def __init__(self, ctx: ReadContext) -> None:
        self.ctx = ctx
        self.people: list[PersonRecord] = []
        self._index: dict[str, int] = {}
        # A hash of the raw row is enough to tell a faithful repeat from a
        # conflicting one, and keeps no per-row strings alive.
        self._core: list[int] = []

    def seen(self, sourced_id: str) -> bool:
        """Tell whether this id was already collected."""
        return sourced_id in self._index

    def repeat(
        self, sourced_id: str, core: tuple[str, ...], school: str | None, file: str, line: int
    ) -> bool:
        """Merge a repeated row; return False (after an error) if its data conflicts."""
        i = self._index[sourced_id]
        first = self.people[i]
        if hash(core) != self._core[i]:
            self.ctx.log.error(
                file,
                line,
                None,
                f"'{sourced_id}' is listed again (first on {first.file} line {first.line}) "
                "with different names or details; only the first row was kept. Make the rows "
                "agree.",
                kind="conflict-person",
            )
            return False
        if school and school not in first.school_ids:
            self.people[i] = replace(first, school_ids=self.ctx.ids((*first.school_ids, school)))
        return True

    def add(self, person: PersonRecord, core: tuple[str, ...]) -> None:
        """Collect a person seen for the first time."""
        self._index[person.sourced_id] = len(self.people)
        self.people.append(person)
        self._core.append(hash(core))

    def role_of(self, sourced_id: str) -> str | None:
        """Return the role of a collected person, or None if unknown."""
        i = self._index.get(sourced_id)
        return None if i is None else self.people[i].role

    def get(self, sourced_id: str) -> PersonRecord | None:
        """Return the collected person with this id."""
        i = self._index.get(sourced_id)
        return None if i is None else self.people[i]
