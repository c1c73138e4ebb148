"""Account reports: Student Account Info, User Account Info and User Account Credentials."""

from __future__ import annotations

import json
import re
import stat

import pytest
from sqlalchemy import select

from tests.delivery.test_no_plain_secrets import database_dump
from tests.factories import PASSWORD, link_guardian, make_school, make_user
from tests.printing.conftest import (
    HOSTILE_NAMES,
    awaiting_batch,
    make_office,
    make_outsider,
    pdf_pages,
)
from webapp.delivery import codes
from webapp.extensions import db
from webapp.models import AuditEvent, Delivery, Role, User, utcnow
from webapp.printing import reports
from webapp.printing.reports import ReportKind
from webapp.services import auth, settings
from webapp.services.errors import NotAllowed, PolicyError
from webapp.services.exports import ExportFilter

CREDENTIAL_ROW = re.compile(
    r"(?P<username>\S+) (?P<role>student|parent) (?P<password>[a-z0-9-]{14,}) .*? UTC"
    r"(?: (?P<code>[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}))?"
)


def _report(app, office, kind: ReportKind, **filters) -> list[str]:
    with app.app_context():
        actor = db.session.get(User, office.admin_id)
        _, pdf = reports.print_report(actor, kind, ExportFilter(**filters))
        db.session.commit()
    return pdf_pages(pdf)


def _family(app, office) -> None:
    """Pupil0 has an email, a sign-in and a parent; the school also has a teacher."""
    with app.app_context():
        pupil = db.session.get(User, office.student_ids[0])
        pupil.email = "pupil0@example.org"
        school = pupil.schools[0]
        parent = make_user(Role.PARENT, school=school, username="pat.parent",
                           given_name="Pat", family_name="Parentson", password=None)  # fmt: skip
        link_guardian(parent, pupil)
        make_user(Role.TEACHER, school=school, username="teacher", given_name="Sam")
        pupil.activated_at = pupil.last_login_at = utcnow()
        db.session.commit()


def test_student_info_has_a_header_the_filters_and_a_row_per_student(app, office):
    _family(app, office)
    (page,) = _report(app, office, ReportKind.STUDENT_INFO, school_id=office.school_id,
                      grade="05")  # fmt: skip
    assert page.startswith("Student Account Info\nMaple Grove Elementary\nPrinted ")
    assert "Filters: Grade: Grade 5 · Role: student" in page
    assert "Name Username Grade State Activated Last sign-in Email on file Parents linked" in page
    assert "Page 1 of 1" in page
    lines = [line for line in page.splitlines() if line.startswith("Pupil")]
    assert len(lines) == 3
    assert "pupil0@example.org Pat Parentson" in lines[0] and " UTC" in lines[0]
    assert lines[1].endswith("not sent not yet never none none")
    assert "Sam " not in page and "pat.parent" not in page


def test_user_info_shows_everyone_with_their_state_and_last_delivery(app, office):
    _family(app, office)
    awaiting_batch(app, office)
    with app.app_context():
        latest = db.session.scalars(
            select(Delivery).where(Delivery.user_id == office.student_ids[1])
        ).one()
        outcome = f"{latest.status.value} ({latest.channel.value})"
    (page,) = _report(app, office, ReportKind.USER_INFO, school_id=office.school_id)
    assert "Filters: Everyone in the chosen schools" in page
    assert "Name Username Role State Last delivery When" in page
    assert re.search(rf"pupil1 student not sent {re.escape(outcome)} \d+ \w+ \d{{4}}", page)
    assert "Sam " in page and "teacher teacher active never sent" in page
    assert "Pat Parentson pat.parent parent not sent never sent" in page
    (parents,) = _report(app, office, ReportKind.USER_INFO, role="parent", state="not_sent")
    assert "pat.parent" in parents and "pupil1" not in parents
    assert "Role: parent · State: not sent" in parents


def test_a_long_report_repeats_its_column_headers_and_numbers_its_pages(app):
    office = make_office(app, 90)
    pages = _report(app, office, ReportKind.USER_INFO, class_id=office.class_id)
    total = len(pages)
    assert total >= 2
    for number, page in enumerate(pages, start=1):
        assert "Name Username Role State Last delivery When" in page
        assert f"Page {number} of {total}" in page
        assert "User Account Info · Maple Grove Elementary" in page
    assert "Filters: Class: 5B" in pages[0]
    # Every row whole, on one page only.
    rows = re.findall(r"^Pupil\d+ Family\d+ pupil\d+ student \w+ .*$", "\n".join(pages), re.M)
    assert len(rows) == 90


