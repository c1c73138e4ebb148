"""Family fixtures: a school with a class, a student with a parent code, and helpers."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from tests.factories import make_class, make_school, make_user
from webapp.delivery import codes
from webapp.extensions import db
from webapp.models import AuditEvent, Role
from webapp.services import audit

PARENT_PASSWORD = "blue kites over the harbour"


@dataclass
class Family:
    school_id: int
    student_id: int
    code: str  # formatted XXXX-XXXX-XXXX


@pytest.fixture
def family(app) -> Family:
    return make_family(app)


def make_family(app) -> Family:
    """A school, its Grade 4 homeroom and teacher, and Ava with a fresh parent code."""
    with app.app_context():
        school = make_school("Maple Grove Elementary")
        teacher = make_user(
            Role.TEACHER, school=school, given_name="Valerie", family_name="Frizzle"
        )
        student = make_user(
            Role.STUDENT,
            school=school,
            username="ava.lopez",
            given_name="Ava",
            family_name="Lopez",
            grade="04",
        )
        make_class(school, teacher=teacher, students=[student], title="Grade 4 Homeroom")
        issued = codes.issue_parent_code(student, actor=audit.SYSTEM)
        db.session.commit()
        return Family(school.id, student.id, issued.formatted)


def actions(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def strip_tokens(html: str) -> str:
    """Drop the per-render CSRF tokens, so two pages can be compared byte for byte."""
    html = re.sub(r'"X-CSRFToken": "[^"]+"', "", html)
    return re.sub(r'name="csrf_token" type="hidden" value="[^"]+"', "", html)
