"""Harmless quirks of real files are forgiven, real ones reported: repeats, contacts,
phone extensions, names with characters unlikely in a name."""

from __future__ import annotations

from tests.roster.bundles import Bundle
from webapp.roster import Problem, Roster, read_roster
from webapp.roster.context import ReadContext
from webapp.roster.normalise import odd_name, phone_parts

SCHOOLS = "School_id,School_name,School_number\nS1,Maple Elementary,101\n"
STUDENTS = (
    "School_id,Student_id,Student_number,First_name,Last_name,Grade,Contact_type,"
    "Contact_relationship,Contact_name,Contact_phone,Contact_email\n"
)
TEACHERS = "School_id,Teacher_id,First_name,Last_name\nS1,t1,Tia,Moss\nS1,t2,Al,Bee\n"


def clever(students: str, *, other_contacts: bool = False, **extra: str) -> Roster:
    files = {
        "schools.csv": SCHOOLS,
        "students.csv": STUDENTS + students,
        "teachers.csv": TEACHERS,
        **{f"{name}.csv": text for name, text in extra.items()},
    }
    return read_roster(
        {name: text.encode() for name, text in files.items()}, other_contacts=other_contacts
    )


def warnings_of(roster: Roster, text: str) -> list[Problem]:
    return [p for p in roster.warnings if text in p.message]


# Harmless repeats ---------------------------------------------------------------------


def test_a_teacher_repeated_in_a_sections_co_teacher_columns_is_one_enrollment() -> None:
    sections = (
        "School_id,Section_id,Teacher_id,Teacher_2_id,Teacher_3_id,Name\n"
        "S1,sec1,t1,t2,t1,Maths\n"
        "S1,sec2,t2,t2,,Art\n"
    )
    roster = clever("S1,s1,1,Ann,Lee,3,,,,,\n", sections=sections)

    assert roster.errors == []
    assert sorted((e.class_id, e.user_id, e.primary) for e in roster.enrollments) == [
        ("sec1", "t1", True),
        ("sec1", "t2", False),
        ("sec2", "t2", True),
    ]
    [warning] = warnings_of(roster, "teacher columns")
    assert (warning.file, warning.line) == ("sections.csv", 2)
    assert warning.message.startswith("2 teachers were named twice")


def test_a_numbered_first_teacher_column_is_the_primary_teacher() -> None:
    sections = "School_id,Section_id,Teacher_1_id,Teacher_2_id\nS1,sec1,t1,t1\n"
    roster = clever("S1,s1,1,Ann,Lee,3,,,,,\n", sections=sections)

    assert [(e.user_id, e.primary) for e in roster.enrollments] == [("t1", True)]
    assert roster.errors == []


def test_the_same_enrollment_listed_again_is_kept_once_with_one_warning_per_file() -> None:
    bundle = Bundle()
    bundle.user("t1", "teacher", "Tia", "Moss")
    for sid in ("s1", "s2"):
        bundle.user(sid, "student", "Stu", sid)
    bundle.klass("c1", "Maths", "t1", ["s1", "s2"])
    # Three repeats: s1's row twice more (one under its own sourcedId), s2's once.
    s1, s2 = bundle.enrollments[1], bundle.enrollments[2]
    bundle.enrollments += [dict(s1), {**s1, "sourcedId": "enr-again"}, dict(s2)]

    roster = read_roster(bundle.files())

    assert roster.errors == []
    assert sorted((e.class_id, e.user_id) for e in roster.enrollments) == [
        ("c1", "s1"),
        ("c1", "s2"),
        ("c1", "t1"),
    ]
    [warning] = warnings_of(roster, "listed more than once")
    assert (warning.file, warning.line) == ("enrollments.csv", 5)
    assert warning.message == (
        "3 enrollments were listed more than once with the same data; each was kept once "
        "(the first repeat is on line 5, same as line 3)."
    )


def test_a_co_teacher_enrolled_again_as_primary_is_one_primary_enrollment() -> None:
    bundle = Bundle()
    bundle.user("t1", "teacher", "Tia", "Moss")
    bundle.klass("c1", "Maths", "t1", [])
    bundle.enrollments[0]["primary"] = "false"
    bundle.enrollments.append({**bundle.enrollments[0], "sourcedId": "e2", "primary": "true"})

    roster = read_roster(bundle.files())

    assert [(e.user_id, e.primary) for e in roster.enrollments] == [("t1", True)]
    assert roster.errors == []
    assert len(warnings_of(roster, "listed more than once")) == 1


