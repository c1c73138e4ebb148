"""Parent letters: one page per child with the parent code, its expiry and how to register.

For a class, a grade of a school, or a whole school. A child who already has a live parent
code keeps it (a code sent earlier by email still works) and the letter shows it again; a
child without one gets a new code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from flask import current_app, render_template
from sqlalchemy import select

from webapp.delivery import codes
from webapp.delivery.messages import clean_line
from webapp.extensions import db
from webapp.models import Role, School, User, user_schools, utcnow
from webapp.printing import render
from webapp.printing.paper import SHEETS, PaperSize, paper_for_school
from webapp.services import audit, scope, settings
from webapp.services.errors import NotAllowed, PolicyError


@dataclass(frozen=True)
class Letter:
    school: str
    child_name: str
    code: str  # formatted XXXX-XXXX-XXXX
    expires_at: datetime  # on the school's clock (an aware time)


@dataclass(frozen=True)
class Selection:
    """Whose parents get letters: a class, a grade of a school, or a school."""

    school: School
    students: list[User]
    label: str  # for the file name and the audit row: "class-12", "grade-05", "school-3"


def make_letter(school: str, child: User, code: str, expires_at: datetime) -> Letter:
    return Letter(clean_line(school, 120), clean_line(child.display_name, 120), code, expires_at)


def select_students(
    actor: User,
    *,
    school_id: int | None = None,
    class_id: int | None = None,
    grade: str | None = None,
) -> Selection:
    """Resolve the choice to the active students in it, within the admin's schools."""
    if class_id is not None:
        klass = scope.require_class(actor, class_id)
        students = [s for s in scope.class_students(klass) if s.deactivated_at is None]
        return Selection(klass.school, students, f"class-{klass.id}")
    if school_id is None:
        raise PolicyError(["Choose a school, a class, or a grade and its school."])
    if actor.role != Role.ADMIN or school_id not in scope.visible_school_ids(actor):
        raise NotAllowed("school outside scope", "school", school_id)
    school = db.session.get(School, school_id)
    query = (
        select(User)
        .join(user_schools, user_schools.c.user_id == User.id)
        .where(
            user_schools.c.school_id == school_id,
            User.role == Role.STUDENT,
            User.deactivated_at.is_(None),
        )
        .order_by(User.family_name, User.given_name, User.id)
    )
    label = f"school-{school_id}"
    if grade:
        grade = grade.strip().upper()
        query = query.where(User.grade == grade)
        label = f"grade-{grade}"
    return Selection(school, list(db.session.scalars(query)), label)


def letters_for(selection: Selection, actor: User, *, now: datetime | None = None) -> list[Letter]:
    """Return a letter per student, issuing codes to those without a live one; caller commits."""
    now = now or utcnow()
    zone = settings.zone(selection.school)
    letters = []
    for student in selection.students:
        live = codes.live_parent_code(student, now=now)
        shown = codes.show_parent_code(student.id, actor=actor) if live else None
        if live is None or shown is None:
            issued = codes.issue_parent_code(student, actor=actor, now=now)
            shown, expires_at = issued.formatted, issued.expires_at
        else:
            expires_at = live.expires_at
        local = expires_at.astimezone(zone)
        letters.append(make_letter(selection.school.name, student, shown, local))
    return letters


def print_letters(
    actor: User,
    *,
    school_id: int | None = None,
    class_id: int | None = None,
    grade: str | None = None,
    now: datetime | None = None,
) -> tuple[Selection, bytes]:
    """Issue (or reuse) parent codes for a selection and render their letters; caller commits."""
    selection = select_students(actor, school_id=school_id, class_id=class_id, grade=grade)
    if not selection.students:
        raise PolicyError(["Nobody to print for: there are no active students in that choice."])
    letters = letters_for(selection, actor, now=now)
    pdf = render_letters(letters, paper_for_school(selection.school.id))
    audit.record(
        actor, "letters_printed", selection.school, selection=selection.label, count=len(letters)
    )
    return selection, pdf


def letter_chunks(letters: Sequence[Letter], paper: PaperSize) -> list[str]:
    """Return the letters as HTML documents of PRINT_CHUNK_PAGES pages each."""
    per_chunk = current_app.config["PRINT_CHUNK_PAGES"]
    register_url = current_app.config["BASE_URL"].rstrip("/") + "/"
    return [
        render_template(
            "print/pdf_letters.html",
            letters=letters[start : start + per_chunk],
            sheet=SHEETS[paper],
            register_url=register_url,
        )
        for start in range(0, len(letters), per_chunk)
    ]


def render_letters(
    letters: Sequence[Letter],
    paper: PaperSize,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> bytes:
    """Render parent letters, one a page, to one PDF."""
    if not letters:
        raise ValueError("no letters to print")
    chunks = letter_chunks(letters, paper)
    return render.render_chunks(chunks, current_app.static_folder, progress=progress)
