"""Plain functions that add, flush and return test objects. Call inside an app context."""

from __future__ import annotations

import itertools
from datetime import datetime

from webapp.extensions import db
from webapp.models import Class, Enrollment, GuardianLink, Role, School, User, utcnow
from webapp.services import passwords

_counter = itertools.count(1)
PASSWORD = "a-long-test-password-42"


def make_school(name: str | None = None) -> School:
    school = School(name=name or f"School {next(_counter)}")
    db.session.add(school)
    db.session.flush()
    return school


def make_user(
    role: Role | str = Role.STUDENT,
    *,
    school: School | None = None,
    schools: list[School] | None = None,
    username: str | None = None,
    password: str | None = PASSWORD,
    activated: bool = True,
    activated_at: datetime | None = None,
    **fields,
) -> User:
    n = next(_counter)
    user = User(
        role=role,
        username=username or f"{role}{n}",
        given_name=fields.pop("given_name", f"Given{n}"),
        family_name=fields.pop("family_name", f"Family{n}"),
        **fields,
    )
    user.schools = schools if schools is not None else ([school] if school else [])
    if password is not None:
        user.password_hash = passwords.hash_password(password)
        user.invited_at = utcnow()
        if activated:
            user.activated_at = activated_at or utcnow()
    db.session.add(user)
    db.session.flush()
    return user


def make_class(
    school: School, *, teacher: User | None = None, students: list[User] = (), title: str = ""
) -> Class:
    klass = Class(school_id=school.id, title=title or f"Class {next(_counter)}")
    db.session.add(klass)
    db.session.flush()
    if teacher:
        db.session.add(Enrollment(class_id=klass.id, user_id=teacher.id, role="teacher"))
    for student in students:
        db.session.add(Enrollment(class_id=klass.id, user_id=student.id, role="student"))
    db.session.flush()
    return klass


def link_guardian(parent: User, student: User, origin: str = "roster") -> GuardianLink:
    link = GuardianLink(parent_id=parent.id, student_id=student.id, origin=origin)
    db.session.add(link)
    db.session.flush()
    return link
