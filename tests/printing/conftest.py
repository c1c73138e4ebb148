"""Printing fixtures: a school with students to print for, and PDF text helpers."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import pytest
from pypdf import PdfReader

from tests.factories import make_class, make_school, make_user
from webapp.delivery import batches
from webapp.extensions import db
from webapp.models import Role, User

# What a paper-saver slip reads as, once extracted: name, address, username, password.
SAVER_SLIP = re.compile(
    r"(?P<name>[^\n]+)\nSign in at \S+\nUsername (?P<username>\S+)\nPassword (?P<password>\S+)"
)
SINGLE_SLIP = re.compile(
    r"For (?P<name>[^\n]+)\n.*?Username\s*(?P<username>\S+)\nPassword\s*(?P<password>\S+)",
    re.S,
)
HOSTILE_NAMES = [
    ("Zoë", "O'Brien-Núñez"),
    ("محمد", "الأحمد"),
    ("小明", "王"),
    ("<b>x</b>", "Bold"),
    ("<img src=file:///etc/passwd>", "Img"),
]


def pdf_pages(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def slips_in(pdf: bytes, pattern: re.Pattern = SAVER_SLIP) -> list[dict[str, str]]:
    return [m.groupdict() for page in pdf_pages(pdf) for m in pattern.finditer(page)]


@dataclass
class Office:
    school_id: int
    admin_id: int
    student_ids: list[int]
    class_id: int


def make_office(app, students: int = 3, *, names=None, grade: str = "05") -> Office:
    """A school, its admin, and never-invited students with no email (so they need print)."""
    with app.app_context():
        school = make_school("Maple Grove Elementary")
        admin = make_user(Role.ADMIN, school=school, username="office.admin")
        ids = []
        for n in range(students):
            given, family = names[n] if names else (f"Pupil{n}", f"Family{n}")
            user = make_user(
                Role.STUDENT,
                school=school,
                password=None,
                grade=grade,
                given_name=given,
                family_name=family,
                username=f"pupil{n}",
            )
            ids.append(user.id)
        klass = make_class(school, students=[db.session.get(User, i) for i in ids], title="5B")
        db.session.commit()
        return Office(school.id, admin.id, ids, klass.id)


def awaiting_batch(app, office: Office, kind: str = "password", channel: str = "email") -> int:
    """A batch left awaiting_print: nobody in it has an address on the channel."""
    with app.app_context():
        actor = db.session.get(User, office.admin_id)
        batch = batches.send_credentials(office.student_ids, kind, channel, {}, actor)
        db.session.commit()
        assert batch.status == "awaiting_print"
        return batch.id


def make_outsider(app, office: Office, who: str) -> None:
    """Add "teacher" (a teacher at the office's school) or "other.admin" (another school's)."""
    with app.app_context():
        if who == "teacher":
            school = db.session.get(User, office.admin_id).schools[0]
            make_user(Role.TEACHER, school=school, username="teacher")
        else:
            make_user(Role.ADMIN, school=make_school(), username="other.admin")
        db.session.commit()


@pytest.fixture
def office(app) -> Office:
    return make_office(app)
