"""Normalised roster records shared by every reader."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

Severity = Literal["error", "warning"]
Role = Literal["student", "teacher", "staff", "parent", "admin"]
Status = Literal["active", "tobedeleted"]
Mode = Literal["bulk", "delta", "absent"]
DateOrder = Literal["DMY", "MDY"]

ROLES: tuple[str, ...] = ("student", "teacher", "staff", "parent", "admin")
# Error kinds that concern a whole column or file even though they name a line: a school
# value stands for every row that uses it, so "apply the rest" cannot leave it out.
WHOLE_FILE = frozenset({"date-order", "mixed-encoding", "mixed-dates", "unknown-school"})
FORMATS: tuple[str, ...] = ("oneroster-1.1", "oneroster-1.2", "clever", "sds-2.1", "sds-uk", "csv")


@dataclass(slots=True, frozen=True)
class Problem:
    """One thing wrong with the upload, and how to fix it."""

    severity: Severity
    file: str
    line: int | None
    column: str | None
    message: str
    # Groups similar problems for display ("... and 418 more like these"), and names the
    # kinds that concern a whole column rather than a row (see holds_back_row).
    kind: str | None = None

    @property
    def holds_back_row(self) -> bool:
        """Tell whether this error concerns one row, which "apply the rest" can leave out."""
        return self.severity == "error" and self.line is not None and self.kind not in WHOLE_FILE

    def as_dict(self) -> dict[str, str | int | None]:
        """Return the problem as JSON-ready values, as runs and previews keep them."""
        return {
            "severity": self.severity,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "kind": self.kind,
        }

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f", line {self.line}"
        if self.column:
            where += f", column {self.column}"
        return f"{self.severity}: {where}: {self.message}"


@dataclass(slots=True, frozen=True)
class SchoolRecord:
    """A school (OneRoster org) as the source names it."""

    sourced_id: str
    name: str
    file: str
    line: int | None
    # The file's column that named it, when a person row did (a spreadsheet's school column).
    column: str | None = None


@dataclass(slots=True, frozen=True)
class PersonRecord:
    """A person who may get a Keyslip login.

    role is None only in a OneRoster 1.2 delta that changes a user without
    restating their roles: the apply layer keeps the role it already has.
    """

    sourced_id: str
    role: Role | None
    given_name: str
    family_name: str
    file: str
    line: int | None
    username: str | None = None
    email: str | None = None
    phone: str | None = None
    grade: str | None = None
    student_number: str | None = None
    school_ids: tuple[str, ...] = ()
    status: Status | None = None
    enabled: bool = True
    password: str | None = None
    middle_name: str | None = None
    left_on: date | None = None  # a spreadsheet's leaving date that has passed


@dataclass(slots=True, frozen=True)
class ClassRecord:
    """A class (OneRoster class, Clever section, SDS section)."""

    sourced_id: str
    school_id: str | None
    title: str
    class_code: str | None
    grades: tuple[str, ...]
    file: str
    line: int | None
    status: Status | None = None


@dataclass(slots=True, frozen=True)
class EnrollmentRecord:
    """A student or teacher in a class."""

    class_id: str
    user_id: str
    role: Literal["student", "teacher"]
    primary: bool
    file: str
    line: int | None
    status: Status | None = None


@dataclass(slots=True, frozen=True)
class GuardianRecord:
    """A parent linked to a student."""

    parent_id: str
    student_id: str
    file: str
    line: int | None
    # The relationship word the file gave (Mother, Grandfather), when it gave one.
    relationship: str | None = None


@dataclass(slots=True, frozen=True)
class DateQuestion:
    """A date column whose day/month order only the person importing can tell.

    order is the answer the import was given, or None while it is still open (the
    open question is also an error Problem, so it blocks applying).
    """

    file: str
    line: int | None
    column: str
    example: str
    order: DateOrder | None = None


@dataclass(slots=True)
class Roster:
    """Everything one upload says, normalised, plus what was wrong with it.

    complete means a full snapshot: people absent from it may be deactivated,
    but only when has_errors is False (a broken file is never a snapshot).
    """

    format: str
    complete: bool = False
    modes: dict[str, Mode] = field(default_factory=dict)
    schools: list[SchoolRecord] = field(default_factory=list)
    people: list[PersonRecord] = field(default_factory=list)
    classes: list[ClassRecord] = field(default_factory=list)
    enrollments: list[EnrollmentRecord] = field(default_factory=list)
    guardians: list[GuardianRecord] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    encoding_used: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    date_questions: list[DateQuestion] = field(default_factory=list)
    # The earliest leaving date still to come: re-reading the same file on or after it
    # deactivates someone, so an unchanged file is not "nothing to do" from that day.
    next_leave_date: date | None = None

    @property
    def errors(self) -> list[Problem]:
        """Return the problems that must be fixed before applying."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        """Return the problems worth a look that do not block applying."""
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def has_errors(self) -> bool:
        """Tell whether anything blocks applying this roster."""
        return any(p.severity == "error" for p in self.problems)

    def role_counts(self) -> dict[str, int]:
        """Count people by role (None for a role a delta left unstated)."""
        counts: dict[str, int] = {}
        for person in self.people:
            key = person.role or "unknown"
            counts[key] = counts.get(key, 0) + 1
        return counts
