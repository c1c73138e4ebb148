"""Find records that one import states twice, and identities two people share."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from dataclasses import replace
from operator import attrgetter
from typing import TypeVar

from webapp.roster.normalise import identity_key
from webapp.roster.problems import ProblemLog
from webapp.roster.records import (
    ClassRecord,
    EnrollmentRecord,
    GuardianRecord,
    PersonRecord,
    Roster,
    SchoolRecord,
)

R = TypeVar("R", SchoolRecord, PersonRecord, ClassRecord, EnrollmentRecord, GuardianRecord)
_WHERE = ("file", "line")
_PLURALS = {"person": "people", "class": "classes"}


def _where(record: SchoolRecord | PersonRecord | ClassRecord | EnrollmentRecord) -> str:
    return f"{record.file} line {record.line}" if record.line is not None else record.file


def _data(record: R) -> tuple[object, ...]:
    """Return a record's content, leaving out where it was read."""
    return tuple(getattr(record, name) for name in record.__slots__ if name not in _WHERE)


def _same(seen: R, record: R) -> bool:
    """Tell whether a repeat says nothing new; an enrollment's primary flag may differ."""
    if isinstance(seen, EnrollmentRecord) and isinstance(record, EnrollmentRecord):
        return _data(replace(seen, primary=False)) == _data(replace(record, primary=False))
    return _data(seen) == _data(record)


class Repeats:
    """Count harmless repeats per file, to report them in one warning each."""

    __slots__ = ("what", "_counts", "_first")

    def __init__(self, what: str) -> None:
        self.what = what
        self._counts: Counter[str] = Counter()
        # file -> (the first repeat's line, the line it repeats)
        self._first: dict[str, tuple[int | None, int | None]] = {}

    def add(self, file: str, line: int | None, first_line: int | None) -> None:
        """Count one repeated record."""
        self._counts[file] += 1
        self._first.setdefault(file, (line, first_line))

    def report(
        self, log: ProblemLog, detail: str = "listed more than once with the same data"
    ) -> None:
        """Log one warning per file, with the count and the first repeat's line."""
        for file, count in self._counts.items():
            line, first_line = self._first[file]
            many = _PLURALS.get(self.what, f"{self.what}s")
            plural = f"{count} {many} were" if count != 1 else f"1 {self.what} was"
            first = f", same as line {first_line}" if first_line is not None else ""
            where = f" (the first repeat is on line {line}{first})" if line is not None else ""
            log.warning(
                file,
                line,
                None,
                f"{plural} {detail}; each was kept once{where}.",
                kind=f"dup-{self.what}",
            )


def drop_duplicates(
    records: Sequence[R],
    key: Callable[[R], Hashable],
    what: str,
    log: ProblemLog,
    *,
    conflict_is_error: bool = True,
) -> list[R]:
    """Keep the first record per key; report repeats.

    Repeats with the same data are harmless: one warning per file counts them.
    A repeat with different data is an error (a warning if not conflict_is_error).
    """
    # Repeats are rare: when every key is distinct (one pass in C with an attrgetter
    # key), there is nothing to report and every record is kept.
    if len(set(map(key, records))) == len(records):
        return list(records)
    first: dict[Hashable, int] = {}
    kept: list[R] = []
    repeats = Repeats(what)
    for record in records:
        k = key(record)
        index = first.get(k)
        if index is None:
            first[k] = len(kept)
            kept.append(record)
            continue
        seen = kept[index]
        if _same(seen, record):
            repeats.add(record.file, record.line, seen.line if seen.file == record.file else None)
            if isinstance(record, EnrollmentRecord) and record.primary and not seen.primary:
                kept[index] = replace(seen, primary=True)  # type: ignore[type-var]
        else:
            differs = [
                name
                for name in seen.__slots__
                if name not in _WHERE and getattr(seen, name) != getattr(record, name)
            ]
            log.add(
                "error" if conflict_is_error else "warning",
                record.file,
                record.line,
                None,
                f"{what} {k} is listed again (first on {_where(seen)}) with different "
                f"{', '.join(differs)}; only the first was kept. Keep one row per {what}.",
                kind=f"conflict-{what}",
            )
    repeats.report(log)
    return kept


def check_shared_identities(people: Sequence[PersonRecord], log: ProblemLog) -> None:
    """Report two people whose emails or usernames differ only by case, space or NFKC form."""
    for attr, label in (("username", "Username"), ("email", "Email")):
        owners: dict[str, PersonRecord] = {}
        for person in people:
            value = getattr(person, attr)
            if not value:
                continue
            k = identity_key(value)
            other = owners.get(k)
            if other is None:
                owners[k] = person
            elif other.sourced_id != person.sourced_id:
                same = (
                    "" if value == getattr(other, attr) else f" (written '{getattr(other, attr)}')"
                )
                log.error(
                    person.file,
                    person.line,
                    attr,
                    f"{label} '{value}' of {person.sourced_id} is the same as that of "
                    f"{other.sourced_id} on {_where(other)}{same}. Each person needs their "
                    f"own {attr}: change or remove one of them.",
                    kind=f"shared-{attr}",
                )


def _parent_schools(roster: Roster) -> None:
    """Give parents with no school of their own their children's schools."""
    if not roster.guardians:
        return
    schools = {p.sourced_id: p.school_ids for p in roster.people if p.role == "student"}
    children: dict[str, list[str]] = {}
    for link in roster.guardians:
        children.setdefault(link.parent_id, []).append(link.student_id)
    for i, person in enumerate(roster.people):
        if person.role != "parent" or person.school_ids or person.sourced_id not in children:
            continue
        inherited: list[str] = []
        for child in children[person.sourced_id]:
            for school in schools.get(child, ()):
                if school not in inherited:
                    inherited.append(school)
        if inherited:
            roster.people[i] = replace(person, school_ids=tuple(inherited))


def finish(roster: Roster, log: ProblemLog, encodings: dict[str, str]) -> Roster:
    """Drop duplicate records, check shared identities and attach problems."""
    by_sid = attrgetter("sourced_id")
    roster.schools = drop_duplicates(roster.schools, by_sid, "school", log)
    roster.people = drop_duplicates(roster.people, by_sid, "person", log)
    roster.classes = drop_duplicates(roster.classes, by_sid, "class", log)
    roster.enrollments = drop_duplicates(
        roster.enrollments, attrgetter("class_id", "user_id"), "enrollment", log
    )
    seen: set[tuple[str, str]] = set()
    guardians: list[GuardianRecord] = []
    for link in roster.guardians:
        pair = (link.parent_id, link.student_id)
        if pair not in seen:
            seen.add(pair)
            guardians.append(link)
    roster.guardians = guardians
    _parent_schools(roster)
    check_shared_identities(roster.people, log)
    if roster.complete and log.has_file_error():
        roster.complete = False
        log.note(
            "A file could not be read, so this upload is not treated as a complete roster: "
            "nobody will be deactivated for being absent from it."
        )
    roster.problems = log.finish()
    roster.notes = log.notes
    roster.encoding_used = dict(encodings)
    return roster
