"""Usernames: unique, the same shape as ever, and O(1) per collision over one import."""

from __future__ import annotations

import itertools

import pytest

from tests.factories import make_school, make_user
from webapp.extensions import db
from webapp.imports import plan_people
from webapp.imports.plan import ImportOptions
from webapp.imports.planner import plan_import
from webapp.models import Role, User
from webapp.roster.normalise import make_username
from webapp.roster.records import PersonRecord, Roster

NAMES = [("John", "Smith"), ("Maria", "Garcia"), ("Wei", "Zhang")]


class CountingSet(set):
    """A set that counts the membership checks made on it."""

    checks = 0

    def __contains__(self, item: object) -> bool:
        self.checks += 1
        return super().__contains__(item)


def make_many(count: int, taken: set[str], counters: dict[str, int] | None) -> list[str]:
    names = itertools.islice(itertools.cycle(NAMES), count)
    return [make_username("{first}.{last}", g, f, taken, counters) for g, f in names]


def test_a_counter_per_base_name_makes_the_same_names_as_before() -> None:
    taken = {"jo.smith", "jo.smith2", "jo.smith4"}  # already in Keyslip
    counters: dict[str, int] = {}
    made = [make_username("{first}.{last}", "Jo", "Smith", taken, counters) for _ in range(4)]
    assert made == ["jo.smith3", "jo.smith5", "jo.smith6", "jo.smith7"]
    assert make_username("{first}.{last}", "Zoë", "Núñez", taken, counters) == "zoe.nunez"
    assert make_username("{f}{last}", "Mary Ann", "O'Brien", taken, counters) == "mobrien"
    assert make_username("{f}{last}", "Mark", "O'Brien", taken, counters) == "mobrien2"


def test_a_counter_never_reuses_a_name_taken_later_in_the_file() -> None:
    taken: set[str] = set()
    counters: dict[str, int] = {}
    assert make_username("{first}.{last}", "Jo", "Smith", taken, counters) == "jo.smith"
    taken.add("jo.smith2")  # a username the file gives someone explicitly
    assert make_username("{first}.{last}", "Jo", "Smith", taken, counters) == "jo.smith3"
    # A family name ending in a digit makes a base that looks numbered: still unique.
    assert make_username("{first}.{last}", "Jo", "Smith3", taken, counters) == "jo.smith32"


def test_many_people_sharing_three_names_get_unique_names_of_the_usual_shape() -> None:
    made = make_many(5_000, set(), {})
    assert len(set(made)) == 5_000
    assert made[:6] == [
        "john.smith",
        "maria.garcia",
        "wei.zhang",
        "john.smith2",
        "maria.garcia2",
        "wei.zhang2",
    ]
    assert made[-1] == "maria.garcia1667"


@pytest.mark.parametrize("count", [1_000, 5_000])
def test_username_collisions_cost_one_check_each(count: int) -> None:
    taken = CountingSet({"john.smith", "john.smith2"})
    make_many(count, taken, {})
    # One check per person, plus one per number already in Keyslip: linear, not quadratic.
    assert taken.checks <= count + 2


def test_without_a_counter_collisions_walk_every_number_again() -> None:
    # What the counter saves: the old walk over 2, 3, 4 ... for each new John Smith.
    taken = CountingSet()
    make_many(600, taken, None)
    assert taken.checks > 600 * 600 // 6 // 2


@pytest.fixture
def admin_and_school(app) -> tuple[int, int]:
    with app.app_context():
        school = make_school("Oak School")
        make_user(Role.STUDENT, school=school, username="john.smith")
        admin = make_user(Role.ADMIN, username="district", district_wide=True)
        db.session.commit()
        return admin.id, school.id


def test_planning_a_file_of_few_names_checks_each_new_username_once(
    app, admin_and_school, monkeypatch
):
    admin_id, school_id = admin_and_school
    count = 3_000
    people = [
        PersonRecord(str(n), Role.STUDENT, given, family, "people.csv", n + 2)
        for n, (given, family) in enumerate(itertools.islice(itertools.cycle(NAMES), count))
    ]
    with app.app_context():
        taken = CountingSet(plan_people._taken_usernames())
        monkeypatch.setattr(plan_people, "_taken_usernames", lambda: taken)
        plan = plan_import(
            Roster("csv", people=people),
            ImportOptions(source="csv", school_id=school_id),
            actor=db.session.get(User, admin_id),
        )
        usernames = [change.username for change in plan.new]
    assert plan.errors == [] and len(set(usernames)) == count
    assert usernames[:4] == ["john.smith2", "maria.garcia", "wei.zhang", "john.smith3"]
    assert taken.checks <= count + 1