def test_repeated_people_and_classes_are_counted_in_one_warning_each() -> None:
    bundle = Bundle()
    bundle.user("t1", "teacher", "Tia", "Moss")
    bundle.users += [dict(bundle.users[0]), dict(bundle.users[0])]
    bundle.klass("c1", "Maths", "t1", [])
    bundle.classes.append(dict(bundle.classes[0]))

    roster = read_roster(bundle.files())

    assert len(roster.people) == 1 and len(roster.classes) == 1
    assert [(p.file, p.message.split(";")[0]) for p in roster.warnings] == [
        ("users.csv", "2 people were listed more than once with the same data"),
        ("classes.csv", "1 class was listed more than once with the same data"),
    ]


def test_an_enrollment_repeated_with_another_role_is_still_an_error() -> None:
    bundle = Bundle()
    bundle.user("t1", "teacher", "Tia", "Moss")
    bundle.user("s1", "student", "Stu", "Dent")
    bundle.klass("c1", "Maths", "t1", ["s1"])
    bundle.enrollments.append({**bundle.enrollments[1], "sourcedId": "e9", "role": "teacher"})

    roster = read_roster(bundle.files())

    [error] = roster.errors
    assert (error.file, error.line) == ("enrollments.csv", 4)
    assert "different role" in error.message


def test_an_enrollment_id_repeated_for_another_class_or_user_is_an_error() -> None:
    bundle = Bundle()
    bundle.user("t1", "teacher", "Tia", "Moss")
    bundle.user("s1", "student", "Stu", "Dent")
    bundle.user("s2", "student", "Sam", "Dent")
    bundle.klass("c1", "Maths", "t1", ["s1"])
    bundle.enrollments.append({**bundle.enrollments[1], "userSourcedId": "s2"})

    roster = read_roster(bundle.files())

    [error] = roster.errors
    assert (error.file, error.line, error.column) == ("enrollments.csv", 4, "sourcedId")
    assert "'enr-c1-s1'" in error.message and "line 3" in error.message
    assert ("c1", "s2") not in {(e.class_id, e.user_id) for e in roster.enrollments}


def test_a_person_repeated_with_other_data_is_still_an_error() -> None:
    roster = clever("S1,s1,1,Ann,Lee,3,,,,,\nS1,s1,1,Anna,Lee,3,,,,,\n")

    [error] = roster.errors
    assert (error.file, error.line) == ("students.csv", 3)


# Guardian contacts -------------------------------------------------------------------

FAMILY = (
    "S1,s1,1,Ann,Lee,3,Primary,Mother,Mia Lee,,mia@example.org\n"
    "S1,s1,1,Ann,Lee,3,Secondary,Stepfather,Max Lee,,max@example.org\n"
    "S1,s1,1,Ann,Lee,3,Family,Brother,Ben Lee,,ben@example.org\n"
    "S1,s1,1,Ann,Lee,3,Emergency,Cousin,Cal Lee,,cal@example.org\n"
    "S1,s1,1,Ann,Lee,3,Other,Family Friend,Fay Oak,,fay@example.org\n"
    "S1,s1,1,Ann,Lee,3,Primary,GRANDMOTHER,Gran Lee,,gran@example.org\n"
)


def parent_names(roster: Roster) -> list[str]:
    return sorted(p.given_name for p in roster.people if p.role == "parent")


def test_relationship_words_decide_who_gets_a_parent_account() -> None:
    roster = clever(FAMILY)

    assert parent_names(roster) == ["Gran", "Max", "Mia"]
    left_out = warnings_of(roster, "not as a parent or guardian")
    assert [(p.file, p.line, p.column) for p in left_out] == [
        ("students.csv", 4, "Contact_relationship"),
        ("students.csv", 5, "Contact_relationship"),
        ("students.csv", 6, "Contact_relationship"),
    ]
    assert left_out[0].message.startswith(
        "Contact 'Ben Lee' of student 's1' is listed as 'Brother', not as a parent"
    )
    assert any(note.startswith("3 contacts who are not a parent") for note in roster.notes)
    assert roster.errors == []


def test_the_other_contacts_setting_makes_them_parents_too() -> None:
    roster = clever(FAMILY, other_contacts=True)

    assert parent_names(roster) == ["Ben", "Cal", "Fay", "Gran", "Max", "Mia"]
    assert warnings_of(roster, "not as a parent or guardian") == []


