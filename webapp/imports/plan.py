"""Plan a roster import against the database without changing anything.

`plan_import()` matches every person, class and link in a Roster to what Keyslip already holds
and says what would change: who is new, who changes, what a complete file removes from the
schools it covers, and every problem with its file, line and column.

Identity: a person is matched by (source, sourced id), then by email within the same role;
two candidates for one person is an error, never a silent merge.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from sqlalchemy import func, select, union

from webapp.extensions import db
from webapp.models import (
    Class,
    Enrollment,
    GuardianLink,
    Role,
    School,
    User,
    user_schools,
)
from webapp.roster.bulk import paused_gc
from webapp.roster.normalise import make_username
from webapp.roster.records import PersonRecord, Problem, Roster
from webapp.services import passwords, schools, scope
from webapp.services.errors import NotAllowed, PolicyError

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
    # Existing people whose file password was not used (see _plan_file_resets), by Keyslip id.
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


def _error(
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


def plan_import(roster: Roster, options: ImportOptions, *, actor: User) -> ImportPlan:
    """Work out what importing this roster would change. Changes nothing."""
    with paused_gc():
        return _plan_import(roster, options, actor)


def _plan_import(roster: Roster, options: ImportOptions, actor: User) -> ImportPlan:
    if options.mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    complete = roster.complete if options.complete is None else options.complete
    plan = ImportPlan(roster=roster, options=options, complete=complete)
    plan.problems.extend(roster.problems)
    known_errors = len(plan.errors)
    _plan_schools(plan, actor)
    if len(plan.errors) > known_errors and not plan.school_ids:
        return plan  # no school to place anyone in
    if not (actor.role == Role.ADMIN and actor.district_wide):
        plan.visible_user_ids = set(
            db.session.scalars(scope.visible_users(actor).with_only_columns(User.id))
        )
    if options.passwords == "set":
        plan.password_context = _school_names(plan)
    known = _plan_people(plan)
    _plan_file_resets(plan, known.file_resets, actor)
    _plan_ignored_passwords(plan)
    # Every error is known by now: the steps below only warn.
    plan.removes_absent = complete and not plan.errors
    if complete and plan.errors:
        warn(
            plan,
            "upload",
            None,
            "The file has errors, so nothing will be removed: people, classes, class places "
            "and parent links missing from it stay as they are.",
        )
    _plan_leavers(plan, known)
    _plan_classes_and_enrollments(plan, known)
    _plan_guardians(plan, known)
    return plan


def _plan_schools(plan: ImportPlan, actor: User) -> None:
    roster, options = plan.roster, plan.options
    allowed = set(scope.visible_school_ids(actor))
    plan.allowed_school_ids = allowed
    if roster.format == "csv":
        _plan_named_schools(plan, actor, allowed)
    else:
        _plan_org_schools(plan, actor, allowed)
    if options.school_id is not None:
        if options.school_id not in allowed:
            raise NotAllowed(
                "import into a school outside the admin's scope", "school", options.school_id
            )
        plan.school_ids[""] = options.school_id
    elif not roster.schools and not any(p.school_ids for p in roster.people):
        _error(plan, None, "Choose the school these people belong to: the file names none.")


def _plan_org_schools(plan: ImportPlan, actor: User, allowed: set[int]) -> None:
    """Match an SIS's orgs to schools by their ids in this source; new ones are created."""
    existing = dict(
        db.session.execute(
            select(School.sourced_id, School.id).where(School.source == plan.options.source)
        ).all()
    )
    names = {schools.name_key(name) for name in db.session.scalars(select(School.name))}
    for record in plan.roster.schools:
        school_id = existing.get(record.sourced_id)
        if school_id is not None:
            if school_id not in allowed:
                raise NotAllowed(
                    "import touches a school outside the admin's scope", "school", school_id
                )
            plan.school_ids[record.sourced_id] = school_id
        elif actor.role == Role.ADMIN and actor.district_wide:
            plan.new_schools.append((record.sourced_id, record.name))
            if schools.name_key(record.name) in names:
                warn(
                    plan,
                    record.file,
                    record.line,
                    f"A school called {record.name!r} is already in Keyslip, without the SIS "
                    f"id {record.sourced_id}, so a second one will be created. To use the one "
                    "you have, give it this SIS id on the Schools page and preview again.",
                )
        else:
            plan.problems.append(
                Problem(
                    "error",
                    record.file,
                    record.line,
                    "sourcedId",
                    f"School {record.name!r} ({record.sourced_id}) is not one of your schools. "
                    "Ask a district admin to import it.",
                )
            )


