"""Adding a person by hand: checked like an import row, linked, sent, and found by the
next import by email instead of duplicated."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.factories import PASSWORD, make_class, make_school, make_user
from webapp.extensions import db
from webapp.imports import jobs, mapping, runs
from webapp.models import (
    AuditEvent,
    CredentialBatch,
    GuardianLink,
    ImportRun,
    Role,
    School,
    User,
)
from webapp.services import person
from webapp.services.person import NewPerson


@pytest.fixture
def ids(app) -> dict[str, int]:
    with app.app_context():
        oak, elm = make_school("Oak School"), make_school("Elm School")
        admin = make_user(Role.ADMIN, school=oak, username="oak.admin")
        kid = make_user(Role.STUDENT, school=oak, username="kid.k")
        make_user(Role.STUDENT, school=elm, username="elm.kid")
        klass = make_class(oak, title="Class 1")
        db.session.commit()
        return {"oak": oak.id, "elm": elm.id, "admin": admin.id, "kid": kid.id,
                "class": klass.id}  # fmt: skip


def add(app, ids, **fields):
    with app.app_context():
        actor = db.session.get(User, ids["admin"])
        values = {"role": "student", "given_name": "Zoë", "family_name": "Núñez",
                  "school_id": ids["oak"], **fields}  # fmt: skip
        user, problems = person.add_person(actor, NewPerson(**values))
        db.session.commit()
        return (user.id, user.username) if user else None, problems


def test_a_student_gets_a_username_a_class_and_an_audit_row(app, ids):
    (user_id, username), problems = add(app, ids, class_id=ids["class"], grade="5",
                                        email="zoe@families.example")  # fmt: skip
    assert problems == {} and username == "zoe.nunez"
    (_, second), _ = add(app, ids, email="zoe2@families.example")
    assert second == "zoe.nunez2"
    with app.app_context():
        user = db.session.get(User, user_id)
        assert (user.source, user.grade, user.role) == ("local", "05", Role.STUDENT)
        assert [k.title for k in person.classes_of(user)] == ["Class 1"]
        assert db.session.scalar(
            select(AuditEvent).where(AuditEvent.action == "account_created")
        ).details == {"role": "student", "by": "console"}


def test_every_problem_is_named_by_its_field_and_nothing_is_added(app, ids):
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(User))
    result, problems = add(app, ids, role="admin", given_name=" ", email="nope", phone="12",
                           school_id=ids["elm"], child_username="elm.kid")  # fmt: skip
    assert result is None
    assert set(problems) == {"role", "given_name", "email", "phone", "school_id",
                             "child_username"}  # fmt: skip
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == before


def test_a_class_must_be_of_the_chosen_school_and_for_students_or_teachers(app, ids):
    with app.app_context():
        elm_class = make_class(db.session.get(School, ids["elm"]), title="Elm 1").id
        db.session.commit()
    _, problems = add(app, ids, class_id=elm_class)
    assert set(problems) == {"class_id"}
    _, problems = add(app, ids, role="parent", class_id=ids["class"])
    assert set(problems) == {"class_id"}
    _, problems = add(app, ids, school_id=ids["elm"], class_id=ids["class"])
    assert set(problems) == {"school_id"}  # the school is named, not the class as well


def test_a_parent_is_linked_to_their_child_and_a_twin_email_is_refused(app, ids):
    fields = {"role": "parent", "given_name": "Pat", "family_name": "K",
              "email": "pat@families.example", "child_username": "kid.k"}  # fmt: skip
    (parent_id, _), problems = add(app, ids, **fields)
    assert problems == {}
    with app.app_context():
        link = db.session.scalar(select(GuardianLink).where(GuardianLink.parent_id == parent_id))
        assert (link.student_id, link.origin) == (ids["kid"], "admin")
    _, problems = add(app, ids, role="parent", email="pat@families.example")
    assert problems["email"].startswith("A parent with that email already exists")


def test_the_page_adds_and_can_send_a_link_at_once(app, client, ids):
    client.sign_in("oak.admin", PASSWORD)
    response = client.post_form(
        "/admin/users/new",
        {"role": "teacher", "given_name": "Grace", "family_name": "Hopper",
         "school_id": str(ids["oak"]), "email": "grace@oak.example", "send_now": "1"},
    )  # fmt: skip
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Grace Hopper added as grace.hopper." in page
    with app.app_context():
        assert db.session.scalar(select(CredentialBatch)).total == 1
    blank = {"role": "student", "given_name": "", "family_name": "X",
             "school_id": str(ids["oak"])}  # fmt: skip
    bad = client.post_form("/admin/users/new", blank)
    assert bad.status_code == 400 and "Give a first name." in bad.get_data(as_text=True)


def test_the_next_import_matches_the_hand_made_person_by_email_and_says_so(app, ids):
    (user_id, _), _ = add(app, ids, given_name="Ada", family_name="Lovelace",
                          email="ada@home.example")  # fmt: skip
    sheet = "ID,First Name,Last Name,Role,Email\nS1,Ada,Lovelace,student,ada@home.example\n"
    with app.app_context():
        actor = db.session.get(User, ids["admin"])
        run = runs.start_import(
            "sheet.csv", sheet.encode(), runs.ImportRequest(school_id=ids["oak"]), actor=actor
        )
        run.options = {**run.options, "mapping": mapping.mapping_choice(run).mapping}
        jobs.request_apply(run, actor=actor, confirm=False)
        db.session.commit()
        run = db.session.get(ImportRun, run.id)
        messages = [p["message"] for p in run.row_errors or []] + str(run.counts).split()
        assert any("added by hand" in str(m) for m in run.row_errors or []), messages
        assert db.session.scalar(select(func.count()).where(User.email == "ada@home.example")) == 1
        assert db.session.scalar(select(User.id).where(User.email == "ada@home.example")) == user_id
