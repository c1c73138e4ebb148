"""Account exports as CSV, scoped, audited and safe to open in a spreadsheet.

- Accounts: the spreadsheet reader's own field names, so an export can be edited and
  imported again (the Ultranet round trip); the student number only in an export of
  students.
- Mail merge (students): username, names, student number, classes, grade, school, the live
  parent code and its expiry, up to two parents' names and emails, and the account state,
  for a word processor's mail merge of parent letters.

Never a password.
"""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from webapp.csv_safe import SafeWriter
from webapp.delivery import codes
from webapp.extensions import db
from webapp.models import (
    AccountState,
    Class,
    Enrollment,
    GuardianLink,
    Role,
    School,
    User,
    user_schools,
)
from webapp.services import audit, scope
from webapp.services.accounts import in_state
from webapp.services.errors import NotAllowed, PolicyError
from webapp.web.labels import natural_key

EXPORT_ROLES = (Role.STUDENT, Role.PARENT, Role.TEACHER, Role.STAFF)
COLUMNS = (
    "sourced_id",
    "username",
    "given_name",
    "family_name",
    "role",
    "grade",
    "schools",
    "classes",
    "email",
    "phone",
    "state",
    "activated",
    "last_sign_in",
)
STUDENT_COLUMNS = (*COLUMNS[:6], "student_number", *COLUMNS[6:])
CHUNK = 1_000


@dataclass
class ExportFilter:
    role: str | None = None
    class_id: int | None = None
    grade: str | None = None
    state: str | None = None
    school_id: int | None = None
    user_ids: list[int] | None = None  # a selection made on the People page


