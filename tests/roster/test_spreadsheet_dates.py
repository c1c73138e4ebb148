"""Leaving dates in spreadsheets: day/month order, the question when it is ambiguous, leavers."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from tests.factories import make_school, make_user
from webapp.extensions import db
from webapp.imports.plan import ImportOptions
from webapp.imports.planner import plan_import
from webapp.imports.write import apply_plan
from webapp.models import Role, User
from webapp.roster import Roster, guess_mapping, read_roster

TODAY = date(2025, 3, 10)
HEADER = "ID,First Name,Last Name,Role,Leaving Date\n"


def sheet(rows: str, header: str = HEADER, **kwargs) -> Roster:
    data = (header + rows).encode()
    return read_roster({"people.csv": data}, format="csv", today=TODAY, **kwargs)


def statuses(roster: Roster) -> dict[str, str | None]:
    return {p.sourced_id: p.status for p in roster.people}


@pytest.mark.parametrize(
    "header",
    ["Leaving Date", "Date of Leaving", "Leave Date", "Exit Date", "End Date", "Withdrawal Date"],
)
def test_leaving_date_column_is_guessed_from_its_header(header: str) -> None:
    assert guess_mapping(["ID", "Forename", "Surname", header])["leave_date"] == header


def test_dotted_dates_are_read_day_first_without_asking() -> None:
    # 09.03.2025 is 9 March (gone by 10 March); read month first it would be 3 September.
    roster = sheet("1,Ada,Lovelace,student,09.03.2025\n2,Alan,Turing,student,03.04.2025\n")

    assert roster.errors == [] and roster.date_questions == []
    assert statuses(roster) == {"1": "tobedeleted", "2": None}
    assert any("the first on 2025-04-03" in note for note in roster.notes)


def test_day_first_slash_dates_are_read_day_first_when_one_day_is_over_twelve() -> None:
    roster = sheet("1,Ada,Lovelace,student,25/12/2025\n2,Alan,Turing,student,09/03/2025\n")

    assert roster.errors == []
    assert statuses(roster) == {"1": None, "2": "tobedeleted"}


def test_ambiguous_dates_ask_for_the_order_with_line_and_column() -> None:
    roster = sheet(
        "1,Ada,Lovelace,student,\n2,Alan,Turing,student,03/04/2025\n3,Grace,Hopper,student,05/02/2025\n"
    )

    [error] = roster.errors
    assert (error.file, error.line, error.column) == ("people.csv", 3, "Leaving Date")
    assert "could be day/month or month/day (for example 03/04/2025)" in error.message
    assert "Choose the date order" in error.message
    [question] = roster.date_questions
    assert (question.line, question.column, question.example, question.order) == (
        3,
        "Leaving Date",
        "03/04/2025",
        None,
    )
    # Unanswered, nobody is treated as leaving on a guess.
    assert set(statuses(roster).values()) == {None}


def test_ambiguous_dates_read_day_first_when_told() -> None:
    # Day first, 03/04/2025 is 3 April: still to come on 10 March.
    roster = sheet("1,Ada,Lovelace,student,03/04/2025\n", date_order="DMY")

    assert roster.errors == []
    assert statuses(roster) == {"1": None}
    assert roster.next_leave_date == date(2025, 4, 3)
    assert roster.date_questions[0].order == "DMY"


def test_ambiguous_dates_read_month_first_when_told() -> None:
    # Month first, 03/04/2025 is 4 March: already gone on 10 March.
    roster = sheet("1,Ada,Lovelace,student,03/04/2025\n", date_order="mdy")

    assert roster.errors == []
    assert statuses(roster) == {"1": "tobedeleted"}
    assert roster.next_leave_date is None


def test_an_unknown_date_order_is_an_error() -> None:
    roster = sheet("1,Ada,Lovelace,student,03/04/2025\n", date_order="YMD")

    assert [e.message for e in roster.errors] == ["Unknown date order 'YMD'; use DMY or MDY."]


def test_day_first_and_month_first_in_one_column_is_an_error_naming_both() -> None:
    roster = sheet(
        "1,Ada,Lovelace,student,25/12/2024\n"
        "2,Alan,Turing,student,01/01/2025\n"
        "3,Grace,Hopper,student,12/25/2024\n"
    )

    [error] = roster.errors
    assert (error.line, error.column) == (4, "Leaving Date")
    assert "'12/25/2024'" in error.message and "'25/12/2024' on line 2" in error.message
    assert set(statuses(roster).values()) == {None}


def test_an_unreadable_date_is_a_warning_and_the_row_is_kept() -> None:
    roster = sheet("1,Ada,Lovelace,student,end of term\n2,Alan,Turing,student,2025-01-31\n")

    assert roster.errors == []
    [warning] = [w for w in roster.warnings if w.column == "Leaving Date"]
    assert (warning.file, warning.line) == ("people.csv", 2)
    assert "'end of term' is not a date" in warning.message
    assert statuses(roster) == {"1": None, "2": "tobedeleted"}


def test_iso_dates_and_blanks_need_no_question() -> None:
    roster = sheet("1,Ada,Lovelace,student,2025-03-10\n2,Alan,Turing,student,\n")

    assert roster.errors == [] and roster.date_questions == []
    assert statuses(roster) == {"1": "tobedeleted", "2": None}  # leaving today counts


# Leavers against the database -----------------------------------------------------------------


@pytest.fixture
def school_and_admin(app) -> tuple[int, int]:
    with app.app_context():
        school = make_school("Oak School")
        admin = make_user(Role.ADMIN, username="district", district_wide=True)
        db.session.commit()
        return school.id, admin.id


def import_sheet(rows: str, school_id: int, admin_id: int):
    actor = db.session.get(User, admin_id)
    plan = plan_import(sheet(rows), ImportOptions(source="csv", school_id=school_id), actor=actor)
    assert plan.errors == [], plan.errors
    apply_plan(plan, actor=actor)
    db.session.commit()
    return plan


def test_a_past_leaving_date_deactivates_and_a_future_one_keeps_active(app, school_and_admin):
    school_id, admin_id = school_and_admin
    with app.app_context():
        import_sheet("1,Ada,Lovelace,student,\n2,Alan,Turing,student,\n", school_id, admin_id)
        plan = import_sheet(
            "1,Ada,Lovelace,student,01.03.2025\n"
            "2,Alan,Turing,student,31.07.2025\n"
            "3,Grace,Hopper,student,28.02.2025\n",
            school_id,
            admin_id,
        )

        assert [leaver.username for leaver in plan.deactivate] == ["ada.lovelace"]
        assert plan.deactivate[0].reason == "left on 01 March 2025 (leaving date in the file)"
        assert plan.new == []  # Grace left before Keyslip ever had her
        people = {
            u.sourced_id: u.deactivated_at
            for u in db.session.scalars(select(User).where(User.source == "csv"))
        }
        assert set(people) == {"1", "2"}
        assert people["1"] is not None and people["2"] is None
