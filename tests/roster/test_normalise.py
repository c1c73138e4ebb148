"""Field normalisers: grades, phones, emails, dates, names, UPNs, usernames."""

from __future__ import annotations

from datetime import date

import pytest

from webapp.roster import read_roster
from webapp.roster.normalise import (
    clean_text,
    date_order,
    email_typo,
    identity_key,
    make_username,
    normalise_email,
    normalise_grade,
    normalise_phone,
    parse_bool,
    parse_date,
    upn_is_valid,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("K", "KG"),
        ("kg", "KG"),
        ("0", "KG"),
        ("Kindergarten", "KG"),
        ("PreKindergarten", "PK"),
        ("Pre-K", "PK"),
        ("TransitionalKindergarten", "TK"),
        ("9", "09"),
        ("09", "09"),
        ("Grade 3", "03"),
        ("12th", "12"),
        ("13", "13"),
        ("Ungraded", "UG"),
    ],
)
def test_grades_normalise_to_ceds(raw: str, expected: str) -> None:
    assert normalise_grade(raw) == (expected, True)


def test_unknown_grade_is_kept_raw_with_a_warning() -> None:
    assert normalise_grade("ps1") == ("ps1", False)
    roster = read_roster(
        {"students.csv": b"ID,First Name,Last Name,Grade\n1,Ann,Lee,Form 4B\n"}, format="csv"
    )
    assert roster.people[0].grade == "Form 4B"
    assert [(w.line, w.column) for w in roster.warnings if "not a known grade" in w.message] == [
        (2, "Grade")
    ]


def test_phones_become_e164_or_are_dropped() -> None:
    assert normalise_phone("(617) 555-0123") == "+16175550123"
    assert normalise_phone("07700 900 982", "GB") is None  # reserved for drama
    assert normalise_phone("020 7946 0018", "GB") == "+442079460018"
    assert normalise_phone("+44 20 7946 0018", "US") == "+442079460018"
    assert normalise_phone("12345") is None
    assert normalise_phone("call me") is None


def test_default_region_is_used_for_national_numbers() -> None:
    data = b"ID,First Name,Last Name,Mobile\n1,Ann,Lee,020 7946 0018\n2,Bo,Ray,nope\n"
    roster = read_roster({"students.csv": data}, format="csv", default_region="GB")

    assert [p.phone for p in roster.people] == ["+442079460018", None]
    assert [w.line for w in roster.warnings if "not a valid phone" in w.message] == [3]


def test_emails_validated_without_dns_and_typos_flagged() -> None:
    assert normalise_email(" Ann.Lee@Example.ORG ") == ("Ann.Lee@example.org", None)
    assert normalise_email("ann@")[0] is None
    assert email_typo("ann@gmial.com") == "gmail.com"
    assert email_typo("ann@hotmial.com") == "hotmail.com"
    assert email_typo("ann@yaho.com") == "yahoo.com"
    assert email_typo("ann@outlok.com") == "outlook.com"
    assert email_typo("ann@school.con") == "school.com"
    assert email_typo("ann@gmail.com") is None


def test_bad_email_dropped_and_typo_kept_with_warnings() -> None:
    data = b"ID,First Name,Last Name,Email\n1,Ann,Lee,ann@@x\n2,Bo,Ray,bo@gmai.com\n"
    roster = read_roster({"students.csv": data}, format="csv")

    assert [p.email for p in roster.people] == [None, "bo@gmai.com"]
    lines = sorted((w.line, "typo" in w.message) for w in roster.warnings if w.column == "Email")
    assert lines == [(2, False), (3, True)]


def test_dates_iso_and_local_forms() -> None:
    assert parse_date("2023-05-01") == date(2023, 5, 1)
    assert parse_date("2023-05-01T18:25:43.511Z") == date(2023, 5, 1)
    assert parse_date("4/2/2000") == date(2000, 4, 2)
    assert parse_date("4/2/2000", "DMY") == date(2000, 2, 4)
    assert parse_date("15/06/2023") == date(2023, 6, 15)
    assert parse_date("31.12.2012") == date(2012, 12, 31)
    assert parse_date("6/20/00") == date(2000, 6, 20)
    assert parse_date("2/30/2020") is None
    assert parse_date("yesterday") is None


