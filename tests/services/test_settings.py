"""Per-school settings: school row, then district row, then config; audited; scoped."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.factories import make_school, make_user
from webapp.extensions import db
from webapp.models import AuditEvent, Role
from webapp.services import settings
from webapp.services.errors import NotAllowed, PolicyError


def test_school_then_district_then_config(app):
    with app.app_context():
        maple, river = make_school(), make_school()
        admin = make_user(Role.ADMIN, district_wide=True)
        assert settings.get("invite_link_days", maple) == 7
        settings.set("invite_link_days", 5, None, admin)
        assert settings.get("invite_link_days", maple) == 5
        settings.set("invite_link_days", 3, maple, admin)
        assert settings.get("invite_link_days", maple) == 3
        assert settings.get("invite_link_days", river) == 5
        assert settings.get("invite_link_days") == 5


@pytest.mark.settings(TEST_MODE=True)
def test_config_supplies_the_default(app):
    with app.app_context():
        assert settings.get("test_mode") is True


def test_changes_are_audited(app):
    with app.app_context():
        school = make_school()
        admin = make_user(Role.ADMIN, school=school)
        settings.set("fallback_email", "Office@School.Example", school, admin)
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "settings_changed"))
        assert event.details == {
            "key": "fallback_email",
            "old": None,
            "new": "Office@school.example",
        }
        assert event.target_id == school.id


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("invite_link_days", 8),
        ("invite_link_days", "7"),
        ("reset_link_minutes", 0),
        ("test_mode", "yes"),
        ("fallback_email", "not an email"),
        ("test_mode_phone", "555-0100"),
        ("notify_channel", "pigeon"),
    ],
)
def test_bad_values_are_refused(app, key, value):
    with app.app_context():
        admin = make_user(Role.ADMIN, district_wide=True)
        with pytest.raises(PolicyError):
            settings.set(key, value, None, admin)


def test_unknown_keys_are_refused(app):
    with app.app_context():
        admin = make_user(Role.ADMIN, district_wide=True)
        with pytest.raises(KeyError):
            settings.set("SECRET_KEY", "x", None, admin)
        with pytest.raises(KeyError):
            settings.get("SECRET_KEY")


def test_school_admin_cannot_change_another_school_or_the_district(app):
    with app.app_context():
        mine, theirs = make_school(), make_school()
        admin = make_user(Role.ADMIN, school=mine)
        teacher = make_user(Role.TEACHER, school=mine)
        settings.set("test_mode", True, mine, admin)
        with pytest.raises(NotAllowed):
            settings.set("test_mode", True, theirs, admin)
        with pytest.raises(NotAllowed):
            settings.set("test_mode", True, None, admin)
        with pytest.raises(NotAllowed):
            settings.set("test_mode", True, mine, teacher)
