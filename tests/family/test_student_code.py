"""A student's own parent code on My account: shown with expiry and uses, renewed by POST."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from tests.factories import PASSWORD, link_guardian, make_user
from tests.family.conftest import actions
from webapp.delivery import codes
from webapp.extensions import db
from webapp.family import student_codes
from webapp.family.student_codes import CodeState
from webapp.models import GuardianLink, ParentCode, Role, User, utcnow
from webapp.services import audit


def _code_on(page: str) -> str | None:
    match = re.search(r'class="code-display"[^>]*><code>([A-Z0-9-]+)</code>', page)
    return match.group(1) if match else None


def test_a_student_sees_the_code_its_expiry_and_how_many_parents_used_it(app, client, family):
    client.sign_in("ava.lopez", PASSWORD)
    response = client.get("/account")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert _code_on(page) == family.code
    assert "0 of 5 parents" in page and "Works until" in page
    assert "https://keyslip.test/parent/register" in page
    assert "parent_code_viewed" in actions(app)


def test_a_new_code_voids_only_the_old_one(app, client, family):
    with app.app_context():
        student = db.session.get(User, family.student_id)
        parent = make_user(Role.PARENT)
        link_guardian(parent, student, origin="parent_code")
        classmate = make_user(Role.STUDENT)
        classmate_code = codes.issue_parent_code(classmate, actor=audit.SYSTEM).formatted
        db.session.commit()
    client.sign_in("ava.lopez", PASSWORD)
    response = client.post_form("/account/parent-code", token_from="/account")
    assert response.status_code == 303
    new_code = _code_on(client.get("/account").get_data(as_text=True))
    assert new_code and new_code != family.code
    with app.app_context():
        assert codes.find_parent_code(family.code) is None
        assert codes.find_parent_code(new_code).student_id == family.student_id
        assert codes.find_parent_code(classmate_code) is not None
        assert db.session.scalar(select(GuardianLink.parent_id)) is not None
    assert "parent_code_renewed" in actions(app)


def test_renewing_by_htmx_swaps_the_code_section(app, client, family):
    client.sign_in("ava.lopez", PASSWORD)
    response = client.post_form(
        "/account/parent-code", token_from="/account", headers={"HX-Request": "true"}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    assert html.lstrip().startswith('<section class="card" id="parent-code"')
    assert "The old one no longer works" in html and _code_on(html) != family.code


def test_renewing_needs_a_csrf_token(app, client, family):
    client.sign_in("ava.lopez", PASSWORD)
    assert client.post("/account/parent-code").status_code == 400
    with app.app_context():
        assert db.session.scalar(select(ParentCode.voided_at)) is None


def test_only_students_have_a_parent_code_to_renew(app, client, family):
    with app.app_context():
        make_user(Role.PARENT, username="pat.parent")
        db.session.commit()
    client.sign_in("pat.parent", PASSWORD)
    assert client.post_form("/account/parent-code", token_from="/account").status_code == 404
    assert "Parent code" not in client.get("/account").get_data(as_text=True)


def test_used_up_expired_and_missing_codes_are_described_without_the_code(app, family):
    with app.app_context():
        student = db.session.get(User, family.student_id)
        row = db.session.scalar(select(ParentCode))
        assert student_codes.my_parent_code(student).state is CodeState.LIVE
        row.use_count = row.max_uses
        used = student_codes.my_parent_code(student)
        assert used.state is CodeState.USED_UP and used.formatted is None
        row.use_count = 0
        later = row.expires_at + timedelta(seconds=1)
        assert student_codes.my_parent_code(student, now=later).state is CodeState.EXPIRED
        row.voided_at = utcnow()
        assert student_codes.my_parent_code(student).state is CodeState.NONE


def test_a_student_with_no_code_can_make_one(app, client):
    with app.app_context():
        make_user(Role.STUDENT, username="no.code")
        db.session.commit()
    client.sign_in("no.code", PASSWORD)
    page = client.get("/account").get_data(as_text=True)
    assert "You have no parent code yet" in page and "Make a parent code" in page
    client.post_form("/account/parent-code", token_from="/account")
    assert _code_on(client.get("/account").get_data(as_text=True))
