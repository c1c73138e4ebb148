"""The development outbox: mail kept locally for a newcomer to click; never in production."""

from __future__ import annotations

import re

import pytest

from tests.delivery.conftest import make_district
from tests.factories import PASSWORD, make_user
from webapp.delivery import batches, devoutbox
from webapp.delivery.progress import batch_progress
from webapp.extensions import db
from webapp.models import Role, User


@pytest.mark.settings(ENVIRONMENT="development", SMS_BACKEND="console")
def test_development_mail_lands_in_the_outbox_with_a_clickable_link(app, client, capsys):
    district = make_district(app, 1, phone="+15125550123")
    with app.app_context():
        actor = db.session.get(User, district.admin_id)
        batches.send_credentials(district.student_ids, "link", "email", {}, actor)
        batches.send_credentials(
            district.student_ids, "parent-code", "sms", {"idempotency_key": "sms-00001"}, actor
        )
        db.session.commit()
        stored = devoutbox.messages()
        assert [m.channel for m in stored] == ["sms", "email"]
        assert (devoutbox.folder() / f"{stored[1].id}.json").stat().st_mode & 0o777 == 0o600
    assert "[SMS to +15125550123]" in capsys.readouterr().out

    assert client.get("/dev/outbox").status_code in (302, 404)  # not signed in
    client.sign_in("office.admin", PASSWORD)
    index = client.get("/dev/outbox").get_data(as_text=True)
    assert "student0@families.example" in index
    message_path = re.search(r'href="(/dev/outbox/[0-9a-f-]+)">Maple', index).group(1)
    page = client.get(message_path)
    assert page.headers["Cache-Control"] == "no-store"
    link = re.search(
        r'<a href="https://keyslip\.test(/set-password/[^"]+)">', page.get_data(as_text=True)
    )
    assert link, "the set-password link is clickable"
    assert client.get(link.group(1), follow_redirects=True).status_code == 200


@pytest.mark.settings(ENVIRONMENT="development")
def test_outbox_ids_cannot_reach_other_files(app, client):
    with app.app_context():
        make_user(Role.ADMIN, username="office")
        db.session.commit()
    client.sign_in("office", PASSWORD)
    assert client.get("/dev/outbox/..%2F..%2Fsecret_key").status_code == 404
    assert client.get("/dev/outbox/0000000000000000000-abcdefgh").status_code == 404


@pytest.mark.settings(ENVIRONMENT="production", SESSION_COOKIE_SECURE=False)
def test_outbox_does_not_exist_in_production(app, client):
    assert "dev.outbox_index" not in app.view_functions
    assert client.get("/dev/outbox").status_code == 404


@pytest.mark.settings(ENVIRONMENT="development")
def test_only_a_signed_in_admin_opens_the_outbox(app, client):
    with app.app_context():
        make_user(Role.TEACHER, username="teach")
        db.session.commit()
    assert client.get("/dev/outbox").status_code in (302, 404)
    client.sign_in("teach", PASSWORD)
    assert client.get("/dev/outbox").status_code == 404


@pytest.mark.settings(ENVIRONMENT="development", MAIL_SERVER="smtp.example.org")
def test_outbox_does_not_exist_when_a_mail_server_is_configured(app, client):
    assert "dev.outbox_index" not in app.view_functions
    assert client.get("/dev/outbox").status_code == 404


def test_outbox_does_not_exist_under_tests(client):
    assert client.get("/dev/outbox").status_code == 404


@pytest.mark.settings(ENVIRONMENT="production", SMS_BACKEND="console")
def test_console_sms_is_refused_in_production(app):
    from webapp.delivery import sms
    from webapp.delivery.outcomes import DeliveryConfigError

    with app.app_context(), pytest.raises(DeliveryConfigError):
        sms.sender()


@pytest.mark.settings(ENVIRONMENT="production", MAIL_SUPPRESS_SEND=False)
def test_production_without_a_mail_server_fails_the_batch_plainly(app):
    district = make_district(app, 1)
    with app.app_context():
        actor = db.session.get(User, district.admin_id)
        batch = batches.send_credentials(district.student_ids, "link", "email", {}, actor)
        db.session.commit()
        db.session.refresh(batch)
        assert batch.status == "failed"
        assert "FLASK_MAIL_SERVER" in batch.error
        assert batch_progress(batch).queued == 1
