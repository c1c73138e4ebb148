"""Account overviews for the home pages, and account administration from the CLI."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from time import monotonic

from flask import current_app
from sqlalchemy import ColumnElement, and_, case, func, select

from webapp.extensions import db
from webapp.models import (
    AccountState,
    Class,
    Enrollment,
    Role,
    School,
    User,
    user_schools,
    utcnow,
)
from webapp.services import audit, passwords, scope
from webapp.services.errors import PolicyError

STATE_SQL = case(
    (User.deactivated_at.is_not(None), AccountState.DEACTIVATED.value),
    (User.activated_at.is_not(None), AccountState.ACTIVE.value),
    (User.invited_at.is_not(None), AccountState.INVITED.value),
    else_=AccountState.NOT_SENT.value,
)


def in_state(state: AccountState) -> ColumnElement[bool]:
    """People in this state, said with the columns themselves (as STATE_SQL decides it), so
    the index on role and the three dates can answer it."""
    deactivated, activated, invited = User.deactivated_at, User.activated_at, User.invited_at
    if state is AccountState.DEACTIVATED:
        return deactivated.is_not(None)
    if state is AccountState.ACTIVE:
        return and_(deactivated.is_(None), activated.is_not(None))
    if state is AccountState.INVITED:
        return and_(deactivated.is_(None), activated.is_(None), invited.is_not(None))
    return and_(deactivated.is_(None), activated.is_(None), invited.is_(None))


@dataclass
class SchoolCounts:
    school: School | None
    # counts[role][state] -> number of people
    counts: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    taken: float = 0.0  # monotonic() when counted
    counted_at: datetime = field(default_factory=utcnow)  # for the page

    def total(self, role: str) -> int:
        return sum(self.counts.get(role, {}).values())


def school_counts(actor: User) -> list[SchoolCounts]:
    """Count the actor's schools' users by role and account state.

    Counting 50,000 people on every view of the console is what keeps it slow, so each
    school's counts are kept for CONSOLE_COUNTS_SECONDS (per process) and only stale
    schools are counted again; the page says when the counts were taken.
    """
    schools = db.session.scalars(scope.visible_schools(actor)).all()
    kept: dict[int, SchoolCounts] = current_app.extensions.setdefault("keyslip_counts", {})
    now = monotonic()
    fresh = now - current_app.config["CONSOLE_COUNTS_SECONDS"]
    stale = [s.id for s in schools if s.id not in kept or kept[s.id].taken < fresh]
    if stale:
        counted = {school_id: SchoolCounts(None, taken=now) for school_id in stale}
        rows = db.session.execute(
            select(user_schools.c.school_id, User.role, STATE_SQL, func.count())
            .join(User, User.id == user_schools.c.user_id)
            .where(user_schools.c.school_id.in_(stale))
            .group_by(user_schools.c.school_id, User.role, STATE_SQL)
        )
        for school_id, role, state, count in rows:
            counted[school_id].counts[role][state] = count
        kept.update(counted)
    return [replace(kept[school.id], school=school) for school in schools]


@dataclass(frozen=True)
class ClassSummary:
    klass: Class
    students: int
    active: int


def teacher_class_summaries(actor: User) -> list[ClassSummary]:
    classes = db.session.scalars(scope.teacher_classes(actor)).all()
    if not classes:
        return []
    rows = db.session.execute(
        select(Enrollment.class_id, func.count(), func.count(User.activated_at))
        .join(User, User.id == Enrollment.user_id)
        .where(Enrollment.class_id.in_([c.id for c in classes]), Enrollment.role == "student")
        .group_by(Enrollment.class_id)
    )
    counts = {class_id: (students, active) for class_id, students, active in rows}
    return [ClassSummary(c, *counts.get(c.id, (0, 0))) for c in classes]


def create_admin(username: str, email: str, password: str, *, district_wide: bool = True) -> User:
    """Create an active admin account for a real deployment; the caller commits."""
    username = username.strip().lower()
    if db.session.scalar(select(User).where(User.username == username)):
        raise PolicyError([f"The username {username!r} is taken."])
    user = User(
        username=username,
        email=email.strip().lower() or None,
        given_name=username,
        family_name="",
        role=Role.ADMIN,
        district_wide=district_wide,
    )
    passwords.check_policy(password, user)
    user.password_hash = passwords.hash_password(password)
    db.session.add(user)
    user.activated_at = utcnow()
    db.session.flush()
    audit.record(audit.CLI, "admin_created", user)
    return user


@dataclass(frozen=True)
class Week:
    starts: date
    activated: int


def activations_by_week(actor: User, weeks: int = 8, today: date | None = None) -> list[Week]:
    """How many of the actor's people (admins aside) first signed in, week by week, each
    week starting on a Monday. Kept for CONSOLE_COUNTS_SECONDS per scope, as the counts are:
    a district rolling out reads tens of thousands of first sign-ins here."""
    today = today or utcnow().date()
    key = (actor.district_wide, tuple(scope.visible_school_ids(actor)), weeks, today)
    kept: dict[tuple, tuple[float, list[Week]]] = current_app.extensions.setdefault(
        "keyslip_activations", {}
    )
    now = monotonic()
    if key in kept and kept[key][0] >= now - current_app.config["CONSOLE_COUNTS_SECONDS"]:
        return kept[key][1]
    counted = _count_activations(actor, weeks, today)
    if len(kept) > 1000:  # yesterday's charts and old scopes: never read again
        kept.clear()
    kept[key] = (now, counted)
    return counted


def _count_activations(actor: User, weeks: int, today: date) -> list[Week]:
    """Grouped by day in the database, so a few dozen rows come back however many people."""
    first = today - timedelta(days=today.weekday() + 7 * (weeks - 1))
    starts = [first + timedelta(weeks=n) for n in range(weeks)]
    day = func.date(User.activated_at)
    per_day = db.session.execute(
        scope.visible_users(actor)
        .with_only_columns(day, func.count())
        .where(
            User.role != Role.ADMIN,
            User.activated_at >= datetime.combine(first, time(), UTC),
        )
        .group_by(day)
    )
    counts = [0] * weeks
    for when, count in per_day:  # at most 7 x weeks rows, however many people
        when = when if isinstance(when, date) else date.fromisoformat(when)
        counts[min((when - first).days // 7, weeks - 1)] += count
    return [Week(start, count) for start, count in zip(starts, counts, strict=True)]
