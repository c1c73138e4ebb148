"""A spreadsheet's school column maps to existing schools; none is ever created unasked."""

from __future__ import annotations

import io
import zipfile

import pytest
from sqlalchemy import func, select

from tests.factories import make_school, make_user
from tests.roster.bundles import Bundle
from webapp.extensions import db
from webapp.imports import jobs, mapping, preview, runs
from webapp.models import AuditEvent, ImportRun, Role, School, User
from webapp.services.errors import PolicyError

NUMBERED = "ID,First Name,Last Name,School\n1,Ada,Lovelace,1\n2,Alan,Turing,2\n3,Grace,Hopper,2\n"


@pytest.fixture
def ids(app) -> dict[str, int]:
    with app.app_context():
        oak, elm = make_school("Oak School"), make_school("Elm School")
        oak.source, oak.sourced_id = "sis", "oak-101"
        district = make_user(Role.ADMIN, username="district", district_wide=True)
        limited = make_user(Role.ADMIN, school=oak, username="limited")
        db.session.commit()
        return {"oak": oak.id, "elm": elm.id, "district": district.id, "limited": limited.id}


def start(ids, sheet: str, *, who: str = "district", **request):
    actor = db.session.get(User, ids[who])
    run = runs.start_import(
        "students.csv", sheet.encode(), runs.ImportRequest(**request), actor=actor
    )
    run.options = {**run.options, "mapping": mapping.mapping_choice(run).mapping}
    return run, actor


def zipped(bundle: Bundle) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in bundle.files().items():
            archive.writestr(name, data)
    return buffer.getvalue()


def school_count() -> int:
    return db.session.scalar(select(func.count()).select_from(School))


def schools_of(given_name: str) -> list[str]:
    user = db.session.scalar(select(User).where(User.given_name == given_name))
    return sorted(school.name for school in user.schools)


def test_a_column_of_numbers_is_an_error_listing_the_known_schools(app, ids):
    with app.app_context():
        run, actor = start(ids, NUMBERED)
        plan = runs.build_plan(run, actor=actor)
        errors = {(p.file, p.line, p.column): p.message for p in plan.errors}
        assert set(errors) == {("students.csv", 2, "School"), ("students.csv", 3, "School")}
        message = errors[("students.csv", 3, "School")]
        assert message.startswith("School '2' (named on 2 rows) is not in Keyslip.")
        assert "Known schools: Elm School (id " in message
        assert "Oak School (SIS id oak-101, id " in message
        with pytest.raises(PolicyError):
            jobs.request_apply(run, actor=actor, confirm=False)
        db.session.commit()
    with app.app_context():
        assert school_count() == 2
        assert db.session.scalar(select(func.count()).where(User.role == Role.STUDENT)) == 0


def test_the_cli_refuses_the_numbers_and_writes_nothing(app, ids, tmp_path):
    path = tmp_path / "students.csv"
    path.write_text(NUMBERED)
    result = app.test_cli_runner().invoke(args=["roster", "import", str(path)])
    assert result.exit_code == 1
    assert "column School: School '1' is not in Keyslip. Known schools:" in result.output
    assert "run again with --create-schools" in result.output
    with app.app_context():
        assert school_count() == 2
        assert db.session.scalar(select(func.count()).where(User.role == Role.STUDENT)) == 0


def test_the_cli_creates_the_schools_when_told_to(app, ids, tmp_path):
    path = tmp_path / "students.csv"
    path.write_text(NUMBERED)
    result = app.test_cli_runner().invoke(args=["roster", "import", str(path), "--create-schools"])
    assert result.exit_code == 0, result.output
    assert "New schools: 1, 2." in result.output
    with app.app_context():
        assert school_count() == 4 and schools_of("Alan") == ["2"]


def test_values_map_by_sis_id_then_by_name_in_any_case(app, ids):
    sheet = "ID,First Name,Last Name,School\n1,Ada,Lovelace,oak-101\n2,Alan,Turing, elm SCHOOL \n"
    with app.app_context():
        run, actor = start(ids, sheet)
        plan = runs.build_plan(run, actor=actor)
        assert not plan.errors and not plan.new_schools
        jobs.request_apply(run, actor=actor, confirm=False)
        run_id = run.id
        db.session.commit()
    with app.app_context():
        assert db.session.get(ImportRun, run_id).status == "applied"
        assert school_count() == 2
        assert schools_of("Ada") == ["Oak School"] and schools_of("Alan") == ["Elm School"]


