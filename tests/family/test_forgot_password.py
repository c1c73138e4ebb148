"""Forgot password: one answer for everyone, mail through the job queue, 3 an hour, SSO."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from tests.factories import PASSWORD, make_school, make_user
from tests.family.conftest import actions, strip_tokens
from webapp.delivery import jobs as delivery_jobs
from webapp.extensions import db, mail
from webapp.family import recovery
from webapp.family.recovery import ResetAnswer
from webapp.jobs import run_job
from webapp.models import (
    AuditEvent,
    BatchStatus,
    CredentialBatch,
    Role,
    SetPasswordToken,
    User,
    utcnow,
)
from webapp.services import settings
from webapp.services.errors import PolicyError

LINK = re.compile(r"https://keyslip\.test(/set-password/[A-Za-z0-9_-]{43})")
NEW = "sunlit meadow lantern"


class Recorder:
    """A job backend that keeps jobs instead of running them: what a real queue would hold."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, tuple]] = []

    def submit(self, name, args, origin=None) -> None:
        self.jobs.append((name, args))


@pytest.fixture
def people(app) -> dict[str, int]:
    with app.app_context():
        school = make_school("Maple Grove Elementary")
        admin = make_user(Role.ADMIN, school=school, username="office")
        ids = {
            "kid": make_user(
                Role.STUDENT, school=school, username="kid.email", email="kid@home.example"
            ),
            "no_email": make_user(Role.STUDENT, school=school, username="kid.noemail"),
            "gone": make_user(
                Role.STUDENT,
                school=school,
                username="kid.gone",
                email="gone@home.example",
                deactivated_at=utcnow(),
            ),
            "parent": make_user(
                Role.PARENT, school=school, username="pat.parent", email="pat@home.example"
            ),
        }
        settings.set("fallback_email", "office@school.example", school, admin)
        db.session.commit()
        return {name: user.id for name, user in ids.items()}


def _ask(app, identifier: str):
    client = app.test_client()
    return client.post_form("/forgot-password", {"identifier": identifier})


def _answer(response) -> tuple:
    return response.status_code, strip_tokens(response.get_data(as_text=True))


def test_the_page_is_linked_from_sign_in_and_private(client):
    assert 'href="/forgot-password"' in client.get("/sign-in").get_data(as_text=True)
    page = client.get("/forgot-password")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert "/forgot-password/pin" in page.get_data(as_text=True)


def test_every_account_and_none_gets_the_same_answer_and_no_mail_in_the_request(app, people):
    recorder = Recorder()
    app.extensions["keyslip_jobs"] = recorder
    with mail.record_messages() as outbox:
        answers = {
            name: _answer(_ask(app, identifier))
            for name, identifier in [
                ("kid", "kid.email"),
                ("kid by email", "KID@home.example"),
                ("unknown", "nobody.here"),
                ("unknown email", "nobody@home.example"),
                ("no email", "kid.noemail"),
                ("deactivated", "kid.gone"),
            ]
        }
    assert len(set(answers.values())) == 1
    status, html = answers["kid"]
    assert status == 200 and "Check your email" in html
    # Nothing was sent while the person waited: the two messages wait in the queue.
    assert outbox == []
    assert [name for name, _ in recorder.jobs] == ["webapp.delivery.jobs.process_batch"] * 2
    with app.app_context():
        batches = db.session.scalars(select(CredentialBatch)).all()
        assert [b.options["purpose"] for b in batches] == ["reset", "reset"]
        assert {b.requested_by_id for b in batches} == {people["kid"]}


def test_a_mail_server_that_is_down_changes_nothing_in_the_answer(app, people, monkeypatch):
    recorder = Recorder()
    app.extensions["keyslip_jobs"] = recorder
    baseline = _answer(_ask(app, "nobody.here"))
    # A closed port: every connection is refused.
    app.config.update(
        MAIL_SERVER="127.0.0.1", MAIL_PORT=9, MAIL_SUPPRESS_SEND=False, DELIVERY_RETRY_DELAYS=[0]
    )
    mail.init_app(app)
    monkeypatch.setattr(delivery_jobs, "_sleep", lambda seconds: None)
    assert _answer(_ask(app, "kid.email")) == baseline
    [(name, args)] = recorder.jobs
    # The queued job meets the dead server later, and keeps the message for a retry.
    assert run_job(app, name, args) == BatchStatus.RETRYING
    with app.app_context():
        assert db.session.scalar(select(CredentialBatch.status)) is BatchStatus.RETRYING


