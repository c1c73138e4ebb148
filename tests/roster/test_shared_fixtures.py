"""Each real roster file written by another project imports with the expected counts."""

from __future__ import annotations

from pathlib import Path

from webapp.roster import Roster, read_roster, read_upload


def where(roster: Roster, text: str) -> list[tuple[str, int | None]]:
    """Return (file, line) of every problem whose message contains text."""
    return sorted(
        ((p.file, p.line) for p in roster.problems if text in p.message),
        key=lambda x: (x[0], x[1] or 0),
    )


def folder(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in path.glob("*.csv")}


def test_oneroster_11_full_bundle(roster_fixtures: Path) -> None:
    data = (roster_fixtures / "oneroster-catalyst" / "Test_full_data_set.zip").read_bytes()
    roster = read_upload("Test_full_data_set.zip", data)

    assert roster.format == "oneroster-1.1"
    assert roster.complete is True
    assert roster.modes["users"] == "bulk"
    assert roster.modes["courses"] == "absent"
    assert roster.role_counts() == {"teacher": 2, "student": 3, "parent": 1}
    assert [s.sourced_id for s in roster.schools] == ["org-sch-222-456"]
    assert len(roster.classes) == 2
    assert len(roster.enrollments) == 6
    assert [(g.parent_id, g.student_id) for g in roster.guardians] == [
        ("usr-222-1234561", "usr-222-66778899")
    ]
    assert roster.errors == []
    assert len(roster.warnings) == 12
    # Three students (and one teacher) list a teacher as their agent.
    assert where(roster, "only a parent and a student can be linked") == [
        ("users.csv", 3),
        ("users.csv", 5),
        ("users.csv", 6),
        ("users.csv", 7),
    ]
    assert where(roster, "tobedeleted inside a bulk file") == [("classes.csv", 3)]
    assert where(roster, "is a teacher but is enrolled as a student") == [
        ("enrollments.csv", 3),
        ("enrollments.csv", 6),
    ]
    assert where(roster, "not a valid phone number") == [
        ("users.csv", 3),
        ("users.csv", 5),
        ("users.csv", 6),
    ]
    assert where(roster, "which is not in orgs.csv") == [("orgs.csv", 2)]
    assert where(roster, "department in no school") == [("orgs.csv", 2)]

    john = next(p for p in roster.people if p.sourced_id == "usr-222-123456")
    assert john.phone == "+16037778888"
    assert john.email == "john.doe@myschool.com"
    assert john.school_ids == ("org-sch-222-456",)
    assert john.grade is None
    mary = next(p for p in roster.people if p.sourced_id == "usr-222-66778899")
    assert (mary.grade, mary.status, mary.enabled) == ("12", None, True)
    physics = next(c for c in roster.classes if c.sourced_id == "cls-222-123456")
    assert physics.grades == ("09", "10", "11")
    assert physics.class_code == "Phys 100 - 1"
    history = next(c for c in roster.classes if c.sourced_id == "cls-222-123478")
    assert history.status == "tobedeleted"


def test_oneroster_11_minimal_bundle(roster_fixtures: Path) -> None:
    data = (roster_fixtures / "oneroster-catalyst" / "Test_minimal_data_set.zip").read_bytes()
    roster = read_upload("Test_minimal_data_set.zip", data)

    assert roster.format == "oneroster-1.1"
    assert roster.role_counts() == {"teacher": 2, "student": 3, "parent": 1}
    assert (len(roster.classes), len(roster.enrollments), len(roster.guardians)) == (2, 6, 0)
    assert roster.errors == []
    assert len(roster.warnings) == 3
    assert all(p.status is None for p in roster.people)


