"""Registering as a parent with a child's code, and adding another child when signed in."""

from __future__ import annotations

from datetime import timedelta

import pytest
from markupsafe import escape
from sqlalchemy import select

from tests.factories import make_school, make_user
from tests.family.conftest import PARENT_PASSWORD, actions
from webapp.delivery import codes
from webapp.extensions import db, mail
from webapp.family import parents
from webapp.family.parents import CodeRefused, NewParent
from webapp.models import GuardianLink, ParentCode, Role, StudentPin, User
from webapp.services import audit
from webapp.services.errors import PolicyError


def _register(client, code, email="maria@home.example", password=PARENT_PASSWORD, **kwargs):
    return client.post_form(
        "/parent/register",
        {
            "code": code,
            "given_name": "Maria",
            "family_name": "Lopez",
            "email": email,
            "new_password": password,
            "confirm": password,
        },
        **kwargs,
    )


def _parents(app) -> list[User]:
    with app.app_context():
        return list(db.session.scalars(select(User).where(User.role == Role.PARENT)))


def test_a_parent_registers_with_a_code_and_is_linked_and_signed_in(app, client, family):
    with mail.record_messages() as sent:
        response = _register(client, family.code.lower().replace("-", " "))
    assert sent == []  # the first password chosen needs no "password changed" notice
    assert response.status_code == 303 and response.headers["Location"] == "/parent"
    page = client.get("/parent").get_data(as_text=True)
    assert "Ava Lopez" in page
    with app.app_context():
        parent = db.session.scalar(select(User).where(User.username == "maria@home.example"))
        assert parent.role == Role.PARENT and parent.activated_at is not None
        assert [s.id for s in parent.schools] == [family.school_id]
        link = db.session.scalar(select(GuardianLink).where(GuardianLink.parent_id == parent.id))
        assert link.student_id == family.student_id and link.origin == "parent_code"
        assert db.session.scalar(select(ParentCode.use_count)) == 1
        assert db.session.scalar(select(StudentPin.student_id)) == family.student_id
    assert {"parent_registered", "parent_linked"} <= set(actions(app))


def test_the_register_page_is_public_and_linked_from_sign_in(client):
    assert "/parent/register" in client.get("/sign-in").get_data(as_text=True)
    page = client.get("/parent/register")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert 'autocomplete="new-password"' in page.get_data(as_text=True)


def _refusal(client, code):
    response = _register(client, code)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    return html[html.index('<div class="notice notice-error"') :].split("</div>")[0]


def test_every_wrong_code_gets_the_same_message(app, client, family):
    with app.app_context():
        expired_student = make_user(
            Role.STUDENT, school=db.session.get(User, family.student_id).schools[0]
        )
        expired = codes.issue_parent_code(expired_student, actor=audit.SYSTEM)
        db.session.get(ParentCode, expired.code_id).expires_at -= timedelta(days=365)
        voided_student = make_user(Role.STUDENT)
        voided = codes.issue_parent_code(voided_student, actor=audit.SYSTEM)
        codes.issue_parent_code(voided_student, actor=audit.SYSTEM)  # voids the first
        used_student = make_user(Role.STUDENT)
        used = codes.issue_parent_code(used_student, actor=audit.SYSTEM)
        db.session.get(ParentCode, used.code_id).use_count = 5
        db.session.commit()
    typo = family.code[:-1] + ("A" if family.code[-1] != "A" else "B")
    messages = {
        _refusal(client, code)
        for code in (typo, "not a code", expired.formatted, voided.formatted, used.formatted)
    }
    assert len(messages) == 1
    [message] = messages
    assert "That parent code does not work" in message
    assert _parents(app) == []
    assert actions(app).count("parent_code_refused") == 5


def test_a_code_links_only_within_its_uses(app, client, family):
    with app.app_context():
        db.session.scalar(select(ParentCode)).max_uses = 1
        db.session.commit()
    assert _register(client, family.code).status_code == 303
    other = app.test_client()
    assert _register(other, family.code, email="dad@home.example").status_code == 422
    assert len(_parents(app)) == 1


def test_a_code_links_until_it_expires_and_not_after(app, family):
    with app.app_context():
        row = db.session.scalar(select(ParentCode))
        person = NewParent("Maria", "Lopez", "maria@home.example", PARENT_PASSWORD)
        with pytest.raises(CodeRefused):
            parents.register_parent(family.code, person, now=row.expires_at)
        db.session.rollback()
        parent = parents.register_parent(
            family.code, person, now=row.expires_at - timedelta(seconds=1)
        )
        assert parent.id is not None