def test_an_sis_id_wins_over_another_schools_name(app, ids):
    with app.app_context():
        db.session.get(School, ids["elm"]).sourced_id = "Oak School"
        db.session.commit()
        run, actor = start(ids, "ID,First Name,Last Name,School\n1,Ada,Lovelace,Oak School\n")
        plan = runs.build_plan(run, actor=actor)
        assert plan.school_ids == {"Oak School": ids["elm"]}


def test_with_create_schools_chosen_the_named_schools_are_created(app, ids):
    with app.app_context():
        run, actor = start(ids, NUMBERED, create_schools=True)
        plan = runs.build_plan(run, actor=actor)
        assert not plan.errors and sorted(plan.new_schools) == [("1", "1"), ("2", "2")]
        jobs.request_apply(run, actor=actor, confirm=False)
        db.session.commit()
    with app.app_context():
        assert school_count() == 4
        assert schools_of("Ada") == ["1"] and schools_of("Grace") == ["2"]
        chosen = db.session.scalar(
            select(AuditEvent).where(AuditEvent.action == "import_create_schools_chosen")
        )
        assert chosen.details == {"create_schools": True}


def test_create_schools_still_maps_the_known_ones(app, ids):
    sheet = "ID,First Name,Last Name,School\n1,Ada,Lovelace,Oak School\n2,Alan,Turing,Pine\n"
    with app.app_context():
        run, actor = start(ids, sheet, create_schools=True)
        plan = runs.build_plan(run, actor=actor)
        assert plan.school_ids == {"Oak School": ids["oak"]}
        assert plan.new_schools == [("Pine", "Pine")]


def test_the_choice_can_be_made_on_the_preview_and_is_audited(app, ids):
    with app.app_context():
        run, actor = start(ids, NUMBERED)
        assert runs.build_plan(run, actor=actor).errors
        mapping.choose_create_schools(run, True, actor=actor)
        assert not runs.build_plan(run, actor=actor).errors
        mapping.choose_create_schools(run, False, actor=actor)
        assert runs.build_plan(run, actor=actor).errors
        actions = db.session.scalars(
            select(AuditEvent.details)
            .where(AuditEvent.action == "import_create_schools_chosen")
            .order_by(AuditEvent.id)
        ).all()
        assert actions == [{"create_schools": True}, {"create_schools": False}]


def test_the_preview_plans_again_when_the_choice_changes(app, ids):
    with app.app_context():
        run, actor = start(ids, NUMBERED)
        assert preview.preview(run, actor=actor).errors == 2
        mapping.choose_create_schools(run, True, actor=actor)
        view = preview.preview(run, actor=actor)
        assert view.errors == 0 and view.counts["schools"] == 2


def test_a_school_limited_admin_can_never_create_schools(app, ids):
    with app.app_context():
        actor = db.session.get(User, ids["limited"])
        with pytest.raises(PolicyError) as caught:
            runs.start_import(
                "students.csv",
                NUMBERED.encode(),
                runs.ImportRequest(create_schools=True),
                actor=actor,
            )
        assert caught.value.problems == ["Only a district-wide admin can create schools."]
        run, actor = start(ids, NUMBERED, who="limited")
        with pytest.raises(PolicyError):
            mapping.choose_create_schools(run, True, actor=actor)
        # Even if the choice were on the run, planning refuses to create.
        run.create_schools = True
        plan = runs.build_plan(run, actor=actor)
        assert not plan.new_schools
        assert all(
            "only a district-wide admin can create schools" in e.message for e in plan.errors
        )


def test_a_school_outside_a_limited_admins_scope_is_not_theirs(app, ids):
    sheet = "ID,First Name,Last Name,School\n1,Ada,Lovelace,Elm School\n"
    with app.app_context():
        run, actor = start(ids, sheet, who="limited")
        (error,) = runs.build_plan(run, actor=actor).errors
        assert error.message == "School 'Elm School' is not one of your schools."


