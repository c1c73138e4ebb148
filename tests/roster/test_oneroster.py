"""OneRoster 1.1 and 1.2 quirks, on small bundles written here."""

from __future__ import annotations

import io
import zipfile

from webapp.roster import Roster, read_roster, read_upload

ORGS = (
    "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\n"
    "sch1,,,Maple High,school,,dist1\n"
    "dist1,,,Maple District,district,,\n"
)
USERS_11 = (
    "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,"
    "givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password\n"
)


def manifest(version: str = "1.1", **modes: str) -> str:
    rows = ["propertyName,value", "manifest.version,1.0", f"oneroster.version,{version}"]
    rows += [f"file.{entity},{mode}" for entity, mode in modes.items()]
    return "\n".join(rows) + "\n"


def bundle(**files: str) -> dict[str, bytes]:
    return {f"{name}.csv": text.encode() for name, text in files.items()}


def found(roster: Roster, text: str) -> list[tuple[str, str | None, int | None]]:
    return [(p.severity, p.file, p.line) for p in roster.problems if text in p.message]


def by_id(roster: Roster) -> dict:
    return {p.sourced_id: p for p in roster.people}


def test_parents_linked_in_both_directions_union_once() -> None:
    users = USERS_11 + (
        "s1,,,true,sch1,student,s1,,Ann,Lee,,,,,,p1,9,\n"
        "s2,,,TRUE,sch1,student,s2,,Bo,Lee,,,,,,,10,\n"
        'p1,,,True,sch1,guardian,p1,,Mia,Lee,,,,,,"s1,s2",,\n'
        "t1,,,true,sch1,teacher,t1,,Tom,Ray,,,,,,s1,,\n"
    )
    roster = read_roster(
        bundle(manifest=manifest(orgs="bulk", users="bulk"), orgs=ORGS, users=users)
    )

    assert sorted((g.parent_id, g.student_id) for g in roster.guardians) == [
        ("p1", "s1"),
        ("p1", "s2"),
    ]
    assert found(roster, "only a parent and a student can be linked") == [
        ("warning", "users.csv", 5)
    ]
    people = by_id(roster)
    assert people["p1"].role == "parent"
    assert people["s1"].grade == "09"
    # The district is not a school: people there get only their school.
    assert people["s1"].school_ids == ("sch1",)
    assert [s.sourced_id for s in roster.schools] == ["sch1"]


def test_dangling_agent_and_org_are_warnings_with_lines() -> None:
    users = USERS_11 + (
        "s1,,,true,sch1,student,s1,,Ann,Lee,,,,,,ghost,9,\n"
        "s2,,,true,nowhere,student,s2,,Bo,Lee,,,,,,,10,\n"
    )
    roster = read_roster(
        bundle(manifest=manifest(orgs="bulk", users="bulk"), orgs=ORGS, users=users)
    )

    assert found(roster, "Agent 'ghost'") == [("warning", "users.csv", 2)]
    assert found(roster, "Org 'nowhere' is not in orgs.csv") == [("warning", "users.csv", 3)]
    assert roster.errors == []
    assert by_id(roster)["s2"].school_ids == ()


def test_enabled_user_false_and_booleans_in_any_case() -> None:
    users = USERS_11 + (
        "s1,,,FALSE,sch1,student,s1,,Ann,Lee,,,,,,,9,\n"
        "s2,,,False,sch1,student,s2,,Bo,Lee,,,,,,,9,\n"
        "s3,,,maybe,sch1,student,s3,,Cy,Lee,,,,,,,9,\n"
    )
    roster = read_roster(
        bundle(manifest=manifest(orgs="bulk", users="bulk"), orgs=ORGS, users=users)
    )

    people = by_id(roster)
    assert (people["s1"].enabled, people["s2"].enabled, people["s3"].enabled) == (
        False,
        False,
        True,
    )
    assert found(roster, "'maybe' is not true or false") == [("warning", "users.csv", 4)]


