"""The console home: attention, the activation chart, recent batches and imports."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import update

from tests.delivery.conftest import make_district
from tests.factories import PASSWORD, make_user
from webapp.delivery import batches
from webapp.extensions import db
from webapp.models import CredentialBatch, Role, User, utcnow
from webapp.services import accounts


def test_activations_are_counted_week_by_week_within_scope(app):
    district = make_district(app, 3)
    with app.app_context():
        admin = db.session.get(User, district.admin_id)
        today = date(2026, 12, 2)  # a Wednesday
        ids = district.student_ids
        moments = [utcnow().replace(year=2026, month=12, day=1), utcnow().replace(
            year=2026, month=11, day=24), utcnow().replace(year=2026, month=1, day=5)]  # fmt: skip
        for user_id, moment in zip(ids, moments, strict=True):
            db.session.execute(update(User).where(User.id == user_id).values(activated_at=moment))
        other = make_user(Role.STUDENT)  # no school: outside the admin's scope
        other.activated_at = moments[0]
        db.session.commit()
        weeks = accounts.activations_by_week(admin, weeks=8, today=today)
        assert weeks[-1].starts == date(2026, 11, 30) and weeks[-1].activated == 1
        assert weeks[-2].activated == 1
        assert sum(w.activated for w in weeks) == 2
        assert weeks[0].starts == date(2026, 11, 30) - timedelta(weeks=7)


def test_the_home_shows_what_needs_attention_and_what_happened(app, client):
    district = make_district(app, 2)
    with app.app_context():
        admin = db.session.get(User, district.admin_id)
        batch = batches.send_credentials(district.student_ids, "link", "email", {}, admin)
        db.session.commit()
        db.session.execute(
            update(CredentialBatch).where(CredentialBatch.id == batch.id).values(failed=1)
        )
        db.session.commit()
    client.sign_in("office.admin", PASSWORD)
    page = client.get("/admin/").get_data(as_text=True)
    assert "Deliveries needing attention" in page and "1 failed" in page
    assert "First sign-ins, last 8 weeks" in page and "<svg" in page and "<title" in page
    assert "2 of 2 sent" in page and "No scheduled sync has run." in page


def test_counts_are_kept_for_a_while_then_taken_again(app, client):
    from webapp.services import accounts

    app.config["CONSOLE_COUNTS_SECONDS"] = 60
    district = make_district(app, 2)
    with app.app_context():
        admin = db.session.get(User, district.admin_id)
        first = accounts.school_counts(admin)
        assert first[0].total("student") == 2
        make_user(Role.STUDENT, school=admin.schools[0])
        db.session.commit()
        assert accounts.school_counts(admin)[0].total("student") == 2  # kept
        app.config["CONSOLE_COUNTS_SECONDS"] = 0
        assert accounts.school_counts(admin)[0].total("student") == 3  # taken again
    client.sign_in("office.admin", PASSWORD)
    assert "(counted " in client.get("/admin/").get_data(as_text=True)


def test_the_activation_chart_is_kept_like_the_counts(app):
    app.config["CONSOLE_COUNTS_SECONDS"] = 60
    district = make_district(app, 2)
    with app.app_context():
        admin = db.session.get(User, district.admin_id)
        today = utcnow().date()
        assert sum(w.activated for w in accounts.activations_by_week(admin, today=today)) == 0
        db.session.execute(
            update(User).where(User.id == district.student_ids[0]).values(activated_at=utcnow())
        )
        db.session.commit()
        assert sum(w.activated for w in accounts.activations_by_week(admin, today=today)) == 0
        app.config["CONSOLE_COUNTS_SECONDS"] = 0
        assert sum(w.activated for w in accounts.activations_by_week(admin, today=today)) == 1
