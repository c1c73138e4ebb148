"""Mail merge CSV: students with their live parent code, parents, classes; never passwords."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from tests.factories import PASSWORD, link_guardian, make_class, make_school, make_user
from webapp.delivery import codes
from webapp.extensions import db
from webapp.models import AuditEvent, Role, User
from webapp.services import exports


@pytest.fixture
def world(app) -> dict[str, int]:
    with app.app_context():
        school, other = make_school("Alpha"), make_school("Beta")
        admin = make_user(Role.ADMIN, school=school, username="admin.a")
        teacher = make_user(Role.TEACHER, school=school, username="teach.a")
        ada = make_user(
            Role.STUDENT, school=school, username="ada", given_name="Ada", family_name="Lovelace",
            grade="05", student_number="00123",
        )  # fmt: skip
        make_user(
            Role.STUDENT, school=school, username="bob", given_name="=cmd|' /C calc'!A0",
            family_name="Tables", grade="05",
        )  # fmt: skip
        make_class(school, teacher=teacher, students=[ada], title="Maths 5")
        mum = make_user(Role.PARENT, school=school, given_name="Mary", family_name="Lovelace",
                        email="mary@example.org")  # fmt: skip
        dad = make_user(Role.PARENT, school=school, given_name="William", family_name="King",
                        email="w@example.org")  # fmt: skip
        link_guardian(mum, ada)
        link_guardian(dad, ada)
        make_user(Role.STUDENT, school=other, username="stranger")
        issued = codes.issue_parent_code(ada, actor=admin)
        db.session.commit()
        return {"admin": admin.id, "code": issued.formatted, "other": other.id}


def merge(app, world, **filters) -> list[dict[str, str]]:
    with app.app_context():
        actor = db.session.get(User, world["admin"])
        text, _ = exports.export_mail_merge(actor, exports.ExportFilter(**filters))
        db.session.commit()
    return list(csv.DictReader(io.StringIO(text)))


def test_each_student_has_a_row_with_code_parents_and_classes(app, world):
    rows = {r["username"]: r for r in merge(app, world)}
    assert set(rows) == {"ada", "bob"}  # students of the admin's school only
    ada = rows["ada"]
    assert ada["parent_code"] == world["code"]
    assert ada["parent_code_expires"]
    assert (ada["parent_1_name"], ada["parent_1_email"]) == ("Mary Lovelace", "mary@example.org")
    assert (ada["parent_2_name"], ada["parent_2_email"]) == ("William King", "w@example.org")
    assert ada["classes"] == "Maths 5" and ada["grade"] == "05" and ada["school"] == "Alpha"
    assert ada["student_number"] == "00123"  # kept as text, leading zeros and all
    assert rows["bob"]["parent_code"] == "" and rows["bob"]["parent_1_name"] == ""


def test_cells_are_neutralised_and_no_password_column_exists(app, world):
    rows = merge(app, world)
    bob = next(r for r in rows if r["username"] == "bob")
    assert bob["given_name"].startswith("'=")
    assert not any("password" in column for column in rows[0])


def test_a_voided_code_is_not_shown(app, world):
    with app.app_context():
        actor = db.session.get(User, world["admin"])
        ada = db.session.scalar(select(User).where(User.username == "ada"))
        codes.void_parent_code(ada.id, actor=actor)
        db.session.commit()
    ada_row = next(r for r in merge(app, world) if r["username"] == "ada")
    assert ada_row["parent_code"] == ""


def test_the_merge_is_audited_with_the_number_of_codes(app, world):
    merge(app, world, grade="05")
    with app.app_context():
        event = db.session.scalar(
            select(AuditEvent).where(AuditEvent.action == "export_downloaded")
        )
        assert event.details["kind"] == "mail_merge"
        assert event.details["rows"] == 2 and event.details["parent_codes"] == 1


def test_download_is_for_admins_of_the_school_and_never_cached(app, client, world):
    client.sign_in("admin.a", PASSWORD)
    response = client.get("/admin/exports/mail-merge.csv")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="mail-merge-')
    assert world["code"] in response.get_data(as_text=True)
    assert (
        client.get(f"/admin/exports/mail-merge.csv?school_id={world['other']}").status_code == 404
    )
    assert "Download mail merge CSV" in client.get("/admin/exports/accounts").get_data(as_text=True)
    teacher = app.test_client()
    teacher.sign_in("teach.a", PASSWORD)
    assert teacher.get("/admin/exports/mail-merge.csv").status_code == 404