def test_an_unknown_relationship_is_left_out_and_a_bare_primary_contact_is_a_parent() -> None:
    roster = clever(
        "S1,s1,1,Ann,Lee,3,Primary,,Pat Lee,,pat@example.org\n"
        "S1,s1,1,Ann,Lee,3,Secondary,Coach,Cy Ray,,cy@example.org\n"
    )

    assert parent_names(roster) == ["Pat"]
    [left_out] = warnings_of(roster, "not as a parent or guardian")
    assert left_out.line == 3 and "'Coach'" in left_out.message


def test_sds_relationships_make_parents_only_of_guardians() -> None:
    files = {
        "orgs.csv": "sourcedId,name,type\no1,Oak,school\n",
        "users.csv": (
            "sourcedId,username,givenName,familyName\n"
            "s1,ann,Ann,Lee\ng1,mia,Mia,Lee\nb1,ben,Ben,Lee\n"
        ),
        "roles.csv": "userSourcedId,orgSourcedId,role,isPrimary\ns1,o1,student,true\n",
        "relationships.csv": (
            "userSourcedId,relationshipUserSourcedId,relationshipRole\n"
            "s1,g1,Legal Guardian\ns1,b1,sibling\n"
        ),
    }
    roster = read_roster({n: t.encode() for n, t in files.items()}, format="sds-2.1")

    assert [(p.sourced_id, p.role) for p in roster.people] == [("s1", "student"), ("g1", "parent")]
    assert [(g.parent_id, g.student_id) for g in roster.guardians] == [("g1", "s1")]
    [left_out] = warnings_of(roster, "not as a parent or guardian")
    assert (left_out.file, left_out.line, left_out.column) == (
        "relationships.csv",
        3,
        "relationshipRole",
    )
    assert roster.errors == []


def test_an_sds_guardian_by_role_is_linked_whatever_the_relationship_word() -> None:
    files = {
        "orgs.csv": "sourcedId,name,type\no1,Oak,school\n",
        "users.csv": "sourcedId,username,givenName,familyName\ns1,ann,Ann,Lee\ng1,mia,Mia,Lee\n",
        "roles.csv": (
            "userSourcedId,orgSourcedId,role,isPrimary\ns1,o1,student,true\ng1,o1,guardian,true\n"
        ),
        "relationships.csv": ("userSourcedId,relationshipUserSourcedId,relationshipRole\ns1,g1,\n"),
    }
    roster = read_roster({n: t.encode() for n, t in files.items()}, format="sds-2.1")

    assert [(g.parent_id, g.student_id) for g in roster.guardians] == [("g1", "s1")]
    assert warnings_of(roster, "not as a parent or guardian") == []


def test_a_spreadsheet_relationship_column_names_parents_and_other_contacts() -> None:
    sheet = (
        "ID,First Name,Last Name,Relationship,Child ID\n"
        "1,Ann,Lee,student,\n"
        "2,Max,Lee,Step-father,1\n"
        "3,Ben,Lee,Brother,1\n"
        "4,Nia,Ray,Neighbour,1\n"
    )
    roster = read_roster({"family.csv": sheet.encode()}, format="csv")

    assert [(p.sourced_id, p.role) for p in roster.people] == [("1", "student"), ("2", "parent")]
    assert [(g.parent_id, g.student_id) for g in roster.guardians] == [("2", "1")]
    assert [p.line for p in warnings_of(roster, "not as a parent or guardian")] == [4, 5]
    assert roster.errors == []


def test_in_a_role_column_an_unknown_word_is_still_an_unknown_role() -> None:
    sheet = "ID,First Name,Last Name,Role\n1,Ann,Lee,Nurse\n2,Ben,Lee,Brother\n3,Coach,Ray,Coach\n"
    roster = read_roster({"staff.csv": sheet.encode()}, format="csv")

    assert [(e.line, e.column) for e in roster.errors] == [(2, "Role"), (4, "Role")]
    assert [p.line for p in warnings_of(roster, "not as a parent or guardian")] == [3]


