"""Schools service: district admins create, rename and give SIS ids; finding a school."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.factories import make_school, make_user
from webapp.extensions import db
from webapp.models import AuditEvent, Role, School
from webapp.services import schools
from webapp.services.errors import NotAllowed, PolicyError


@pytest.fixture
def ctx(app):
    with app.app_context():
        oak = make_school("Oak School")
        elm = make_school("Elm School")
        district = make_user(Role.ADMIN, username="district", district_wide=True)
        limited = make_user(Role.ADMIN, school=oak, username="limited")
        make_user(Role.STUDENT, school=oak)
        make_user(Role.STUDENT, school=oak)
        yield {"oak": oak, "elm": elm, "district": district, "limited": limited}


def events(action: str) -> list[AuditEvent]:
    return db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    ).all()


def test_list_counts_the_people_of_each_school(ctx):
    rows = schools.list_schools(ctx["district"])
    assert [(r.school.name, r.people) for r in rows] == [("Elm School", 0), ("Oak School", 3)]


def test_a_school_limited_admin_lists_only_their_schools(ctx):
    assert [r.school.name for r in schools.list_schools(ctx["limited"])] == ["Oak School"]


def test_district_admin_creates_a_school_with_its_sis_id_audited(ctx, app):
    school = schools.create_school("  Pine   Academy ", actor=ctx["district"], sis_id=" pine-1 ")
    assert (school.name, school.sourced_id) == ("Pine Academy", "pine-1")
    assert school.source == app.config["ROSTER_SOURCE"]
    (event,) = events("school_created")
    assert event.actor_id == ctx["district"].id and event.target_id == school.id
    assert event.details["name"] == "Pine Academy" and event.details["sis_id"] == "pine-1"


def test_school_limited_admin_cannot_create_rename_or_set_sis_ids(ctx):
    limited, oak = ctx["limited"], ctx["oak"]
    with pytest.raises(NotAllowed):
        schools.create_school("Pine", actor=limited)
    with pytest.raises(NotAllowed):
        schools.rename_school(oak.id, "Big Oak", actor=limited)
    with pytest.raises(NotAllowed):
        schools.set_sis_id(oak.id, "oak-1", actor=limited)
    assert oak.name == "Oak School" and oak.sourced_id is None
    assert db.session.scalar(select(School).where(School.name == "Pine")) is None


def test_names_are_unique_whatever_their_case(ctx):
    with pytest.raises(schools.SchoolProblem) as caught:
        schools.create_school("oak school", actor=ctx["district"])
    assert caught.value.field == "name" and "Oak School" in caught.value.problems[0]
    with pytest.raises(schools.SchoolProblem):
        schools.rename_school(ctx["elm"].id, "OAK  SCHOOL", actor=ctx["district"])


def test_a_school_may_change_the_case_of_its_own_name(ctx):
    school = schools.rename_school(ctx["oak"].id, "OAK SCHOOL", actor=ctx["district"])
    assert school.name == "OAK SCHOOL"


def test_an_empty_name_is_refused(ctx):
    with pytest.raises(schools.SchoolProblem) as caught:
        schools.create_school("   ", actor=ctx["district"])
    assert caught.value.field == "name"


def test_rename_is_audited_with_old_and_new(ctx):
    schools.rename_school(ctx["oak"].id, "Big Oak", actor=ctx["district"])
    (event,) = events("school_renamed")
    assert event.details == {"old": "Oak School", "new": "Big Oak"}


def test_sis_id_is_unique_per_source(ctx):
    schools.set_sis_id(ctx["oak"].id, "s-1", actor=ctx["district"])
    with pytest.raises(schools.SchoolProblem) as caught:
        schools.set_sis_id(ctx["elm"].id, "s-1", actor=ctx["district"])
    assert caught.value.field == "sis_id" and "Oak School" in caught.value.problems[0]
    with pytest.raises(schools.SchoolProblem):
        schools.create_school("Pine", actor=ctx["district"], sis_id="s-1")


def test_the_same_sis_id_in_another_source_is_allowed(ctx, app):
    db.session.add(School(name="Old import", source="csv", sourced_id="s-1"))
    school = schools.create_school("Pine", actor=ctx["district"], sis_id="s-1")
    assert school.source == app.config["ROSTER_SOURCE"]


def test_setting_and_clearing_the_sis_id_is_audited(ctx, app):
    oak = ctx["oak"]
    schools.set_sis_id(oak.id, "oak-9", actor=ctx["district"])
    assert (oak.source, oak.sourced_id) == (app.config["ROSTER_SOURCE"], "oak-9")
    schools.set_sis_id(oak.id, "", actor=ctx["district"])
    assert oak.sourced_id is None
    assert [e.details["old"] for e in events("school_sis_id_set")] == [None, "oak-9"]
    assert [e.details["new"] for e in events("school_sis_id_set")] == ["oak-9", None]


def test_an_imported_school_keeps_its_source_when_its_sis_id_changes(ctx):
    school = School(name="From Clever", source="clever", sourced_id="c-1")
    db.session.add(school)
    db.session.flush()
    schools.set_sis_id(school.id, "c-2", actor=ctx["district"])
    assert (school.source, school.sourced_id) == ("clever", "c-2")


def test_find_by_id_sis_id_or_exact_name(ctx):
    oak = ctx["oak"]
    schools.set_sis_id(oak.id, "oak-1", actor=ctx["district"])
    for ref in (str(oak.id), "oak-1", "Oak School", " Oak School "):
        assert schools.find_school(ref, actor=ctx["district"]) is oak


def test_find_an_unknown_school_lists_the_actors_schools(ctx):
    with pytest.raises(PolicyError) as caught:
        schools.find_school("Pine", actor=ctx["limited"])
    message = caught.value.problems[0]
    assert message.startswith("No such school: Pine. Known schools: Oak School (id ")
    assert "Elm" not in message


def test_find_a_school_outside_the_scope_is_not_allowed(ctx):
    with pytest.raises(NotAllowed):
        schools.find_school("Elm School", actor=ctx["limited"])


def test_match_by_sis_id_first_then_by_name_any_case(ctx):
    oak, elm = ctx["oak"], ctx["elm"]
    elm.sourced_id = "Oak School"
    every = [oak, elm]
    assert schools.match_school(" Oak School", every) == [elm]
    assert schools.match_school("elm school ", every) == [elm]
    assert schools.match_school("OAK SCHOOL", [oak]) == [oak]
    assert schools.match_school("1", every) == []


def test_find_refuses_a_reference_that_fits_two_schools(ctx):
    ctx["elm"].sourced_id = str(ctx["oak"].id)
    with pytest.raises(PolicyError) as caught:
        schools.find_school(str(ctx["oak"].id), actor=ctx["district"])
    assert "give the school's exact name instead" in caught.value.problems[0]
    assert schools.find_school("Elm School", actor=ctx["district"]) is ctx["elm"]


def test_an_ambiguous_reference_names_only_the_actors_schools(ctx):
    ctx["elm"].sourced_id = str(ctx["oak"].id)
    with pytest.raises(PolicyError) as caught:
        schools.find_school(str(ctx["oak"].id), actor=ctx["limited"])
    assert "Oak School" in caught.value.problems[0] and "Elm" not in caught.value.problems[0]