def _plan_named_schools(plan: ImportPlan, actor: User, allowed: set[int]) -> None:
    """Map a spreadsheet's school values to the admin's schools, by SIS id, then by name.

    A spreadsheet's school column is whatever the admin typed ("1", "Oak", "oak-101"), not
    an SIS's org ids: a value that names no school of theirs is an error, unless the admin
    chose to create the schools named in the file.
    """
    if not plan.roster.schools:
        return
    every = db.session.scalars(select(School).order_by(School.id)).all()
    mine = [school for school in every if school.id in allowed]
    rows = Counter(sid for person in plan.roster.people for sid in person.school_ids)
    for record in plan.roster.schools:
        value = record.sourced_id
        found = schools.match_school(value, mine)
        if len(found) == 1:
            plan.school_ids[value] = found[0].id
            continue
        if not found and plan.options.create_schools and actor.district_wide:
            plan.new_schools.append((value, record.name))
            continue
        plan.unknown_schools.add(value)
        elsewhere = not found and bool(schools.match_school(value, every))
        message = _unknown_school(value, rows[value], found, mine, elsewhere, plan.options)
        plan.problems.append(
            Problem(
                "error",
                record.file,
                record.line,
                record.column or "school",
                message,
                "unknown-school",
            )
        )


def _unknown_school(
    value: str,
    rows: int,
    found: list[School],
    mine: list[School],
    elsewhere: bool,
    options: ImportOptions,
) -> str:
    """Say why a spreadsheet's school value was not used, and what would work."""
    named = f"School '{value}'" + (f" (named on {rows} rows)" if rows > 1 else "")
    if found:
        return (
            f"{named} could be any of {schools.describe(found)}. Give each its own SIS id "
            "on the Schools page and use those in the file."
        )
    if elsewhere:
        return f"{named} is not one of your schools."
    if options.create_schools:
        return (
            f"{named} is not in Keyslip, and only a district-wide admin can create schools. "
            "Ask one to create it, then preview again."
        )
    return (
        f"{named} is not in Keyslip. Known schools: {schools.describe(mine)}. Use a "
        "school's name or SIS id in the file, give the school this SIS id on the Schools "
        "page, or choose to create the schools named in the file."
    )


def person_schools(plan: ImportPlan, record: PersonRecord, new_schools: set[str]) -> list[str]:
    """Return the school sourced ids a person is placed in; new_schools: new_school_ids(plan)."""
    ids = [sid for sid in record.school_ids if sid in plan.school_ids or sid in new_schools]
    if not ids and "" in plan.school_ids:
        ids = [""]
    return ids


def new_school_ids(plan: ImportPlan) -> set[str]:
    return {sid for sid, _ in plan.new_schools}


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


@dataclass(slots=True)
class _FileReset:
    """An existing person with a password in the file, before it is known whether to use it."""

    record: PersonRecord
    role: str
    grade: str | None
    username: str
    user_id: int


@dataclass
class _Known:
    """What the database holds for this source, loaded once with plain queries."""

    rows: list[_UserRow] = field(default_factory=list)
    by_sid: dict[str, _UserRow] = field(default_factory=dict)
    user_ids: dict[str, int] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    in_file: set[str] = field(default_factory=set)
    # Existing people the file gives a password, checked together once everyone is matched.
    file_resets: list[_FileReset] = field(default_factory=list)

    def sourced_ids(self) -> dict[int, str | None]:
        """Map the Keyslip ids of this source's people to their sourced ids."""
        return {row.id: row.sourced_id for row in self.rows}


def _sourced_ids(user_ids: list[int]) -> dict[int, str | None]:
    """Look up the sourced ids of a few people outside this source (matched by email)."""
    found: dict[int, str | None] = {}
    for chunk in chunks(user_ids):
        found.update(
            db.session.execute(select(User.id, User.sourced_id).where(User.id.in_(chunk)))
            .tuples()
            .all()
        )
    return found


