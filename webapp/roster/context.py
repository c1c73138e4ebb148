"""Shared state and field checks for one import: files, problems, normalisers."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from datetime import date
from functools import lru_cache

from webapp.roster.decode import Table, read_table
from webapp.roster.normalise import (
    clean_id,
    clean_text,
    email_typo,
    looks_like_upn,
    normalise_email,
    normalise_grade,
    normalise_phone,
    parse_bool,
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
        "_interned",
        "_phones",
    )

    def __init__(
        self,
        region: str = "US",
        *,
        date_order: DateOrder | None = None,
        today: date | None = None,
    ) -> None:
        self.log = ProblemLog()
        self.region = region
        self.date_order = date_order
        self.today = today or date.today()
        self.encodings: dict[str, str] = {}
        # False only for a spreadsheet whose first row is data: columns go by position.
        self.has_header = True
        self._interned: dict[tuple[str, ...], tuple[str, ...]] = {}
        # Per import, not per process: parents' numbers repeat across siblings,
        # and nothing personal should outlive the import in a module cache.
        self._phones: dict[str, str | None] = {}

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

    def names(
        self, given: str, family: str, file: str, line: int, columns: tuple[str, str]
    ) -> tuple[str, str] | None:
        """Clean a person's given and family names; None, with the row's error logged, when
        either is empty. `columns` names the two columns as the file calls them."""
        given = self.text(given, file, line, columns[0])
        family = self.text(family, file, line, columns[1])
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
        """Return the first valid phone of values in E.164; warn if none is valid."""
        given = [v for v in values if v.strip()]
        for value in given:
            if value in self._phones:
                phone = self._phones[value]
            else:
                phone = self._phones[value] = normalise_phone(value, self.region)
            if phone:
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

    def grade(self, value: str, file: str, line: int, column: str) -> str | None:
        """Normalise a grade to CEDS; warn and keep it raw if unknown."""
        if not value.strip():
            return None
        grade, known = normalise_grade(value)
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