def test_date_order_asks_when_every_day_is_twelve_or_less() -> None:
    assert date_order(["1/05/2023", "3/04/2022", ""]) == "ambiguous"
    assert date_order(["1/05/2023", "15/06/2023"]) == "DMY"
    assert date_order(["1/05/2023", "6/20/2000"]) == "MDY"
    assert date_order(["13/01/2020", "01/13/2020"]) == "mixed"
    assert date_order(["2023-05-01"]) == "iso"
    assert date_order(["01.02.2020"]) == "DMY"


def test_booleans_in_any_case() -> None:
    assert [parse_bool(v) for v in ("TRUE", "true", "False", "yes", "0", "maybe")] == [
        True,
        True,
        False,
        True,
        False,
        None,
    ]


def test_names_lose_invisible_characters_but_keep_their_text() -> None:
    hostile = ' =HYPERLINK("x")\u202e\u200b <b>Zoë</b>\r\n  {{7*7}} '
    assert clean_text(hostile) == ('=HYPERLINK("x") <b>Zoë</b> {{7*7}}', False)
    assert clean_text("A" * 150) == ("A" * 100, True)


def test_long_name_is_cut_with_a_warning() -> None:
    data = ("ID,First Name,Last Name\n1," + "B" * 300 + ",Lee\n").encode()
    roster = read_roster({"students.csv": data}, format="csv")

    assert roster.people[0].given_name == "B" * 100
    assert [w.line for w in roster.warnings if "longer than 100" in w.message] == [2]


def test_upn_check_letter() -> None:
    assert upn_is_valid("B801200005001")
    assert not upn_is_valid("A801200005001")
    assert not upn_is_valid("B80120000500")


def test_wrong_upn_is_only_a_warning() -> None:
    data = b"ID,First Name,Last Name,UPN\n1,Ann,Lee,A801200005001\n2,Bo,Ray,B801200005001\n"
    roster = read_roster({"students.csv": data}, format="csv")

    assert [p.student_number for p in roster.people] == ["A801200005001", "B801200005001"]
    assert [w.line for w in roster.warnings if "UPN" in w.message] == [2]


def test_make_username_transliterates_and_numbers_collisions() -> None:
    taken: set[str] = {"jo.smith"}

    assert make_username("{first}.{last}", "Zoë", "Núñez", taken) == "zoe.nunez"
    assert make_username("{first}.{last}", "Łukasz", "Kowalski", taken) == "lukasz.kowalski"
    assert make_username("{first}.{last}", "Jo", "Smith", taken) == "jo.smith2"
    assert make_username("{first}.{last}", "Jo", "Smith", taken) == "jo.smith3"
    assert make_username("{f}{last}", "Mary Ann", "O'Brien-Lee", taken) == "mobrien-lee"
    assert make_username("{first}.{last}", "Ann\u202e", "Lee\u200b", taken) == "ann.lee"
    assert make_username("{first}.{last}", "", "", taken) == "user"
    assert {"zoe.nunez", "jo.smith2", "jo.smith3"} <= taken


def test_make_username_rejects_unknown_placeholders() -> None:
    with pytest.raises(ValueError, match="template"):
        make_username("{surname}", "Ann", "Lee", set())


def test_identity_key_ignores_case_space_and_nfkc_form() -> None:
    assert identity_key(" ANN@Example.org ") == identity_key("ann@example.org")
    assert identity_key("ａｎｎ") == identity_key("ann")


def test_names_are_cleaned_and_a_missing_one_is_the_rows_error() -> None:
    from webapp.roster.context import ReadContext

    ctx = ReadContext()
    cols = ("givenName", "familyName")
    assert ctx.names("  Ann ", "Lee", "users.csv", 2, cols) == ("Ann", "Lee")
    assert ctx.names("Ann", " ", "users.csv", 3, cols) is None
    assert ctx.names("", "Lee", "users.csv", 4, cols) is None
    assert [(p.line, p.column, p.message) for p in ctx.log.problems] == [
        (3, "familyName", "familyName is empty; the row was skipped."),
        (4, "givenName", "givenName is empty; the row was skipped."),
    ]
