"""Match each person in the file to Keyslip (source and SIS id, then email) and plan changes."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import select

from webapp.extensions import db
from webapp.imports.plan import (
    PERSON_FIELDS,
    ImportPlan,
    Leaver,
    PersonChange,
    account_role,
    add_error,
    chunks,
    new_school_ids,
    person_schools,
    wanted_values,
    warn,
)
from webapp.imports.plan_passwords import FileReset, plan_password
from webapp.models import (
    User,
)
from webapp.roster.normalise import make_username
from webapp.roster.records import PersonRecord


class _UserRow(NamedTuple):
    """One user as planning needs them: plain tuple, cheap to read in a 50,000-row loop."""

    id: int
    sourced_id: str | None
    username: str
    role: str
    deactivated_at: Any
    given_name: str
    family_name: str
    email: str | None
    phone: str | None
    grade: str | None
    student_number: str | None


_USER_ROW_COLUMNS = _UserRow._fields


# Where the PERSON_FIELDS values sit in a _UserRow.
_FIELDS_AT = _USER_ROW_COLUMNS.index(PERSON_FIELDS[0])
assert _USER_ROW_COLUMNS[_FIELDS_AT:] == PERSON_FIELDS


@dataclass
class Known:
    """What the database holds for this source, loaded once with plain queries."""

    rows: list[_UserRow] = field(default_factory=list)
    by_sid: dict[str, _UserRow] = field(default_factory=dict)
    user_ids: dict[str, int] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    in_file: set[str] = field(default_factory=set)
    # Existing people the file gives a password, checked together once everyone is matched.
    file_resets: list[FileReset] = field(default_factory=list)

    def sourced_ids(self) -> dict[int, str | None]:
        """Map the Keyslip ids of this source's people to their sourced ids."""
        return {row.id: row.sourced_id for row in self.rows}


def sourced_ids(user_ids: list[int]) -> dict[int, str | None]:
    """Look up the sourced ids of a few people outside this source (matched by email)."""
    found: dict[int, str | None] = {}
    for chunk in chunks(user_ids):
        found.update(
            db.session.execute(select(User.id, User.sourced_id).where(User.id.in_(chunk)))
            .tuples()
            .all()
        )
    return found


def plan_people(plan: ImportPlan) -> Known:
    options = plan.options
    known = Known()
    users = User.__table__
    columns = [users.c[name] for name in _USER_ROW_COLUMNS]
    # .all() fetches in one call; iterating a result fetches (and checks) one row at a time.
    rows = db.session.execute(select(*columns).where(users.c.source == options.source)).all()
    known.rows = list(map(_UserRow._make, rows))
    del rows
    known.by_sid = {row.sourced_id: row for row in known.rows}
    # Every username in Keyslip, loaded only once a new person needs one checked or made.
    taken: set[str] | None = None
    # The next number to try per username base, so each collision costs O(1).
    username_counters: dict[str, int] = {}
    by_email: dict[tuple[str, str], list[tuple]] = defaultdict(list)
    # Only people the source does not know yet are matched by email.
    wanted_emails = {
        p.email.lower() for p in plan.roster.people if p.email and p.sourced_id not in known.by_sid
    }
    if wanted_emails:
        email_columns = (
            User.id,
            User.email,
            User.role,
            User.source,
            User.sourced_id,
            User.username,
        )
        for chunk in chunks(sorted(wanted_emails)):
            for row in db.session.execute(select(*email_columns).where(User.email.in_(chunk))):
                by_email[(row.email, row.role)].append(row)
    claimed: dict[int, PersonRecord] = {}
    usernames_in_file: dict[str, PersonRecord] = {}
    new_schools = new_school_ids(plan)

    for record in plan.roster.people:
        known.in_file.add(record.sourced_id)
        role = account_role(record)
        row = known.by_sid.get(record.sourced_id)
        if row is None and record.email and role:
            candidates = [
                r
                for r in by_email.get((record.email.lower(), role), [])
                if (r.source != options.source or r.sourced_id is None)
                and (plan.visible_user_ids is None or r.id in plan.visible_user_ids)
            ]
            if len(candidates) > 1:
                add_error(
                    plan,
                    record,
                    f"{len(candidates)} existing {role}s have the email "
                    f"{record.email}; Keyslip will not guess which one this is.",
                    "email",
                )
                continue
            if candidates:
                row = _full_row(candidates[0].id)
                if candidates[0].source == "local":
                    warn(
                        plan,
                        record.file,
                        record.line,
                        f"Matched by email to {row.username}, who was added by hand in "
                        "Keyslip: this row updates that account instead of making a second one.",
                    )
        if (
            row is not None
            and plan.visible_user_ids is not None
            and row.id not in plan.visible_user_ids
        ):
            # Same source id, different school: never let one school's file edit another's.
            add_error(
                plan,
                record,
                "This ID belongs to someone at a school outside yours; the row was not used.",
                "sourcedId",
            )
            continue
        if row is not None and row.id in claimed:
            other = claimed[row.id]
            add_error(
                plan,
                record,
                f"This is the same account as line {other.line} of {other.file} "
                f"({row.username}); two people cannot share one login.",
            )
            continue
        if row is not None:
            claimed[row.id] = record
            known.user_ids[record.sourced_id] = row.id
            known.roles[record.sourced_id] = row.role
            _plan_existing(plan, record, row, known)
            continue
        if record.status == "tobedeleted":
            continue  # deleting someone Keyslip never had: nothing to do
        if options.mode == "update":
            continue
        if role is None:
            add_error(plan, record, "A new person needs a role.", "role")
            continue
        if taken is None:
            taken = _taken_usernames()
        username = (record.username or "").strip().lower()
        if username:
            if username in taken or username in usernames_in_file:
                add_error(
                    plan,
                    record,
                    f"The username {username!r} already belongs to someone else.",
                    "username",
                )
                continue
            taken.add(username)
        else:
            username = make_username(
                options.username_template,
                record.given_name,
                record.family_name,
                taken,
                username_counters,
            )
        usernames_in_file[username] = record
        known.roles[record.sourced_id] = role
        if not person_schools(plan, record, new_schools):
            if not plan.unknown_schools.intersection(record.school_ids):  # else said once
                add_error(
                    plan, record, "This person's school is not in the import.", "orgSourcedIds"
                )
            continue
        plan.new.append(PersonChange(record, None, username))
        if options.passwords == "set":
            plan_password(plan, record, role, record.grade, username, None)
    return known