def test_credentials_sign_in_and_show_parent_codes_and_nothing_plain_is_stored(app, office):
    _family(app, office)
    with app.app_context():
        kept = codes.issue_parent_code(
            db.session.get(User, office.student_ids[1]),
            actor=db.session.get(User, office.admin_id),
        )
        kept_code = kept.formatted
        db.session.commit()
    (page,) = _report(app, office, ReportKind.CREDENTIALS, school_id=office.school_id)
    assert "Confidential" in page and "reset these passwords" in page
    rows = {m["username"]: m.groupdict() for m in CREDENTIAL_ROW.finditer(page)}
    assert sorted(rows) == ["pat.parent", "pupil0", "pupil1", "pupil2"]
    assert "teacher" not in page
    assert rows["pat.parent"]["code"] is None
    assert rows["pupil1"]["code"] == kept_code  # a live code is shown, not replaced
    with app.app_context():
        for username, row in rows.items():
            result = auth.sign_in(username, row["password"])
            assert result.user is not None and result.user.must_change_password, username
            if row["code"]:
                found = codes.find_parent_code(row["code"])
                assert db.session.get(User, found.student_id).username == username
        dump = "\n".join(database_dump())
        events = db.session.scalars(select(AuditEvent)).all()
        details = "\n".join(json.dumps(e.details) for e in events)
        for row in rows.values():
            assert row["password"] not in dump and row["password"] not in details
            assert not row["code"] or row["code"].replace("-", "") not in dump
        printed = [e for e in events if e.action == "report_printed"]
        assert [e.details["kind"] for e in printed] == ["credentials"]
        assert printed[0].details["rows"] == 4
        issued = [e for e in events if e.action == "credential_issued"]
        assert len(issued) == 4 + 1 + 2  # 4 passwords, the kept code, 2 new codes


def test_credentials_are_for_students_and_parents_only(app, office):
    with app.app_context():
        actor = db.session.get(User, office.admin_id)
        with pytest.raises(PolicyError, match="students and parents"):
            reports.print_report(actor, ReportKind.CREDENTIALS, ExportFilter(role="teacher"))


@pytest.mark.parametrize("kind", list(ReportKind))
def test_names_in_any_script_or_html_like_print_as_text(app, kind):
    office = make_office(app, len(HOSTILE_NAMES), names=HOSTILE_NAMES)
    text = "\n".join(_report(app, office, kind, class_id=office.class_id))
    for given, family in HOSTILE_NAMES:
        assert f"{given} {family}" in text
    assert "<b>x</b> Bold" in text and "<img src=file:///etc/passwd> Img" in text


def test_another_schools_admin_and_a_teacher_are_refused(app, office):
    with app.app_context():
        other = make_user(Role.ADMIN, school=make_school("Riverside"), username="other.admin")
        school = db.session.get(User, office.admin_id).schools[0]
        teacher = make_user(Role.TEACHER, school=school, username="teacher")
        db.session.commit()
        for kind in ReportKind:
            for filters in (ExportFilter(school_id=office.school_id),
                            ExportFilter(class_id=office.class_id)):  # fmt: skip
                with pytest.raises(NotAllowed):
                    reports.print_report(other, kind, filters)
            with pytest.raises(NotAllowed):
                reports.print_report(teacher, kind, ExportFilter())


# Over HTTP


def _post(client, **data):
    return client.post_form("/admin/print/reports", data)


def test_the_page_offers_the_reports_and_warns_that_credentials_reset_passwords(
    app, client, office
):
    client.sign_in("office.admin", PASSWORD)
    home = client.get("/admin/").get_data(as_text=True)
    assert 'href="/admin/print/reports"' in home
    page = client.get("/admin/print/reports")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Student Account Info" in html and "User Account Credentials" in html
    assert "resets passwords" in html


def test_posting_returns_the_pdf_privately(app, client, office):
    client.sign_in("office.admin", PASSWORD)
    response = _post(client, kind="student-info", class_id=str(office.class_id))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    assert re.fullmatch(r'attachment; filename="student-info-report-\d{8}\.pdf"',
                        response.headers["Content-Disposition"])  # fmt: skip
    assert "Filters: Class: 5B · Role: student" in pdf_pages(response.data)[0]


def test_credentials_need_the_reset_confirmed(app, client, office):
    client.sign_in("office.admin", PASSWORD)
    refused = _post(client, kind="credentials", class_id=str(office.class_id))
    assert refused.status_code == 422
    assert "Tick this to print credentials" in refused.get_data(as_text=True)
    with app.app_context():
        assert not db.session.get(User, office.student_ids[0]).must_change_password
    done = _post(client, kind="credentials", class_id=str(office.class_id), reset_confirmed="y")
    assert done.status_code == 200 and done.headers["Cache-Control"] == "no-store"
    assert len(list(CREDENTIAL_ROW.finditer(pdf_pages(done.data)[0]))) == 3


