"""The settings page: every setting, per school or district, checked, audited, scoped."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.factories import PASSWORD, make_school, make_user
from webapp.admin.settings_page import FIELDS
from webapp.extensions import db
from webapp.models import AuditEvent, Role
from webapp.services import settings


@pytest.fixture
def ids(app) -> dict[str, int]:
    with app.app_context():
        oak, elm = make_school("Oak School"), make_school("Elm School")
        make_user(Role.ADMIN, school=oak, username="oak.admin")
        make_user(Role.ADMIN, username="district", district_wide=True)
        make_user(Role.TEACHER, school=oak, username="teach")
        db.session.commit()
        return {"oak": oak.id, "elm": elm.id}


def test_every_setting_the_service_knows_is_on_the_page():
    assert set(FIELDS) == set(settings.SPECS)


def _save(client, school_id, **values):
    data = {"school_id": str(school_id or ""), **values}
    return client.post_form("/admin/settings", data, token_from="/admin/settings")


def test_a_school_admin_changes_their_school_and_it_is_audited_old_to_new(app, client, ids):
    client.sign_in("oak.admin", PASSWORD)
    page = client.get("/admin/settings", follow_redirects=True).get_data(as_text=True)
    assert "Settings: Oak School" in page and "From the district." in page
    response = _save(client, ids["oak"], invite_link_days="3", young_student_grades="KG, 01")
    assert response.status_code == 303
    with app.app_context():
        assert settings.get("invite_link_days", ids["oak"]) == 3
        assert settings.get("young_student_grades", ids["oak"]) == ["KG", "01"]
        assert settings.get("invite_link_days", ids["elm"]) == 7  # other schools untouched
        event = db.session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "settings_changed",
                AuditEvent.details["key"].as_string() == "invite_link_days",
            )
        )
        assert (event.details["old"], event.details["new"]) == (None, 3)
    page = client.get(f"/admin/settings?school_id={ids['oak']}").get_data(as_text=True)
    assert "Saved for Oak School: Invitation links last (days), Young students&#39; grades." in page


def test_bad_values_are_shown_next_to_their_fields_and_nothing_is_saved(app, client, ids):
    client.sign_in("oak.admin", PASSWORD)
    response = _save(client, ids["oak"], invite_link_days="30", fallback_email="office at oak",
                     test_mode="yes")  # fmt: skip
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Nothing was saved. Fix the 2 settings marked below." in page
    assert "Use a whole number from 1 to 7." in page and "That email address is not valid" in page
    assert 'value="30"' in page  # what they typed stays in the field
    with app.app_context():
        assert settings.get("test_mode", ids["oak"]) is False


def test_the_district_row_is_for_district_admins_and_schools_inherit_it(app, client, ids):
    client.sign_in("district", PASSWORD)
    assert _save(client, None, temp_password_days="21").status_code == 303
    with app.app_context():
        assert settings.get("temp_password_days", ids["oak"]) == 21
    other = app.test_client()
    other.sign_in("oak.admin", PASSWORD)
    assert _save(other, None, temp_password_days="2").status_code == 404
    assert other.get(f"/admin/settings?school_id={ids['elm']}").status_code == 404
    assert _save(other, ids["elm"], temp_password_days="2").status_code == 404
    with app.app_context():
        assert settings.get("temp_password_days", ids["elm"]) == 21


def test_teachers_have_no_settings_page(client, ids):
    client.sign_in("teach", PASSWORD)
    assert client.get("/admin/settings").status_code in (403, 404)


def test_single_sign_on_roles_are_a_list_of_known_roles(app, client, ids):
    client.sign_in("oak.admin", PASSWORD)
    assert _save(client, ids["oak"], sso_roles="student, teacher").status_code == 303
    with app.app_context():
        assert settings.get("sso_roles", ids["oak"]) == ["student", "teacher"]
    refused = _save(client, ids["oak"], sso_roles="wizard")
    assert refused.status_code == 400 and "Give a list of roles from" in refused.get_data(
        as_text=True
    )


def test_the_time_zone_is_a_choice_of_every_zone_and_a_school_saves_its_own(app, client, ids):
    client.sign_in("oak.admin", PASSWORD)
    page = client.get(f"/admin/settings?school_id={ids['oak']}").get_data(as_text=True)
    choices = re.search(r'<select id="setting-time_zone".*?</select>', page, re.S).group(0)
    assert '<option value="UTC" selected>UTC</option>' in choices  # inherited from config
    assert choices.count("<option") == len(settings.zone_names()) > 300
    assert _save(client, ids["oak"], time_zone="America/Chicago").status_code == 303
    with app.app_context():
        assert settings.get("time_zone", ids["oak"]) == "America/Chicago"
        assert settings.get("time_zone", ids["elm"]) == "UTC"
        event = db.session.scalar(
            select(AuditEvent).where(AuditEvent.details["key"].as_string() == "time_zone")
        )
        assert (event.details["old"], event.details["new"]) == (None, "America/Chicago")
    page = client.get(f"/admin/settings?school_id={ids['oak']}").get_data(as_text=True)
    assert '<option value="America/Chicago" selected>' in page


def test_a_name_that_is_not_a_time_zone_is_refused_with_an_example(app, client, ids):
    client.sign_in("oak.admin", PASSWORD)
    refused = _save(client, ids["oak"], time_zone="Mars/Olympus")
    assert refused.status_code == 400
    assert "Use a time zone name such as America/Chicago or Europe/London." in refused.get_data(
        as_text=True
    )
    with app.app_context():
        assert settings.get("time_zone", ids["oak"]) == "UTC"