def _taken_usernames() -> set[str]:
    """Return every username in Keyslip."""
    return set(db.session.scalars(select(User.__table__.c.username)))


def _full_row(user_id: int) -> _UserRow:
    columns = [User.__table__.c[name] for name in _USER_ROW_COLUMNS]
    return _UserRow._make(db.session.execute(select(*columns).where(User.id == user_id)).one())


def _plan_existing(plan: ImportPlan, record: PersonRecord, row: _UserRow, known: Known) -> None:
    leaving = record.status == "tobedeleted" or not record.enabled
    if leaving:
        if row.deactivated_at is None:
            if record.left_on:
                reason = f"left on {record.left_on:%d %B %Y} (leaving date in the file)"
            elif not record.enabled:
                reason = "disabled in the SIS"
            else:
                reason = "deleted in the SIS"
            plan.deactivate.append(leaver(row, reason))
        return
    changes: dict[str, tuple[Any, Any]] = {}
    if plan.options.mode != "add":
        wanted = wanted_values(record)
        current = row[_FIELDS_AT:]
        # Most people in a re-import are unchanged: one tuple comparison says so.
        if wanted != current:
            for name, value, old in zip(PERSON_FIELDS, wanted, current, strict=True):
                # Blank in the file means "not given" for optional contact fields, not "erase".
                if value is None and name in ("email", "phone", "student_number"):
                    continue
                if old != value:
                    changes[name] = (old, value)
    if plan.options.mode != "add" and plan.options.passwords == "set":
        # A blank password leaves an existing person's as it is: nothing to check.
        if record.password and record.password.strip():
            grade = changes["grade"][1] if "grade" in changes else row.grade
            known.file_resets.append(FileReset(record, row.role, grade, row.username, row.id))
    if row.deactivated_at is not None:
        plan.reactivate.append(PersonChange(record, row.id, row.username, changes))
    elif changes:
        plan.updated.append(PersonChange(record, row.id, row.username, changes))
    else:
        plan.unchanged += 1
    sid = record.sourced_id
    for school in record.school_ids:
        plan.memberships_add.add((sid, school))


def leaver(row: _UserRow, reason: str) -> Leaver:
    return Leaver(row.id, row.username, f"{row.given_name} {row.family_name}", row.role, reason)
