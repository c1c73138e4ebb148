"""The print flow: issue, render and mark printed, all or nothing."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.factories import make_school, make_user
from tests.printing.conftest import awaiting_batch, make_office, pdf_pages, slips_in
from webapp.delivery import codes
from webapp.extensions import db
from webapp.models import AuditEvent, CredentialBatch, Delivery, Role, User
from webapp.printing import flow, render
from webapp.printing.slips import Layout, SlipOptions
from webapp.services import auth, settings
from webapp.services.auth import SignInOutcome
from webapp.services.errors import NotAllowed, PolicyError


def _print(app, office, batch_id, options=None):
    with app.app_context():
        actor = db.session.get(User, office.admin_id)
        printed = flow.print_batch(batch_id, actor, options or SlipOptions(Layout.SAVER, 8))
        db.session.commit()
        return printed


def test_each_slip_carries_the_right_name_username_and_a_password_that_signs_in(app, office):
    batch_id = awaiting_batch(app, office)
    printed = _print(app, office, batch_id)
    found = slips_in(printed.pdf)
    assert len(found) == printed.printed == 3
    with app.app_context():
        for slip in found:
            user = db.session.scalar(select(User).where(User.username == slip["username"]))
            assert slip["name"] == user.display_name
            result = auth.sign_in(slip["username"], slip["password"])
            assert result.outcome is SignInOutcome.MUST_CHANGE
            assert result.user.id == user.id


def test_printing_marks_the_deliveries_printed_audits_each_and_finishes_the_batch(app, office):
    batch_id = awaiting_batch(app, office)
    _print(app, office, batch_id)
    with app.app_context():
        batch = db.session.get(CredentialBatch, batch_id)
        assert batch.status == "done" and batch.skipped == 0
        deliveries = db.session.scalars(select(Delivery).where(Delivery.batch_id == batch_id))
        assert {d.status for d in deliveries} == {"printed"}
        printed = db.session.scalars(
            select(AuditEvent.target_id).where(AuditEvent.action == "delivery_printed")
        ).all()
        assert sorted(printed) == office.student_ids


def test_a_print_channel_batch_prints_every_queued_delivery(app, office):
    batch_id = awaiting_batch(app, office, kind="link", channel="print")
    printed = _print(app, office, batch_id, SlipOptions(Layout.SINGLE))
    assert printed.printed == 3
    assert len(pdf_pages(printed.pdf)) == 3


def test_a_parent_code_batch_prints_letters_whose_codes_work(app, office):
    batch_id = awaiting_batch(app, office, kind="parent-code")
    printed = _print(app, office, batch_id)
    pages = pdf_pages(printed.pdf)
    assert len(pages) == 3
    with app.app_context():
        for page, student_id in zip(pages, sorted(office.student_ids), strict=True):
            student = db.session.get(User, student_id)
            assert student.display_name in page
            code = next(w for w in page.split() if codes.normalise(w) and len(w) == 14)
            assert codes.find_parent_code(code).student_id == student_id


def test_the_paper_size_comes_from_the_school_setting(app, office):
    with app.app_context():
        admin = db.session.get(User, office.admin_id)
        settings.set("paper_size", "Letter", admin.schools[0], admin)
        db.session.commit()
    printed = _print(app, office, awaiting_batch(app, office))
    import io

    from pypdf import PdfReader

    assert round(float(PdfReader(io.BytesIO(printed.pdf)).pages[0].mediabox.height)) == 792


def test_a_batch_prints_once(app, office):
    batch_id = awaiting_batch(app, office)
    _print(app, office, batch_id)
    with pytest.raises(PolicyError, match="nothing left to print"):
        _print(app, office, batch_id)


def test_a_failed_render_changes_nothing(app, office, monkeypatch):
    batch_id = awaiting_batch(app, office)
    with app.app_context():
        before = {u.id: u.password_hash for u in db.session.scalars(select(User))}

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(render, "render_chunks", broken)
    with app.app_context(), pytest.raises(OSError):
        flow.print_batch(batch_id, db.session.get(User, office.admin_id))
    with app.app_context():
        db.session.rollback()
        assert db.session.get(CredentialBatch, batch_id).status == "awaiting_print"
        assert {u.id: u.password_hash for u in db.session.scalars(select(User))} == before
        actions = ["delivery_printed", "credential_issued"]
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.action.in_(actions))) is None


def test_someone_deactivated_since_the_batch_was_made_is_left_out(app, office):
    batch_id = awaiting_batch(app, office)
    with app.app_context():
        from webapp.models import utcnow

        db.session.get(User, office.student_ids[0]).deactivated_at = utcnow()
        db.session.commit()
    printed = _print(app, office, batch_id)
    assert (printed.printed, printed.skipped) == (2, 1)
    assert "pupil0" not in "".join(pdf_pages(printed.pdf))


def test_an_admin_of_another_school_or_a_teacher_cannot_print(app, office):
    batch_id = awaiting_batch(app, office)
    with app.app_context():
        other = make_user(Role.ADMIN, school=make_school(), username="other.admin")
        teacher = make_user(Role.TEACHER, school=db.session.get(User, office.admin_id).schools[0])
        for actor in (other, teacher):
            with pytest.raises(NotAllowed):
                flow.print_batch(batch_id, actor)
        db.session.rollback()
        assert db.session.get(CredentialBatch, batch_id).status == "awaiting_print"


def test_a_batch_with_people_outside_the_admins_schools_is_refused_whole(app):
    office = make_office(app)
    batch_id = awaiting_batch(app, office)
    with app.app_context():
        elsewhere = make_school("Riverside High School")
        outsider = make_user(Role.STUDENT, school=elsewhere, password=None)
        db.session.add(Delivery(batch_id=batch_id, user_id=outsider.id, channel="email",
                                status="skipped", error="no address: print instead"))  # fmt: skip
        db.session.commit()
        with pytest.raises(NotAllowed):
            flow.print_batch(batch_id, db.session.get(User, office.admin_id))


def test_the_paper_size_setting_takes_only_a4_or_letter(app, office):
    with app.app_context():
        admin = db.session.get(User, office.admin_id)
        with pytest.raises(PolicyError, match="A4 or Letter"):
            settings.set("paper_size", "A3", admin.schools[0], admin)


def _school_keeps(app, office, zone: str) -> None:
    with app.app_context():
        admin = db.session.get(User, office.admin_id)
        settings.set("time_zone", zone, admin.schools[0], admin)
        db.session.commit()


def test_a_single_slip_says_when_it_expires_on_the_schools_clock(app, office):
    _school_keeps(app, office, "Asia/Tokyo")
    batch_id = awaiting_batch(app, office)
    printed = _print(app, office, batch_id, SlipOptions(Layout.SINGLE))
    page = pdf_pages(printed.pdf)[0]
    assert re.search(r"until \d\d \w+ \d{4}, \d\d:\d\d JST\.", page), page
    assert " UTC" not in page