def test_the_link_goes_to_the_own_address_and_resets_the_password(app, people):
    with mail.record_messages() as outbox:
        _ask(app, "kid.email")
    [message] = outbox
    assert message.recipients == ["kid@home.example"]
    assert message.subject == "Maple Grove Elementary: reset your Keyslip password"
    path = LINK.search(message.body).group(1)
    with app.app_context():
        token = db.session.scalar(select(SetPasswordToken))
        assert token.purpose == "reset"
        assert token.expires_at - token.created_at == timedelta(minutes=60)
    client = app.test_client()
    form = client.get(path, follow_redirects=True).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
    with mail.record_messages() as notices:
        done = client.post(
            "/set-password", data={"csrf_token": csrf, "new_password": NEW, "confirm": NEW}
        )
    assert done.status_code == 303
    # An active account's reset is announced by email (the job queue), without a link.
    assert [n.subject for n in notices] == ["Your Keyslip password was changed"]
    assert app.test_client().sign_in("kid.email", NEW).status_code == 302


def test_no_email_means_no_message_not_even_to_the_school_fallback(app, people):
    with mail.record_messages() as outbox:
        _ask(app, "kid.noemail")
    assert outbox == []
    with app.app_context():
        assert db.session.scalar(select(CredentialBatch.id)) is None
        outcome = db.session.scalar(
            select(AuditEvent.details).where(AuditEvent.action == "password_reset_not_sent")
        )
        assert outcome == {"outcome": "no_email"}


def test_at_most_three_messages_per_account_per_hour(app, people):
    with mail.record_messages() as outbox:
        answers = {_answer(_ask(app, "kid.email")) for _ in range(5)}
    assert len(answers) == 1 and len(outbox) == 3
    assert actions(app).count("password_reset_not_sent") == 2
    with time_machine.travel(utcnow() + timedelta(minutes=61)), mail.record_messages() as later:
        _ask(app, "kid.email")
    assert len(later) == 1


def test_the_cap_counts_one_account_not_everyone(app, people):
    with app.app_context():
        for _ in range(3):
            recovery.request_password_reset("kid.email")
        assert recovery.request_password_reset("pat.parent").answer is ResetAnswer.CHECK_EMAIL
        db.session.commit()
    assert actions(app).count("password_reset_queued") == 4


def test_a_school_with_single_sign_on_for_the_role_says_to_use_it(app, people):
    with app.app_context():
        school = db.session.get(User, people["kid"]).schools[0]
        admin = db.session.scalar(select(User).where(User.username == "office"))
        settings.set("sso_roles", ["student"], school, admin)
        settings.set("sso_notice", "Sign in with your Maple Grove Google account.", school, admin)
        db.session.commit()
    with mail.record_messages() as outbox:
        student = _ask(app, "kid.email").get_data(as_text=True)
        parent = _ask(app, "pat.parent").get_data(as_text=True)
    assert "Sign in with your Maple Grove Google account." in student
    assert "Use your school's sign-in" in student
    assert "Check your email" in parent and "Google" not in parent
    assert [m.recipients for m in outbox] == [["pat@home.example"]]


def test_sso_roles_are_checked_when_set(app, people):
    with app.app_context():
        school = db.session.get(User, people["kid"]).schools[0]
        admin = db.session.scalar(select(User).where(User.username == "office"))
        with pytest.raises(PolicyError, match="list of roles"):
            settings.set("sso_roles", ["wizard"], school, admin)
        assert settings.get("sso_roles", school) == []


@pytest.mark.settings(RATELIMIT_ENABLED=True, FORGOT_PASSWORD_RATE_LIMIT="2 per 10 minutes")
def test_forgot_password_is_rate_limited_per_address(app, people):
    client = app.test_client()
    statuses = [
        client.post_form("/forgot-password", {"identifier": "x"}).status_code for _ in range(3)
    ]
    assert statuses == [200, 200, 429]


def test_signed_in_people_are_sent_home(app, client, people):
    client.sign_in("pat.parent", PASSWORD)
    assert client.get("/forgot-password").status_code == 302


def test_a_reset_whose_address_went_away_is_skipped_not_printed_or_sent_elsewhere(app, people):
    recorder = Recorder()
    app.extensions["keyslip_jobs"] = recorder
    _ask(app, "kid.email")
    with app.app_context():
        db.session.get(User, people["kid"]).email = None
        db.session.commit()
    [(name, args)] = recorder.jobs
    with mail.record_messages() as outbox:
        assert run_job(app, name, args) == BatchStatus.DONE
    assert outbox == []  # not to the school's fallback address either
    with app.app_context():
        assert db.session.scalar(select(CredentialBatch.skipped)) == 1


def test_a_link_purpose_must_be_known(app):
    from webapp.delivery.batches import BatchOptions

    with pytest.raises(PolicyError, match="purpose"):
        BatchOptions.parse({"purpose": "admin"})
    assert BatchOptions.parse({"purpose": "reset"}).uses_fallback is False
