"""`flask credentials send`: preview, needs-printing list, a real run, and the actor rule."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.delivery.conftest import make_district
from tests.factories import make_user
from webapp.extensions import db, mail
from webapp.models import CredentialBatch, Role, User


@pytest.fixture
def district(app):
    district = make_district(app, 2)
    with app.app_context():
        school = db.session.get(User, district.admin_id).schools[0]
        make_user(Role.STUDENT, school=school, password=None, username="no.email")
        make_user(Role.STUDENT, school=school, username="already.active", email="a@f.example")
        make_user(Role.TEACHER, school=school, username="not.a.student", password=None)
        db.session.commit()
    return district


def _send(app, *extra):
    args = ["credentials", "send", "--as", "office.admin", "--role", "student"]
    args += ["--school", "Maple Grove Elementary", *extra]
    return app.test_cli_runner().invoke(args=args)


def test_dry_run_says_who_would_get_what_and_changes_nothing(app, district):
    result = _send(app, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "4 student account(s) selected" in result.output
    assert "left out, already active: 1" in result.output
    assert "in the batch (link by email): 3" in result.output
    assert "email (direct): 2" in result.output
    assert "needs printing (no email address): 1" in result.output
    assert "no.email" in result.output
    assert "Dry run: nothing was sent." in result.output
    with app.app_context():
        assert db.session.scalar(select(CredentialBatch)) is None


def test_send_runs_the_batch_and_reports_counts(app, district):
    with mail.record_messages() as outbox:
        result = _send(app, "--yes")
    assert result.exit_code == 0, result.output
    assert len(outbox) == 2
    assert "2 sent, 0 failed, 1 skipped (1 need printing), 0 waiting" in result.output
    with app.app_context():
        batch = db.session.scalar(select(CredentialBatch))
        # The one without an address is handed over to the print flow, and the CLI says where.
        assert batch.status == "awaiting_print"
        assert f"/admin/batches/{batch.id}/print" in result.output
        assert batch.requested_by_id == district.admin_id


def test_only_not_sent_with_nobody_left_says_so_and_creates_no_batch(app, district):
    assert _send(app, "--yes", "--channel", "email").exit_code == 0
    with app.app_context():
        batches_before = len(db.session.scalars(select(CredentialBatch)).all())
    result = _send(app, "--yes", "--only-not-sent")
    assert result.exit_code == 0, result.output
    assert "left out, already sent: 2" in result.output
    assert "left out, already waiting to be printed: 1" in result.output
    assert "Nobody to send to." in result.output
    with app.app_context():
        assert len(db.session.scalars(select(CredentialBatch)).all()) == batches_before


def test_resume_of_a_paused_batch_names_the_reason_and_the_command_with_as(app, district):
    from datetime import timedelta

    from webapp.models import BatchStatus, utcnow

    app.config["MAIL_RATE_LIMIT"] = "1 per day"
    result = _send(app, "--yes")
    assert result.exit_code == 0, result.output
    assert "Batch 1 paused: 1 sent" in result.output
    assert "Reason: the email quota is spent until" in result.output
    assert "It goes on by itself from" in result.output
    assert "flask credentials resume 1 --as office.admin" in result.output
    assert "Follow it in the browser: https://keyslip.test/admin/batches/1" in result.output
    with app.app_context():
        batch = db.session.get(CredentialBatch, 1)
        assert batch.status is BatchStatus.PAUSED
        assert batch.resume_at.replace(tzinfo=None) > utcnow().replace(tzinfo=None) + timedelta(
            hours=23
        )


def test_send_asks_before_sending(app, district):
    result = app.test_cli_runner().invoke(
        args=[
            "credentials",
            "send",
            "--as",
            "office.admin",
            "--role",
            "student",
            "--school",
            "Maple Grove Elementary",
        ],
        input="n\n",
    )
    assert result.exit_code == 1
    with app.app_context():
        assert db.session.scalar(select(CredentialBatch)) is None


def test_only_an_active_admin_may_act(app, district):
    for who in ("not.a.student", "nobody"):
        result = app.test_cli_runner().invoke(
            args=[
                "credentials",
                "send",
                "--as",
                who,
                "--role",
                "student",
                "--school",
                "Maple Grove Elementary",
                "--dry-run",
            ]
        )
        assert result.exit_code != 0
        assert "must name an active admin" in result.output


def test_school_admin_cannot_send_to_another_school(app, district):
    with app.app_context():
        from tests.factories import make_school

        other = make_school("Riverside High")
        make_user(Role.STUDENT, school=other, password=None, email="r@f.example")
        db.session.commit()
    result = app.test_cli_runner().invoke(
        args=[
            "credentials",
            "send",
            "--as",
            "office.admin",
            "--role",
            "student",
            "--school",
            "Riverside High",
            "--dry-run",
        ]
    )
    assert result.exit_code != 0
