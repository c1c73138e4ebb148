"""Duplicate records and shared identities inside one import."""

from __future__ import annotations

from webapp.roster import read_roster


def sheet(text: str):
    return read_roster({"people.csv": text.encode()}, format="csv")


def test_identical_duplicate_id_is_a_warning() -> None:
    roster = sheet("ID,First Name,Last Name,Role\n1,Ann,Lee,student\n1,Ann,Lee,student\n")

    assert len(roster.people) == 1
    assert roster.errors == []


def test_conflicting_duplicate_id_is_an_error_naming_both_lines() -> None:
    roster = sheet("ID,First Name,Last Name,Role\n1,Ann,Lee,student\n1,Anne,Lee,student\n")

    [person] = roster.people
    assert person.given_name == "Ann"
    [error] = roster.errors
    assert error.line == 3 and "line 2" in error.message


def test_conflicting_duplicate_across_oneroster_rows_is_an_error() -> None:
    manifest = b"propertyName,value\noneroster.version,1.1\nfile.users,bulk\n"
    users = (
        b"sourcedId,enabledUser,orgSourcedIds,role,username,givenName,familyName\n"
        b"u1,true,,student,ann,Ann,Lee\n"
        b"u1,true,,teacher,ann,Ann,Lee\n"
    )
    roster = read_roster({"manifest.csv": manifest, "users.csv": users})

    [error] = roster.errors
    assert (error.file, error.line) == ("users.csv", 3)
    assert "role" in error.message


def test_emails_differing_by_case_space_or_nfkc_are_the_same() -> None:
    roster = sheet(
        "ID,First Name,Last Name,Email,Role\n"
        "1,Ann,Lee,ann@example.org,student\n"
        "2,Bo,Ray,ANN@example.org ,student\n"
        "3,Cy,Moe,ａｎｎ@example.org,student\n"
    )

    errors = [(e.line, e.column) for e in roster.errors]
    assert errors == [(3, "email"), (4, "email")]
    assert all("line 2" in e.message for e in roster.errors)


def test_usernames_differing_by_case_are_the_same() -> None:
    roster = sheet(
        "ID,First Name,Last Name,Username,Role\n"
        "1,Ann,Lee,ann.lee,student\n"
        "2,Ann,Lee,Ann.Lee,student\n"
    )

    [error] = roster.errors
    assert (error.line, error.column) == (3, "username")
    assert "'Ann.Lee'" in error.message and "'ann.lee'" in error.message
