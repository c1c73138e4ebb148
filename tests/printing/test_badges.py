"""QR sign-in badges: printed on class slips, decoded from the PDF, signing the right student
in; refused for grades not allowed, voided by reprinting, revoked per student, class and
everyone; the token never stored or logged in plain."""

from __future__ import annotations

import io
import logging

import pytest
import zxingcpp
from pypdf import PdfReader
from sqlalchemy import select

from tests.factories import PASSWORD, make_class, make_school, make_user
from webapp.extensions import db
from webapp.models import AuditEvent, BadgeToken, Role, User
from webapp.printing import badges
from webapp.services import settings
from webapp.services.errors import PolicyError


@pytest.fixture
def room(app) -> dict[str, int]:
    with app.app_context():
        school = make_school("Maple Grove Elementary")
        admin = make_user(Role.ADMIN, school=school, username="office.admin")
        teacher = make_user(Role.TEACHER, school=school, username="ms.rivera")
        kit = make_user(Role.STUDENT, school=school, username="kit.k", given_name="Kit",
                        family_name="Kay", grade="KG", password=None)  # fmt: skip
        ada = make_user(Role.STUDENT, school=school, username="ada.l", given_name="Ada",
                        family_name="Lovelace", grade="05", password=None)  # fmt: skip
        klass = make_class(school, teacher=teacher, students=[kit, ada], title="Room 4")
        settings.set("badge_grades", ["KG", "01"], school, admin)
        db.session.commit()
        return {"class": klass.id, "kit": kit.id, "ada": ada.id, "school": school.id}


def _slips(client, room, **extra) -> bytes:
    data = {"everyone": "1", "layout": "saver", "per_page": "8", "badges": "1", **extra}
    response = client.post_form(f"/teacher/classes/{room['class']}/slips", data,
                                token_from="/teacher/")  # fmt: skip
    assert response.headers["Content-Type"] == "application/pdf", response.status_code
    return response.data


def _badge_urls(pdf: bytes) -> list[str]:
    urls = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for image in page.images:
            urls += [code.text for code in zxingcpp.read_barcodes(image.image)]
    return urls


def _path(url: str) -> str:
    return url.removeprefix("https://keyslip.test")


def test_a_printed_badge_decodes_and_signs_in_that_student_only(app, client, room):
    client.sign_in("ms.rivera", PASSWORD)
    urls = _badge_urls(_slips(client, room))
    assert len(urls) == 1  # Kit (KG) has one; Ada (grade 5) is not allowed
    assert urls[0].startswith("https://keyslip.test/badge/")
    kid = app.test_client()
    moved = kid.get(_path(urls[0]))
    assert moved.status_code == 303 and moved.headers["Location"] == "/badge"
    page = kid.get("/badge")
    assert "Hello, Kit!" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    signed_in = kid.post_form("/badge", {}, token_from="/badge")
    assert signed_in.status_code == 302
    assert kid.get("/account").status_code == 200  # no forced password change
    with app.app_context():
        kit = db.session.get(User, room["kit"])
        assert kit.activated_at is not None
        assert (
            db.session.scalar(
                select(AuditEvent).where(AuditEvent.action == "signed_in_with_badge")
            ).target_id
            == room["kit"]
        )


def test_the_token_is_stored_hashed_and_never_logged(app, client, room, caplog):
    client.sign_in("ms.rivera", PASSWORD)
    (url,) = _badge_urls(_slips(client, room))
    token = url.rsplit("/", 1)[1]
    with caplog.at_level(logging.INFO):
        app.test_client().get(_path(url))
    with app.app_context():
        from webapp.models import SessionRecord

        stored = db.session.scalars(select(BadgeToken.token_hash)).all()
        assert token not in stored and len(stored) == 1
        sessions = db.session.scalars(select(SessionRecord.data)).all()
        assert sessions and not any(token.encode() in data for data in sessions)
    from webapp.web.access_log import redact

    assert token not in redact(f'"GET /badge/{token} HTTP/1.1" 303')
    assert token not in caplog.text


def test_reprinting_voids_the_old_badge(app, client, room):
    client.sign_in("ms.rivera", PASSWORD)
    (old,) = _badge_urls(_slips(client, room))
    (new,) = _badge_urls(_slips(client, room))
    kid = app.test_client()
    kid.get(_path(old))
    gone = kid.get("/badge")
    assert gone.status_code == 404 and "This badge does not work" in gone.get_data(as_text=True)
    kid.get(_path(new))
    assert "Hello, Kit!" in kid.get("/badge").get_data(as_text=True)


def test_revoking_the_class_or_turning_the_grade_off_stops_it(app, client, room):
    client.sign_in("ms.rivera", PASSWORD)
    (url,) = _badge_urls(_slips(client, room))
    client.post_form(f"/teacher/classes/{room['class']}/badges/revoke", {},
                     token_from="/teacher/")  # fmt: skip
    kid = app.test_client()
    kid.get(_path(url))
    assert kid.get("/badge").status_code == 404
    (url,) = _badge_urls(_slips(client, room))
    with app.app_context():
        admin = db.session.scalar(select(User).where(User.username == "office.admin"))
        settings.set("badge_grades", [], db.session.get(User, room["kit"]).schools[0], admin)
        db.session.commit()
    kid.get(_path(url))
    assert kid.get("/badge").status_code == 404


def test_the_command_revokes_a_student_or_everyone(app, client, room):
    client.sign_in("ms.rivera", PASSWORD)
    _slips(client, room)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["badges", "revoke", "--as", "office.admin", "--student", "kit.k"])
    assert result.exit_code == 0 and "1 badge(s) revoked." in result.output
    _slips(client, room)
    result = runner.invoke(args=["badges", "revoke", "--as", "office.admin", "--everyone"])
    assert "1 badge(s) revoked." in result.output
    bad = runner.invoke(args=["badges", "revoke", "--as", "office.admin"])
    assert bad.exit_code != 0 and "exactly one of" in bad.output


def test_a_grade_not_allowed_is_refused_by_the_service(app, room):
    with app.app_context():
        ada = db.session.get(User, room["ada"])
        with pytest.raises(PolicyError, match="ada.l"):
            badges.issue([ada], ada)


def test_an_unknown_token_looks_like_a_revoked_one(client, room):
    client.get("/badge/" + "x" * 43)
    response = client.get("/badge")
    assert response.status_code == 404 and "This badge does not work" in response.get_data(
        as_text=True
    )
