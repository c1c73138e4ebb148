"""The school setting "import other contacts as parents" reaches the import's plan."""

from __future__ import annotations

from tests.factories import make_school, make_user
from webapp.extensions import db
from webapp.imports import mapping, runs
from webapp.models import Role, School, User
from webapp.services import settings

FAMILY = (
    "ID,First Name,Last Name,Relationship,Child ID\n"
    "1,Ann,Lee,student,\n"
    "2,Mia,Lee,Mother,1\n"
    "3,Ben,Lee,Brother,1\n"
)


def planned_names(admin: User, school: School) -> list[str]:
    run = runs.start_import(
        "family.csv",
        FAMILY.encode(),
        runs.ImportRequest(school_id=school.id),
        actor=admin,
    )
    run.options = {**run.options, "mapping": mapping.mapping_choice(run).mapping}
    plan = runs.build_plan(run, actor=admin)
    return sorted(change.record.given_name for change in plan.new)


def test_other_contacts_are_left_out_unless_the_school_turns_the_setting_on(app):
    with app.app_context():
        school = make_school("Alpha")
        admin = make_user(Role.ADMIN, school=school, username="admin.a")
        db.session.commit()
        assert settings.get("import_other_contacts", school) is False

        assert planned_names(admin, school) == ["Ann", "Mia"]

        settings.set("import_other_contacts", True, school, admin)
        assert planned_names(admin, school) == ["Ann", "Ben", "Mia"]