def _plan_people(plan: ImportPlan) -> _Known:
    options = plan.options
    known = _Known()
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
                _error(
                    plan,
                    record,
                    f"{len(candidates)} existing {role}s have the email "
                    f"{record.email}; Keyslip will not guess which one this is.",
                    "email",
                )
                continue
            if candidates:
                row = _full_row(candidates[0].id)
        if (
            row is not None
            and plan.visible_user_ids is not None
            and row.id not in plan.visible_user_ids
        ):
            # Same source id, different school: never let one school's file edit another's.
            _error(
                plan,
                record,
                "This ID belongs to someone at a school outside yours; the row was not used.",
                "sourcedId",
            )
            continue
        if row is not None and row.id in claimed:
            other = claimed[row.id]
            _error(
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
            _error(plan, record, "A new person needs a role.", "role")
            continue
        if taken is None:
            taken = _taken_usernames()
        username = (record.username or "").strip().lower()
        if username:
            if username in taken or username in usernames_in_file:
                _error(
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
                _error(plan, record, "This person's school is not in the import.", "orgSourcedIds")
            continue
        plan.new.append(PersonChange(record, None, username))
        if options.passwords == "set":
            _plan_password(plan, record, role, record.grade, username, None)
    return known


def _taken_usernames() -> set[str]:
    """Return every username in Keyslip."""
    return set(db.session.scalars(select(User.__table__.c.username)))


def _school_names(plan: ImportPlan) -> tuple[str, ...]:
    names = [record.name for record in plan.roster.schools]
    ids = set(plan.school_ids.values())
    if ids:
        names += db.session.scalars(select(School.name).where(School.id.in_(ids)))
    return tuple(sorted(set(names)))


def _plan_password(
    plan: ImportPlan,
    record: PersonRecord,
    role: str,
    grade: str | None,
    username: str,
    user_id: int | None,
) -> None:
    """Check a file password against the policy; never hashes (the preview runs this)."""
    password = record.password
    if not password or not password.strip():
        if user_id is None:
            plan.generate_passwords += 1
        return
    # A transient, never-added User: check_policy needs the role, grade and names.
    person = User(
        role=role,
        grade=grade,
        username=username,
        given_name=record.given_name,
        family_name=record.family_name,
    )
    try:
        passwords.check_policy(password, person, extra_words=plan.password_context)
    except PolicyError as exc:
        # The rules broken, never the password itself.
        _error(
            plan,
            record,
            f"The password does not meet the policy for a {role}: {' '.join(exc.problems)}",
            plan.options.password_column,
        )
        return
    if user_id is None:
        plan.new_passwords[record.sourced_id] = password
    else:
        plan.reset_passwords[user_id] = password


def _plan_file_resets(plan: ImportPlan, resets: list[_FileReset], actor: User) -> None:
    """Use a file's password on an existing person only where no account can be taken over.

    The admin holds the file's passwords, so setting one lets them sign in as that person:
    it is left alone, with a warning on its cell, for anyone already using their account and
    for anyone tied to a school outside the admin's scope. Such people are still updated.
    """
    if not resets:
        return
    user_ids = [reset.user_id for reset in resets]
    active = using_their_account(user_ids)
    outside = _tied_outside_scope(user_ids, actor)
    for reset in resets:
        reasons: list[str] = []
        if reset.user_id in active:
            reasons.append("they already use their account, and a file never replaces its password")
        if reset.user_id in outside:
            reasons.append("they belong to, or are linked to, a school outside yours")
        if not reasons:
            _plan_password(
                plan, reset.record, reset.role, reset.grade, reset.username, reset.user_id
            )
            continue
        plan.credentials_left_alone.append(reset.user_id)
        plan.problems.append(
            Problem(
                "warning",
                reset.record.file,
                reset.record.line,
                plan.options.password_column,
                f"The password of {reset.username} was left as it is: {' and '.join(reasons)}. "
                "Send them a reset link instead.",
            )
        )


def using_their_account(user_ids: list[int]) -> set[int]:
    """Return the ids of the people who have started using their account.

    Started: they hold a password of their own. Choosing one activates the account; a
    temporary password (from an admin or a file) must be changed first and does not count.
    """
    own_password = User.password_hash.is_not(None) & User.must_change_password.is_(False)
    found: set[int] = set()
    for chunk in chunks(sorted(set(user_ids))):
        found.update(
            db.session.scalars(
                select(User.id).where(
                    User.id.in_(chunk), User.activated_at.is_not(None) | own_password
                )
            )
        )
    return found


def _tied_outside_scope(user_ids: list[int], actor: User) -> set[int]:
    """Return the ids of the people tied to a school outside the actor's scope.

    Tied: a member of the school, enrolled in one of its classes, or a parent of a child who
    is either (signing in as the parent shows the child).
    """
    if actor.role == Role.ADMIN and actor.district_wide:
        return set()
    allowed = scope.visible_school_ids(actor)
    members, children = user_schools.c.user_id, GuardianLink.student_id
    found: set[int] = set()
    # Four IN lists per query: smaller chunks stay under SQLite's bound-parameter limit.
    for chunk in chunks(sorted(set(user_ids)), CHUNK // 5):
        ties = union(
            select(members).where(members.in_(chunk), user_schools.c.school_id.not_in(allowed)),
            select(Enrollment.user_id)
            .join(Class, Class.id == Enrollment.class_id)
            .where(Enrollment.user_id.in_(chunk), Class.school_id.not_in(allowed)),
            select(GuardianLink.parent_id)
            .join(user_schools, members == children)
            .where(GuardianLink.parent_id.in_(chunk), user_schools.c.school_id.not_in(allowed)),
            select(GuardianLink.parent_id)
            .join(Enrollment, Enrollment.user_id == children)
            .join(Class, Class.id == Enrollment.class_id)
            .where(GuardianLink.parent_id.in_(chunk), Class.school_id.not_in(allowed)),
        )
        found.update(db.session.scalars(ties))
    return found


def _plan_ignored_passwords(plan: ImportPlan) -> None:
    """Warn once when the file carries passwords an import that keeps them ignores."""
    options = plan.options
    if options.passwords != "keep":
        return
    first = next((p for p in plan.roster.people if p.password), None)
    if first is None and not options.password_mapped:
        return
    plan.problems.append(
        Problem(
            "warning",
            first.file if first else "upload",
            None,
            options.password_column,
            "The password column was ignored: this import keeps everyone's password as it "
            "is. Choose to set passwords from the file to use it.",
        )
    )


def _full_row(user_id: int) -> _UserRow:
    columns = [User.__table__.c[name] for name in _USER_ROW_COLUMNS]
    return _UserRow._make(db.session.execute(select(*columns).where(User.id == user_id)).one())


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


def _plan_existing(plan: ImportPlan, record: PersonRecord, row: _UserRow, known: _Known) -> None:
    leaving = record.status == "tobedeleted" or not record.enabled
    if leaving:
        if row.deactivated_at is None:
            if record.left_on:
                reason = f"left on {record.left_on:%d %B %Y} (leaving date in the file)"
            elif not record.enabled:
                reason = "disabled in the SIS"
            else:
                reason = "deleted in the SIS"
            plan.deactivate.append(_leaver(row, reason))
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
            known.file_resets.append(_FileReset(record, row.role, grade, row.username, row.id))
    if row.deactivated_at is not None:
        plan.reactivate.append(PersonChange(record, row.id, row.username, changes))
    elif changes:
        plan.updated.append(PersonChange(record, row.id, row.username, changes))
    else:
        plan.unchanged += 1
    sid = record.sourced_id
    for school in record.school_ids:
        plan.memberships_add.add((sid, school))


def _leaver(row: _UserRow, reason: str) -> Leaver:
    return Leaver(row.id, row.username, f"{row.given_name} {row.family_name}", row.role, reason)


def _plan_leavers(plan: ImportPlan, known: _Known) -> None:
    """Plan who leaves the schools the file covers: absent from it, active, and a member.

    Someone who is also at a school the file does not cover only leaves the covered ones;
    the rest are deactivated.
    """
    if not plan.removes_absent or plan.roster.modes.get("users") == "delta":
        return
    school_ids = set(plan.school_ids.values())
    if not school_ids:
        return
    # Active members of this source per school, counted by the database; only the few
    # people missing from the file have their memberships loaded.
    members = (
        select(user_schools.c.school_id, func.count())
        .join(User, User.id == user_schools.c.user_id)
        .where(
            User.source == plan.options.source,
            user_schools.c.school_id.in_(school_ids),
            User.deactivated_at.is_(None),
        )
        .group_by(user_schools.c.school_id)
    )
    for school_id, total in db.session.execute(members).tuples():
        plan.removals_at(school_id).people_total = total
    present = set(known.user_ids.values())
    absent = [row.id for row in known.rows if row.deactivated_at is None and row.id not in present]
    memberships: dict[int, set[int]] = defaultdict(set)
    for chunk in chunks(absent):
        query = select(user_schools.c.user_id, user_schools.c.school_id).where(
            user_schools.c.user_id.in_(chunk)
        )
        for user_id, school_id in db.session.execute(query).tuples():
            memberships[user_id].add(school_id)
    leaving_ids: set[int] = set()
    for user_id, member_of in memberships.items():
        covered = member_of & school_ids
        if not covered:
            continue
        if member_of - school_ids:
            for school_id in sorted(covered):
                plan.memberships_remove.append((user_id, school_id))
                plan.removals_at(school_id).memberships += 1
            continue
        leaving_ids.add(user_id)
        for school_id in covered:
            plan.removals_at(school_id).people += 1
    if not leaving_ids:
        return
    already = {leaver.user_id for leaver in plan.deactivate}
    for row in known.by_sid.values():
        if row.id in leaving_ids and row.id not in already:
            plan.deactivate.append(_leaver(row, "not in the SIS export"))


@dataclass
class _ExistingClasses:
    """This source's classes in Keyslip: sourced id -> (id, title, code), and their schools."""

    by_sid: dict[str, tuple[int, str, str | None]] = field(default_factory=dict)
    school_of: dict[int, int] = field(default_factory=dict)

    def school(self, class_sid: str) -> int | None:
        match = self.by_sid.get(class_sid)
        return self.school_of[match[0]] if match else None


def _outside_scope(plan: ImportPlan, record: Any, what: str) -> None:
    plan.problems.append(
        Problem(
            "warning",
            record.file,
            record.line,
            "sourcedId",
            f"This {what} is at a school outside your schools; it was left as it is.",
        )
    )


def _plan_classes_and_enrollments(plan: ImportPlan, known: _Known) -> None:
    if not plan.roster.classes and not plan.roster.enrollments:
        return
    existing = _ExistingClasses()
    for sid, class_id, title, code, school_id in db.session.execute(
        select(Class.sourced_id, Class.id, Class.title, Class.class_code, Class.school_id).where(
            Class.source == plan.options.source
        )
    ).tuples():
        existing.by_sid[sid] = (class_id, title, code)
        existing.school_of[class_id] = school_id
    for school_id in set(plan.school_ids.values()):
        removals = plan.removals_at(school_id)
        removals.classes_total = sum(1 for s in existing.school_of.values() if s == school_id)
    _plan_classes(plan, existing)
    _plan_enrollments(plan, known, existing)


def _plan_classes(plan: ImportPlan, existing: _ExistingClasses) -> None:
    roster = plan.roster
    in_file: set[str] = set()
    new_schools = new_school_ids(plan)
    for record in roster.classes:
        if record.status == "tobedeleted":
            school_id = existing.school(record.sourced_id)
            if school_id is None:
                continue
            if school_id not in plan.allowed_school_ids:
                _outside_scope(plan, record, "class")
                continue
            _remove_class(plan, existing.by_sid[record.sourced_id][0], school_id)
            continue
        in_file.add(record.sourced_id)
        match = existing.by_sid.get(record.sourced_id)
        if match:
            if (match[1], match[2]) != (record.title, record.class_code):
                plan.updated_classes[match[0]] = {
                    "title": record.title,
                    "class_code": record.class_code,
                }
        elif record.school_id in plan.school_ids or record.school_id in new_schools:
            plan.new_classes.append((record.sourced_id, record.school_id, record.title))
        elif "" in plan.school_ids:
            plan.new_classes.append((record.sourced_id, "", record.title))
        else:
            plan.problems.append(
                Problem(
                    "warning",
                    record.file,
                    record.line,
                    "schoolSourcedId",
                    f"Class {record.title!r} is for a school not in this import; skipped.",
                )
            )
    if not (plan.removes_absent and roster.modes.get("classes", "bulk") == "bulk"):
        return
    # A snapshot speaks only for the schools it covers.
    covered = set(plan.school_ids.values())
    for sid, (class_id, _, _) in existing.by_sid.items():
        school_id = existing.school_of[class_id]
        if sid not in in_file and school_id in covered:
            _remove_class(plan, class_id, school_id)


def _remove_class(plan: ImportPlan, class_id: int, school_id: int) -> None:
    if class_id not in plan.removed_classes:
        plan.removed_classes.append(class_id)
        plan.removals_at(school_id).classes += 1


def _plan_enrollments(plan: ImportPlan, known: _Known, existing: _ExistingClasses) -> None:
    roster = plan.roster
    new_class_sids = {sid for sid, _, _ in plan.new_classes}
    in_upload = {c.sourced_id for c in roster.classes}
    wanted: dict[tuple[str, str], tuple[str, bool]] = {}
    dropped: dict[tuple[str, str], Any] = {}
    for record in roster.enrollments:
        key = (record.class_id, record.user_id)
        if record.status == "tobedeleted":
            dropped[key] = record
            continue
        if record.class_id not in existing.by_sid and record.class_id not in new_class_sids:
            if roster.format == "csv" and record.class_id not in in_upload:
                _not_in_keyslip(plan, record, f"Class '{record.class_id}'")
            continue  # otherwise the readers already warned about the dangling class
        if record.user_id not in known.roles:
            earlier = _member_in_keyslip(plan, known, record.user_id)
            if earlier is not None:
                wanted[key] = (earlier, False)
            elif plan.errors and record.user_id in known.in_file:
                plan.held_enrollments += 1
                _held_back(plan, record, f"{record.user_id} in class {record.class_id}")
            elif roster.format == "csv" and record.user_id not in known.in_file:
                _not_in_keyslip(plan, record, f"'{record.user_id}'")
            elif plan.errors:
                plan.held_enrollments += 1
                _held_back(plan, record, f"{record.user_id} in class {record.class_id}")
            continue
        wanted[key] = (record.role, record.primary)
    held = _existing_enrollments(plan, known, existing)
    for key, (role, primary) in wanted.items():
        if key not in held:
            plan.enrollments_add.add((key[0], key[1], role, primary))
    covered = set(plan.school_ids.values())
    for key in held:
        school_id = existing.school(key[0])
        if school_id in covered:
            plan.removals_at(school_id).enrollments_total += 1
    bulk = plan.removes_absent and roster.modes.get("enrollments", "bulk") == "bulk"
    removed = set(plan.removed_classes)
    for key, enrollment_id in held.items():
        school_id = existing.school(key[0])
        if existing.by_sid[key[0]][0] in removed:
            continue  # goes with its class
        if key in dropped:
            if school_id not in plan.allowed_school_ids:
                _outside_scope(plan, dropped[key], "enrollment")
                continue
        elif not (bulk and key not in wanted and school_id in covered):
            continue
        plan.enrollments_remove.append(enrollment_id)
        plan.removals_at(school_id).enrollments += 1


def _member_in_keyslip(plan: ImportPlan, known: _Known, sourced_id: str) -> str | None:
    """Return the class role of someone of this source imported earlier, not in this file."""
    if plan.roster.format != "csv" or sourced_id in known.in_file:
        return None
    row = known.by_sid.get(sourced_id)
    visible = plan.visible_user_ids
    if row is None or (visible is not None and row.id not in visible):
        return None
    if row.role == "student":
        return "student"
    return "teacher" if row.role in ("teacher", "staff", "admin") else None


def _not_in_keyslip(plan: ImportPlan, record: Any, what: str) -> None:
    plan.problems.append(
        Problem(
            "warning",
            record.file,
            record.line,
            None,
            f"{what} is neither in this upload nor in Keyslip (matched by SIS id); the class "
            "place was not added.",
            "dangling-enrollment",
        )
    )


def _existing_enrollments(
    plan: ImportPlan, known: _Known, existing: _ExistingClasses
) -> dict[tuple[str, str], int]:
    """Map (class sourced id, person sourced id) to the enrollment ids of this source."""
    if not existing.by_sid:
        return {}
    class_sid = {class_id: sid for sid, (class_id, _, _) in existing.by_sid.items()}
    rows = (
        db.session.execute(
            select(Enrollment.id, Enrollment.class_id, Enrollment.user_id)
            .join(Class, Class.id == Enrollment.class_id)
            .where(Class.source == plan.options.source)
        )
        .tuples()
        .all()
    )
    # People's sourced ids come from the users already loaded, not from a join
    # that looks every enrolled person up again.
    user_sid = known.sourced_ids()
    others = sorted({user_id for _, _, user_id in rows if user_id not in user_sid})
    user_sid.update(_sourced_ids(others))
    return {
        (class_sid[class_id], user_sid[user_id]): enrollment_id
        for enrollment_id, class_id, user_id in rows
    }


def _held_back(plan: ImportPlan, record: Any, what: str) -> None:
    plan.problems.append(
        Problem(
            "warning",
            record.file,
            record.line,
            None,
            f"Held back: {what}, because a person in it has an error (or is not in the "
            "file). It is added once that row is fixed and imported.",
            "held-back",
        )
    )


def _plan_guardians(plan: ImportPlan, known: _Known) -> None:
    roster = plan.roster
    wanted = set()
    earlier = _students_in_keyslip(plan, known)
    for g in roster.guardians:
        student_known = g.student_id in known.roles or g.student_id in earlier
        if g.parent_id in known.roles and student_known:
            wanted.add((g.parent_id, g.student_id))
            if g.relationship:
                plan.link_relations[(g.parent_id, g.student_id)] = g.relationship[:40]
        elif plan.errors and (g.parent_id not in known.roles or g.student_id in known.in_file):
            plan.held_links += 1
            _held_back(plan, g, f"the link of parent {g.parent_id} to {g.student_id}")
        elif g.parent_id in known.roles:
            plan.problems.append(
                Problem(
                    "warning",
                    g.file,
                    g.line,
                    None,
                    f"Child '{g.student_id}' is neither in this upload nor a student in "
                    "Keyslip (matched by SIS id); no link was made.",
                    "dangling-link",
                )
            )
    existing: dict[tuple[str, str], int] = {}
    # Roster links between two people of this source: known.rows holds exactly those people.
    sids = known.sourced_ids()
    rows = db.session.execute(
        select(GuardianLink.id, GuardianLink.parent_id, GuardianLink.student_id).where(
            GuardianLink.origin == "roster"
        )
    ).tuples()
    for link_id, parent_id, student_id in rows.all():
        if parent_id in sids and student_id in sids:
            existing[(sids[parent_id], sids[student_id])] = link_id
    plan.links_add = wanted - set(existing)
    links_bulk = plan.removes_absent and roster.modes.get("users", "bulk") == "bulk"
    if links_bulk and roster.guardians:
        plan.links_remove = [
            link_id
            for key, link_id in existing.items()
            if key not in wanted and key[0] in known.in_file and key[1] in known.in_file
        ]


def _students_in_keyslip(plan: ImportPlan, known: _Known) -> set[str]:
    """Return the children named by parent rows who are students imported earlier.

    A student of this source matches by sourced id; for a spreadsheet, so does a student
    of the run's schools from another source (its SIS export), when only one matches.
    Others' students (outside the actor's scope) never match.
    """
    missing = {g.student_id for g in plan.roster.guardians if g.student_id not in known.in_file}
    found: set[str] = set()
    visible = plan.visible_user_ids
    for sid in missing:
        row = known.by_sid.get(sid)
        if row is not None and row.role == "student" and (visible is None or row.id in visible):
            known.roles[sid] = row.role
            known.user_ids[sid] = row.id
            found.add(sid)
    # The run's school, else the schools the file names.
    schools = {plan.options.school_id} - {None} or set(plan.school_ids.values())
    others = sorted(missing - found - known.by_sid.keys())
    if not others or plan.roster.format != "csv" or not schools:
        return found
    matches: dict[str, set[int]] = defaultdict(set)
    for chunk in chunks(others):
        rows = db.session.execute(
            select(User.sourced_id, User.id)
            .join(user_schools, user_schools.c.user_id == User.id)
            .where(
                User.sourced_id.in_(chunk),
                User.role == "student",
                User.source != plan.options.source,
                user_schools.c.school_id.in_(schools),
            )
        ).tuples()
        for sid, user_id in rows:
            if visible is None or user_id in visible:
                matches[sid].add(user_id)
    for sid, user_ids in matches.items():
        if len(user_ids) == 1:
            plan.linked_students[sid] = next(iter(user_ids))
            found.add(sid)
    return found


def chunks(items: list, size: int = CHUNK) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
