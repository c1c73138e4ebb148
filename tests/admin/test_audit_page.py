"""The audit trail page: filters, scope, paging by id, CSV, and bad dates."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest
import time_machine
from sqlalchemy import select

from tests.factories import PASSWORD, make_school, make_user
from webapp.extensions import db
from webapp.models import AuditEvent, Role, User
from webapp.services import audit, audit_log, settings


@pytest.fixture
def trail(app) -> dict[str, int]:
    """Events about people of two schools, by their admins and the system."""
    with app.app_context():
        alpha, beta = make_school("Alpha"), make_school("Beta")
        admin_a = make_user(Role.ADMIN, school=alpha, username="admin.a")
        make_user(Role.ADMIN, school=beta, username="admin.b")
        make_user(Role.ADMIN, username="district", district_wide=True)
        ada = make_user(Role.STUDENT, school=alpha, username="ada")
        bea = make_user(Role.STUDENT, school=beta, username="bea")
        with time_machine.travel(datetime(2026, 9, 1, 12), tick=False):
            audit.record(admin_a, "credential_issued", ada, kind="link")
            db.session.flush()  # the time is taken when the row is written
        with time_machine.travel(datetime(2026, 9, 2, 12), tick=False):
            audit.record(audit.SYSTEM, "delivery_sent", ada, channel="email")
            audit.record(audit.SYSTEM, "delivery_sent", bea, channel="email")
            db.session.flush()
        db.session.commit()
        return {"ada": ada.id, "bea": bea.id}


def test_a_school_admin_sees_events_about_their_people_only(client, trail):
    client.sign_in("admin.a", PASSWORD)
    page = client.get("/admin/audit").get_data(as_text=True)
    assert ">ada</a>" in page and ">bea</a>" not in page
    assert "credential issued" in page and "kind: link" in page


def test_a_district_admin_sees_everything(client, trail):
    client.sign_in("district", PASSWORD)
    page = client.get("/admin/audit").get_data(as_text=True)
    assert ">ada</a>" in page and ">bea</a>" in page


def test_filters_by_actor_person_action_and_days(app, trail):
    with app.app_context():
        district = db.session.scalar(select(User).where(User.username == "district"))

        def actions(**filters) -> list[str]:
            page = audit_log.page(district, audit_log.AuditFilter(**filters))
            return [e.action for e in page.events if e.action != "login_succeeded"]

        assert actions(actor="admin.a") == ["credential_issued"]
        assert actions(person="bea") == ["delivery_sent"]
        assert actions(action="delivery_sent", person="ada") == ["delivery_sent"]
        assert actions(since=datetime(2026, 9, 2).date()) == ["delivery_sent", "delivery_sent"]
        assert actions(until=datetime(2026, 9, 1).date()) == ["credential_issued"]


def test_pages_go_by_id_and_keep_the_filters(app, client, trail, monkeypatch):
    monkeypatch.setattr(audit_log, "PER_PAGE", 1)
    client.sign_in("district", PASSWORD)
    first = client.get("/admin/audit?action=delivery_sent").get_data(as_text=True)
    assert "Older events" in first and ">bea</a>" in first and ">ada</a>" not in first
    href = first.split('class="pager"><a href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert "action=delivery_sent" in href
    second = client.get(href).get_data(as_text=True)
    assert ">ada</a>" in second and ">bea</a>" not in second


def test_htmx_gets_the_events_partial(client, trail):
    client.sign_in("admin.a", PASSWORD)
    response = client.get("/admin/audit?person=ada", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert html.startswith('<section id="audit-events"') and "<h1>" not in html
    assert "HX-Request" in response.headers["Vary"]


def test_a_bad_date_says_what_is_wrong_next_to_the_field(client, trail):
    client.sign_in("admin.a", PASSWORD)
    page = client.get("/admin/audit?since=yesterday").get_data(as_text=True)
    assert "Give a date as YYYY-MM-DD" in page and 'aria-invalid="true"' in page
    page = client.get("/admin/audit?since=2026-09-03&until=2026-09-01").get_data(as_text=True)
    assert "The end date is before the start date." in page
    assert client.get("/admin/audit.csv?until=nope").status_code == 400


def test_the_csv_holds_the_filtered_events_and_is_itself_audited(app, client, trail):
    client.sign_in("admin.a", PASSWORD)
    response = client.get("/admin/audit.csv?person=ada")
    assert response.headers["Cache-Control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert {r["action"] for r in rows} == {"credential_issued", "delivery_sent"}
    assert all(r["target"] == str(trail["ada"]) for r in rows)
    with app.app_context():
        event = db.session.scalar(
            select(AuditEvent).where(AuditEvent.action == "export_downloaded")
        )
        assert event.details == {"kind": "audit", "rows": 2, "person": "ada"}


def test_teachers_cannot_read_the_trail(app, trail):
    with app.app_context():
        make_user(Role.TEACHER, school=make_school(), username="teach")
        db.session.commit()
    client = app.test_client()
    client.sign_in("teach", PASSWORD)
    assert client.get("/admin/audit").status_code in (403, 404)
    assert client.get("/admin/audit.csv").status_code in (403, 404)


def test_days_and_times_are_on_the_districts_clock_and_the_page_names_it(app, client, trail):
    with app.app_context():
        district = db.session.scalar(select(User).where(User.username == "district"))
        beta = db.session.get(User, trail["bea"]).schools[0]
        settings.set("time_zone", "Pacific/Kiritimati", None, district)  # UTC+14
        settings.set("time_zone", "America/Chicago", beta, district)  # not this page's clock
        db.session.commit()
    client.sign_in("district", PASSWORD)
    # 12:00 UTC on 1 Sep is already 02:00 on 2 Sep in Kiritimati; 12:00 on 2 Sep is 3 Sep.
    page = client.get("/admin/audit?since=2026-09-02&until=2026-09-02").get_data(as_text=True)
    assert "on the district's clock, Pacific/Kiritimati." in page
    assert "2 Sep 2026 02:00 +14" in page and "3 Sep 2026" not in page
    assert "CDT" not in page