def test_oneroster_12_bulk_with_misspelled_headers(roster_fixtures: Path) -> None:
    data = (roster_fixtures / "oneroster-catalyst" / "v1p2_full_dataset.zip").read_bytes()
    roster = read_upload("v1p2_full_dataset.zip", data)

    assert roster.format == "oneroster-1.2"
    assert roster.complete is True
    assert roster.modes["roles"] == "bulk"
    assert roster.modes["userProfiles"] == "absent"
    # Thomas has only a secondary siteAdministrator role, so he is an admin here.
    assert roster.role_counts() == {"teacher": 2, "student": 3, "admin": 1}
    assert (len(roster.classes), len(roster.enrollments), len(roster.guardians)) == (2, 6, 0)
    assert roster.errors == []
    assert len(roster.warnings) == 15
    assert where(roster, "has no primary role") == [("roles.csv", 4)]
    assert len(where(roster, "only a parent and a student can be linked")) == 5
    assert len(where(roster, "also has a guardian role")) == 3
    assert where(roster, "dateLastModified is not an ISO 8601 date") == [("users.csv", 2)]
    # prefferedGivenName (sic) is read as the preferred given name.
    mary = next(p for p in roster.people if p.sourced_id == "usr-222-66778899")
    assert mary.given_name == "MJ"
    thomas = next(p for p in roster.people if p.sourced_id == "usr-222-1234561")
    assert (thomas.given_name, thomas.middle_name, thomas.family_name) == (
        "Tom",
        "Jonesy",
        "Paulsy",
    )
    assert not any("dataLastModified" in n for n in roster.notes)


def test_oneroster_12_delta_bundle(roster_fixtures: Path) -> None:
    data = (roster_fixtures / "oneroster-catalyst" / "oneroster_test_data.zip").read_bytes()
    roster = read_upload("oneroster_test_data.zip", data)

    assert roster.format == "oneroster-1.2"
    assert roster.complete is False
    assert roster.modes["users"] == "delta"
    assert roster.problems == []
    [bruce] = roster.people
    assert (bruce.sourced_id, bruce.role, bruce.username, bruce.status) == (
        "USER_0",
        "student",
        "brucewayne",
        "active",
    )
    assert bruce.school_ids == ("ORG_1",)
    assert bruce.student_number == "bruce.wayne"
    assert [s.name for s in roster.schools] == ["Gotham High School"]
    assert len(roster.classes) == len(roster.enrollments) == 1


def test_sds_v21_folder(roster_fixtures: Path) -> None:
    roster = read_roster(folder(roster_fixtures / "sds-v2.1"))

    assert roster.format == "sds-2.1"
    assert roster.complete is True
    assert roster.role_counts() == {"student": 4, "parent": 2, "teacher": 2}
    assert sorted(s.sourced_id for s in roster.schools) == ["110001", "110003"]
    assert (len(roster.classes), len(roster.enrollments)) == (2, 6)
    assert sorted((g.parent_id, g.student_id) for g in roster.guardians) == [
        ("114002", "114001"),
        ("114002", "114003"),
        ("114005", "114004"),
    ]
    assert roster.errors == []
    assert len(roster.warnings) == 3
    assert where(roster, "not a known grade") == [("roles.csv", 8)]
    # The professor's department resolves to its college; the ministry is not a school.
    by_id = {p.sourced_id: p for p in roster.people}
    assert by_id["114006"].school_ids == ("110001",)
    assert by_id["114007"].school_ids == ("110003",)
    # Parents take their children's schools.
    assert by_id["114002"].school_ids == ("110003",)
    professor = next(e for e in roster.enrollments if e.user_id == "114006")
    assert professor.role == "teacher"


def test_sds_uk_format_folder(roster_fixtures: Path) -> None:
    roster = read_roster(folder(roster_fixtures / "sds-uk-format"))

    assert roster.format == "sds-uk"
    assert roster.complete is True
    assert roster.role_counts() == {"student": 86, "teacher": 12}
    assert len(roster.schools) == 2
    assert len(roster.classes) == 28
    enrollments = roster.enrollments
    assert sum(e.role == "student" for e in enrollments) == 602
    assert sum(e.role == "teacher" for e in enrollments) == 28
    assert roster.guardians == []
    assert roster.problems == []
    ora = roster.people[0]
    assert (ora.sourced_id, ora.grade, ora.school_ids, ora.status) == (
        "13001",
        "09",
        ("10001",),
        "active",
    )