def test_without_a_school_column_the_picked_school_is_used(app, ids):
    sheet = "ID,First Name,Last Name\n1,Ada,Lovelace\n"
    with app.app_context():
        run, actor = start(ids, sheet, school_id=ids["elm"])
        jobs.request_apply(run, actor=actor, confirm=False)
        db.session.commit()
    with app.app_context():
        assert school_count() == 2 and schools_of("Ada") == ["Elm School"]


def test_an_sis_orgs_file_still_creates_its_schools(app, ids):
    bundle = Bundle(schools=[("org-9", "Pine Academy")])
    bundle.user("s1", "student", "Ada", "Lovelace", orgSourcedIds="org-9")
    with app.app_context():
        actor = db.session.get(User, ids["district"])
        run = runs.start_import("export.zip", zipped(bundle), runs.ImportRequest(), actor=actor)
        plan = runs.build_plan(run, actor=actor)
        assert not plan.errors and plan.new_schools == [("org-9", "Pine Academy")]


def test_an_sis_person_naming_an_org_not_in_the_file_makes_no_school(app, ids):
    bundle = Bundle(schools=[("org-9", "Pine Academy")])
    bundle.user("s1", "student", "Ada", "Lovelace", orgSourcedIds="org-404")
    with app.app_context():
        actor = db.session.get(User, ids["district"])
        run = runs.start_import("export.zip", zipped(bundle), runs.ImportRequest(), actor=actor)
        plan = runs.build_plan(run, actor=actor)
        assert [s for s, _ in plan.new_schools] == ["org-9"]
        assert plan.errors and not plan.new


def test_a_clever_student_naming_a_school_not_in_schools_csv_makes_no_school(app, ids):
    from tests.roster.test_clever import clever
    from webapp.imports.plan import ImportOptions
    from webapp.imports.planner import plan_import

    roster = clever("S1,s1,1001,Ann,Lee,K,,,,,,\nS9,s2,1002,Bo,Ray,K,,,,,,\n")
    with app.app_context():
        actor = db.session.get(User, ids["district"])
        plan = plan_import(roster, ImportOptions(source="sis"), actor=actor)
        assert sorted(s for s, _ in plan.new_schools) == ["S1", "S2"]
        assert [p.line for p in plan.errors] == [3]


def test_the_preview_plans_again_once_a_school_gets_the_files_sis_id(app, ids):
    with app.app_context():
        run, actor = start(ids, NUMBERED)
        assert preview.preview(run, actor=actor).errors == 2
        db.session.get(School, ids["elm"]).sourced_id = "2"
        db.session.flush()
        assert preview.preview(run, actor=actor).errors == 1


def test_a_same_file_is_imported_again_once_its_school_values_map_elsewhere(app, ids, tmp_path):
    path = tmp_path / "students.csv"
    path.write_text("ID,First Name,Last Name,School\n1,Ada,Lovelace,x\n")
    with app.app_context():
        db.session.get(School, ids["oak"]).sourced_id = "x"
        db.session.commit()
    runner = app.test_cli_runner()
    assert runner.invoke(args=["roster", "import", str(path)]).exit_code == 0
    with app.app_context():
        db.session.get(School, ids["oak"]).sourced_id = None
        db.session.get(School, ids["elm"]).sourced_id = "x"
        db.session.commit()
    result = runner.invoke(args=["roster", "import", str(path)])
    assert "skipped" not in result.output and result.exit_code == 0, result.output
    with app.app_context():
        assert schools_of("Ada") == ["Elm School", "Oak School"]


def test_an_sis_org_named_like_a_school_without_its_id_is_warned_about(app, ids):
    bundle = Bundle(schools=[("org-9", "ELM school")])
    bundle.user("s1", "student", "Ada", "Lovelace")
    with app.app_context():
        actor = db.session.get(User, ids["district"])
        run = runs.start_import("export.zip", zipped(bundle), runs.ImportRequest(), actor=actor)
        plan = runs.build_plan(run, actor=actor)
        assert plan.new_schools == [("org-9", "ELM school")] and not plan.errors
        (warning,) = [w for w in plan.warnings if "Schools page" in w.message]
        assert (warning.file, warning.line) == ("orgs.csv", 2)
