"""A batch's page: progress, the reason it stopped, when it goes on, resume, and scope."""

from __future__ import annotations

import pytest

from tests.delivery.conftest import make_district
from tests.factories import PASSWORD, make_school, make_user
from webapp import create_app
from webapp.delivery import batches
from webapp.extensions import db
from webapp.models import BatchStatus, CredentialBatch, Role, School, User
from webapp.services import settings


@pytest.fixture
def paused(app) -> int:
    """A link batch of three, stopped after one by a spent daily quota."""
    app.config["MAIL_RATE_LIMIT"] = "1 per day"
    district = make_district(app, 3)
    with app.app_context():
        admin = db.session.get(User, district.admin_id)
        batch = batches.send_credentials(district.student_ids, "link", "email", {}, admin)
        db.session.commit()
        make_user(Role.ADMIN, school=make_school("Other School"), username="other.admin")
        make_user(Role.TEACHER, school=admin.schools[0], username="a.teacher")
        db.session.commit()
        return batch.id


def test_the_page_shows_where_the_batch_stands_in_the_district_time_zone(app, client, paused):
    app.config["TIME_ZONE"] = "America/New_York"
    client.sign_in("office.admin", PASSWORD)
    page = client.get(f"/admin/batches/{paused}").get_data(as_text=True)
    assert "<h1>Batch" in page and "link by email" in page
    assert "paused" in page
    assert "1 of 3 done" in page
    assert "the email quota is spent until" in page
    assert "It goes on by itself from" in page and ("EST" in page or "EDT" in page)
    assert "Estimated finish:" in page
    assert "Resume now" in page
    assert 'hx-trigger="every 2s"' in page  # it keeps itself up to date


def test_a_schools_batch_shows_its_times_on_the_schools_own_clock(app, client, paused):
    app.config["TIME_ZONE"] = "America/New_York"
    with app.app_context():
        batch = db.session.get(CredentialBatch, paused)
        admin = make_user(Role.ADMIN, username="district", district_wide=True)
        settings.set("time_zone", "Asia/Tokyo", db.session.get(School, batch.school_id), admin)
        db.session.commit()
    client.sign_in("office.admin", PASSWORD)
    page = client.get(f"/admin/batches/{paused}").get_data(as_text=True)
    assert "It goes on by itself from" in page and "JST" in page
    assert "EST" not in page and "EDT" not in page


