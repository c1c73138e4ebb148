"""Account exports: scoped, filtered, formula-safe, audited, and re-importable."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from tests.factories import PASSWORD, make_class, make_school, make_user
from webapp.extensions import db
from webapp.imports import mapping, runs
from webapp.models import AuditEvent, Role, User
from webapp.services import exports
from webapp.services.errors import NotAllowed

HOSTILE = [
    '=HYPERLINK("http://evil.example","x")',
    "+1+2",
    "-2+3",
    "@SUM(A1:A2)",
    "\tTabbed",
    "\rCarriage",
    '";=1+2',
]


@pytest.fixture
def world(app) -> dict[str, int]:
    with app.app_context():
        a, b = make_school("Alpha"), make_school("Beta")
        admin_a = make_user(Role.ADMIN, school=a, username="admin.a")
        teacher = make_user(Role.TEACHER, school=a, username="teach.a")
        students = [
            make_user(
                Role.STUDENT,
                school=a,
                given_name=name,
                family_name="Pupil",
                grade="05",
                student_number=f"A80120000500{i}",
                activated=False,
                password=None,
            )  # fmt: skip
            for i, name in enumerate(HOSTILE)
        ]
        klass = make_class(a, teacher=teacher, students=students[:2], title="Maths 5")
        make_user(Role.PARENT, school=a, username="par.a", email="=cmd@example.org")
        make_user(Role.STUDENT, school=b, username="stu.b")
        db.session.commit()
        return {"a": a.id, "b": b.id, "admin": admin_a.id, "class": klass.id}


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def export(app, world, **filters):
    with app.app_context():
        actor = db.session.get(User, world["admin"])
        text, count = exports.export_accounts(actor, exports.ExportFilter(**filters))
        db.session.commit()
        return text, count


def test_export_neutralises_every_formula_cell(app, world):
    text, _ = export(app, world, role="student")
    names = [r["given_name"] for r in rows(text)]
    assert len(names) == len(HOSTILE)
    for name in names:
        assert name[0] not in "=+-@\t\r", name
    assert '\'=HYPERLINK("http://evil.example","x")' in names
    parent_email = rows(export(app, world, role="parent")[0])[0]["email"]
    assert parent_email == "'=cmd@example.org"


def test_export_is_scoped_to_the_admins_schools(app, world):
    text, _ = export(app, world)
    assert "stu.b" not in text and "par.a" in text
    assert "admin.a" not in text  # admin accounts are not exported


def test_student_numbers_only_in_a_student_export(app, world):
    assert "student_number" in rows(export(app, world, role="student")[0])[0]
    everyone = export(app, world)[0]
    assert "student_number" not in everyone.splitlines()[0]
    assert "A80120000500" not in everyone
    assert "A80120000500" not in export(app, world, role="parent")[0]


def test_filters_by_class_grade_and_state(app, world):
    assert export(app, world, class_id=world["class"])[1] == 3  # teacher and two students
    assert export(app, world, grade="05")[1] == len(HOSTILE)
    assert export(app, world, state="not_sent")[1] == len(HOSTILE)
    assert export(app, world, state="active")[1] == 2  # the teacher and the parent


def test_a_class_or_school_outside_scope_is_refused(app, world):
    with app.app_context():
        other_id = make_class(make_school("Gamma")).id
        db.session.commit()
    with pytest.raises(NotAllowed):
        export(app, world, class_id=other_id)
    with pytest.raises(NotAllowed):
        export(app, world, school_id=world["b"])


def test_export_is_audited(app, world):
    export(app, world, role="student", grade="05")
    with app.app_context():
        event = db.session.scalar(
            select(AuditEvent).where(AuditEvent.action == "export_downloaded")
        )
        assert event.details == {"kind": "accounts", "rows": len(HOSTILE), "role": "student",
                                 "grade": "05"}  # fmt: skip


def test_download_over_http_is_never_cached_and_scoped(app, client, world):
    client.sign_in("admin.a", PASSWORD)
    response = client.get("/admin/exports/accounts.csv?role=student")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Disposition"].startswith(
        'attachment; filename="accounts-student-'
    )
    assert client.get(f"/admin/exports/accounts.csv?school_id={world['b']}").status_code == 404
    assert client.get("/admin/exports/accounts.csv?role=admin").status_code == 400
    assert "Download CSV" in client.get("/admin/exports/accounts").get_data(as_text=True)


def test_teacher_cannot_export(app, client, world):
    client.sign_in("teach.a", PASSWORD)
    assert client.get("/admin/exports/accounts.csv").status_code == 404


def test_export_edit_reimport_round_trip(app, world):
    # A formula-looking name and a + phone number are neutralised by the export and must
    # come back verbatim, or every re-import would "change" them.
    sheet = "ID,First Name,Last Name,Email,Year,Mobile\n" + "".join(
        f"{i},Kid{i},=Family{i},kid{i}@example.org,4,+1 512 555 01{i:02}\n" for i in range(5)
    )
    with app.app_context():
        actor = db.session.get(User, world["admin"])
        request = runs.ImportRequest(school_id=world["a"])
        run = runs.start_import("students.csv", sheet.encode(), request, actor=actor)
        run.options = {**run.options, "mapping": mapping.mapping_choice(run).mapping}
        plan = runs.build_plan(run, actor=actor)
        from webapp.imports.write import apply_plan

        run.start()  # applied in this process, as the CLI does
        apply_plan(plan, actor=actor, run=run)
        db.session.commit()
    text, _ = export(app, world, role="student", grade="04")
    table = rows(text)
    assert len(table) == 5
    assert table[0]["family_name"] == "'=Family0" and table[0]["phone"] == "'+15125550100"
    table[0]["email"] = "new.address@example.org"
    table.append({**table[1], "sourced_id": "99", "username": "", "given_name": "Newt",
                  "email": "newt@example.org"})  # fmt: skip
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(table[0]))
    writer.writeheader()
    writer.writerows(table)
    with app.app_context():
        actor = db.session.get(User, world["admin"])
        request = runs.ImportRequest(school_id=world["a"])
        run = runs.start_import("edited.csv", out.getvalue().encode(), request,
                                          actor=actor)  # fmt: skip
        choice = mapping.mapping_choice(run)
        assert {"sourced_id", "username", "given_name", "family_name", "email", "grade",
                "role", "student_number"} <= set(choice.mapping)  # fmt: skip
        run.options = {**run.options, "mapping": choice.mapping}
        plan = runs.build_plan(run, actor=actor)
        assert plan.errors == []
        counts = plan.counts()
        assert (counts["new"], counts["updated"], counts["unchanged"]) == (1, 1, 4)
        assert plan.updated[0].changes == {"email": ("kid0@example.org", "new.address@example.org")}


def test_the_export_form_names_roles_in_plain_english(client, world):
    client.sign_in("admin.a", PASSWORD)
    page = client.get("/admin/exports/accounts").get_data(as_text=True)
    assert ">Staff</option>" in page and ">Students</option>" in page and "Staffs" not in page