@pytest.mark.settings(PRINT_JOB_THRESHOLD=2)
def test_credentials_for_more_than_a_request_should_issue_point_to_the_cli(app, client, office):
    client.sign_in("office.admin", PASSWORD)
    response = _post(client, kind="credentials", class_id=str(office.class_id), reset_confirmed="y")
    assert response.status_code == 422
    assert "3 people match; this report holds up to 2" in response.get_data(as_text=True)
    with app.app_context():
        assert not db.session.get(User, office.student_ids[0]).must_change_password
    assert _post(client, kind="student-info", class_id=str(office.class_id)).status_code == 200


def test_nobody_matching_says_so(app, client, office):
    client.sign_in("office.admin", PASSWORD)
    response = _post(client, kind="user-info", role="parent")
    assert response.status_code == 422
    assert "Nobody matches that choice." in response.get_data(as_text=True)


@pytest.mark.parametrize("who", ["teacher", "other.admin"])
def test_a_teacher_or_an_admin_of_another_school_gets_404(app, client, office, who):
    make_outsider(app, office, who)
    client.sign_in(who, PASSWORD)
    # The page is every admin's (for their own schools); a teacher does not see it at all.
    assert client.get("/admin/print/reports").status_code == (404 if who == "teacher" else 200)
    token = client.csrf_token("/account")
    for choice in ({"school_id": str(office.school_id)}, {"class_id": str(office.class_id)}):
        response = client.post(
            "/admin/print/reports",
            data={"csrf_token": token, "kind": "credentials", "reset_confirmed": "y", **choice},
        )
        assert response.status_code == 404
    with app.app_context():
        assert not db.session.get(User, office.student_ids[0]).must_change_password


# The command line


def _run(app, *args):
    return app.test_cli_runner().invoke(args=["credentials", "report", *args])


def test_the_cli_writes_a_report_owner_only(app, office, tmp_path):
    out = tmp_path / "students.pdf"
    result = _run(app, "student-info", "--as", "office.admin", "--school", str(office.school_id),
                  "--grade", "05", "--state", "not_sent", "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"Student Account Info: 3 people to {out}." in result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    page = pdf_pages(out.read_bytes())[0]
    assert "Filters: Grade: Grade 5 · Role: student · State: not sent" in page


def test_the_cli_credentials_are_all_or_nothing(app, office, tmp_path):
    missing = tmp_path / "no-such-folder" / "creds.pdf"
    result = _run(app, "credentials", "--as", "office.admin", "--role", "student",
                  "--out", str(missing))  # fmt: skip
    assert result.exit_code != 0 and "No such folder" in result.output
    with app.app_context():
        assert not db.session.get(User, office.student_ids[0]).must_change_password
        assert not db.session.scalar(
            select(AuditEvent).where(AuditEvent.action == "report_printed")
        )
    out = tmp_path / "creds.pdf"
    result = _run(app, "credentials", "--as", "office.admin", "--role", "student",
                  "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "passwords were reset" in result.output
    rows = list(CREDENTIAL_ROW.finditer(pdf_pages(out.read_bytes())[0]))
    with app.app_context():
        assert len(rows) == 3
        assert all(auth.sign_in(r["username"], r["password"]).user for r in rows)


def test_the_cli_refuses_another_schools_class(app, office, tmp_path):
    with app.app_context():
        make_user(Role.ADMIN, school=make_school(), username="other.admin")
        db.session.commit()
    result = _run(app, "user-info", "--as", "other.admin", "--class", str(office.class_id),
                  "--out", str(tmp_path / "x.pdf"))  # fmt: skip
    assert result.exit_code != 0 and "No such school or class" in result.output
    assert not (tmp_path / "x.pdf").exists()


def test_a_schools_report_shows_times_on_that_schools_clock(app, office):
    _family(app, office)
    with app.app_context():
        admin = db.session.get(User, office.admin_id)
        settings.set("time_zone", "Asia/Tokyo", admin.schools[0], admin)
        db.session.commit()
    (page,) = _report(app, office, ReportKind.STUDENT_INFO, school_id=office.school_id)
    assert re.search(r"\nPrinted \d+ \w+ \d{4} \d\d:\d\d JST ·", page), page
    pupil0 = next(line for line in page.splitlines() if line.startswith("Pupil0"))
    assert " JST" in pupil0 and " UTC" not in pupil0
