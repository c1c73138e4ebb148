"""One person's page: history, contact edits, credentials shown once, and scope."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from tests.factories import PASSWORD, link_guardian, make_class, make_school, make_user
from webapp.extensions import db
from webapp.models import AuditEvent, CredentialBatch, Role, User
from webapp.services import auth, settings


@pytest.fixture
def ids(app) -> dict[str, int]:
    with app.app_context():
        oak = make_school("Oak School")
        make_user(Role.ADMIN, school=oak, username="oak.admin")
        make_user(Role.ADMIN, school=make_school("Elm School"), username="elm.admin")
        teacher = make_user(Role.TEACHER, school=oak, username="t.turing")
        ada = make_user(Role.STUDENT, school=oak, username="ada.l", given_name="Ada",
                        family_name="Lovelace", email="ada@families.example")  # fmt: skip
        mum = make_user(Role.PARENT, school=oak, username="mum.l")
        link_guardian(mum, ada)
        make_class(oak, teacher=teacher, students=[ada], title="Maths 5")
        db.session.commit()
        return {"ada": ada.id, "teacher": teacher.id}


def _post(client, path: str, data: dict | None = None, **kwargs):
    return client.post_form(path, data or {}, token_from="/admin/", **kwargs)


def test_the_page_shows_classes_parents_contact_form_and_history(client, ids):
    client.sign_in("oak.admin", PASSWORD)
    _post(client, f"/admin/users/{ids['ada']}/pin", {"new": "1"})
    page = client.get(f"/admin/users/{ids['ada']}").get_data(as_text=True)
    assert "Maths 5" in page and "Parents and guardians" in page
    assert 'value="ada@families.example"' in page
    assert "Credential issued" in page and "by oak.admin" in page  # the PIN, in the history


def test_a_contact_change_is_checked_saved_audited_and_rotates_the_epoch(app, client, ids):
    with app.app_context():
        epoch = db.session.get(User, ids["ada"]).credential_epoch
    client.sign_in("oak.admin", PASSWORD)
    bad = _post(client, f"/admin/users/{ids['ada']}/contact",
                {"email": "not an email", "phone": "+1 603 555 0123 ext. 9"},
                headers={"HX-Request": "true"})  # fmt: skip
    html = bad.get_data(as_text=True)
    assert html.startswith('<form id="contact"') and "That is not an email address" in html
    assert "without an extension" in html and 'aria-invalid="true"' in html
    with app.app_context():
        assert db.session.get(User, ids["ada"]).email == "ada@families.example"
    good = _post(client, f"/admin/users/{ids['ada']}/contact",
                 {"email": "ada.new@families.example", "phone": "(603) 555-0123"},
                 headers={"HX-Request": "true"})  # fmt: skip
    assert "Saved." in good.get_data(as_text=True)
    with app.app_context():
        ada = db.session.get(User, ids["ada"])
        assert (ada.email, ada.phone) == ("ada.new@families.example", "+16035550123")
        assert ada.credential_epoch != epoch
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "contact_changed"))
        assert event.details["email_change"] == {
            "old": "ada@families.example",
            "new": "ada.new@families.example",
        }


def test_a_temporary_password_is_shown_once_never_cached_and_signs_in(app, client, ids):
    client.sign_in("oak.admin", PASSWORD)
    response = _post(client, f"/admin/users/{ids['ada']}/temporary-password")
    assert response.headers["Cache-Control"] == "no-store"
    password = re.search(
        r"Temporary password: <code>([^<]+)</code>", response.get_data(as_text=True)
    )
    assert password
    with app.app_context():
        result = auth.sign_in("ada.l", password.group(1))
        assert result.user is not None and result.user.must_change_password
        db.session.rollback()
    again = client.get(f"/admin/users/{ids['ada']}").get_data(as_text=True)
    assert password.group(1) not in again


def test_parent_code_and_pin_are_shown_on_asking_and_renewed_on_demand(app, client, ids):
    client.sign_in("oak.admin", PASSWORD)
    first = _post(client, f"/admin/users/{ids['ada']}/parent-code", {"new": "1"})
    code = re.search(r"Parent code: <code>([^<]+)</code>", first.get_data(as_text=True)).group(1)
    shown = _post(client, f"/admin/users/{ids['ada']}/parent-code").get_data(as_text=True)
    assert code in shown
    renewed = _post(client, f"/admin/users/{ids['ada']}/parent-code", {"new": "1"})
    assert code not in renewed.get_data(as_text=True)
    no_pin = _post(client, f"/admin/users/{ids['ada']}/pin")
    assert no_pin.status_code == 303
    pin = _post(client, f"/admin/users/{ids['ada']}/pin", {"new": "1"})
    assert pin.headers["Cache-Control"] == "no-store" and "PIN: <code>" in pin.get_data(
        as_text=True
    )
    assert _post(client, f"/admin/users/{ids['teacher']}/pin", {"new": "1"}).status_code == 400


def test_an_email_link_from_the_page_makes_a_one_person_batch(app, client, ids):
    client.sign_in("oak.admin", PASSWORD)
    page = client.get(f"/admin/users/{ids['ada']}").get_data(as_text=True)
    key = re.search(r'name="idempotency_key" value="([0-9a-f]+)"', page).group(1)
    response = _post(client, "/admin/users/bulk/apply",
                     {"action": "link_email", "ids": str(ids["ada"]), "view": "",
                      "idempotency_key": key, "include_active": "1"})  # fmt: skip
    assert response.headers["Location"] == f"/admin/users/bulk/{key}"
    opened = client.get(response.headers["Location"])  # the job ran: the batch opens
    assert "/admin/batches/" in opened.headers["Location"]
    with app.app_context():
        assert db.session.scalar(select(CredentialBatch)).total == 1


def test_deactivate_from_the_page_returns_to_it(app, client, ids):
    client.sign_in("oak.admin", PASSWORD)
    response = _post(client, "/admin/users/bulk/apply",
                     {"action": "deactivate", "ids": str(ids["ada"]), "view": "",
                      "return_to": "person"})  # fmt: skip
    assert response.headers["Location"].endswith(f"/admin/users/{ids['ada']}")
    page = client.get(f"/admin/users/{ids['ada']}").get_data(as_text=True)
    assert "1 person deactivated." in page and ">Reactivate</button>" in page


@pytest.mark.parametrize("path", ["contact", "temporary-password", "parent-code", "pin"])
def test_another_schools_admin_gets_404_and_nothing_changes(app, client, ids, path):
    client.sign_in("elm.admin", PASSWORD)
    response = _post(client, f"/admin/users/{ids['ada']}/{path}",
                     {"email": "x@y.example", "new": "1"})  # fmt: skip
    assert response.status_code == 404
    with app.app_context():
        assert db.session.get(User, ids["ada"]).email == "ada@families.example"
        assert not db.session.scalars(
            select(AuditEvent).where(
                AuditEvent.action.in_(["credential_issued", "contact_changed"])
            )
        ).all()


def test_a_parents_child_at_another_school_is_counted_not_named(app, client, ids):
    with app.app_context():
        elm = db.session.scalar(select(User).where(User.username == "elm.admin")).schools[0]
        mum = db.session.scalar(select(User).where(User.username == "mum.l"))
        far = make_user(Role.STUDENT, school=elm, given_name="Faraway", family_name="Child")
        link_guardian(mum, far)
        db.session.commit()
        mum_id = mum.id
    client.sign_in("oak.admin", PASSWORD)
    page = client.get(f"/admin/users/{mum_id}").get_data(as_text=True)
    assert "Ada Lovelace" in page
    assert "and 1 child at another school" in page and "Faraway" not in page


@pytest.mark.settings(TIME_ZONE="America/New_York")
def test_times_show_on_the_persons_school_clock_when_it_has_its_own(app, client, ids):
    with app.app_context():
        ada = db.session.get(User, ids["ada"])
        ada.last_login_at = datetime(2026, 12, 6, 19, 5, tzinfo=UTC)
        admin = make_user(Role.ADMIN, district_wide=True)
        settings.set("time_zone", "America/Chicago", ada.schools[0], admin)
        db.session.commit()
    client.sign_in("oak.admin", PASSWORD)
    page = client.get(f"/admin/users/{ids['ada']}").get_data(as_text=True)
    assert "<dt>Last sign-in</dt><dd>6 Dec 2026 13:05 CST</dd>" in page
    assert "14:05 EST" not in page
