"""Clever SFTP uploads: repeated student rows, contacts as parents, sections."""

from __future__ import annotations

from webapp.roster import Roster, detect_format, read_roster

SCHOOLS = "School_id,School_name,School_number\nS1,Maple Elementary,101\nS2,Oak Middle,102\n"
STUDENT_HEADER = (
    "School_id,Student_id,Student_number,First_name,Last_name,Grade,Contact_type,"
    "Contact_relationship,Contact_name,Contact_phone,Contact_email,Contact_sis_id\n"
)
TEACHERS = (
    "School_id,Teacher_id,First_name,Last_name,Teacher_email\nS1,t1,Tia,Moss,tia@example.org\n"
)


def clever(students: str, **extra: str) -> Roster:
    files = {
        "schools.csv": SCHOOLS,
        "students.csv": STUDENT_HEADER + students,
        "teachers.csv": TEACHERS,
    }
    files.update({f"{name}.csv": text for name, text in extra.items()})
    return read_roster({name: text.encode() for name, text in files.items()})


def parents(roster: Roster) -> list:
    return [p for p in roster.people if p.role == "parent"]


def links(roster: Roster) -> list[tuple[str, str]]:
    return sorted((g.parent_id, g.student_id) for g in roster.guardians)


def test_detected_and_always_complete() -> None:
    roster = clever("S1,s1,1001,Ann,Lee,K,,,,,,\n")

    assert detect_format({"students.csv": (STUDENT_HEADER + "S1,s1\n").encode()}) == "clever"
    assert roster.format == "clever"
    assert roster.complete is True
    assert roster.people[0].grade == "KG"


def test_repeated_student_rows_make_one_student_and_many_contacts() -> None:
    roster = clever(
        "S1,s1,1001,Ann,Lee,3,Parent/Guardian,Mother,Mia Lee,6175550123,mia@example.org,\n"
        "S1,s1,1001,Ann,Lee,3,Secondary,Father,Max Lee,6175550124,,\n"
    )

    assert roster.role_counts() == {"student": 1, "teacher": 1, "parent": 2}
    assert sorted((p.given_name, p.family_name) for p in parents(roster)) == [
        ("Max", "Lee"),
        ("Mia", "Lee"),
    ]
    assert len(roster.guardians) == 2
    assert roster.errors == []


def test_sibling_contact_with_same_email_is_one_parent_with_two_links() -> None:
    roster = clever(
        "S1,s1,1001,Ann,Lee,3,Primary,Parent,Mia Lee,,mia@example.org,\n"
        "S2,s2,1002,Bo,Lee,7,Primary,Parent,Mia  Lee,6175550123,MIA@example.org,\n"
    )

    [mia] = parents(roster)
    assert links(roster) == [(mia.sourced_id, "s1"), (mia.sourced_id, "s2")]
    # The second row fills in the phone the first lacked; the parent spans both schools.
    assert mia.phone == "+16175550123"
    assert mia.school_ids == ("S1", "S2")
    assert mia.sourced_id.startswith("clever-contact-")


def test_contact_without_email_is_deduplicated_by_phone_and_name() -> None:
    roster = clever(
        "S1,s1,1001,Ann,Lee,3,Primary,Parent,Mia Lee,617-555-0123,,\n"
        "S1,s2,1002,Bo,Lee,4,Primary,Parent,mia lee,(617) 555 0123,,\n"
        "S1,s3,1003,Cy,Ray,4,Primary,Parent,Jo Ray,(617) 555 0123,,\n"
    )

    assert len(parents(roster)) == 2
    assert len(roster.guardians) == 3


def test_contact_sis_id_is_the_parents_id_and_ids_are_stable() -> None:
    rows = "S1,s1,1001,Ann,Lee,3,Primary,Parent,Mia Lee,,mia@example.org,P77\n"
    first, second = clever(rows), clever(rows)

    assert links(first) == [("P77", "s1")]
    no_sis = "S1,s1,1001,Ann,Lee,3,Primary,Parent,Mia Lee,,mia@example.org,\n"
    assert links(clever(no_sis)) == links(clever(no_sis))
    assert links(second) == links(first)