def test_a_refused_password_does_not_spend_a_use_of_the_code(app, client, family):
    response = _register(client, family.code, password="short")
    assert response.status_code == 422
    assert "at least 12" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(ParentCode.use_count)) == 0
    assert _parents(app) == []


def test_an_email_already_in_use_is_refused(app, client, family):
    with app.app_context():
        make_user(Role.PARENT, username="someone", email="maria@home.example")
        db.session.commit()
    response = _register(client, family.code)
    assert response.status_code == 422
    assert "already exists" in response.get_data(as_text=True)


def test_an_invalid_email_is_refused(app, family):
    with app.app_context():
        person = NewParent("Maria", "Lopez", "maria@", PARENT_PASSWORD)
        with pytest.raises(PolicyError, match="not valid"):
            parents.register_parent(family.code, person)


@pytest.mark.settings(RATELIMIT_ENABLED=True, PARENT_CODE_RATE_LIMIT="3 per 10 minutes")
def test_wrong_codes_are_rate_limited_per_address(app, client, family):
    statuses = [_register(client, "AAAA-BBBB-CCCC").status_code for _ in range(4)]
    assert statuses == [422, 422, 422, 429]
    # Another address is not held back by the first one's guesses.
    other = app.test_client()
    other.environ_base = {"REMOTE_ADDR": "192.0.2.7"}
    assert _register(other, family.code).status_code == 303


@pytest.mark.settings(RATELIMIT_ENABLED=True, PARENT_CODE_RATE_LIMIT="2 per 10 minutes")
def test_right_codes_do_not_count_against_the_limit(app, family):
    with app.app_context():
        db.session.scalar(select(ParentCode)).max_uses = 5
        db.session.commit()
    for n in range(3):
        client = app.test_client()
        assert _register(client, family.code, email=f"p{n}@home.example").status_code == 303


@pytest.mark.settings(
    RATELIMIT_ENABLED=True,
    PARENT_CODE_RATE_LIMIT="100 per 10 minutes",
    PARENT_CODE_GLOBAL_RATE_LIMIT="3 per hour",
)
def test_wrong_codes_are_rate_limited_across_every_address(app, family):
    statuses = []
    for n in range(4):
        client = app.test_client()
        client.environ_base = {"REMOTE_ADDR": f"198.51.100.{n + 1}"}
        statuses.append(_register(client, "AAAA-BBBB-CCCC").status_code)
    assert statuses == [422, 422, 422, 429]


# --- Add a child ---------------------------------------------------------------------------


@pytest.fixture
def signed_in_parent(app, client, family):
    with app.app_context():
        parent = make_user(Role.PARENT, username="pat.parent", email="pat@home.example")
        db.session.commit()
        parent_id = parent.id
    client.sign_in("pat.parent", "a-long-test-password-42")
    return parent_id


def test_a_signed_in_parent_adds_children_from_two_schools(app, client, family, signed_in_parent):
    with app.app_context():
        other_school = make_school("Riverside High School")
        sibling = make_user(
            Role.STUDENT, school=other_school, given_name="Leo", family_name="Lopez", grade="10"
        )
        sibling_code = codes.issue_parent_code(sibling, actor=audit.SYSTEM).formatted
        db.session.commit()
    for code in (family.code, sibling_code):
        response = client.post_form("/parent/children", {"code": code}, token_from="/parent")
        assert response.status_code == 303
    page = client.get("/parent").get_data(as_text=True)
    assert "Ava Lopez" in page and "Leo Lopez" in page
    assert "Maple Grove Elementary" in page and "Riverside High School" in page
    with app.app_context():
        parent = db.session.get(User, signed_in_parent)
        assert {s.name for s in parent.schools} == {
            "Maple Grove Elementary",
            "Riverside High School",
        }


def test_adding_with_a_wrong_code_gives_the_same_message(app, client, signed_in_parent):
    response = client.post_form(
        "/parent/children", {"code": "ZZZZ-ZZZZ-ZZZZ"}, token_from="/parent"
    )
    assert response.status_code == 422
    assert escape(parents.REFUSED_CODE) in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(GuardianLink.id)) is None


def test_adding_a_child_already_linked_spends_no_use(app, client, family, signed_in_parent):
    client.post_form("/parent/children", {"code": family.code}, token_from="/parent")
    again = client.post_form("/parent/children", {"code": family.code}, token_from="/parent")
    assert again.status_code == 422 and "already linked" in again.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(ParentCode.use_count)) == 1


def test_an_email_too_long_for_a_username_is_refused(app, family):
    with app.app_context():
        person = NewParent("Maria", "Lopez", "m" * 140 + "@home.example", PARENT_PASSWORD)
        with pytest.raises(PolicyError, match="at most 150"):
            parents.register_parent(family.code, person)
