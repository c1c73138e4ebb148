"""Who may see whom. Every permission-aware query in Keyslip starts here.

An admin sees the users of their schools (all schools when district-wide); a teacher sees the
students enrolled in their own classes; a parent sees their linked children; everyone sees
themself. Checks run at the moment of the action, so a roster change takes effect at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Select, select

from webapp.extensions import db
from webapp.models import Class, Enrollment, GuardianLink, Role, School, User, user_schools
from webapp.services.errors import NotAllowed


def visible_schools(actor: User) -> Select[tuple[School]]:
    query = select(School).order_by(School.name)
    if actor.role == Role.ADMIN and actor.district_wide:
        return query
    return query.join(user_schools, user_schools.c.school_id == School.id).where(
        user_schools.c.user_id == actor.id
    )


def visible_school_ids(actor: User) -> list[int]:
    return list(db.session.scalars(visible_schools(actor).with_only_columns(School.id)))


def teacher_classes(actor: User) -> Select[tuple[Class]]:
    return (
        select(Class)
        .join(Enrollment, Enrollment.class_id == Class.id)
        .where(Enrollment.user_id == actor.id, Enrollment.role == "teacher")
        .order_by(Class.title)
    )


def visible_users(actor: User) -> Select[tuple[User]]:
    """Select the users this actor may see (deactivated ones included)."""
    query = select(User)
    if actor.role == Role.ADMIN:
        if actor.district_wide:
            return query
        school_ids = select(user_schools.c.school_id).where(user_schools.c.user_id == actor.id)
        members = select(user_schools.c.user_id).where(user_schools.c.school_id.in_(school_ids))
        return query.where(User.id.in_(members))
    if actor.role == Role.TEACHER:
        own_classes = select(Enrollment.class_id).where(
            Enrollment.user_id == actor.id, Enrollment.role == "teacher"
        )
        students = select(Enrollment.user_id).where(
            Enrollment.class_id.in_(own_classes), Enrollment.role == "student"
        )
        return query.where((User.id == actor.id) | User.id.in_(students))
    if actor.role == Role.PARENT:
        children = select(GuardianLink.student_id).where(GuardianLink.parent_id == actor.id)
        return query.where((User.id == actor.id) | User.id.in_(children))
    return query.where(User.id == actor.id)


def require_users(actor: User, user_ids: Iterable[int]) -> list[User]:
    """Load users by id, refusing the whole request if any is outside the actor's scope."""
    wanted = sorted(set(user_ids))
    if not wanted:
        return []
    found = db.session.scalars(visible_users(actor).where(User.id.in_(wanted))).all()
    if len(found) != len(wanted):
        missing = sorted(set(wanted) - {user.id for user in found})
        raise NotAllowed("user outside scope", "user", missing[0])
    by_id = {user.id: user for user in found}
    return [by_id[user_id] for user_id in wanted]


def require_user_ids(actor: User, user_ids: Iterable[int], chunk: int = 5000) -> list[int]:
    """Check ids without loading the users; refuse them all if any is outside the scope.

    For jobs over thousands of accounts (an import's new people), where ORM objects would
    cost more than the work. Returns the ids sorted.
    """
    wanted = sorted(set(user_ids))
    for start in range(0, len(wanted), chunk):
        part = wanted[start : start + chunk]
        found = set(
            db.session.scalars(
                visible_users(actor).with_only_columns(User.id).where(User.id.in_(part))
            )
        )
        if len(found) != len(part):
            missing = sorted(set(part) - found)
            raise NotAllowed("user outside scope", "user", missing[0])
    return wanted


def visible_ids(actor: User, user_ids: Iterable[int]) -> set[int]:
    """Which of these users the actor may see (no refusal: for pages that only count the rest)."""
    wanted = set(user_ids)
    if not wanted:
        return set()
    query = visible_users(actor).with_only_columns(User.id).where(User.id.in_(wanted))
    return set(db.session.scalars(query))


def require_user(actor: User, user_id: int) -> User:
    return require_users(actor, [user_id])[0]


def require_class(actor: User, class_id: int) -> Class:
    """Load a class the actor teaches (or administers), or refuse."""
    if actor.role == Role.ADMIN:
        query = select(Class).where(Class.id == class_id)
        if not actor.district_wide:
            query = query.where(Class.school_id.in_(visible_school_ids(actor)))
    elif actor.role == Role.TEACHER:
        query = teacher_classes(actor).where(Class.id == class_id)
    else:
        raise NotAllowed("class outside scope", "class", class_id)
    found = db.session.scalar(query)
    if found is None:
        raise NotAllowed("class outside scope", "class", class_id)
    return found


def class_students(klass: Class) -> Sequence[User]:
    return db.session.scalars(
        select(User)
        .join(Enrollment, Enrollment.user_id == User.id)
        .where(Enrollment.class_id == klass.id, Enrollment.role == "student")
        .order_by(User.family_name, User.given_name)
    ).all()


def linked_children(parent: User) -> Sequence[User]:
    return db.session.scalars(
        select(User)
        .join(GuardianLink, GuardianLink.student_id == User.id)
        .where(GuardianLink.parent_id == parent.id)
        .order_by(User.given_name)
    ).all()


def guardians(student: User) -> Sequence[User]:
    return db.session.scalars(
        select(User)
        .join(GuardianLink, GuardianLink.parent_id == User.id)
        .where(GuardianLink.student_id == student.id)
        .order_by(User.family_name, User.given_name)
    ).all()
