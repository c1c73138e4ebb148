"""Admin page fixtures: two schools, their admins, a district admin and a teacher."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.factories import make_school, make_user
from webapp.extensions import db
from webapp.models import Role


@dataclass
class World:
    school_a: int
    school_b: int


@pytest.fixture
def world(app) -> World:
    with app.app_context():
        a, b = make_school("Alpha School"), make_school("Beta School")
        make_user(Role.ADMIN, school=a, username="admin.a", email="admin.a@example.org")
        make_user(Role.ADMIN, school=b, username="admin.b")
        make_user(Role.ADMIN, username="district", district_wide=True)
        make_user(Role.TEACHER, school=a, username="teach.a")
        db.session.commit()
        return World(a.id, b.id)
