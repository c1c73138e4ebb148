"""Planning and applying imports: counts, identity, leavers, the safety valve, scope."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.factories import make_school, make_user
from tests.imports.conftest import apply_bundle as apply
from tests.imports.conftest import plan_bundle as run
from tests.roster.bundles import Bundle, school_bundle
from webapp.extensions import db
from webapp.imports.plan import ImportOptions
from webapp.imports.planner import plan_import
from webapp.imports.write import apply_plan
from webapp.models import (
    AuditEvent,
    Class,
    Enrollment,
    GuardianLink,
    ImportRun,
    Role,
    School,
    SetPasswordToken,
    User,
    utcnow,
)
from webapp.roster import read_roster
from webapp.services.errors import NotAllowed


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_first_import_creates_everyone_and_their_links(app, admin):
    with app.app_context():
        plan = apply(school_bundle(30), admin)
        assert plan.counts()["new"] == 63
        roles = dict(db.session.execute(select(User.role, func.count()).group_by(User.role)).all())
        assert roles == {"admin": 1, "teacher": 3, "student": 30, "parent": 30}
        assert count(School) == 1 and count(Class) == 3 and count(Enrollment) == 33
        assert count(GuardianLink) == 30
        student = db.session.scalar(select(User).where(User.sourced_id == "s0"))
        assert student.username == "stu0.dent0" and student.state.value == "not_sent"
        assert student.password_hash is None  # no usable password until credentials go out
        assert [s.name for s in student.schools] == ["Oak School"]
        run_row = db.session.scalar(select(ImportRun))
        assert run_row.status == "applied" and run_row.counts["new"] == 63
        assert db.session.scalar(
            select(AuditEvent.action).where(AuditEvent.action == "import_applied")
        )


def test_reimporting_the_same_file_changes_nothing(app, admin):
    with app.app_context():
        apply(school_bundle(30), admin)
        plan = run(school_bundle(30), admin)
        counts = plan.counts()
        assert counts["new"] == counts["updated"] == counts["deactivate"] == 0
        assert counts["enrollments"] == counts["guardian_links"] == counts["classes"] == 0
        assert counts["unchanged"] == 63


def test_changed_fields_are_listed_and_applied(app, admin):
    with app.app_context():
        apply(school_bundle(10), admin)
        bundle = school_bundle(10)
        bundle.users[1]["familyName"] = "Renamed"
        bundle.users[1]["grades"] = "6"
        plan = apply(bundle, admin)
        assert len(plan.updated) == 1
        assert plan.updated[0].changes == {
            "family_name": ("Dent0", "Renamed"),
            "grade": ("05", "06"),
        }
        assert (
            db.session.scalar(select(User.family_name).where(User.sourced_id == "s0")) == "Renamed"
        )


def test_truncated_export_stops_at_the_safety_valve(app, admin):
    with app.app_context():
        apply(school_bundle(50), admin)
        truncated = school_bundle(50)
        truncated.users = truncated.users[:20]
        plan = run(truncated, admin)
        assert len(plan.deactivate) > 50
        assert plan.needs_confirmation and not plan.can_apply
        with pytest.raises(ValueError, match="confirmation"):
            apply_plan(plan, actor=db.session.get(User, admin))
        db.session.rollback()
        assert count_deactivated() == 0


def count_deactivated() -> int:
    return db.session.scalar(select(func.count()).where(User.deactivated_at.is_not(None)))


def test_confirmed_leavers_are_deactivated_signed_out_and_audited(app, admin):
    with app.app_context():
        apply(school_bundle(20), admin)
        leaver = db.session.scalar(select(User).where(User.sourced_id == "s3"))
        epoch = leaver.credential_epoch
        db.session.add(SetPasswordToken(user_id=leaver.id, token_hash="a" * 64, purpose="invite",
                                        epoch=epoch, expires_at=utcnow()))  # fmt: skip
        db.session.commit()
        bundle = school_bundle(20)
        bundle.users = [u for u in bundle.users if u["sourcedId"] not in ("s3",)]
        bundle.enrollments = [e for e in bundle.enrollments if e["userSourcedId"] != "s3"]
        plan = apply(bundle, admin)
        assert [leaver.username for leaver in plan.deactivate] == ["stu3.dent3"]
        db.session.refresh(leaver)
        assert leaver.deactivated_at is not None and leaver.credential_epoch != epoch
        assert db.session.scalar(select(SetPasswordToken.voided_at)) is not None
        assert db.session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "account_deactivated", AuditEvent.target_id == leaver.id
            )  # fmt: skip
        )
        assert db.session.scalar(select(func.count()).where(User.id == leaver.id)) == 1


def test_a_person_who_reappears_is_reactivated_with_their_history(app, admin):
    with app.app_context():
        apply(school_bundle(20), admin)
        without = school_bundle(20)
        without.users = [u for u in without.users if u["sourcedId"] != "s1"]
        apply(without, admin)
        user = db.session.scalar(select(User).where(User.sourced_id == "s1"))
        assert user.deactivated_at is not None
        plan = apply(school_bundle(20), admin)
        assert [c.user_id for c in plan.reactivate] == [user.id]
        db.session.refresh(user)
        assert user.deactivated_at is None


def test_delta_deactivates_tobedeleted_rows_and_nothing_else(app, admin):
    with app.app_context():
        apply(school_bundle(20), admin)
        delta = Bundle(mode="delta")
        delta.user("s2", "student", "Stu2", "Dent2", status="tobedeleted",
                   dateLastModified="2026-11-01T00:00:00.000Z")  # fmt: skip
        plan = apply(delta, admin)
        assert [leaver.username for leaver in plan.deactivate] == ["stu2.dent2"]
        assert count_deactivated() == 1


def test_existing_account_is_matched_by_email_within_its_role(app, admin):
    with app.app_context():
        school = make_school("Oak School")
        teacher = make_user(Role.TEACHER, school=school, username="mr.t", email="t0@oak.example")
        db.session.commit()
        plan = run(school_bundle(10), admin)
        assert any(c.user_id == teacher.id for c in plan.updated + [])
        assert all(c.record.sourced_id != "t0" for c in plan.new)


def test_two_existing_accounts_with_one_email_is_an_error_not_a_merge(app, admin):
    with app.app_context():
        make_user(Role.TEACHER, username="a.one", email="t0@oak.example")
        make_user(Role.TEACHER, username="a.two", email="t0@oak.example")
        db.session.commit()
        plan = run(school_bundle(10), admin)
        assert any("will not guess" in p.message and p.line == 2 for p in plan.errors)
        assert not plan.can_apply


def test_sis_username_taken_by_someone_else_is_an_error(app, admin):
    with app.app_context():
        make_user(Role.STUDENT, username="taken.name")
        db.session.commit()
        bundle = school_bundle(10)
        bundle.users[1]["username"] = "Taken.Name"
        plan = run(bundle, admin)
        assert any(p.column == "username" and "already belongs" in p.message for p in plan.errors)


def test_generated_usernames_are_numbered_on_collision(app, admin):
    with app.app_context():
        bundle = Bundle()
        bundle.user("a", "student", "Zoë", "Núñez", grades="03")
        bundle.user("b", "student", "Zoe", "Nunez", grades="04")
        apply(bundle, admin)
        names = sorted(db.session.scalars(select(User.username).where(User.role == "student")))
        assert names == ["zoe.nunez", "zoe.nunez2"]


def test_add_only_mode_leaves_existing_people_alone(app, admin):
    with app.app_context():
        apply(school_bundle(10), admin)
        bundle = school_bundle(10)
        bundle.users[1]["familyName"] = "Renamed"
        plan = run(bundle, admin, mode="add")
        assert plan.updated == [] and plan.new == []


def test_update_only_mode_creates_nobody(app, admin):
    with app.app_context():
        plan = run(school_bundle(10), admin, mode="update")
        assert plan.new == []


def test_imported_administrators_get_no_console_access(app, admin):
    with app.app_context():
        bundle = Bundle()
        bundle.user("boss", "administrator", "Pat", "Principal")
        apply(bundle, admin)
        assert db.session.scalar(select(User.role).where(User.sourced_id == "boss")) == "staff"


def test_school_admin_cannot_import_into_another_school(app):
    with app.app_context():
        mine = make_school("Mine")
        other = School(name="Oak School", source="sis", sourced_id="sch-1")
        db.session.add(other)
        admin = make_user(Role.ADMIN, school=mine, username="limited")
        db.session.commit()
        roster = read_roster(school_bundle(10).files())
        with pytest.raises(NotAllowed):
            plan_import(roster, ImportOptions(source="sis"), actor=admin)
        new_school = Bundle(schools=[("sch-9", "New School")])
        new_school.user("x", "student", "A", "B")
        plan = plan_import(
            read_roster(new_school.files()), ImportOptions(source="sis"), actor=admin
        )
        assert any("not one of your schools" in p.message for p in plan.errors)


def test_a_student_who_changed_class_moves_enrollment(app, admin):
    with app.app_context():
        apply(school_bundle(20), admin)
        bundle = school_bundle(20)
        for enrollment in bundle.enrollments:
            if enrollment["userSourcedId"] == "s0":
                enrollment["classSourcedId"] = "c1"
        plan = apply(bundle, admin)
        assert len(plan.enrollments_add) == 1 and len(plan.enrollments_remove) == 1
        klass = db.session.scalar(
            select(Class.sourced_id)
            .join(Enrollment, Enrollment.class_id == Class.id)
            .join(User, User.id == Enrollment.user_id)
            .where(User.sourced_id == "s0")
        )
        assert klass == "c1"


def test_siblings_share_one_parent_account(app, admin):
    with app.app_context():
        bundle = Bundle()
        bundle.user("k1", "student", "Ann", "Lee")
        bundle.user("k2", "student", "Ben", "Lee")
        bundle.user(
            "mum", "parent", "May", "Lee", email="may@home.example", agentSourcedIds="k1,k2"
        )
        apply(bundle, admin)
        assert count(GuardianLink) == 2
        assert db.session.scalar(select(func.count()).where(User.role == "parent")) == 1


def test_the_sds_uk_fixture_imports(app, admin, roster_fixtures):
    folder = roster_fixtures / "sds-uk-format"
    files = {p.name: p.read_bytes() for p in folder.glob("*.csv")}
    with app.app_context():
        actor = db.session.get(User, admin)
        plan = plan_import(read_roster(files), ImportOptions(source="sds"), actor=actor)
        assert plan.errors == []
        apply_plan(plan, actor=actor)
        db.session.commit()
        roles = dict(db.session.execute(select(User.role, func.count()).group_by(User.role)).all())
        assert roles["student"] == 86 and roles["teacher"] == 12
        assert count(Class) == 28
        again = plan_import(read_roster(files), ImportOptions(source="sds"), actor=actor)
        assert again.counts()["new"] == 0 and again.counts()["enrollments"] == 0
