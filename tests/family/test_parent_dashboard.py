"""The parent dashboard: each linked child with school, classes, teachers, state and PIN."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.factories import PASSWORD, link_guardian, make_school, make_user
from tests.family.conftest import actions
from webapp.delivery import codes
from webapp.extensions import db
from webapp.family import parents
from webapp.models import Role, StudentPin, User
from webapp.services.errors import PolicyError


@pytest.fixture
def parent_id(app, family) -> int:
    with app.app_context():
        parent = make_user(Role.PARENT, username="pat.parent", email="pat@home.example")
        link_guardian(parent, db.session.get(User, family.student_id))
        db.session.commit()
        return parent.id


def _pin_on(page: str) -> str:
    return re.search(r'class="code-display"[^>]*><code>([A-Z0-9-]+)</code>', page).group(1)


def test_the_dashboard_shows_school_grade_classes_teachers_state_and_pin(
    app, client, family, parent_id
):
    client.sign_in("pat.parent", PASSWORD)
    response = client.get("/parent")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    for text in ("Ava Lopez", "Maple Grove Elementary", "Grade 4", "Grade 4 Homeroom"):
        assert text in page
    assert "Valerie Frizzle" in page and "Active" in page
    assert "Help my child sign in" in page
    pin = _pin_on(page)
    with app.app_context():
        student = db.session.get(User, family.student_id)
        assert codes.check_student_pin(student, pin)
    # The PIN a child got on the first view is the one shown again.
    assert _pin_on(client.get("/parent").get_data(as_text=True)) == pin
    assert actions(app).count("student_pin_viewed") >= 1


def test_a_pin_that_exists_is_shown_not_replaced(app, client, family, parent_id):
    with app.app_context():
        pin = codes.issue_student_pin(
            db.session.get(User, family.student_id), actor=db.session.get(User, parent_id)
        )
        db.session.commit()
    client.sign_in("pat.parent", PASSWORD)
    assert _pin_on(client.get("/parent").get_data(as_text=True)) == codes.display(pin)


def test_a_parent_sees_only_linked_children(app, client, family, parent_id):
    with app.app_context():
        make_user(Role.STUDENT, school=make_school(), given_name="Zed", family_name="Stranger")
        db.session.commit()
    client.sign_in("pat.parent", PASSWORD)
    page = client.get("/parent").get_data(as_text=True)
    assert "Zed Stranger" not in page
    with app.app_context():
        assert db.session.scalar(select(StudentPin.student_id)) == family.student_id


def test_several_children_across_schools_are_all_shown(app, client, family, parent_id):
    with app.app_context():
        parent = db.session.get(User, parent_id)
        for name, school in (("Leo", "Riverside High School"), ("Mia", "Oak Hill Middle")):
            child = make_user(Role.STUDENT, school=make_school(school), given_name=name)
            link_guardian(parent, child)
        db.session.commit()
    client.sign_in("pat.parent", PASSWORD)
    page = client.get("/parent").get_data(as_text=True)
    for text in ("Ava Lopez", "Leo ", "Mia ", "Riverside High School", "Oak Hill Middle"):
        assert text in page
    assert len(re.findall(r'class="code-display"', page)) == 3


def test_only_parents_reach_the_dashboard(app, client, family):
    client.sign_in("ava.lopez", PASSWORD)
    assert client.get("/parent").status_code == 404


# --- own email and phone -------------------------------------------------------------------


def _save(client, headers=None, **data):
    fields = {"email": "pat@home.example", "phone": "", "current_password": PASSWORD, **data}
    return client.post_form("/parent/contact", fields, token_from="/parent", headers=headers)


def test_a_parent_saves_email_and_phone_in_e164(app, client, parent_id):
    client.sign_in("pat.parent", PASSWORD)
    response = _save(client, email="Pat.New@Home.Example", phone="(512) 555-0123")
    assert response.status_code == 303
    with app.app_context():
        parent = db.session.get(User, parent_id)
        assert parent.email == "pat.new@home.example"
        assert parent.phone == "+15125550123"
    assert "contact_changed" in actions(app)
    assert client.get("/parent").status_code == 200  # this session carries on


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"email": "pat@"}, "email address is not valid"),
        ({"phone": "12"}, "phone number"),
        ({"phone": "+1 555 0000 0000 000"}, "phone number"),
        ({"current_password": "wrong"}, "current password is not right"),
    ],
)
def test_bad_contact_details_are_refused(app, client, parent_id, data, problem):
    client.sign_in("pat.parent", PASSWORD)
    response = _save(client, **{"phone": "+15125550123", **data})
    assert response.status_code == 422 and problem in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(User, parent_id).phone is None


def test_changing_the_email_ends_other_sessions(app, client, parent_id):
    other = app.test_client()
    other.sign_in("pat.parent", PASSWORD)
    client.sign_in("pat.parent", PASSWORD)
    _save(client, email="pat.elsewhere@home.example")
    assert other.get("/parent").status_code == 302


def test_the_contact_form_swaps_in_place_for_htmx(app, client, parent_id):
    client.sign_in("pat.parent", PASSWORD)
    response = _save(client, phone="+44 20 7946 0958", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    assert html.lstrip().startswith('<section class="card" id="contact"')
    assert "Your contact details are saved." in html and "<html" not in html


def test_an_email_another_account_uses_is_refused(app, parent_id):
    with app.app_context():
        make_user(Role.TEACHER, email="taken@school.example")
        parent = db.session.get(User, parent_id)
        with pytest.raises(PolicyError, match="Another account"):
            parents.update_contact(
                parent, email="TAKEN@school.example", phone="", current_password=PASSWORD
            )
