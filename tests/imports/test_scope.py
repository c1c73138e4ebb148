"""A complete snapshot removes only what lies inside the schools the file covers.

Found with a real district: a bundle for two other schools removed every enrollment of the
three schools already in Keyslip. Each school here is imported from its own file, one after
another, and nothing of the others may move.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.factories import make_user
from tests.imports.conftest import apply_bundle as apply
from tests.imports.conftest import plan_bundle as plan
from tests.roster.bundles import Bundle, merged, school_bundle
from webapp.extensions import db
from webapp.imports.write import apply_plan
from webapp.models import Class, Enrollment, GuardianLink, Role, School, User

OAK, ELM, ASH, FIR = ("sch-1", "Oak"), ("sch-2", "Elm"), ("sch-3", "Ash"), ("sch-4", "Fir")


def schools(*pairs: tuple[str, str], students: int = 20) -> Bundle:
    return merged(
        *(school_bundle(students, prefix=f"{sid}-", school=(sid, name)) for sid, name in pairs)
    )


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def enrollments_at(school_sid: str) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(Enrollment)
        .join(Class, Class.id == Enrollment.class_id)
        .join(School, School.id == Class.school_id)
        .where(School.sourced_id == school_sid)
    )


def test_importing_other_schools_removes_nothing_of_the_schools_already_here(app, admin):
    with app.app_context():
        apply(schools(OAK, ELM, ASH), admin)
        before = {sid: enrollments_at(sid) for sid, _ in (OAK, ELM, ASH)}
        classes, links = count(Class), count(GuardianLink)
        assert all(before.values())

        second = plan(schools(FIR), admin)
        counts = second.counts()
        assert counts["enrollments_removed"] == counts["classes_removed"] == 0
        assert counts["deactivate"] == 0 and not second.needs_confirmation
        apply(schools(FIR), admin)

        assert {sid: enrollments_at(sid) for sid, _ in (OAK, ELM, ASH)} == before
        assert count(Class) == classes + 2 and count(GuardianLink) == links + 20
        assert count_deactivated() == 0


def count_deactivated() -> int:
    return db.session.scalar(select(func.count()).where(User.deactivated_at.is_not(None)))


def test_a_school_in_the_file_still_loses_what_its_export_no_longer_has(app, admin):
    with app.app_context():
        apply(schools(OAK, ELM), admin)
        bundle = schools(OAK, ELM)
        gone = next(e for e in bundle.enrollments if e["userSourcedId"] == "sch-1-s0")
        bundle.enrollments.remove(gone)
        planned = apply(bundle, admin)
        assert planned.counts()["enrollments_removed"] == 1
        assert enrollments_at("sch-1") == 21 and enrollments_at("sch-2") == 22


def test_removed_enrollments_over_the_limit_stop_at_the_safety_valve(app, admin):
    with app.app_context():
        apply(schools(OAK, ELM), admin)
        cut = schools(OAK, ELM)
        # Oak's export lost its class lists; its people and classes are all still there.
        cut.enrollments = [e for e in cut.enrollments if e["schoolSourcedId"] != "sch-1"]
        planned = plan(cut, admin)
        oak = db.session.scalar(select(School.id).where(School.sourced_id == "sch-1"))
        assert planned.counts()["deactivate"] == 0
        assert planned.removals[oak].enrollments == 22
        assert planned.removals[oak].enrollments_total == 22
        assert planned.needs_confirmation and not planned.can_apply
        with pytest.raises(ValueError, match="confirmation"):
            apply_plan(planned, actor=db.session.get(User, admin))
        db.session.rollback()
        assert enrollments_at("sch-1") == 22


def test_removed_classes_over_the_limit_stop_at_the_safety_valve(app, admin):
    with app.app_context():
        apply(schools(OAK, students=30), admin)
        cut = schools(OAK, students=30)
        cut.classes = cut.classes[:1]
        cut.enrollments = [e for e in cut.enrollments if e["classSourcedId"] == "sch-1-c0"]
        planned = plan(cut, admin)
        oak = db.session.scalar(select(School.id).where(School.sourced_id == "sch-1"))
        assert (planned.removals[oak].classes, planned.removals[oak].classes_total) == (2, 3)
        assert planned.needs_confirmation
        apply(cut, admin, confirm_deactivation=True)
        assert count(Class) == 1


def test_someone_also_at_a_school_outside_the_file_only_leaves_the_schools_in_it(app, admin):
    with app.app_context():
        both = schools(OAK, ELM)
        teacher = next(u for u in both.users if u["sourcedId"] == "sch-1-t0")
        teacher["orgSourcedIds"] = "sch-1,sch-2"
        apply(both, admin)
        oak_only = schools(OAK)
        oak_only.users = [u for u in oak_only.users if u["sourcedId"] != "sch-1-t0"]
        oak_only.enrollments = [e for e in oak_only.enrollments if e["userSourcedId"] != "sch-1-t0"]
        planned = apply(oak_only, admin)
        person = db.session.scalar(select(User).where(User.sourced_id == "sch-1-t0"))
        assert person.deactivated_at is None
        assert [s.sourced_id for s in person.schools] == ["sch-2"]
        oak = db.session.scalar(select(School.id).where(School.sourced_id == "sch-1"))
        assert planned.removals[oak].memberships == 1
        assert planned.counts()["memberships_removed"] == 1


def test_a_school_admin_cannot_delete_another_schools_enrollments_by_naming_them(app, admin):
    with app.app_context():
        apply(schools(OAK, ELM), admin)
        oak = db.session.scalar(select(School).where(School.sourced_id == "sch-1"))
        local = make_user(Role.ADMIN, username="oakadmin", district_wide=False)
        local.schools.append(oak)
        db.session.commit()
        delta = schools(OAK)
        delta.mode = "delta"
        delta.users, delta.classes = [], []
        elm_class = next(e for e in schools(ELM).enrollments)
        delta.enrollments = [{**elm_class, "status": "tobedeleted"}]
        planned = plan(delta, local.id)
        assert planned.counts()["enrollments_removed"] == 0
        assert any("outside your schools" in p.message for p in planned.warnings)


def test_the_preview_lists_every_removal_by_school(app, admin):
    from webapp.imports.preview import removed_rows

    with app.app_context():
        apply(schools(OAK, ELM), admin)
        cut = schools(OAK, ELM)
        cut.classes = [c for c in cut.classes if c["sourcedId"] != "sch-2-c1"]
        cut.enrollments = [
            e
            for e in cut.enrollments
            if e["classSourcedId"] != "sch-2-c1" and e["userSourcedId"] != "sch-1-s3"
        ]
        rows = removed_rows(plan(cut, admin))
        assert [(r["school"], r["kind"], r["what"]) for r in rows] == [
            ("Elm", "class", "Class 1"),
            ("Oak", "class place", "Class 0"),
        ]
        assert rows[1]["who"] == "Stu3 Dent3 (stu3.dent3)"


def test_the_cli_summary_shows_every_removal(app, admin, tmp_path):
    with app.app_context():
        apply(schools(OAK, ELM), admin)
    cut = schools(OAK, ELM)
    cut.enrollments = [e for e in cut.enrollments if e["schoolSourcedId"] != "sch-1"]
    folder = tmp_path / "export"
    folder.mkdir()
    for name, data in cut.files().items():
        (folder / name).write_bytes(data)
    result = app.test_cli_runner().invoke(
        args=["roster", "import", str(folder), "--source", "sis", "--as", "district"]
    )
    assert result.exit_code == 3, result.output
    assert (
        "Oak: 0 of 42 people leaving, 0 leaving this school only, 0 of 2 classes removed, "
        "22 of 22 class places removed (over the safety limit: enrollments)"
    ) in result.output
    assert "Elm: 0 of 42 people leaving" in result.output