def test_userids_in_type_id_form_are_accepted_and_others_warned() -> None:
    users = USERS_11 + (
        's1,,,true,sch1,student,s1,"{LDAP:12},{LTI:15}",Ann,Lee,,,,,,,9,\n'
        "s2,,,true,sch1,student,s2,LDAP-12,Bo,Lee,,,,,,,9,\n"
    )
    roster = read_roster(
        bundle(manifest=manifest(orgs="bulk", users="bulk"), orgs=ORGS, users=users)
    )

    assert found(roster, "{type:id}") == [("warning", "users.csv", 3)]


def test_delta_tobedeleted_and_blank_status() -> None:
    users = (
        "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,givenName,familyName\n"
        "s1,tobedeleted,2024-05-01T10:00:00.000Z,true,sch1,student,s1,,\n"
        "s2,,2024-05-01,true,sch1,student,s2,Bo,Lee\n"
        "s3,active,2024-05-01,true,sch9,student,s3,Cy,Lee\n"
    )
    roster = read_roster(bundle(manifest=manifest(users="delta", orgs="absent"), users=users))

    assert roster.complete is False
    people = by_id(roster)
    # A tobedeleted row needs no names: it only has to say who leaves.
    assert people["s1"].status == "tobedeleted"
    assert people["s2"].status == "active"
    assert found(roster, "status is blank in a delta file") == [("warning", "users.csv", 3)]
    # Under a delta the org may already be known, so the reference is kept.
    assert people["s3"].school_ids == ("sch9",)
    assert roster.errors == []


def test_bulk_tobedeleted_user_is_kept_with_a_warning() -> None:
    users = USERS_11 + "s1,tobedeleted,,true,sch1,student,s1,,Ann,Lee,,,,,,,9,\n"
    roster = read_roster(
        bundle(manifest=manifest(orgs="bulk", users="bulk"), orgs=ORGS, users=users)
    )

    assert by_id(roster)["s1"].status == "tobedeleted"
    assert found(roster, "tobedeleted inside a bulk file") == [("warning", "users.csv", 2)]


def test_v12_roles_give_role_and_schools() -> None:
    users = (
        "sourcedId,status,dateLastModified,enabledUser,username,userIds,givenName,familyName,"
        "middleName,identifier,email,sms,phone,agentSourcedIds,grades,password,"
        "userMasterIdentifier,preferredGivenName,preferredMiddleName,preferredFamilyName,"
        "primaryOrgSourcedId,pronouns\n"
        "u1,,,true,u1,,Ann,Lee,,A1,,,,,KG,,,,,,,\n"
        "u2,,,true,u2,,Bo,Lee,,,,,,u1,,,,,,,,\n"
        "u3,,,true,u3,,Cy,Moe,,,,,,,,,,,,,,\n"
        "u4,,,true,u4,,Di,Fox,,,,,,,,,,,,,,\n"
    )
    roles = (
        "sourcedId,status,dateLastModified,userSourcedId,roleType,role,beginDate,endDate,orgSourcedId,userProfileSourcedId\n"
        "r1,,,u1,primary,student,,,sch1,\n"
        "r2,,,u2,primary,guardian,,,sch1,\n"
        "r3,,,u3,primary,districtAdministrator,,,dist1,\n"
        "r4,,,u3,secondary,teacher,,,sch1,\n"
        "r5,,,ghost,primary,student,,,sch1,\n"
    )
    roster = read_roster(
        bundle(
            manifest=manifest("1.2", orgs="bulk", users="bulk", roles="bulk"),
            orgs=ORGS,
            users=users,
            roles=roles,
        )
    )

    assert roster.format == "oneroster-1.2"
    people = by_id(roster)
    assert (people["u1"].role, people["u1"].grade, people["u1"].student_number) == (
        "student",
        "KG",
        "A1",
    )
    assert people["u2"].role == "parent"
    assert people["u3"].role == "admin"
    assert people["u3"].school_ids == ("sch1",)
    assert [(g.parent_id, g.student_id) for g in roster.guardians] == [("u2", "u1")]
    assert found(roster, "has no row in roles.csv") == [("error", "users.csv", 5)]
    assert "u4" not in people
    assert found(roster, "'ghost' has a role but is not in users.csv") == [
        ("warning", "roles.csv", 6)
    ]


