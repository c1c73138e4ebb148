"""Passwords from a file never take over an account someone uses or another school shares."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.factories import PASSWORD, link_guardian, make_class, make_school, make_user
from webapp.extensions import db
from webapp.imports import jobs, mapping, runs
from webapp.imports.write import apply_plan
from webapp.models import ImportRun, Role, School, User, utcnow
from webapp.services import auth, passwords
from webapp.services.auth import SignInOutcome

FILE_PASSWORD = "copper-kettle-winter-7"
HEADER = "ID,First Name,Last Name,Role,Email,Password\n"


@pytest.fixture
def ids(app) -> dict[str, int]:
    with app.app_context():
        alpha, beta = make_school("Alpha"), make_school("Beta")
        admin = make_user(Role.ADMIN, school=alpha, username="admin.alpha")
        district = make_user(Role.ADMIN, username="district", district_wide=True)
        db.session.commit()
        return {"alpha": alpha.id, "beta": beta.id, "admin": admin.id, "district": district.id}


def school(ids, key: str) -> School:
    return db.session.get(School, ids[key])


def start(ids, rows: str, actor: str = "admin") -> ImportRun:
    """Upload a spreadsheet for Alpha that sets passwords; call inside an app context."""
    run = runs.start_import(
        "sheet.csv",
        (HEADER + rows).encode(),
        runs.ImportRequest(school_id=ids["alpha"], passwords="set"),
        actor=db.session.get(User, ids[actor]),
    )
    run.options = {**run.options, "mapping": mapping.mapping_choice(run).mapping}
    return run


def plan(ids, rows: str, actor: str = "admin"):
    return runs.build_plan(start(ids, rows, actor), actor=db.session.get(User, ids[actor]))


def apply(ids, rows: str, actor: str = "admin") -> int:
    """Upload, apply and commit (the inline backend runs the apply job)."""
    run = start(ids, rows, actor)
    jobs.request_apply(run, actor=db.session.get(User, ids[actor]), confirm=False)
    db.session.commit()
    return run.id


def left_alone_warnings(the_plan) -> list:
    return [w for w in the_plan.warnings if "was left as it is" in w.message]


def signs_in_with(identifier: str, password: str) -> bool:
    return auth.sign_in(identifier, password).outcome != SignInOutcome.FAILED


def test_a_file_never_sets_the_password_of_an_active_parent_with_a_child_at_another_school(
    app, ids
):
    # The probe: a one-row file from Alpha's admin matches, by email, a parent who uses her
    # account and whose child is at Beta.
    row = f"p9,Mum,Lovelace-Byron,parent,mum@home.example,{FILE_PASSWORD}\n"
    with app.app_context():
        mum = make_user(
            Role.PARENT, school=school(ids, "alpha"), email="mum@home.example", family_name="L"
        )
        child = make_user(Role.STUDENT, school=school(ids, "beta"))
        link_guardian(mum, child)
        db.session.commit()
        mum_id, epoch = mum.id, mum.credential_epoch
        the_plan = plan(ids, row)
        [warning] = left_alone_warnings(the_plan)
        assert (warning.file, warning.line, warning.column) == ("sheet.csv", 2, "Password")
        assert "already use their account" in warning.message
        assert "school outside yours" in warning.message
        assert FILE_PASSWORD not in warning.message
        counts = the_plan.counts()
        assert (counts["file_credentials_left_alone"], counts["file_credentials_reset"]) == (1, 0)
        assert counts["errors"] == 0
        db.session.rollback()
        run_id = apply(ids, row)
    with app.app_context():
        mum = db.session.get(User, mum_id)
        assert passwords.verify_password(mum.password_hash, PASSWORD)
        assert not mum.must_change_password and mum.credential_epoch == epoch
        assert mum.family_name == "Lovelace-Byron"  # still updated otherwise
        assert not signs_in_with("mum@home.example", FILE_PASSWORD)
        assert signs_in_with("mum@home.example", PASSWORD)
        run = db.session.get(ImportRun, run_id)
        assert run.status == "applied" and run.counts["file_credentials_left_alone"] == 1
        assert any("was left as it is" in p["message"] for p in run.row_errors)


def test_a_not_yet_active_parent_linked_to_a_child_at_another_school_keeps_their_password(app, ids):
    row = f"p9,Mum,Lovelace,parent,mum@home.example,{FILE_PASSWORD}\n"
    with app.app_context():
        mum = make_user(
            Role.PARENT,
            school=school(ids, "alpha"),
            email="mum@home.example",
            password=None,
            invited_at=utcnow(),
        )
        link_guardian(mum, make_user(Role.STUDENT, school=school(ids, "beta")))
        db.session.commit()
        mum_id = mum.id
        [warning] = left_alone_warnings(plan(ids, row))
        assert "school outside yours" in warning.message
        assert "already use" not in warning.message
        db.session.rollback()
        apply(ids, row)
    with app.app_context():
        mum = db.session.get(User, mum_id)
        assert mum.password_hash is None and not mum.must_change_password
        assert not signs_in_with("mum@home.example", FILE_PASSWORD)


def test_a_district_admin_sets_the_password_of_a_not_yet_active_parent_across_schools(app, ids):
    row = f"p9,Mum,Lovelace,parent,mum@home.example,{FILE_PASSWORD}\n"
    with app.app_context():
        mum = make_user(
            Role.PARENT, school=school(ids, "alpha"), email="mum@home.example", password=None
        )
        link_guardian(mum, make_user(Role.STUDENT, school=school(ids, "beta")))
        db.session.commit()
        mum_id = mum.id
        apply(ids, row, actor="district")
    with app.app_context():
        mum = db.session.get(User, mum_id)
        assert passwords.verify_password(mum.password_hash, FILE_PASSWORD)
        assert mum.must_change_password


def test_a_teacher_with_a_class_at_another_school_keeps_their_password(app, ids):
    row = f"t1,Alan,Turing,teacher,alan@school.example,{FILE_PASSWORD}\n"
    with app.app_context():
        alan = make_user(
            Role.TEACHER, school=school(ids, "alpha"), email="alan@school.example", password=None
        )
        make_class(school(ids, "beta"), teacher=alan)
        db.session.commit()
        alan_id = alan.id
        [warning] = left_alone_warnings(plan(ids, row))
        assert "school outside yours" in warning.message
        db.session.rollback()
        apply(ids, row)
    with app.app_context():
        assert db.session.get(User, alan_id).password_hash is None


@pytest.mark.parametrize("actor", ["admin", "district"])
def test_an_active_person_at_the_admins_own_school_keeps_their_password(app, ids, actor):
    row = f"1,Ada,Lovelace,student,,{FILE_PASSWORD}\n"
    with app.app_context():
        ada = make_user(
            Role.STUDENT,
            school=school(ids, "alpha"),
            source=f"csv:{ids['alpha']}",
            sourced_id="1",
            username="ada.lovelace",
        )
        db.session.commit()
        ada_id = ada.id
        the_plan = plan(ids, row, actor)
        [warning] = left_alone_warnings(the_plan)
        assert warning.column == "Password" and warning.line == 2
        assert "already use their account" in warning.message
        assert "outside" not in warning.message
        assert "reset link" in warning.message
        db.session.rollback()
        apply(ids, row, actor)
    with app.app_context():
        ada = db.session.get(User, ada_id)
        assert passwords.verify_password(ada.password_hash, PASSWORD)
        assert not signs_in_with("ada.lovelace", FILE_PASSWORD)


def test_a_person_with_an_unused_temporary_password_gets_the_files(app, ids):
    row = f"1,Ada,Lovelace,student,,{FILE_PASSWORD}\n"
    with app.app_context():
        ada = make_user(
            Role.STUDENT,
            school=school(ids, "alpha"),
            source=f"csv:{ids['alpha']}",
            sourced_id="1",
            activated=False,
            must_change_password=True,
        )
        db.session.commit()
        ada_id = ada.id
        the_plan = plan(ids, row)
        assert left_alone_warnings(the_plan) == []
        assert the_plan.counts()["file_credentials_reset"] == 1
        db.session.rollback()
        apply(ids, row)
    with app.app_context():
        ada = db.session.get(User, ada_id)
        assert passwords.verify_password(ada.password_hash, FILE_PASSWORD)
        assert ada.must_change_password and ada.activated_at is None


def test_a_password_of_their_own_counts_as_using_the_account_even_without_activation(app, ids):
    row = f"1,Ada,Lovelace,student,,{FILE_PASSWORD}\n"
    with app.app_context():
        make_user(
            Role.STUDENT,
            school=school(ids, "alpha"),
            source=f"csv:{ids['alpha']}",
            sourced_id="1",
            activated=False,  # a password that need not be changed: hers
        )
        db.session.commit()
        the_plan = plan(ids, row)
        assert len(left_alone_warnings(the_plan)) == 1
        assert the_plan.counts()["file_credentials_reset"] == 0


def test_a_weak_file_password_for_someone_left_alone_is_no_error(app, ids):
    row = "1,Ada,Lovelace,student,,short\n"
    with app.app_context():
        make_user(
            Role.STUDENT,
            school=school(ids, "alpha"),
            source=f"csv:{ids['alpha']}",
            sourced_id="1",
        )
        db.session.commit()
        the_plan = plan(ids, row)
        assert the_plan.errors == [] and len(left_alone_warnings(the_plan)) == 1


def test_a_school_limited_admins_file_never_matches_someone_outside_their_schools_by_email(
    app, ids
):
    row = f"p9,Mum,Lovelace,parent,mum@home.example,{FILE_PASSWORD}\n"
    with app.app_context():
        mum = make_user(
            Role.PARENT, school=school(ids, "beta"), email="mum@home.example", given_name="Mo"
        )
        db.session.commit()
        mum_id = mum.id
        the_plan = plan(ids, row)
        assert [c.record.sourced_id for c in the_plan.new] == ["p9"]
        assert the_plan.updated == [] and the_plan.unchanged == 0
        # Nothing in the preview hints that someone at Beta has this address.
        assert left_alone_warnings(the_plan) == [] and the_plan.errors == []
        db.session.rollback()
        # A district admin's file would match her.
        district_plan = plan(ids, row, actor="district")
        assert district_plan.new == [] and len(left_alone_warnings(district_plan)) == 1
        db.session.rollback()
        apply(ids, row)
    with app.app_context():
        mum = db.session.get(User, mum_id)
        assert mum.given_name == "Mo" and [s.name for s in mum.schools] == ["Beta"]
        assert passwords.verify_password(mum.password_hash, PASSWORD)
        new = db.session.scalar(select(User).where(User.sourced_id == "p9"))
        assert new.id != mum_id and [s.name for s in new.schools] == ["Alpha"]


def test_someone_who_chooses_a_password_after_planning_keeps_it(app, ids):
    row = f"1,Ada,Lovelace,student,,{FILE_PASSWORD}\n"
    with app.app_context():
        ada = make_user(
            Role.STUDENT,
            school=school(ids, "alpha"),
            source=f"csv:{ids['alpha']}",
            sourced_id="1",
            password=None,
        )
        db.session.commit()
        the_plan = plan(ids, row)
        assert the_plan.counts()["file_credentials_reset"] == 1
        auth.set_password(ada, "her-own-long-password", actor=ada)  # while the job hashes
        run = apply_plan(the_plan, actor=db.session.get(User, ids["admin"]))
        assert passwords.verify_password(ada.password_hash, "her-own-long-password")
        assert (
            run.counts["file_credentials_reset"],
            run.counts["file_credentials_left_alone"],
        ) == (
            0,
            1,
        )


def test_ties_outside_scope_are_found_among_thousands_of_people(app, ids):
    from webapp.imports.plan_passwords import _tied_outside_scope

    with app.app_context():
        mum = make_user(Role.PARENT, school=school(ids, "alpha"))
        link_guardian(mum, make_user(Role.STUDENT, school=school(ids, "beta")))
        ada = make_user(Role.STUDENT, school=school(ids, "alpha"))
        many = [*range(10_000, 16_000), mum.id, ada.id]  # past SQLite's parameter limit
        admin = db.session.get(User, ids["admin"])
        assert _tied_outside_scope(many, admin) == {mum.id}
        assert _tied_outside_scope(many, db.session.get(User, ids["district"])) == set()