def test_a_oneroster_role_that_is_a_relationship_word_is_read_as_one() -> None:
    bundle = Bundle()
    bundle.user("s1", "student", "Ann", "Lee")
    bundle.user("g1", "grandparent", "Gran", "Lee", agentSourcedIds="s1")
    bundle.user("b1", "sibling", "Ben", "Lee", agentSourcedIds="s1")

    roster = read_roster(bundle.files())

    assert [(p.sourced_id, p.role) for p in roster.people] == [("s1", "student"), ("g1", "parent")]
    [left_out] = warnings_of(roster, "not as a parent or guardian")
    assert (left_out.file, left_out.line, left_out.column) == ("users.csv", 4, "role")
    assert roster.errors == []


# Phone extensions --------------------------------------------------------------------


def test_phone_extensions_come_apart_from_the_number() -> None:
    for raw in ("+1 603 555 0123 ext. 89", "603-555-0123 x89", "+16035550123;ext=89"):
        assert phone_parts(raw) == ("+16035550123", "89")
    assert phone_parts("603 555 0123") == ("+16035550123", None)


def test_an_extension_is_reported_with_line_and_column_never_cut_off_silently() -> None:
    roster = clever("S1,s1,1,Ann,Lee,3,Primary,Mother,Mia Lee,+1 603 555 0123 ext. 89,\n")

    [mia] = [p for p in roster.people if p.role == "parent"]
    assert mia.phone == "+16035550123"
    [warning] = warnings_of(roster, "extension 89")
    assert (warning.file, warning.line, warning.column) == ("students.csv", 2, "Contact_phone")
    assert "texts" in warning.message


def test_a_number_without_an_extension_is_preferred() -> None:
    ctx = ReadContext()

    phone = ctx.phone(["603 555 0123 x89", "603 555 0199"], "users.csv", 2, "phone")

    assert phone == "+16035550199"
    assert ctx.log.problems == []


# Names with characters unlikely in a name ----------------------------------------------


def test_odd_names_are_told_apart_from_real_ones() -> None:
    for name in ("Ann", "O'Brien", "Zoë", "Mary-Jane", "Núñez", "J. R.", "Smith (Jones)"):
        assert odd_name(name) is None, name
    for name in ("<script>", "=1+2", "#1", "a@b", "{{7*7}}", "x;y", "Hi!", "a>b"):
        assert odd_name(name), name
    assert odd_name("12345") == "only digits"
    assert "control" in odd_name("Ann\x07")
    assert "control" in odd_name("Ann\u202e")


def test_a_name_with_markup_is_warned_with_line_and_column_in_oneroster() -> None:
    bundle = Bundle()
    bundle.user("s1", "student", "Ann", "Lee")
    bundle.user("s2", "student", "<script>alert(1)</script>", "Lee")
    bundle.user("s3", "student", "Bo", "12345")

    roster = read_roster(bundle.files())

    odd = [(p.file, p.line, p.column) for p in warnings_of(roster, "unusual in a name")]
    assert odd == [("users.csv", 3, "givenName")]
    [digits] = warnings_of(roster, "only digits")
    assert (digits.line, digits.column) == (4, "familyName")
    # Imported as given; the pages escape it.
    assert roster.people[1].given_name == "<script>alert(1)</script>"
    assert roster.errors == []


def test_the_names_rule_is_the_same_in_clever_sds_and_spreadsheets() -> None:
    roster = clever("S1,s1,1,Ann,<b>Lee</b>,3,Primary,Mother,=Mia Lee,,\n")
    assert [(p.line, p.column) for p in warnings_of(roster, "unusual in a name")] == [
        (2, "Last_name"),
        (2, "Contact_name"),
    ]

    sheet = "ID,First Name,Last Name,Role\n1,Ann,Lee#2,student\n2,Bo\x07,Ray,student\n"
    roster = read_roster({"people.csv": sheet.encode()}, format="csv")
    assert [(p.line, p.column) for p in roster.warnings if "name" in p.message] == [
        (2, "Last Name"),
        (3, "First Name"),
    ]
    assert roster.people[1].given_name == "Bo"

    uk = {
        "School.csv": "SIS ID,Name\nsch1,Oak\n",
        "Student.csv": "SIS ID,School SIS ID,First Name,Last Name\nst1,sch1,Ann,{Lee}\n",
    }
    roster = read_roster({n: t.encode() for n, t in uk.items()}, format="sds-uk")
    assert [(p.file, p.line, p.column) for p in warnings_of(roster, "unusual in a name")] == [
        ("Student.csv", 2, "Last Name")
    ]
