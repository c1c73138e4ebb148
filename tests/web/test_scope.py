"""Roles and scope: pages outside the actor's reach answer 404, change nothing, and are audited."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from tests.factories import PASSWORD, link_guardian, make_class, make_school, make_user
from webapp.extensions import db
from webapp.models import AuditEvent, Enrollment, Role, User
from webapp.services import scope
from webapp.services.errors import NotAllowed


@dataclass
class World:
    school_a: int
    school_b: int
    district_admin: int
    admin_a: int
    teacher_a: int
    teacher_b: int
    student_a: int
    student_b: int
    parent_a: int
    class_a: int
    class_b: int


@pytest.fixture
def world(app) -> World:
    with app.app_context():
        a, b = make_school("Alpha School"), make_school("Beta School")
        student_a = make_user(Role.STUDENT, school=a, username="stu.a")
        student_b = make_user(Role.STUDENT, school=b, username="stu.b")
        teacher_a = make_user(Role.TEACHER, school=a, username="teach.a")
        teacher_b = make_user(Role.TEACHER, school=b, username="teach.b")
        class_a = make_class(a, teacher=teacher_a, students=[student_a])
        class_b = make_class(b, teacher=teacher_b, students=[student_b])
        parent_a = make_user(Role.PARENT, schools=[a], username="par.a")
        link_guardian(parent_a, student_a)
        w = World(
            a.id, b.id,
            make_user(Role.ADMIN, username="district", district_wide=True).id,
            make_user(Role.ADMIN, school=a, username="admin.a").id,
            teacher_a.id, teacher_b.id, student_a.id, student_b.id, parent_a.id,
            class_a.id, class_b.id,
        )  # fmt: skip
        db.session.commit()
        return w


def denials(app) -> int:
    with app.app_context():
        return len(
            db.session.scalars(select(AuditEvent).where(AuditEvent.action == "authz_denied")).all()
        )


def test_teacher_gets_404_on_admin_pages(app, client, world):
    client.sign_in("teach.a", PASSWORD)
    assert client.get("/admin/").status_code == 404
    assert client.get(f"/admin/users/{world.student_a}").status_code == 404
    assert denials(app) == 2


def test_school_admin_gets_404_for_another_schools_user(app, client, world):
    client.sign_in("admin.a", PASSWORD)
    assert client.get(f"/admin/users/{world.student_a}").status_code == 200
    response = client.get(f"/admin/users/{world.student_b}")
    assert response.status_code == 404
    assert "stu.b" not in response.get_data(as_text=True)
    with app.app_context():
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "authz_denied")
        ).one()
        assert event.details["object_id"] == world.student_b
        assert event.ip == "127.0.0.1" and event.request_id


def test_404_for_a_foreign_user_looks_like_404_for_a_missing_one(client, world):
    client.sign_in("admin.a", PASSWORD)
    foreign = client.get(f"/admin/users/{world.student_b}")
    missing = client.get("/admin/users/999999")
    assert foreign.status_code == missing.status_code == 404
    # Byte for byte, but for the CSRF token: it carries the second it was signed in.
    assert _without_csrf(foreign.get_data(as_text=True)) == _without_csrf(
        missing.get_data(as_text=True)
    )


def _without_csrf(page: str) -> str:
    page = re.sub(r'"X-CSRFToken": "[^"]+"', '"X-CSRFToken": ""', page)
    return re.sub(r'name="csrf_token" value="[^"]+"', 'name="csrf_token" value=""', page)


def test_district_admin_sees_every_school(app, client, world):
    client.sign_in("district", PASSWORD)
    page = client.get("/admin/").get_data(as_text=True)
    assert "Alpha School" in page and "Beta School" in page
    assert client.get(f"/admin/users/{world.student_b}").status_code == 200


def test_school_admin_console_shows_only_their_school(client, world):
    client.sign_in("admin.a", PASSWORD)
    page = client.get("/admin/").get_data(as_text=True)
    assert "Alpha School" in page and "Beta School" not in page


def test_teacher_sees_own_class_and_gets_404_for_another(app, client, world):
    client.sign_in("teach.a", PASSWORD)
    assert "stu.a" in client.get(f"/teacher/classes/{world.class_a}").get_data(as_text=True)
    assert client.get(f"/teacher/classes/{world.class_b}").status_code == 404


def test_student_moved_out_of_class_leaves_teacher_scope_at_once(app, world):
    with app.app_context():
        teacher = db.session.get(User, world.teacher_a)
        assert scope.require_user(teacher, world.student_a)
        db.session.execute(
            Enrollment.__table__.delete().where(Enrollment.user_id == world.student_a)
        )
        with pytest.raises(NotAllowed):
            scope.require_user(teacher, world.student_a)


def test_mixed_allowed_and_foreign_ids_are_refused_whole(app, world):
    with app.app_context():
        admin = db.session.get(User, world.admin_a)
        with pytest.raises(NotAllowed):
            scope.require_users(admin, [world.student_a, world.student_b])


def test_parent_sees_only_linked_children(app, client, world):
    client.sign_in("par.a", PASSWORD)
    page = client.get("/parent").get_data(as_text=True)
    assert "stu.a" in page and "stu.b" not in page
    with app.app_context():
        parent = db.session.get(User, world.parent_a)
        assert [u.id for u in scope.linked_children(parent)] == [world.student_a]
        with pytest.raises(NotAllowed):
            scope.require_user(parent, world.student_b)


def test_student_sees_only_themself(app, world):
    with app.app_context():
        student = db.session.get(User, world.student_a)
        assert scope.require_user(student, world.student_a).id == world.student_a
        with pytest.raises(NotAllowed):
            scope.require_user(student, world.parent_a)


@pytest.mark.parametrize(
    ("username", "home"),
    [
        ("district", "/admin/"),
        ("teach.a", "/teacher/"),
        ("par.a", "/parent"),
        ("stu.a", "/account"),
    ],
)
def test_each_role_lands_on_its_home(client, world, username, home):
    assert client.sign_in(username, PASSWORD).headers["Location"] == home
    assert client.get(home).status_code == 200


def test_anonymous_gets_sign_in_redirect_and_htmx_gets_401(client, world):
    response = client.get("/admin/")
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]
    response = client.get("/admin/", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/sign-in"