def test_self_and_emergency_only_contacts_are_not_parents() -> None:
    roster = clever(
        "S1,s1,1001,Ann,Lee,3,Primary,Self,Ann Lee,,ann@example.org,\n"
        "S1,s1,1001,Ann,Lee,3,Emergency,Family Friend,Bob Jones,6175550199,,\n"
        "S1,s1,1001,Ann,Lee,3,Uncle,,Tom Lee,6175550142,,\n"
    )

    # "Uncle" in Contact_type is read softly as a family relationship.
    assert [p.given_name for p in parents(roster)] == ["Tom"]
    assert any("not made parents" in note for note in roster.notes)


def test_conflicting_repeat_of_a_student_is_an_error_naming_both_lines() -> None:
    roster = clever("S1,s1,1001,Ann,Lee,3,,,,,,\nS1,s1,1001,Anne,Lee,3,,,,,,\n")

    [error] = roster.errors
    assert (error.file, error.line) == ("students.csv", 3)
    assert "line 2" in error.message


def test_teacher_in_two_schools_is_one_teacher() -> None:
    teachers = "S1,t2,Al,Bee,al@example.org\nS2,t2,Al,Bee,al@example.org\n"
    roster = read_roster(
        {
            "schools.csv": SCHOOLS.encode(),
            "students.csv": (STUDENT_HEADER + "S1,s1,1,Ann,Lee,3,,,,,,\n").encode(),
            "teachers.csv": (TEACHERS + teachers).encode(),
        }
    )

    al = next(p for p in roster.people if p.sourced_id == "t2")
    assert al.school_ids == ("S1", "S2")
    assert roster.errors == []


def test_staff_file_gives_staff() -> None:
    staff = (
        "School_id,Staff_id,Staff_email,First_name,Last_name,Role\n"
        "S1,x1,x@example.org,Sam,Oak,School Admin\n"
    )
    roster = clever("S1,s1,1,Ann,Lee,3,,,,,,\n", staff=staff)

    assert roster.role_counts()["staff"] == 1


def test_sections_and_enrollments_with_dangling_references() -> None:
    sections = (
        "School_id,Section_id,Teacher_id,Teacher_2_id,Name,Grade\n"
        "S1,sec1,t1,t9,Maths 3,3\n"
        "S1,sec2,,,Art,Kindergarten\n"
    )
    enrollments = "School_id,Section_id,Student_id\nS1,sec1,s1\nS1,sec9,s1\nS1,sec1,s9\n"
    roster = clever("S1,s1,1,Ann,Lee,3,,,,,,\n", sections=sections, enrollments=enrollments)

    assert [(c.sourced_id, c.title, c.grades) for c in roster.classes] == [
        ("sec1", "Maths 3", ("03",)),
        ("sec2", "Art", ("KG",)),
    ]
    assert [(e.class_id, e.user_id, e.role, e.primary) for e in roster.enrollments] == [
        ("sec1", "t1", "teacher", True),
        ("sec1", "s1", "student", False),
    ]
    problems = sorted((p.file, p.line) for p in roster.warnings)
    assert problems == [
        ("enrollments.csv", 3),
        ("enrollments.csv", 4),
        ("sections.csv", 2),
        ("sections.csv", 3),
    ]


def test_missing_teachers_file_is_an_error() -> None:
    roster = read_roster(
        {
            "schools.csv": SCHOOLS.encode(),
            "students.csv": (STUDENT_HEADER + "S1,s1,1,Ann,Lee,3,,,,,,\n").encode(),
        }
    )

    assert [(e.file, e.line) for e in roster.errors] == [("teachers.csv", None)]
    assert roster.complete is False


def test_a_student_without_a_last_name_is_skipped_with_file_line_and_column() -> None:
    roster = clever("S1,s1,1001,Ann,Lee,3,,,,,,\nS1,s2,1002,Bo,,3,,,,,,\n")

    assert [p.sourced_id for p in roster.people if p.role == "student"] == ["s1"]
    [error] = roster.errors
    assert (error.file, error.line, error.column) == ("students.csv", 3, "Last_name")
    assert error.message == "Last_name is empty; the row was skipped."
