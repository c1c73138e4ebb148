"""What an import would do: its options, the plan planning fills in, and shared helpers.

Nothing in an ImportPlan has touched the database; webapp/imports/planner.py makes one and
webapp/imports/write.py writes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from webapp.models import (
    Role,
)
from webapp.roster.records import PersonRecord, Problem, Roster

ImportMode = Literal["add", "add-update", "update"]


MODES: tuple[str, ...] = ("add", "add-update", "update")


PasswordChoice = Literal["keep", "set"]


PASSWORD_CHOICES: tuple[str, ...] = ("keep", "set")


# Fields an import may set on a person; nothing else (role changes included) comes from a file.
PERSON_FIELDS = ("given_name", "family_name", "email", "phone", "grade", "student_number")


CHUNK = 5_000


@dataclass
class ImportOptions:
    """How to apply a roster; the defaults are the safe ones."""

    source: str
    mode: ImportMode = "add-update"
    complete: bool | None = None
    school_id: int | None = None
    username_template: str = "{first}.{last}"
    deactivation_threshold: float = 0.10
    confirm_deactivation: bool = False
    # "keep": the import never touches a password. "set": a password in the file becomes
    # that person's temporary password; a blank one is generated when credentials are sent.
    passwords: PasswordChoice = "keep"
    # The file's password column as the admin knows it (a spreadsheet's own header).
    password_column: str = "password"  # noqa: S105 (a column name)
    # A spreadsheet's password column was chosen, even if every cell in it is blank.
    password_mapped: bool = False
    # Apply everything but the rows in error and what depends on them ("apply the rest").
    skip_errors: bool = False
    # The admin chose to create the schools a spreadsheet's school column names that are
    # not in Keyslip; otherwise each is an error (district-wide admins only either way).
    create_schools: bool = False


@dataclass(slots=True)
class PersonChange:
    record: PersonRecord
    user_id: int | None
    username: str
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)


@dataclass(slots=True)
class Leaver:
    user_id: int
    username: str
    name: str
    role: str
    reason: str


@dataclass
class SchoolRemovals:
    """What a complete snapshot would remove from one school, beside what the school holds.

    Each kind counts toward the safety valve on its own: a truncated export shows up as
    people leaving, classes vanishing or class lists emptying.
    """

    people: int = 0
    people_total: int = 0
    classes: int = 0
    classes_total: int = 0
    enrollments: int = 0
    enrollments_total: int = 0
    # People who stay at another school and only leave this one.
    memberships: int = 0

    def shares(self) -> dict[str, float]:
        """Return the share removed of each kind the school holds any of."""
        pairs = {
            "people": (self.people + self.memberships, self.people_total),
            "classes": (self.classes, self.classes_total),
            "enrollments": (self.enrollments, self.enrollments_total),
        }
        return {kind: gone / total for kind, (gone, total) in pairs.items() if total}

    def over(self, limit: float) -> list[str]:
        """Name the kinds whose removal crosses the safety threshold."""
        return [kind for kind, share in self.shares().items() if share > limit]

    @property
    def any(self) -> bool:
        return bool(self.people or self.classes or self.enrollments or self.memberships)


@dataclass
class ImportPlan:
    """What applying a roster would do. Nothing in it has touched the database."""

    roster: Roster
    options: ImportOptions
    complete: bool
    problems: list[Problem] = field(default_factory=list)
    # A complete file without errors: what it lacks in the schools it covers is removed.
    # A file with errors removes nothing (a row in error would look like someone leaving).
    removes_absent: bool = False
    # Class places and parent links the planner left out because a person in them was
    # held back (readers warn of the ones they left out themselves: see held_dependents).
    held_enrollments: int = 0
    held_links: int = 0
    new: list[PersonChange] = field(default_factory=list)
    updated: list[PersonChange] = field(default_factory=list)
    unchanged: int = 0
    reactivate: list[PersonChange] = field(default_factory=list)
    deactivate: list[Leaver] = field(default_factory=list)
    new_schools: list[tuple[str, str]] = field(default_factory=list)
    new_classes: list[tuple[str, str, str]] = field(default_factory=list)
    updated_classes: dict[int, dict[str, str | None]] = field(default_factory=dict)
    removed_classes: list[int] = field(default_factory=list)
    enrollments_add: set[tuple[str, str, str, bool]] = field(default_factory=set)
    enrollments_remove: list[int] = field(default_factory=list)
    links_add: set[tuple[str, str]] = field(default_factory=set)
    # The relationship word the file gave a new link (Mother, Grandfather), by link.
    link_relations: dict[tuple[str, str], str] = field(default_factory=dict)
    links_remove: list[int] = field(default_factory=list)
    # Students of another source in the run's school that parent rows link to, by sourced id.
    linked_students: dict[str, int] = field(default_factory=dict)
    memberships_add: set[tuple[str, str]] = field(default_factory=set)
    # (user id, school id): people absent from a school in the file who stay at another.
    memberships_remove: list[tuple[int, int]] = field(default_factory=list)
    # What would be removed, by Keyslip school id; only schools the file covers.
    removals: dict[int, SchoolRemovals] = field(default_factory=dict)
    school_ids: dict[str, int] = field(default_factory=dict)
    # The schools the actor may change: explicit deletions elsewhere are ignored.
    allowed_school_ids: set[int] = field(default_factory=set)
    # A spreadsheet's school values that name no school of the admin's (each reported once).
    unknown_schools: set[str] = field(default_factory=set)
    # Ids of the users the actor may touch; None for a district-wide admin (everyone).
    visible_user_ids: set[int] | None = None
    # Filled by apply_plan: the Keyslip ids of the people it created.
    created_user_ids: list[int] = field(default_factory=list)
    # With passwords="set": the file's passwords, plain, in memory only until apply_plan
    # hashes them (never in counts, problems or the preview). New people by sourced id,
    # existing people by Keyslip id.
    new_passwords: dict[str, str] = field(default_factory=dict)
    reset_passwords: dict[int, str] = field(default_factory=dict)
    # New people with a blank password: delivery generates theirs when they are sent.
    generate_passwords: int = 0
    # Existing people whose file password was not used (see plan_file_resets), by Keyslip id.
    credentials_left_alone: list[int] = field(default_factory=list)
    # School names the file's passwords may not be built from (check_policy's context words).
    password_context: tuple[str, ...] = ()

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def blocking_errors(self) -> list[Problem]:
        """Return the errors that no choice gets past (a whole file or column is wrong)."""
        return [p for p in self.errors if not p.holds_back_row]

    @property
    def held_rows(self) -> int:
        """Count the rows in error that "apply the rest" leaves out."""
        return len({(p.file, p.line) for p in self.errors if p.holds_back_row})

    @property
    def held_dependents(self) -> int:
        """Count the rows left out because what they refer to is not imported."""
        if not self.errors:
            return 0
        dangling = sum(1 for p in self.roster.problems if (p.kind or "").startswith("dangling-"))
        return dangling + self.held_enrollments + self.held_links

    @property
    def errors_allow_apply(self) -> bool:
        """Tell whether the errors, if any, leave something that may be applied."""
        return not self.errors or (self.options.skip_errors and not self.blocking_errors)

    @property
    def needs_confirmation(self) -> bool:
        """True when some school would lose more than the safety threshold of anything."""
        limit = self.options.deactivation_threshold
        return any(school.over(limit) for school in self.removals.values())

    def removals_at(self, school_id: int) -> SchoolRemovals:
        return self.removals.setdefault(school_id, SchoolRemovals())

    @property
    def can_apply(self) -> bool:
        return self.errors_allow_apply and (
            not self.needs_confirmation or self.options.confirm_deactivation
        )

    def counts(self) -> dict[str, int]:
        return {
            "new": len(self.new),
            "updated": len(self.updated),
            "unchanged": self.unchanged,
            "deactivate": len(self.deactivate),
            "reactivate": len(self.reactivate),
            "guardian_links": len(self.links_add),
            "guardian_links_removed": len(self.links_remove),
            "schools": len(self.new_schools),
            "classes": len(self.new_classes),
            "classes_updated": len(self.updated_classes),
            "classes_removed": len(self.removed_classes),
            "enrollments": len(self.enrollments_add),
            "enrollments_removed": len(self.enrollments_remove),
            "memberships_removed": len(self.memberships_remove),
            "file_credentials_new": len(self.new_passwords),
            "file_credentials_reset": len(self.reset_passwords),
            "file_credentials_left_alone": len(self.credentials_left_alone),
            "credentials_to_generate": self.generate_passwords,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "held_back_rows": self.held_rows,
            "held_back_dependents": self.held_dependents,
        }


def add_error(
    plan: ImportPlan, person: PersonRecord | None, message: str, column: str | None = None
) -> None:
    file = person.file if person else "upload"
    line = person.line if person else None
    plan.problems.append(Problem("error", file, line, column, message))


def warn(plan: ImportPlan, file: str, line: int | None, message: str) -> None:
    plan.problems.append(Problem("warning", file, line, None, message))


def account_role(record: PersonRecord) -> str | None:
    # Console access is never granted by a file: imported administrators become staff.
    return Role.STAFF.value if record.role == "admin" else record.role


def person_schools(plan: ImportPlan, record: PersonRecord, new_schools: set[str]) -> list[str]:
    """Return the school sourced ids a person is placed in; new_schools: new_school_ids(plan)."""
    ids = [sid for sid in record.school_ids if sid in plan.school_ids or sid in new_schools]
    if not ids and "" in plan.school_ids:
        ids = [""]
    return ids


def new_school_ids(plan: ImportPlan) -> set[str]:
    return {sid for sid, _ in plan.new_schools}


def wanted_values(record: PersonRecord) -> tuple[Any, ...]:
    """Return the values an import sets on a person, in PERSON_FIELDS order."""
    email = record.email
    return (
        record.given_name,
        record.family_name,
        email.lower() if email else None,
        record.phone,
        record.grade,
        record.student_number,
    )


def chunks(items: list, size: int = CHUNK) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