def _date(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value else ""


MAIL_MERGE_COLUMNS = (
    "username",
    "given_name",
    "family_name",
    "student_number",
    "classes",
    "grade",
    "school",
    "parent_code",
    "parent_code_expires",
    "parent_1_name",
    "parent_1_email",
    "parent_2_name",
    "parent_2_email",
    "state",
)


def _selection(actor: User, filters: ExportFilter) -> list[User]:
    """The people the filters choose among those the actor may see."""
    if filters.role and filters.role not in {r.value for r in EXPORT_ROLES}:
        raise PolicyError(["Choose students, parents, teachers or staff."])
    if filters.state and filters.state not in {s.value for s in AccountState}:
        raise PolicyError(["Choose a known account state."])
    query = (
        scope.visible_users(actor)
        .where(User.role.in_([r.value for r in EXPORT_ROLES]))
        .order_by(User.role, User.family_name, User.given_name, User.id)
    )
    if filters.role:
        query = query.where(User.role == filters.role)
    if filters.grade:
        query = query.where(User.grade == filters.grade)
    if filters.state:
        query = query.where(in_state(AccountState(filters.state)))
    if filters.class_id is not None:
        klass = scope.require_class(actor, filters.class_id)
        members = select(Enrollment.user_id).where(Enrollment.class_id == klass.id)
        query = query.where(User.id.in_(members))
    if filters.user_ids is not None:
        query = query.where(User.id.in_(filters.user_ids))
    if filters.school_id is not None:
        if filters.school_id not in scope.visible_school_ids(actor):
            raise NotAllowed("export of a school outside scope", "school", filters.school_id)
        members = select(user_schools.c.user_id).where(
            user_schools.c.school_id == filters.school_id
        )
        query = query.where(User.id.in_(members))
    return list(db.session.scalars(query.execution_options(yield_per=CHUNK)))


def export_accounts(actor: User, filters: ExportFilter) -> tuple[str, int]:
    """Return (CSV text, row count) of the accounts the actor may see; audited, caller commits."""
    users = _selection(actor, filters)
    columns = STUDENT_COLUMNS if filters.role == Role.STUDENT else COLUMNS
    out = io.StringIO()
    writer = SafeWriter(out)
    writer.writerow(columns)
    for start in range(0, len(users), CHUNK):
        chunk = users[start : start + CHUNK]
        classes, schools = _memberships([u.id for u in chunk])
        for user in chunk:
            row = {
                "sourced_id": user.sourced_id or "",
                "username": user.username,
                "given_name": user.given_name,
                "family_name": user.family_name,
                "role": user.role,
                "grade": user.grade or "",
                "student_number": user.student_number or "",
                "schools": "; ".join(schools.get(user.id, [])),
                "classes": "; ".join(classes.get(user.id, [])),
                "email": user.email or "",
                "phone": user.phone or "",
                "state": user.state.value,
                "activated": _date(user.activated_at),
                "last_sign_in": _date(user.last_login_at),
            }
            writer.writerow([row[c] for c in columns])
    audit.record(
        actor,
        "export_downloaded",
        kind="accounts",
        rows=len(users),
        **_filter_details(filters),
    )
    return out.getvalue(), len(users)


def export_mail_merge(actor: User, filters: ExportFilter) -> tuple[str, int]:
    """Return (CSV text, row count) for a mail merge of students' parent letters.

    Shows each student's live parent code (none: the cell is empty; issue codes first).
    Audited as one export naming how many codes it carried; the caller commits.
    """
    filters.role = Role.STUDENT
    students = _selection(actor, filters)
    out = io.StringIO()
    writer = SafeWriter(out)
    writer.writerow(MAIL_MERGE_COLUMNS)
    codes_shown = 0
    for start in range(0, len(students), CHUNK):
        chunk = students[start : start + CHUNK]
        ids = [s.id for s in chunk]
        classes, schools = _memberships(ids)
        live = codes.live_parent_codes(ids)
        parents = _parents(ids)
        codes_shown += len(live)
        for student in chunk:
            code = live.get(student.id)
            first, second = (parents.get(student.id, []) + [("", ""), ("", "")])[:2]
            writer.writerow(
                [
                    student.username,
                    student.given_name,
                    student.family_name,
                    student.student_number or "",
                    "; ".join(classes.get(student.id, [])),
                    student.grade or "",
                    "; ".join(schools.get(student.id, [])),
                    code.formatted if code else "",
                    _date(code.expires_at) if code else "",
                    *first,
                    *second,
                    student.state.value,
                ]
            )
    audit.record(
        actor,
        "export_downloaded",
        kind="mail_merge",
        rows=len(students),
        parent_codes=codes_shown,
        **_filter_details(filters),
    )
    return out.getvalue(), len(students)


def _filter_details(filters: ExportFilter) -> dict[str, object]:
    """The filters for the audit row: a selection is named by its size, not its ids."""
    details = {k: v for k, v in vars(filters).items() if v not in (None, "")}
    if filters.user_ids is not None:
        details["user_ids"] = len(filters.user_ids)
    return details


def _parents(student_ids: list[int]) -> dict[int, list[tuple[str, str]]]:
    """Each student's active parents as (name, email), in the order they were linked."""
    found: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for student_id, given, family, email in db.session.execute(
        select(GuardianLink.student_id, User.given_name, User.family_name, User.email)
        .join(User, User.id == GuardianLink.parent_id)
        .where(GuardianLink.student_id.in_(student_ids), User.deactivated_at.is_(None))
        .order_by(GuardianLink.id)
    ):
        found[student_id].append((f"{given} {family}".strip(), email or ""))
    return found


def _memberships(user_ids: list[int]) -> tuple[dict[int, list[str]], dict[int, list[str]]]:
    classes: dict[int, list[str]] = defaultdict(list)
    for user_id, title in db.session.execute(
        select(Enrollment.user_id, Class.title)
        .join(Class, Class.id == Enrollment.class_id)
        .where(Enrollment.user_id.in_(user_ids))
        .order_by(Class.title)
    ):
        classes[user_id].append(title)
    schools: dict[int, list[str]] = defaultdict(list)
    for user_id, name in db.session.execute(
        select(user_schools.c.user_id, School.name)
        .join(School, School.id == user_schools.c.school_id)
        .where(user_schools.c.user_id.in_(user_ids))
        .order_by(School.name)
    ):
        schools[user_id].append(name)
    return classes, schools


def export_classes(actor: User) -> list[Class]:
    """Return the classes the actor may filter by, in natural order (Art 6, Art 9, Art 11)."""
    query = select(Class)
    if not (actor.role == Role.ADMIN and actor.district_wide):
        query = query.where(Class.school_id.in_(scope.visible_school_ids(actor)))
    return sorted(db.session.scalars(query.limit(2000)), key=lambda k: natural_key(k.title))
