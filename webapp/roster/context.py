"""Shared state and field checks for one import: files, problems, normalisers."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from datetime import date
from functools import lru_cache
from typing import Literal

from webapp.roster.decode import Table, read_table
from webapp.roster.normalise import (
    clean_id,
    clean_text,
    email_typo,
    looks_like_upn,
    normalise_email,
    normalise_grade,
    odd_name,
    parse_bool,
    phone_parts,
    upn_is_valid,
)
from webapp.roster.problems import ProblemLog
from webapp.roster.records import ROLES, DateOrder, Role

# Source role words -> Keyslip role. OneRoster 1.1 and 1.2, SDS v2.1 and
# spreadsheet words share one table; compare after norm_role().
ROLE_WORDS: dict[str, Role] = {
    "student": "student",
    "pupil": "student",
    "learner": "student",
    "teacher": "teacher",
    "professor": "teacher",
    "faculty": "teacher",
    "instructor": "teacher",
    "lecturer": "teacher",
    "guardian": "parent",
    "parent": "parent",
    "relative": "parent",
    "mother": "parent",
    "father": "parent",
    "carer": "parent",
    "parentguardian": "parent",
    "administrator": "admin",
    "admin": "admin",
    "districtadministrator": "admin",
    "siteadministrator": "admin",
    "systemadministrator": "admin",
    "schooladmin": "admin",
    "districtadmin": "admin",
    "aide": "staff",
    "proctor": "staff",
    "counselor": "staff",
    "counsellor": "staff",
    "principal": "staff",
    "staff": "staff",
    "teachingassistant": "staff",
}


# Relationship words (Clever Contact_relationship and Contact_type, SDS relationshipRole,
# a spreadsheet's relationship or role column) for someone who cares for the child and
# gets a parent account. Compared after norm_role(), so "Step-mother" is "stepmother".
GUARDIAN_WORDS = frozenset(
    """
    parent parents guardian guardians legalguardian parentguardian guardianparent
    mother father mom mum mommy mummy dad daddy stepmother stepfather stepparent stepmom
    stepmum stepdad grandmother grandfather grandparent grandparents grandma grandpa granny
    fosterparent fostermother fosterfather fostercarer carer caregiver primarycaregiver
    aunt uncle auntuncle relative
    mutter vater eltern elternteil stiefmutter stiefvater grossmutter grossvater oma opa
    pflegemutter pflegevater pflegeeltern vormund erziehungsberechtigter
    erziehungsberechtigte tante onkel
    mère père mere pere parent1 parent2 bellemère beaupère grandmère grandpère tuteur
    tutrice tutrielegal oncle
    madre padre madrastra padrastro abuela abuelo tutor tutora tutorlegal tía tío tia tio
    moeder vader ouder ouders stiefmoeder stiefvader grootmoeder grootvader oma opa voogd
    pleegouder pleegmoeder pleegvader oom
    """.split()
)
# Contacts who are not parents or guardians: by default they get no account (a school
# can turn on "import other contacts as parents"). In a relationship column unknown words
# ("Other", "Doctor") are treated the same; in a role column they stay an unknown role,
# so words a staff file could use ("Nurse", "Other") are not listed here.
OTHER_CONTACT_WORDS = frozenset(
    """
    sibling siblings brother sister stepbrother stepsister halfbrother halfsister cousin
    niece nephew familyfriend friend neighbour neighbor emergency emergencycontact
    babysitter nanny childminder
    bruder schwester cousine nachbar nachbarin freund freundin notfallkontakt
    frère soeur sœur cousin cousine voisin voisine ami amie
    hermano hermana primo prima vecino vecina amigo amiga
    broer zus neef nicht buurman buurvrouw vriend vriendin
    """.split()
)


def contact_kind(raw: str) -> Literal["guardian", "other"] | None:
    """Say whether a relationship word is a guardian or another contact; None when it is
    empty or not a word Keyslip knows."""
    key = norm_role(raw)
    if key in GUARDIAN_WORDS:
        return "guardian"
    if key in OTHER_CONTACT_WORDS:
        return "other"
    return None


def norm_role(raw: str) -> str:
    """Reduce a role word to a ROLE_WORDS key."""
    return "".join(ch for ch in raw.casefold() if ch.isalnum())


@lru_cache(maxsize=1024)
def map_role(raw: str) -> Role | None:
    """Return the Keyslip role for a source role word, or None if unknown."""
    key = norm_role(raw)
    if key in ROLES:
        return key  # type: ignore[return-value]
    return ROLE_WORDS.get(key)


class FileSet:
    """Uploaded files by name, looked up case-insensitively on the base name."""

    __slots__ = ("_files",)

    def __init__(self, files: Mapping[str, bytes]) -> None:
        self._files: dict[str, tuple[str, bytes]] = {}
        for name, data in files.items():
            base = name.replace("\\", "/").rsplit("/", 1)[-1]
            self._files.setdefault(base.casefold(), (base, data))

    def get(self, name: str) -> tuple[str, bytes] | None:
        """Return (name as uploaded, bytes) for a file name, any case."""
        return self._files.get(name.casefold())

    def names(self) -> list[str]:
        """Return the uploaded base names."""
        return [name for name, _ in self._files.values()]

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        return iter(self._files.values())

    def __len__(self) -> int:
        return len(self._files)


class ReadContext:
    """What every reader needs: the problem log, region, date order, and field checks.

    date_order is the user's answer for date columns whose day/month order the
    values cannot tell; today is the date leaving dates are compared with.
    """

    __slots__ = (
        "log",
        "region",
        "date_order",
        "today",
        "encodings",
        "has_header",
        "other_contacts",
        "left_out_contacts",
        "_interned",
        "_phones",
        "_grades",
    )

    def __init__(
        self,
        region: str = "US",
        *,
        date_order: DateOrder | None = None,
        today: date | None = None,
        other_contacts: bool = False,
    ) -> None:
        self.log = ProblemLog()
        self.region = region
        self.date_order = date_order
        self.today = today or date.today()
        # The school setting "import other contacts as parents": siblings, family friends
        # and unknown relationships get parent accounts too.
        self.other_contacts = other_contacts
        self.left_out_contacts = 0
        self.encodings: dict[str, str] = {}
        # False only for a spreadsheet whose first row is data: columns go by position.
        self.has_header = True
        self._interned: dict[tuple[str, ...], tuple[str, ...]] = {}
        # Per import, not per process: parents' numbers repeat across siblings,
        # and nothing personal should outlive the import in a module cache.
        self._phones: dict[str, tuple[str | None, str | None]] = {}
        self._grades: dict[str, str] = {}  # raw value -> known grade

    def open(self, name: str, data: bytes) -> Table | None:
        """Decode one file, remembering which encoding it used."""
        table = read_table(name, data, self.log, has_header=self.has_header)
        if table is not None:
            self.encodings[name] = table.encoding
        return table

    def ids(self, values: tuple[str, ...]) -> tuple[str, ...]:
        """Share equal id tuples (school lists repeat on every row)."""
        shared = self._interned.get(values)
        if shared is None:
            shared = tuple(sys.intern(v) for v in values)
            self._interned[values] = shared
        return shared

    def text(self, value: str, file: str, line: int, column: str, limit: int = 100) -> str:
        """Clean a name-like value; warn when it had to be shortened."""
        text, cut = clean_text(value, limit)
        if cut:
            self.log.warning(
                file,
                line,
                column,
                f"'{text[:40]}...' is longer than {limit} characters and was cut to {limit}.",
                kind="too-long",
            )
        return text

    def check_name(self, value: str, file: str, line: int, column: str) -> None:
        """Warn when a raw name holds characters unlikely in a name (markup, control)."""
        odd = odd_name(value)
        if odd:
            self._odd_name(value, odd, file, line, column)

    def _odd_name(self, value: str, odd: str, file: str, line: int, column: str) -> None:
        self.log.warning(
            file,
            line,
            column,
            f"'{clean_text(value, 40)[0]}' has {odd}. The name was imported as given "
            "(and is shown escaped everywhere); check it in the source system.",
            kind="odd-name",
        )

    def name(self, value: str, file: str, line: int, column: str, limit: int = 100) -> str:
        """Check and clean one name (given, family, middle or a contact's full name)."""
        odd = odd_name(value)
        if odd:
            self._odd_name(value, odd, file, line, column)
        if value.isascii() and value.isprintable() and "  " not in value and len(value) <= limit:
            return value.strip()  # nothing to clean or cut (checked in C), as text() would find
        return self.text(value, file, line, column, limit)

    def names(
        self, given: str, family: str, file: str, line: int, columns: tuple[str, str]
    ) -> tuple[str, str] | None:
        """Clean a person's given and family names; None, with the row's error logged, when
        either is empty. `columns` names the two columns as the file calls them."""
        given = self.name(given, file, line, columns[0])
        family = self.name(family, file, line, columns[1])
        if given and family:
            return given, family
        missing = columns[0] if not given else columns[1]
        self.log.error(
            file, line, missing, f"{missing} is empty; the row was skipped.", kind="no-name"
        )
        return None

    def ident(self, value: str) -> str:
        """Clean an identifier (sourced id, username), sharing equal ones."""
        # Ids repeat on every enrollment and link row; one shared string each
        # saves tens of megabytes at 50,000 people.
        if value.isascii() and value.isprintable():
            return sys.intern(value.strip())  # clean_id()'s common case, without the call
        return sys.intern(clean_id(value))

    def email(self, value: str, file: str, line: int, column: str) -> str | None:
        """Validate an email; warn and drop it if invalid, warn and keep it on a typo."""
        if not value.strip():
            return None
        email, reason = normalise_email(value)
        if email is None:
            self.log.warning(
                file,
                line,
                column,
                f"'{clean_text(value, 80)[0]}' is not a valid email address ({reason}); "
                "it was left out. Correct it in the source system.",
                kind="bad-email",
            )
            return None
        suggestion = email_typo(email)
        if suggestion:
            self.log.warning(
                file,
                line,
                column,
                f"'{email}' looks like a typo for @{suggestion}; it was kept. "
                "Correct it in the source system if it is wrong.",
                kind="email-typo",
            )
        return email

    def phone(self, values: list[str], file: str, line: int, column: str) -> str | None:
        """Return the first valid phone of values in E.164; warn if none is valid.

        A number without an extension is preferred; one with an extension is kept
        without it, with a warning, because texts (the only use of a phone) cannot
        reach an extension and E.164 cannot hold one.
        """
        given = [v for v in values if v.strip()]
        extended: tuple[str, str, str] | None = None
        for value in given:
            parts = self._phones.get(value)
            if parts is None:
                parts = self._phones[value] = phone_parts(value, self.region)
            phone, extension = parts
            if phone and not extension:
                return phone
            if phone and extension and extended is None:
                extended = (value, phone, extension)
        if extended is not None:
            value, phone, extension = extended
            self.log.warning(
                file,
                line,
                column,
                f"'{clean_text(value, 40)[0]}' has extension {extension}. Keyslip uses phone "
                "numbers for text messages, which cannot reach an extension, so the number "
                f"was kept as {phone} without it; texts may not arrive. Give a mobile "
                "number in the source system.",
                kind="phone-extension",
            )
            return phone
        if given:
            shown = "' / '".join(clean_text(v, 40)[0] for v in given)
            self.log.warning(
                file,
                line,
                column,
                f"'{shown}' is not a valid phone number (region {self.region}); it was "
                "left out. Give it with its country code, e.g. +1 603 555 0123.",
                kind="bad-phone",
            )
        return None

    def contact_is_parent(
        self,
        word: str,
        file: str,
        line: int,
        column: str | None,
        who: str,
        *,
        unknown_is_contact: bool = True,
    ) -> bool | None:
        """Decide from a relationship word whether a contact gets a parent account.

        Guardian words do; other contacts (siblings, friends, ...) and, when
        unknown_is_contact, unknown words do only with the other_contacts setting.
        A contact left out is counted and listed. None means the word is unknown and
        the caller reads the column as something else (a role column).
        """
        kind = contact_kind(word)
        if kind == "guardian":
            return True
        if kind is None and not unknown_is_contact:
            return None
        if self.other_contacts:
            return True
        self.left_out_contacts += 1
        shown = clean_text(word, 40)[0]
        listed = f"is listed as '{shown}'" if shown else "has no relationship given"
        self.log.warning(
            file,
            line,
            column,
            f"{who} {listed}, not as a parent or guardian, so no parent account was made. "
            "Turn on the school setting 'import other contacts as parents' to include "
            "such contacts.",
            kind="contact-left-out",
        )
        return False

    def report_contacts(self) -> None:
        """Add one note counting the contacts that got no parent account."""
        if self.left_out_contacts:
            n = self.left_out_contacts
            self.log.note(
                f"{n} contact{'s' if n != 1 else ''} who {'are' if n != 1 else 'is'} not a "
                "parent or guardian (sibling, cousin, family friend, emergency contact ...) "
                "got no account; each is listed among the warnings with its file and line."
            )

    def grade(self, value: str, file: str, line: int, column: str) -> str | None:
        """Normalise a grade to CEDS; warn and keep it raw if unknown."""
        known_grade = self._grades.get(value)
        if known_grade is not None:
            return known_grade  # a dozen values fill a district's grade column
        if not value.strip():
            return None
        grade, known = normalise_grade(value)
        if known:
            grade = self._grades[value] = sys.intern(grade)
            return grade
        if not known:
            grade = clean_text(grade, 20)[0]
            self.log.warning(
                file,
                line,
                column,
                f"Grade '{grade}' is not a known grade (KG, PK, 1-13 ...); it was kept as written.",
                kind="bad-grade",
            )
        return sys.intern(grade)

    def first_grade(self, value: str, file: str, line: int, column: str) -> str | None:
        """Normalise the first grade of a list ("09,10"): a person has one grade."""
        if not value.isalnum():
            value = next(iter(split_list(value)), "")
        return self.grade(value, file, line, column)

    def grades(self, value: str, file: str, line: int, column: str) -> tuple[str, ...]:
        """Normalise each grade of a list ("09,10"), as shared ids."""
        return self.ids(
            tuple(g for raw in split_list(value) if (g := self.grade(raw, file, line, column)))
        )

    def one_phone(self, value: str, file: str, line: int, column: str) -> str | None:
        """Return one phone value in E.164 (see phone())."""
        return self.phone([value], file, line, column)

    def student_number(self, value: str, file: str, line: int, column: str) -> str | None:
        """Keep a student number; warn when it looks like a UPN with a wrong check letter."""
        number = clean_id(value)
        if not number:
            return None
        if looks_like_upn(number) and not upn_is_valid(number):
            self.log.warning(
                file,
                line,
                column,
                f"'{number}' looks like a UK UPN but its check letter is wrong; it was kept. "
                "Check it against the school's records.",
                kind="bad-upn",
            )
        return number

    def flag(self, value: str, file: str, line: int, column: str, default: bool) -> bool:
        """Read a boolean in any case; warn and use default when unreadable."""
        if not value.strip():
            return default
        parsed = parse_bool(value)
        if parsed is None:
            self.log.warning(
                file,
                line,
                column,
                f"'{clean_text(value, 40)[0]}' is not true or false; read as "
                f"{str(default).lower()}.",
                kind="bad-bool",
            )
            return default
        return parsed


def split_list(value: str) -> list[str]:
    """Split a OneRoster comma list ("a,b") into clean, non-empty items."""
    return [item for item in (clean_id(v) for v in value.split(",")) if item]