def test_htmx_polling_gets_only_the_progress_partial(client, paused):
    client.sign_in("office.admin", PASSWORD)
    response = client.get(f"/admin/batches/{paused}/progress", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="batch-progress"')
    assert "<h1>" not in html
    assert "HX-Request" in response.headers["Vary"]


def test_resume_runs_the_rest_once_the_quota_allows(app, client, paused):
    app.config["MAIL_RATE_LIMIT"] = None
    client.sign_in("office.admin", PASSWORD)
    response = client.post_form(
        f"/admin/batches/{paused}/resume", token_from=f"/admin/batches/{paused}"
    )
    assert response.status_code == 303
    with app.app_context():
        batch = db.session.get(CredentialBatch, paused)
        assert batch.status is BatchStatus.DONE and batch.sent == 3
    page = client.get(f"/admin/batches/{paused}").get_data(as_text=True)
    assert "3 of 3 done" in page and "every 2s" not in page and "Resume now" not in page


def test_resume_needs_the_csrf_token(app, client, paused):
    client.sign_in("office.admin", PASSWORD)
    assert client.post(f"/admin/batches/{paused}/resume").status_code == 400
    with app.app_context():
        assert db.session.get(CredentialBatch, paused).status is BatchStatus.PAUSED


@pytest.mark.parametrize("path", ["", "/progress"])
def test_an_admin_of_another_school_gets_404(client, paused, path):
    client.sign_in("other.admin", PASSWORD)
    assert client.get(f"/admin/batches/{paused}{path}").status_code == 404


def test_another_schools_admin_cannot_resume(app, client, paused):
    client.sign_in("other.admin", PASSWORD)
    response = client.post_form(f"/admin/batches/{paused}/resume", token_from="/admin/")
    assert response.status_code == 404
    with app.app_context():
        assert db.session.get(CredentialBatch, paused).status is BatchStatus.PAUSED


def test_teachers_and_strangers_are_kept_out(client, paused):
    assert client.get(f"/admin/batches/{paused}").status_code in (302, 303)
    client.sign_in("a.teacher", PASSWORD)
    assert client.get(f"/admin/batches/{paused}").status_code in (403, 404)


def test_an_unknown_time_zone_stops_start_up_naming_it(tmp_path, monkeypatch):
    from tests.conftest import BASE_SETTINGS

    monkeypatch.setenv("KEYSLIP_INSTANCE_PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="Mars/Olympus"):
        create_app({**BASE_SETTINGS, "TIME_ZONE": "Mars/Olympus"})


def test_the_list_shows_the_schools_batches_to_its_admins_only(app, client, paused):
    client.sign_in("office.admin", PASSWORD)
    page = client.get("/admin/batches").get_data(as_text=True)
    assert f"Batch {paused}</a>" in page and "link by email" in page
    assert "1 / 0 / 0 of 3" in page and "office.admin" in page
    other = app.test_client()
    other.sign_in("other.admin", PASSWORD)
    assert "No batches yet" in other.get("/admin/batches").get_data(as_text=True)


def test_the_people_table_filters_by_status_and_pages_by_id(app, client, paused, monkeypatch):
    from webapp.delivery import log

    client.sign_in("office.admin", PASSWORD)
    page = client.get(f"/admin/batches/{paused}?status=sent").get_data(as_text=True)
    assert page.count("student0@families.example") == 1
    assert "student1@families.example" not in page
    monkeypatch.setattr(log, "DELIVERIES_PER_PAGE", 2)
    first = client.get(f"/admin/batches/{paused}").get_data(as_text=True)
    assert "student1@families.example" in first and "student2@families.example" not in first
    assert "Next people" in first
    next_href = first.split('class="pager"><a href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    rest = client.get(next_href).get_data(as_text=True)
    assert "student2@families.example" in rest and "student0@families.example" not in rest


def test_retry_failed_sends_only_the_failed_again(app, client, paused):
    from sqlalchemy import update

    from webapp.models import Delivery

    app.config["MAIL_RATE_LIMIT"] = None
    with app.app_context():
        batch = db.session.get(CredentialBatch, paused)
        batch.status = BatchStatus.DONE
        db.session.execute(
            update(Delivery)
            .where(Delivery.batch_id == paused, Delivery.status == "queued")
            .values(status="failed", error="550 no such user")
        )
        db.session.commit()
    client.sign_in("office.admin", PASSWORD)
    page = client.get(f"/admin/batches/{paused}").get_data(as_text=True)
    assert "Retry the 2 failed" in page and "550 no such user" in page
    token_page = f"/admin/batches/{paused}"
    response = client.post_form(f"/admin/batches/{paused}/retry-failed", token_from=token_page)
    assert response.status_code == 303
    with app.app_context():
        batch = db.session.get(CredentialBatch, paused)
        assert (batch.status, batch.sent, batch.failed) == (BatchStatus.DONE, 3, 0)


def test_the_delivery_log_csv_has_outcomes_never_credentials_and_is_audited(app, client, paused):
    from sqlalchemy import select

    from webapp.models import AuditEvent

    client.sign_in("office.admin", PASSWORD)
    response = client.get(f"/admin/batches/{paused}/deliveries.csv")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    body = response.get_data(as_text=True)
    lines = body.strip().splitlines()
    assert lines[0].startswith("username,given_name,family_name,channel,address")
    assert len(lines) == 4 and "sent" in body and "queued" in body
    assert "set-password" not in body
    with app.app_context():
        event = db.session.scalar(
            select(AuditEvent).where(AuditEvent.action == "export_downloaded")
        )
        assert event.details == {"kind": "deliveries", "rows": 3}
    other = app.test_client()
    other.sign_in("other.admin", PASSWORD)
    assert other.get(f"/admin/batches/{paused}/deliveries.csv").status_code == 404
