"""Credential batches through Flask-Mail's recording mode and the SMS outbox."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from tests.delivery.conftest import LINK, make_district
from tests.factories import link_guardian, make_class, make_school, make_user
from webapp.delivery import batches, codes, links, messages, sms
from webapp.delivery.links import LinkStatus
from webapp.delivery.progress import batch_progress
from webapp.extensions import db, mail
from webapp.jobs import pending
from webapp.models import AuditEvent, CredentialBatch, Delivery, Role, User, utcnow
from webapp.services import passwords, settings
from webapp.services.errors import NotAllowed, PolicyError


def _send(app: Flask, actor_id: int, ids, kind="link", channel="email", **options) -> int:
    with app.app_context():
        actor = db.session.get(User, actor_id)
        batch = batches.send_credentials(ids, kind, channel, options, actor)
        db.session.commit()
        return batch.id


def _deliveries(app, batch_id) -> list[Delivery]:
    with app.app_context():
        return db.session.scalars(
            select(Delivery).where(Delivery.batch_id == batch_id).order_by(Delivery.user_id)
        ).all()


def _token(text: str) -> str:
    return LINK.search(text).group(0).rsplit("/", 1)[1]


def test_link_batch_sends_one_working_link_to_each_person(app):
    district = make_district(app, 3)
    with mail.record_messages() as outbox:
        batch_id = _send(app, district.admin_id, district.student_ids)
    assert sorted(m.recipients[0] for m in outbox) == [
        f"student{n}@families.example" for n in range(3)
    ]
    with app.app_context():
        batch = db.session.get(CredentialBatch, batch_id)
        assert (batch.status, batch.total, batch.sent, batch.failed) == ("done", 3, 3, 0)
        assert batch_progress(batch).percent == 100
        for message in outbox:
            assert links.check_token(_token(message.body)).status is LinkStatus.VALID
            assert _token(message.body) in message.html
            assert "Maple Grove Elementary" in message.subject
            assert "Why you got this" in message.body
        actions = db.session.scalars(select(AuditEvent.action)).all()
        assert actions.count("credential_issued") == 3
        assert actions.count("delivery_sent") == 3
        assert actions.count("batch_created") == 1
        assert all(
            u.invited_at for u in db.session.scalars(select(User).where(User.role == "student"))
        )
    assert all(
        d.status == "sent" and d.sent_at and d.attempts == 1 for d in _deliveries(app, batch_id)
    )


def test_selection_mixing_foreign_ids_is_refused_whole(app):
    district = make_district(app, 2)
    with app.app_context():
        other = make_user(Role.STUDENT, school=make_school(), password=None, email="x@y.example")
        actor = db.session.get(User, district.admin_id)
        with pytest.raises(NotAllowed):
            batches.send_credentials([*district.student_ids, other.id], "link", "email", {}, actor)
        assert pending() == []
        assert db.session.scalar(select(func.count()).select_from(CredentialBatch)) == 0
        assert db.session.scalar(select(func.count()).select_from(Delivery)) == 0
        students = db.session.scalars(select(User).where(User.role == "student"))
        assert all(u.invited_at is None for u in students)


def test_teacher_batches_only_reach_their_own_students(app):
    with app.app_context():
        school = make_school()
        teacher = make_user(Role.TEACHER, school=school)
        mine = make_user(Role.STUDENT, school=school, password=None, email="m@f.example")
        other = make_user(Role.STUDENT, school=school, password=None, email="o@f.example")
        make_class(school, teacher=teacher, students=[mine])
        with pytest.raises(NotAllowed):
            batches.send_credentials([mine.id, other.id], "link", "email", {}, teacher)
        batch = batches.send_credentials([mine.id], "link", "email", {}, teacher)
        assert batch.total == 1


def test_pressing_the_button_twice_makes_one_batch(app):
    district = make_district(app, 2)
    with mail.record_messages() as outbox:
        first = _send(app, district.admin_id, district.student_ids, idempotency_key="press-0001")
        second = _send(app, district.admin_id, district.student_ids, idempotency_key="press-0001")
    assert first == second
    assert len(outbox) == 2
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CredentialBatch)) == 1


def test_two_parallel_presses_make_one_batch(app):
    district = make_district(app, 2)
    barrier = threading.Barrier(2)
    results: list[object] = []

    def press() -> None:
        with app.app_context():
            actor = db.session.get(User, district.admin_id)
            barrier.wait()
            try:
                batch = batches.send_credentials(
                    district.student_ids, "link", "print", {"idempotency_key": "race-0001"}, actor
                )
                db.session.commit()
                results.append(batch.id)
            except Exception as exc:  # noqa: BLE001 (reported below)
                db.session.rollback()
                results.append(exc)

    threads = [threading.Thread(target=press) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2 and results[0] == results[1], results
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CredentialBatch)) == 1
        assert db.session.scalar(select(func.count()).select_from(Delivery)) == 2


def test_someone_elses_idempotency_key_is_refused(app):
    district = make_district(app, 1)
    _send(
        app, district.admin_id, district.student_ids, channel="print", idempotency_key="key-00001"
    )
    with app.app_context():
        other = make_user(Role.ADMIN, district_wide=True)
        with pytest.raises(NotAllowed):
            batches.send_credentials(
                district.student_ids, "link", "print", {"idempotency_key": "key-00001"}, other
            )


def test_active_people_are_left_out_unless_asked(app):
    with app.app_context():
        school = make_school()
        admin = make_user(Role.ADMIN, school=school)
        active = make_user(Role.PARENT, school=school, email="a@f.example")
        new = make_user(Role.PARENT, school=school, password=None, email="n@f.example")
        gone = make_user(Role.PARENT, school=school, password=None, email="g@f.example")
        gone.deactivated_at = utcnow()
        plan = batches.preview([active.id, new.id, gone.id], "link", "email", {}, admin)
        assert [r.user.id for r in plan.recipients] == [new.id]
        assert plan.excluded == {"already active": 1, "deactivated": 1}
        plan = batches.preview(
            [active.id, new.id], "link", "email", {"include_active": True}, admin
        )
        assert {r.user.id for r in plan.recipients} == {active.id, new.id}


def test_rollout_filters(app):
    district = make_district(app, 3)
    a, b, c = district.student_ids
    with mail.record_messages():
        _send(app, district.admin_id, [a])
    with app.app_context():
        admin = db.session.get(User, district.admin_id)
        never = batches.preview([a, b, c], "link", "email", {"only_never_sent": True}, admin)
        assert {r.user.id for r in never.recipients} == {b, c}
        assert never.excluded == {"already sent": 1}
        recent = batches.preview(
            [a, b, c], "link", "email", {"sent_before": utcnow() - timedelta(hours=1)}, admin
        )
        assert {r.user.id for r in recent.recipients} == {b, c}
        later = batches.preview(
            [a, b, c], "link", "email", {"sent_before": utcnow() + timedelta(hours=1)}, admin
        )
        assert {r.user.id for r in later.recipients} == {a, b, c}
        db.session.get(User, b).activated_at = utcnow()
        not_active = batches.preview(
            [a, b, c], "link", "email", {"only_not_active": True, "include_active": True}, admin
        )
        assert {r.user.id for r in not_active.recipients} == {a, c}


def test_a_new_cohort_never_touches_the_earlier_one(app):
    district = make_district(app, 3)
    a, b, c = district.student_ids
    with mail.record_messages() as first:
        _send(app, district.admin_id, [a, b])
    with mail.record_messages():
        _send(app, district.admin_id, [c])
    with app.app_context():
        for message in first:
            assert links.check_token(_token(message.body)).status is LinkStatus.VALID


def test_people_without_an_address_are_counted_as_needing_print(app):
    district = make_district(app, 2)
    with app.app_context():
        nomail = make_user(
            Role.STUDENT, school=db.session.get(User, district.admin_id).schools[0], password=None
        )
        db.session.commit()
        nomail_id = nomail.id
    with mail.record_messages() as outbox:
        batch_id = _send(app, district.admin_id, [*district.student_ids, nomail_id])
    assert len(outbox) == 2
    with app.app_context():
        batch = db.session.get(CredentialBatch, batch_id)
        progress = batch_progress(batch)
        assert (progress.sent, progress.skipped, progress.needs_printing) == (2, 1, 1)
        skipped = db.session.scalar(select(Delivery).where(Delivery.user_id == nomail_id))
        assert (skipped.status, skipped.error) == ("skipped", "no address: print instead")
        event = db.session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "delivery_skipped", AuditEvent.target_id == nomail_id
            )
        )
        assert event.details == {
            "batch_id": batch_id,
            "delivery_id": skipped.id,
            "reason": "no address: print instead",
        }
        # Nobody was issued a credential they never received.
        assert db.session.get(User, nomail_id).invited_at is None


def test_print_batches_wait_for_slips_and_queue_no_job(app):
    district = make_district(app, 2)
    with app.app_context():
        actor = db.session.get(User, district.admin_id)
        batch = batches.send_credentials(district.student_ids, "password", "print", {}, actor)
        assert pending() == []
        assert batch.status == "awaiting_print"
        assert batch_progress(batch).needs_printing == 0
        db.session.commit()
        assert all(
            u.password_hash is None
            for u in db.session.scalars(select(User).where(User.role == "student"))
        )


def test_temporary_password_by_email_signs_in_and_must_be_changed(app, client):
    district = make_district(app, 1)
    with mail.record_messages() as outbox:
        _send(app, district.admin_id, district.student_ids, kind="password")
    [message] = outbox
    password = re.search(r"Temporary password: (\S+)", message.body).group(1)
    with app.app_context():
        user = db.session.get(User, district.student_ids[0])
        assert passwords.verify_password(user.password_hash, password)
        assert user.must_change_password
        username = user.username
    assert client.sign_in(username, password).headers["Location"] == "/password/change"


def test_temporary_passwords_are_never_sent_by_sms(app):
    district = make_district(app, 1)
    with app.app_context():
        actor = db.session.get(User, district.admin_id)
        with pytest.raises(PolicyError):
            batches.send_credentials(district.student_ids, "password", "sms", {}, actor)


def test_parent_code_by_email_can_be_looked_up(app):
    district = make_district(app, 1)
    with mail.record_messages() as outbox:
        _send(app, district.admin_id, district.student_ids, kind="parent-code")
    [message] = outbox
    code = re.search(r"[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}", message.body)
    with app.app_context():
        row = codes.find_parent_code(code.group(0))
        assert row.student_id == district.student_ids[0]


def test_parent_codes_go_only_to_students(app):
    district = make_district(app, 1)
    with app.app_context():
        admin = db.session.get(User, district.admin_id)
        parent = make_user(Role.PARENT, school=admin.schools[0], password=None, email="p@f.example")
        link_guardian(parent, db.session.get(User, district.student_ids[0]))
        plan = batches.preview(
            [parent.id, *district.student_ids], "parent-code", "email", {}, admin
        )
        assert [r.user.id for r in plan.recipients] == district.student_ids
        assert plan.excluded == {"not a student": 1}


@pytest.mark.settings(TEST_MODE=True, TEST_MODE_EMAIL="qa@district.example")
def test_test_mode_sends_everything_to_the_test_address_naming_the_recipient(app):
    district = make_district(app, 2)
    with mail.record_messages() as outbox:
        batch_id = _send(app, district.admin_id, district.student_ids)
    assert [m.recipients for m in outbox] == [["qa@district.example"]] * 2
    assert "student0@families.example" in outbox[0].body
    assert outbox[0].subject.startswith("[TEST for ")
    assert all(
        (d.address, d.route) == ("qa@district.example", "test_mode")
        for d in _deliveries(app, batch_id)
    )


def test_fallback_email_catches_people_without_one_and_is_logged(app):
    district = make_district(app, 1, with_email=False)
    with app.app_context():
        admin = db.session.get(User, district.admin_id)
        admin.district_wide = True
        settings.set("fallback_email", "office@maple.example", admin.schools[0], admin)
        db.session.commit()
    with mail.record_messages() as outbox:
        batch_id = _send(app, district.admin_id, district.student_ids)
    [message] = outbox
    assert message.recipients == ["office@maple.example"]
    assert "without their own email" in message.body
    [delivery] = _deliveries(app, batch_id)
    assert (delivery.status, delivery.route, delivery.address) == (
        "sent",
        "fallback",
        "office@maple.example",
    )


def test_names_cannot_inject_headers_and_are_escaped_in_html(app):
    district = make_district(app, 1)
    with app.app_context():
        user = db.session.get(User, district.student_ids[0])
        user.given_name = "Eve\r\nBcc: victim@evil.example"
        user.family_name = "<script>alert(1)</script>"
        user.schools[0].name = "Maple\nX-Injected: yes"
        db.session.commit()
    with mail.record_messages() as outbox:
        _send(app, district.admin_id, district.student_ids)
    [message] = outbox
    with app.app_context():
        raw = message.as_string()
    assert "\nBcc:" not in raw and "\nX-Injected" not in raw
    assert "\n" not in message.subject and "\r" not in message.subject
    assert "<script>" not in message.html
    assert "&lt;script&gt;" in message.html


@pytest.mark.settings(SMS_BACKEND="outbox")
def test_sms_link_fits_one_gsm7_segment(app):
    district = make_district(app, 2, phone="+15125550123")
    batch_id = _send(app, district.admin_id, district.student_ids, channel="sms")
    outbox = sms.outbox(app)
    assert len(outbox) == 2
    for message in outbox:
        assert message.to == "+15125550123"
        assert len(message.body) <= 160
        assert messages.is_gsm7(message.body)
        assert LINK.search(message.body)
        assert "Maple Grove" in message.body
    assert {d.status for d in _deliveries(app, batch_id)} == {"sent"}


@pytest.mark.settings(SMS_BACKEND="outbox", SMS_DAILY_CAP_PER_NUMBER=10)
def test_sms_stays_in_one_segment_with_a_long_unicode_school_name(app):
    district = make_district(app, 1, phone="+15125550123", given_name="Zoë 🚀 Łukasz")
    with app.app_context():
        db.session.get(User, district.admin_id).schools[0].name = (
            "Escola Municipal de Ensino Fundamental Professora Zélia Gattai — Unidade São João " * 2
        )
        db.session.commit()
    _send(app, district.admin_id, district.student_ids, channel="sms")
    _send(app, district.admin_id, district.student_ids, kind="parent-code", channel="sms")
    for message in sms.outbox(app):
        assert len(message.body) <= 160, message.body
        assert messages.is_gsm7(message.body)
    assert LINK.search(sms.outbox(app)[0].body)
    assert re.search(
        r"[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}", sms.outbox(app)[1].body
    )
    assert "Zo" in sms.outbox(app)[1].body


@pytest.mark.settings(SMS_BACKEND="outbox", TEST_MODE=True, TEST_MODE_PHONE="+15125550199")
def test_sms_test_mode_goes_to_the_test_number_naming_the_recipient(app):
    district = make_district(app, 1, phone="+15125550123", given_name="Lily")
    _send(app, district.admin_id, district.student_ids, channel="sms")
    [message] = sms.outbox(app)
    assert message.to == "+15125550199"
    assert message.body.startswith("TEST for Lily (0123): ")
    assert len(message.body) <= 160


@pytest.mark.settings(SMS_BACKEND="outbox")
def test_invalid_phone_numbers_need_printing(app):
    district = make_district(app, 2, phone="555-0123")
    batch_id = _send(app, district.admin_id, district.student_ids, channel="sms")
    assert sms.outbox(app) == []
    assert {(d.status, d.error) for d in _deliveries(app, batch_id)} == {
        ("skipped", "no address: print instead")
    }


@pytest.mark.settings(SMS_BACKEND="outbox", SMS_DAILY_CAP_PER_NUMBER=1)
def test_sms_daily_cap_per_number(app):
    district = make_district(app, 2, phone="+15125550123")
    batch_id = _send(app, district.admin_id, district.student_ids, channel="sms")
    assert len(sms.outbox(app)) == 1
    statuses = sorted((d.status, d.error or "") for d in _deliveries(app, batch_id))
    assert statuses == [("failed", "daily SMS limit for this number reached"), ("sent", "")]


class FakeTwilio:
    """Stands in for twilio.rest.Client: records calls, raises what it is told to."""

    def __init__(self, errors: dict[str, int]) -> None:
        from twilio.base.exceptions import TwilioRestException

        self.sent: list[dict] = []
        self.errors = errors
        self.exc = TwilioRestException
        self.messages = self

    def create(self, **kwargs):
        status = self.errors.get(kwargs["to"])
        if status:
            raise self.exc(status, "https://api.twilio.test", msg="refused", code=21211)
        self.sent.append(kwargs)
        return type("Msg", (), {"sid": f"SM{len(self.sent)}"})()


@pytest.mark.settings(
    SMS_BACKEND="twilio",
    TWILIO_FROM_NUMBER="+15125550100",
    DELIVERY_RETRY_DELAYS=[0],
    DELIVERY_MAX_ATTEMPTS=2,
)
def test_twilio_sender_sorts_refusals_from_provider_trouble(app):
    fake = FakeTwilio({"+15125550111": 400, "+15125550122": 503})
    app.extensions["keyslip_twilio_client"] = lambda: fake
    with app.app_context():
        school = make_school()
        admin = make_user(Role.ADMIN, school=school)
        ids = [
            make_user(Role.PARENT, school=school, password=None, phone=phone).id
            for phone in ("+15125550111", "+15125550122", "+15125550133")
        ]
        db.session.commit()
        admin_id = admin.id
    batch_id = _send(app, admin_id, ids, channel="sms")
    assert [m["to"] for m in fake.sent] == ["+15125550133"]
    assert fake.sent[0]["from_"] == "+15125550100"
    by_phone = {d.address: d for d in _deliveries(app, batch_id)}
    assert by_phone["+15125550111"].status == "failed"
    assert by_phone["+15125550111"].error.startswith("400 21211")
    assert by_phone["+15125550122"].status == "failed"
    assert by_phone["+15125550122"].error.startswith("gave up after 2 attempts")
    assert by_phone["+15125550133"].status == "sent"


def test_retry_failed_resends_only_the_failed(app):
    district = make_district(app, 3)
    a, b, c = district.student_ids
    with mail.record_messages():
        batch_id = _send(app, district.admin_id, district.student_ids)
    with app.app_context():
        failed = db.session.scalar(select(Delivery).where(Delivery.user_id == b))
        failed.status, failed.error = "failed", "550 mailbox unavailable"
        db.session.commit()
    with mail.record_messages() as outbox, app.app_context():
        admin = db.session.get(User, district.admin_id)
        assert batches.retry_failed(db.session.get(CredentialBatch, batch_id), admin) == 1
        db.session.commit()
    assert [m.recipients[0] for m in outbox] == ["student1@families.example"]
    assert {d.status for d in _deliveries(app, batch_id)} == {"sent"}


def test_retry_failed_is_scoped(app):
    district = make_district(app, 1)
    with mail.record_messages():
        batch_id = _send(app, district.admin_id, district.student_ids)
    with app.app_context():
        stranger = make_user(Role.ADMIN, school=make_school())
        with pytest.raises(NotAllowed):
            batches.retry_failed(db.session.get(CredentialBatch, batch_id), stranger)


@pytest.mark.settings(NOTIFY_NEW_STUDENTS=True)
def test_notify_new_accounts_follows_the_role_settings(app):
    with app.app_context():
        school = make_school()
        admin = make_user(Role.ADMIN, school=school)
        kid = make_user(Role.STUDENT, school=school, password=None, email="k@f.example")
        parent = make_user(Role.PARENT, school=school, password=None, email="p@f.example")
        teacher = make_user(Role.TEACHER, school=school, password=None, email="t@f.example")
        old = make_user(Role.STUDENT, school=school, email="o@f.example")
        db.session.commit()
        ids = [kid.id, parent.id, teacher.id, old.id]
        with mail.record_messages() as outbox:
            [batch] = batches.notify_new_accounts(ids, admin)
            db.session.commit()
            again = batches.notify_new_accounts(ids, admin)
            db.session.commit()
        assert [m.recipients for m in outbox] == [["k@f.example"]]
        assert again == [] or again[0].id == batch.id
        settings.set("notify_new_parents", True, school, admin)
        newer = make_user(Role.PARENT, school=school, password=None, email="q@f.example")
        with mail.record_messages() as outbox:
            batches.notify_new_accounts([newer.id], admin)
            db.session.commit()
        assert [m.recipients for m in outbox] == [["q@f.example"]]


def test_notify_new_accounts_sends_nothing_by_default(app):
    with app.app_context():
        school = make_school()
        admin = make_user(Role.ADMIN, school=school)
        kid = make_user(Role.STUDENT, school=school, password=None, email="k@f.example")
        assert batches.notify_new_accounts([kid.id], admin) == []
        assert pending() == []


def test_notify_new_accounts_follows_one_schools_own_setting(app):
    with app.app_context():
        north, south = make_school("North"), make_school("South")
        admin = make_user(Role.ADMIN, district_wide=True)
        kid = make_user(Role.STUDENT, school=north, password=None, email="n@f.example")
        other = make_user(Role.STUDENT, school=south, password=None, email="s@f.example")
        settings.set("notify_new_students", True, north, admin)
        db.session.commit()
        with mail.record_messages() as outbox:
            batches.notify_new_accounts([kid.id, other.id], admin)
            db.session.commit()
        assert [m.recipients for m in outbox] == [["n@f.example"]]


@pytest.mark.settings(NOTIFY_NEW_STUDENTS=True)
def test_notify_new_accounts_refuses_people_outside_the_admins_scope(app):
    with app.app_context():
        north, south = make_school("North"), make_school("South")
        admin = make_user(Role.ADMIN, school=north)
        stranger = make_user(Role.STUDENT, school=south, password=None, email="s@f.example")
        db.session.commit()
        with pytest.raises(NotAllowed), mail.record_messages() as outbox:
            batches.notify_new_accounts([stranger.id], admin)
        assert outbox == []
