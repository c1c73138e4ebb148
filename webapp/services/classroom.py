"""A teacher's class: its roster, and what a teacher may do for the students in it.

Every action checks, at the moment it runs, that the actor teaches the class and that each
student is enrolled in it now (DESIGN.md: a student moved out by an import is out at once).
Anything else is NotAllowed: a 404 that changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select

from webapp.delivery import codes
from webapp.delivery.temp_passwords import IssuedPassword, issue_temporary_passwords
from webapp.extensions import db
from webapp.models import AccountState, Class, Enrollment, GuardianLink, User
from webapp.printing import badges, slips
from webapp.printing.paper import PaperSize, paper_for_school
from webapp.printing.slips import SlipOptions
from webapp.services import audit, scope, settings
from webapp.services.errors import NotAllowed


@dataclass(frozen=True)
class ClassRoster:
    klass: Class
    students: list[User]
    parents: dict[int, int]  # student id -> linked parents
    total: int  # students in the class, whatever the filter


def roster(actor: User, class_id: int, state: AccountState | None = None) -> ClassRoster:
    """The class's students (optionally in one account state) with their parent counts."""
    klass = scope.require_class(actor, class_id)
    students = list(scope.class_students(klass))
    ids = [s.id for s in students]
    parents = dict(
        db.session.execute(
            select(GuardianLink.student_id, func.count())
            .where(GuardianLink.student_id.in_(ids))
            .group_by(GuardianLink.student_id)
        ).all()
    ) if ids else {}  # fmt: skip
    shown = [s for s in students if state is None or s.state is state]
    return ClassRoster(klass, shown, parents, len(students))


def require_students(actor: User, class_id: int, student_ids: Sequence[int]) -> list[User]:
    """The class's students with these ids; refuse them all if any is not enrolled now."""
    klass = scope.require_class(actor, class_id)
    wanted = sorted(set(student_ids))
    enrolled = db.session.scalars(
        select(User)
        .join(Enrollment, Enrollment.user_id == User.id)
        .where(
            Enrollment.class_id == klass.id,
            Enrollment.role == "student",
            User.id.in_(wanted),
            User.deactivated_at.is_(None),
        )
        .order_by(User.family_name, User.given_name)
    ).all()
    if not wanted or len(enrolled) != len(wanted):
        missing = sorted(set(wanted) - {s.id for s in enrolled}) or [None]
        raise NotAllowed("student not in the teacher's class", "user", missing[0])
    return list(enrolled)


def reset_passwords(actor: User, class_id: int, student_ids: Sequence[int]) -> list[IssuedPassword]:
    """New temporary passwords for these students of the class; the caller commits.

    Young students get kind word passwords (by grade, from the school's settings). Each
    reset rotates the student's epoch and is audited by the temporary-password service.
    """
    students = require_students(actor, class_id, student_ids)
    return issue_temporary_passwords(students, actor)


def make_missing_parent_codes(actor: User, class_id: int) -> int:
    """Give every student of the class without a live parent code a new one; audited."""
    klass = scope.require_class(actor, class_id)
    students = [s for s in scope.class_students(klass) if s.deactivated_at is None]
    live = codes.live_parent_codes([s.id for s in students])
    made = 0
    for student in students:
        if student.id not in live:
            codes.issue_parent_code(student, actor=actor)
            made += 1
    audit.record(actor, "class_parent_codes_made", klass, count=made)
    return made


def print_reset_slips(
    actor: User,
    class_id: int,
    student_ids: Sequence[int],
    options: SlipOptions,
    *,
    with_badges: bool = False,
) -> bytes:
    """Reset these students' passwords and render their slips, in one action (a temporary
    password exists only now); all or nothing: the caller commits only once the PDF exists.

    with_badges adds a QR sign-in badge to the slips of students whose grade may have one
    (reprinting voids their old badge).
    """
    klass = scope.require_class(actor, class_id)
    students = require_students(actor, class_id, student_ids)
    issued = issue_temporary_passwords(students, actor)
    names = {s.id: s.display_name for s in students}
    qr = {}
    if with_badges:
        cache: dict = {}
        urls = badges.issue([s for s in students if badges.allowed(s, cache)], actor)
        qr = {student_id: badges.qr_png(url) for student_id, url in urls.items()}
    school, zone = klass.school.name, settings.zone(klass.school)
    made = [
        slips.make_slip(
            school,
            names[i.user_id],
            i.username,
            i.password,
            i.expires_at.astimezone(zone),
            qr.get(i.user_id),
        )
        for i in issued
    ]
    pdf = slips.render_slips(made, options)
    audit.record(
        actor, "class_slips_printed", klass, count=len(made), layout=options.layout, badges=len(qr)
    )
    return pdf


def active_student_ids(actor: User, class_id: int) -> list[int]:
    klass = scope.require_class(actor, class_id)
    return [s.id for s in scope.class_students(klass) if s.deactivated_at is None]


def paper_for(actor: User, class_id: int) -> PaperSize:
    """The paper the class's school prints on."""
    return paper_for_school(scope.require_class(actor, class_id).school_id)