def test_v12_delta_user_without_roles_keeps_role_unknown() -> None:
    users = (
        "sourcedId,status,dateLastModified,enabledUser,givenName,familyName\n"
        "u1,active,2024-01-01,true,Ann,Lee\n"
    )
    roster = read_roster(
        bundle(
            manifest=manifest("1.2", users="delta", roles="delta"),
            users=users,
            roles="sourcedId,userSourcedId,roleType,role,orgSourcedId\n",
        )
    )

    [person] = roster.people
    assert person.role is None
    assert roster.errors == []


def test_headers_reordered_misspelled_and_unknown() -> None:
    users = (
        "FamilyName , GIVENNAME,role,sourcedid,dataLastModified,enabledUser,orgSourcedIds,"
        "metadata.classification,shoe_size,\n"
        "Lee,Ann,student,s1,2024-01-01,true,sch1,x,42,\n"
    )
    roster = read_roster(
        bundle(manifest=manifest(orgs="bulk", users="bulk"), orgs=ORGS, users=users)
    )

    [person] = roster.people
    assert (person.given_name, person.family_name, person.role) == ("Ann", "Lee", "student")
    assert roster.errors == []
    assert any("shoe_size" in note for note in roster.notes)
    assert not any("metadata.classification" in note for note in roster.notes)


def test_missing_required_column_names_it_and_reads_nothing() -> None:
    users = "sourcedId,role,givenName,enabledUser\ns1,student,Ann,true\n"
    roster = read_roster(bundle(manifest=manifest(users="bulk"), users=users))

    assert roster.people == []
    [error] = roster.errors
    assert error.file == "users.csv"
    assert "'familyName'" in error.message
    # A file that could not be read is never a full snapshot.
    assert roster.complete is False


def test_manifest_mode_for_a_missing_users_file_is_an_error() -> None:
    roster = read_roster(bundle(manifest=manifest(users="bulk", orgs="bulk"), orgs=ORGS))

    assert found(roster, "users.csv is not in the upload") == [("error", "users.csv", None)]
    assert roster.complete is False


def test_enrollments_dangling_and_non_keyslip_roles() -> None:
    users = (
        USERS_11
        + "s1,,,true,sch1,student,s1,,Ann,Lee,,,,,,,9,\n"
        + "t1,,,true,sch1,teacher,t1,,Tom,Ray,,,,,,,,\n"
    )
    classes = (
        "sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,"
        "location,schoolSourcedId,termSourcedIds\n"
        'c1,,,Maths,"9,10",co1,M1,scheduled,,sch1,term1\n'
    )
    enrollments = (
        "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary\n"
        "e1,,,c1,sch1,s1,student,false\n"
        "e2,,,c1,sch1,t1,teacher,TRUE\n"
        "e3,,,c9,sch1,s1,student,false\n"
        "e4,,,c1,sch1,s9,student,false\n"
        "e5,,,c1,sch1,t1,proctor,false\n"
    )
    roster = read_roster(
        bundle(
            manifest=manifest(orgs="bulk", users="bulk", classes="bulk", enrollments="bulk"),
            orgs=ORGS,
            users=users,
            classes=classes,
            enrollments=enrollments,
        )
    )

    assert [(e.user_id, e.role, e.primary) for e in roster.enrollments] == [
        ("s1", "student", False),
        ("t1", "teacher", True),
    ]
    assert found(roster, "Class 'c9'") == [("warning", "enrollments.csv", 4)]
    assert found(roster, "User 's9'") == [("warning", "enrollments.csv", 5)]
    assert found(roster, "'proctor'") == [("warning", "enrollments.csv", 6)]
    assert roster.classes[0].grades == ("09", "10")


def test_bundle_in_a_zip_with_a_top_folder() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("export/manifest.csv", manifest(users="bulk"))
        archive.writestr("export/users.csv", USERS_11 + "s1,,,true,,student,s1,,Ann,Lee,,,,,,,9,\n")
        archive.writestr("__MACOSX/export/._users.csv", b"\x00\x05\x16\x07junk")
    roster = read_upload("bundle.zip", buffer.getvalue())

    assert roster.format == "oneroster-1.1"
    assert [p.sourced_id for p in roster.people] == ["s1"]
    assert roster.errors == []
