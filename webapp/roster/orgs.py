"""Resolve org references (OneRoster, SDS) to the school they belong to."""

from __future__ import annotations

from dataclasses import dataclass

from webapp.roster.problems import ProblemLog
from webapp.roster.records import SchoolRecord

# Org types that hold schools rather than being one: people attached only to
# these are district-wide, and no SchoolRecord is made for them.
CONTAINER_ORG_TYPES = frozenset(
    {"district", "local", "state", "national", "ministryofeducation", "adminunit"}
)


def org_type(raw: str) -> str:
    """Reduce an org type to a comparison key ("ministryOfEducation" -> "ministryofeducation")."""
    return "".join(ch for ch in raw.casefold() if ch.isalnum())


@dataclass(slots=True)
class Org:
    """One org row."""

    name: str
    type: str
    parent: str
    line: int


class OrgTree:
    """Orgs by id, and which of them are schools."""

    __slots__ = ("orgs", "file", "log", "strict", "promoted")

    def __init__(self, log: ProblemLog, file: str = "orgs.csv", *, strict: bool = True) -> None:
        """strict: the orgs file is complete, so an unknown org is a dangling reference."""
        self.orgs: dict[str, Org] = {}
        self.file = file
        self.log = log
        self.strict = strict
        self.promoted: set[str] = set()

    def add(self, sourced_id: str, name: str, type_: str, parent: str, line: int) -> bool:
        """Add an org; return False (after a warning) if the id repeats."""
        if sourced_id in self.orgs:
            self.log.warning(
                self.file, line, None, f"Org '{sourced_id}' is listed twice; the first was kept."
            )
            return False
        self.orgs[sourced_id] = Org(name or sourced_id, org_type(type_), parent, line)
        return True

    def check_parents(self, column: str) -> None:
        """Warn about parent references that point to no org."""
        for sid, org in self.orgs.items():
            if org.parent and org.parent not in self.orgs:
                self.log.warning(
                    self.file,
                    org.line,
                    column,
                    f"Org '{sid}' names parent '{org.parent}', which is not in {self.file}.",
                )

    def school(self, org_id: str, file: str, line: int, column: str) -> str | None:
        """Return the school an org reference belongs to (None: district-wide or unknown)."""
        org = self.orgs.get(org_id)
        if org is None:
            if self.strict:
                self.log.warning(
                    file,
                    line,
                    column,
                    f"Org '{org_id}' is not in {self.file}; the reference was ignored.",
                    kind="dangling-org",
                )
                return None
            # Under a delta the org may already be known to Keyslip.
            return org_id
        seen: set[str] = set()
        current_id, current = org_id, org
        while current.type == "department":
            seen.add(current_id)
            parent = self.orgs.get(current.parent)
            if parent is None or current.parent in seen:
                break
            current_id, current = current.parent, parent
        if current.type == "department":
            if org_id not in self.promoted:
                self.promoted.add(org_id)
                self.log.warning(
                    self.file,
                    org.line,
                    "type",
                    f"Org '{org_id}' ({org.name}) is a department in no school; people and "
                    "classes in it were placed in it as if it were a school.",
                )
            return org_id
        if current.type in CONTAINER_ORG_TYPES:
            return None
        return current_id

    def schools(self) -> list[SchoolRecord]:
        """Return SchoolRecords for school orgs and departments used as schools."""
        return [
            SchoolRecord(sid, org.name, self.file, org.line)
            for sid, org in self.orgs.items()
            if org.type not in CONTAINER_ORG_TYPES
            and (org.type != "department" or sid in self.promoted)
        ]
