"""Apply the rest: rows in error and what depends on them are held back, nothing is removed."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.imports.conftest import plan_bundle as plan
from tests.roster.bundles import Bundle, school_bundle
from webapp.extensions import db
from webapp.imports.write import apply_plan
from webapp.models import Enrollment, GuardianLink, ImportRun, User
from webapp.roster.problems import capped


def with_broken_student(bundle: Bundle, sid: str = "s3") -> Bundle:
    """Blank the given name of one student, who has a class place and a parent."""
    next(u for u in bundle.users if u["sourcedId"] == sid)["givenName"] = ""
    return bundle


def count(query) -> int:
    return db.session.scalar(select(func.count()).select_from(query.subquery()))


def test_without_the_choice_an_error_still_blocks(app, admin):
    with app.app_context():
        planned = plan(with_broken_student(school_bundle(10)), admin)
        assert planned.errors and not planned.can_apply
        with pytest.raises(ValueError, match="errors"):
            apply_plan(planned, actor=db.session.get(User, admin))


def test_counts_are_shown_even_with_errors(app, admin):
    with app.app_context():
        counts = plan(with_broken_student(school_bundle(10)), admin).counts()
        assert counts["new"] == 20 and counts["errors"] == 1
        # The student's class place and the parent's link to them.
        assert counts["held_back_rows"] == 1 and counts["held_back_dependents"] == 2


def test_apply_the_rest_holds_back_the_row_and_its_class_place_and_parent_link(app, admin):
    with app.app_context():
        planned = plan(with_broken_student(school_bundle(10)), admin, skip_errors=True)
        assert planned.can_apply
        run = apply_plan(planned, actor=db.session.get(User, admin))
        db.session.commit()
        assert db.session.scalar(select(User.id).where(User.sourced_id == "s3")) is None
        parent = db.session.scalar(select(User).where(User.sourced_id == "p3"))
        assert parent is not None  # the parent's own row is fine
        assert count(select(GuardianLink).where(GuardianLink.parent_id == parent.id)) == 0
        assert count(select(Enrollment)) == 10  # 9 students and the teacher
        assert count(select(GuardianLink)) == 9
        held = [p for p in run.row_errors if "s3" in p["message"] and p["severity"] == "warning"]
        assert len(held) == 2 and all(p["line"] for p in held)
        assert run.counts["held_back_rows"] == 1
        assert db.session.get(ImportRun, run.id).status == "applied"


def test_apply_the_rest_removes_nothing_from_a_complete_file(app, admin):
    with app.app_context():
        first = plan(school_bundle(20), admin)
        apply_plan(first, actor=db.session.get(User, admin))
        db.session.commit()
        cut = with_broken_student(school_bundle(20), "s0")
        cut.users = [u for u in cut.users if u["sourcedId"] not in ("s1", "p1")]
        cut.enrollments = [e for e in cut.enrollments if e["userSourcedId"] != "s2"]
        planned = plan(cut, admin, skip_errors=True)
        counts = planned.counts()
        assert counts["deactivate"] == counts["enrollments_removed"] == 0
        assert counts["guardian_links_removed"] == counts["classes_removed"] == 0
        assert any("nothing will be removed" in p.message for p in planned.warnings)
        apply_plan(planned, actor=db.session.get(User, admin))
        db.session.commit()
        assert db.session.scalar(select(func.count()).where(User.deactivated_at.is_not(None))) == 0
        assert count(select(Enrollment)) == 22


def test_an_error_about_the_whole_file_is_not_skipped(app, admin):
    with app.app_context():
        bundle = school_bundle(5)
        bundle.schools = []  # nobody's school is in the file, and none was chosen
        planned = plan(bundle, admin, skip_errors=True)
        assert planned.blocking_errors and not planned.can_apply


def test_every_problem_is_kept_and_the_page_shows_a_hundred_of_a_kind(app, admin):
    with app.app_context():
        bundle = school_bundle(150, families=False)
        for user in bundle.users:
            if user["role"] == "student":
                user["email"] = "not-an-address"
        planned = plan(bundle, admin)
        emails = [p for p in planned.problems if p.column == "email"]
        assert len(emails) == 150
        shown = capped(p.as_dict() for p in planned.problems)
        assert len([p for p in shown if p["column"] == "email" and p["line"]]) == 100
        more = next(p for p in shown if p.get("kind") == "more")
        assert more["message"].startswith("... and 50 more")


def test_errors_come_before_warnings(app, admin):
    with app.app_context():
        bundle = with_broken_student(school_bundle(10), "s9")
        bundle.users[0]["email"] = "not-an-address"
        shown = capped(p.as_dict() for p in plan(bundle, admin).problems)
        severities = [p["severity"] for p in shown]
        assert severities == sorted(severities, key=["error", "warning"].index)
        assert severities[0] == "error"
