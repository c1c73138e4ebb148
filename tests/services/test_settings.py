"""Per-school settings: school row, then district row, then config; audited; scoped."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select

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


@pytest.mark.parametrize("name", ["America/Chicago", "Europe/London", "UTC"])
def test_a_time_zone_name_is_kept(app, name):
    with app.app_context():
        admin = make_user(Role.ADMIN, district_wide=True)
        assert settings.set("time_zone", name, None, admin) == name
        assert settings.zone() == ZoneInfo(name)


@pytest.mark.parametrize("value", ["Mars/Olympus", "america/chicago", "EST5", "", None, 3])
def test_a_time_zone_must_be_a_zone_name(app, value):
    with app.app_context():
        admin = make_user(Role.ADMIN, district_wide=True)
        with pytest.raises(PolicyError) as refused:
            settings.set("time_zone", value, None, admin)
        assert refused.value.problems == [
            "Use a time zone name such as America/Chicago or Europe/London."
        ]


@pytest.mark.settings(TIME_ZONE="Europe/London")
def test_a_schools_time_zone_beats_the_districts_which_beats_config(app):
    with app.app_context():
        maple, river = make_school(), make_school()
        admin = make_user(Role.ADMIN, district_wide=True)
        pupil = make_user(Role.STUDENT, school=maple)
        assert settings.zone(maple) == ZoneInfo("Europe/London")
        settings.set("time_zone", "America/New_York", None, admin)
        assert settings.zone(maple) == ZoneInfo("America/New_York")
        settings.set("time_zone", "America/Chicago", maple, admin)
        assert settings.zone(maple) == settings.zone(maple.id) == ZoneInfo("America/Chicago")
        assert settings.zone(pupil) == ZoneInfo("America/Chicago")  # the user's school
        assert settings.zone(river) == settings.zone() == ZoneInfo("America/New_York")


def test_a_users_zone_is_their_first_school_by_id_as_for_user_picks(app):
    with app.app_context():
        first, second = make_school(), make_school()
        admin = make_user(Role.ADMIN, district_wide=True)
        settings.set("time_zone", "Asia/Tokyo", second, admin)
        both = make_user(Role.STUDENT, school=second)
        both.schools.append(first)
        nowhere = make_user(Role.PARENT)
        assert settings.zone(both) == settings.zone() == ZoneInfo("UTC")
        assert settings.zone(nowhere) == settings.zone()


def test_every_schools_zone_is_read_in_one_query_per_app_context(app):
    with app.app_context():
        schools = [make_school() for _ in range(5)]
        admin = make_user(Role.ADMIN, district_wide=True)
        for school in schools:
            settings.set("time_zone", "Asia/Tokyo", school, admin)
        db.session.flush()
        statements: list[str] = []

        def watch(conn, cursor, statement, params, context, executemany):
            statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", watch)
        try:
            for school in schools * 10:
                assert settings.zone(school.id) == ZoneInfo("Asia/Tokyo")
        finally:
            event.remove(db.engine, "before_cursor_execute", watch)
        assert len(statements) == 1
