"""Field normalisation: names, grades, phones, emails, dates, UPNs, usernames."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from functools import lru_cache
from typing import Literal

import phonenumbers
from anyascii import anyascii
from email_validator import EmailNotValidError, validate_email

NAME_LIMIT = 100

# Bidi controls and zero-width characters let a name display differently from
# what it is (U+202E flips "txt.exe" into "exe.txt"); they never belong in a roster.
_INVISIBLE = re.compile(
    "[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]"
)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SPACE = re.compile(r"\s+")


def clean_text(value: str, limit: int = NAME_LIMIT) -> tuple[str, bool]:
    """Strip invisible and control characters, collapse spaces; return (text, was_cut)."""
    if value.isascii() and value.isprintable() and "  " not in value and len(value) <= limit:
        # The common case, checked in C: nothing to remove but outer spaces.
        return value.strip(), False
    text = _INVISIBLE.sub("", value)
    text = _CONTROL.sub("", text)
    text = _SPACE.sub(" ", text).strip()
    if len(text) > limit:
        return text[:limit].rstrip(), True
    return text, False


# Characters that belong in markup, code or formulas rather than in a person's name:
# a name holding one is imported as written (and escaped everywhere) but worth a look.
_ODD_IN_NAME = re.compile(r"[!<>=#@{};\\|`$%^*\[\]]")
_NAME_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# One search that every ordinary name passes (OneRoster reads 50,000 of them).
_ANY_ODD = re.compile(f"{_ODD_IN_NAME.pattern}|{_NAME_CONTROL.pattern}|{_INVISIBLE.pattern}")


def odd_name(value: str) -> str | None:
    """Say what makes a raw name value unlikely to be a real name, or None if nothing does."""
    if not _ANY_ODD.search(value):
        return "only digits" if value.strip().isdigit() else None
    if _NAME_CONTROL.search(value) or _INVISIBLE.search(value):
        return "control or invisible characters, which were taken out"
    odd = _ODD_IN_NAME.search(value)
    if odd:
        return f"'{odd.group()}', which is unusual in a name"
    return None


def split_full_name(name: str) -> tuple[str, str]:
    """Split a full name into (given, family): "Smith, Mary" or "Mary Ann Smith"."""
    if "," in name:
        family, _, given = name.partition(",")
        return given.strip(), family.strip()
    parts = name.split()
    if len(parts) < 2:
        return name.strip(), ""
    return " ".join(parts[:-1]), parts[-1]


def clean_id(value: str) -> str:
    """Return an identifier without surrounding space or invisible characters."""
    if value.isascii() and value.isprintable():
        return value.strip()
    return _CONTROL.sub("", _INVISIBLE.sub("", value)).strip()


# Grades ----------------------------------------------------------------------

_GRADE_WORDS: dict[str, str] = {
    "k": "KG",
    "kg": "KG",
    "0": "KG",
    "00": "KG",
    "kindergarten": "KG",
    "kinder": "KG",
    "kindergarden": "KG",
    "pk": "PK",
    "prek": "PK",
    "prekindergarten": "PK",
    "p": "PK",
    "tk": "TK",
    "transitionalkindergarten": "TK",
    "it": "IT",
    "infanttoddler": "IT",
    "pr": "PR",
    "preschool": "PR",
    "ps": "PS",
    "postsecondary": "PS",
    "postgraduate": "PS",
    "ug": "UG",
    "ungraded": "UG",
    "other": "Other",
}
_GRADE_NUMBER = re.compile(r"(?:grade|gr|year|yr|y)?0*(\d{1,2})(?:st|nd|rd|th)?(?:grade)?")


@lru_cache(maxsize=1024)
def normalise_grade(raw: str) -> tuple[str, bool]:
    """Return (CEDS code, True) for a known grade, or (raw, False) if unrecognised."""
    key = re.sub(r"[\s._\-]+", "", raw).casefold()
    if key in _GRADE_WORDS:
        return _GRADE_WORDS[key], True
    match = _GRADE_NUMBER.fullmatch(key)
    if match:
        number = int(match.group(1))
        if number == 0:
            return "KG", True
        if 1 <= number <= 13:
            return f"{number:02d}", True
    return raw.strip(), False


# Phones ----------------------------------------------------------------------


def normalise_phone(raw: str, region: str = "US") -> str | None:
    """Return the number in E.164, or None if it is not a valid phone number."""
    return phone_parts(raw, region)[0]


def phone_parts(raw: str, region: str = "US") -> tuple[str | None, str | None]:
    """Return (the number in E.164 or None if invalid, its extension or None).

    E.164 has no place for an extension ("+1 603 555 0123 ext. 89", "x89",
    ";ext=89"), so it comes back apart for the caller to keep or report.
    """
    text = raw.strip()
    if not text:
        return None, None
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None, None
    # Checking the default region first skips phonenumbers' walk over every
    # region sharing the country code (25 for +1), the slow part of is_valid_number.
    if not (
        number.country_code == phonenumbers.country_code_for_region(region)
        and phonenumbers.is_valid_number_for_region(number, region)
    ) and not phonenumbers.is_valid_number(number):
        return None, None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164, number.extension or None


# Emails ----------------------------------------------------------------------

_DOMAIN_TYPOS: dict[str, str] = {
    "gmial.com": "gmail.com",
    "gmai.com": "gmail.com",
    "gmal.com": "gmail.com",
    "gmil.com": "gmail.com",
    "gamil.com": "gmail.com",
    "gnail.com": "gmail.com",
    "gmaill.com": "gmail.com",
    "gmail.co": "gmail.com",
    "gmail.cm": "gmail.com",
    "googlemail.co": "googlemail.com",
    "hotmial.com": "hotmail.com",
    "hotmal.com": "hotmail.com",
    "hotmai.com": "hotmail.com",
    "hotmil.com": "hotmail.com",
    "hotmail.co": "hotmail.com",
    "hotmali.com": "hotmail.com",
    "yaho.com": "yahoo.com",
    "yahooo.com": "yahoo.com",
    "yhoo.com": "yahoo.com",
    "yahho.com": "yahoo.com",
    "outlok.com": "outlook.com",
    "outloook.com": "outlook.com",
    "outlook.co": "outlook.com",
    "otlook.com": "outlook.com",
    "iclod.com": "icloud.com",
    "icloud.co": "icloud.com",
    "icoud.com": "icloud.com",
    "aol.co": "aol.com",
}


def email_typo(email: str) -> str | None:
    """Return the likely intended domain when an email's domain is a common typo."""
    domain = email.rpartition("@")[2].casefold()
    if domain in _DOMAIN_TYPOS:
        return _DOMAIN_TYPOS[domain]
    if domain.endswith((".con", ".cmo", ".ocm")):
        return domain[:-4] + ".com"
    return None


# RFC 5322 dot-atom: the plain ASCII local parts email-validator accepts as is.
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


@lru_cache(maxsize=4096)
def _domain_ok(domain: str) -> str | None:
    """Validate a domain once (a roster has few); return it normalised or None."""
    try:
        return validate_email(f"a@{domain}", check_deliverability=False).domain
    except EmailNotValidError:
        return None


def normalise_email(raw: str) -> tuple[str | None, str | None]:
    """Return (normalised email or None, reason it was refused or None)."""
    text = raw.strip()
    if not text:
        return None, None
    local, at, domain = text.rpartition("@")
    if (
        at
        and text.isascii()
        and len(local) <= 64
        and len(text) <= 254
        and _DOT_ATOM.fullmatch(local)
    ):
        checked = _domain_ok(domain)
        if checked is not None:
            return f"{local}@{checked}", None
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        return None, str(exc)
    return result.normalized, None


def identity_key(value: str) -> str:
    """Return the key under which two emails or usernames count as the same."""
    if value.isascii():
        return value.strip().casefold()  # NFKC leaves ASCII as it is
    return unicodedata.normalize("NFKC", value).strip().casefold()


# Booleans --------------------------------------------------------------------

_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})


def parse_bool(raw: str) -> bool | None:
    """Read true/false in any case (and yes/no, 1/0); None if it is neither."""
    key = raw.strip().casefold()
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    return None


# Dates -----------------------------------------------------------------------

DateOrder = Literal["DMY", "MDY"]
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?")
_LOCAL_DATE = re.compile(r"(\d{1,2})([/.\-])(\d{1,2})\2(\d{4}|\d{2})")


def _year(text: str) -> int:
    if len(text) == 4:
        return int(text)
    # Two-digit years in rosters are birth dates or recent terms: 00-69 are 20xx.
    short = int(text)
    return 2000 + short if short < 70 else 1900 + short


def parse_date(raw: str, order: DateOrder | None = None) -> date | None:
    """Parse ISO or local dates (M/D/YYYY, D/M/YYYY, DD.MM.YYYY, M/D/YY); None if invalid.

    order says how to read slash dates; without it, day-first is assumed only
    when the first number cannot be a month. Dotted dates are always day-first.
    """
    text = raw.strip()
    match = _ISO_DATE.fullmatch(text)
    if match:
        y, m, d = (int(g) for g in match.groups())
        return _safe_date(y, m, d)
    match = _LOCAL_DATE.fullmatch(text)
    if not match:
        return None
    first, sep, second, year = match.groups()
    a, b, y = int(first), int(second), _year(year)
    if sep == "." or order == "DMY" or (order is None and a > 12):
        return _safe_date(y, b, a)
    return _safe_date(y, a, b)


def _safe_date(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


def date_hint(raw: str) -> Literal["DMY", "MDY", "either"] | None:
    """Tell the order one local date must be read in: DMY, MDY, 'either', or None.

    None is for ISO dates and non-dates; dotted dates are always day-first;
    'either' is a slash or dash date with both numbers <= 12 (3/4/2020).
    """
    match = _LOCAL_DATE.fullmatch(raw.strip())
    if not match:
        return None
    first, sep, second, _ = match.groups()
    if sep == "." or int(first) > 12:
        return "DMY"
    if int(second) > 12:
        return "MDY"
    return "either"


def date_order(values: list[str]) -> Literal["iso", "DMY", "MDY", "ambiguous", "mixed"]:
    """Tell how a column's slash dates must be read, or 'ambiguous' if the user must say.

    'ambiguous' means every slash date has both numbers <= 12, so 3/4/2020 could
    be 3 April or 4 March; 'mixed' means some rows are clearly day-first and
    others clearly month-first.
    """
    hints = {date_hint(raw) for raw in values}
    if "DMY" in hints and "MDY" in hints:
        return "mixed"
    if "DMY" in hints:
        return "DMY"
    if "MDY" in hints:
        return "MDY"
    return "ambiguous" if "either" in hints else "iso"


# UK Unique Pupil Number ------------------------------------------------------

_UPN_ALPHABET = "ABCDEFGHJKLMNPQRTUVWXYZ"
_UPN_SHAPE = re.compile(r"[A-Z]\d{11}[0-9A-Z]")


def looks_like_upn(value: str) -> bool:
    """Tell whether a value has the shape of a UK UPN (letter, 11 digits, digit or letter)."""
    value = value.strip()
    # Every UPN is 13 characters long; most student numbers are not, and skip the regex.
    return len(value) == 13 and bool(_UPN_SHAPE.fullmatch(value.upper()))


def upn_is_valid(value: str) -> bool:
    """Check a UPN's check letter (DfE rule: weights 2..13, mod 23)."""
    upn = value.strip().upper()
    if not _UPN_SHAPE.fullmatch(upn):
        return False
    total = 0
    for weight, ch in enumerate(upn[1:], start=2):
        if ch.isdigit():
            total += weight * int(ch)
        elif ch in _UPN_ALPHABET:
            total += weight * _UPN_ALPHABET.index(ch)
        else:
            return False
    return _UPN_ALPHABET[total % 23] == upn[0]


# Usernames -------------------------------------------------------------------

_NOT_USERNAME = re.compile(r"[^a-z0-9._-]+")
_SEPARATOR_RUN = re.compile(r"([._-])[._-]+")
USERNAME_LIMIT = 64


def _ascii_part(text: str) -> str:
    """Transliterate a name part to lower-case [a-z0-9._-]."""
    ascii_text = anyascii(clean_text(text, 1000)[0]).lower()
    ascii_text = ascii_text.replace(" ", "")
    return _NOT_USERNAME.sub("", ascii_text)


def make_username(
    template: str,
    given: str,
    family: str,
    taken: set[str],
    counters: dict[str, int] | None = None,
) -> str:
    """Build a unique ASCII username from a template and add it to taken.

    template uses {first}, {last}, {f} and {l}: "{first}.{last}" makes
    "zoe.nunez" from "Zoë Núñez"; collisions get 2, 3 ... ("jo.smith2").
    taken holds lower-case usernames already in use. counters, kept across one import,
    remembers the next number to try for each base name, so each collision costs O(1)
    instead of a walk over 2, 3, 4 ... (quadratic for a file full of one name).
    """
    first, last = _ascii_part(given), _ascii_part(family)
    try:
        base = template.format(first=first, last=last, f=first[:1], l=last[:1]).lower()
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"Username template {template!r} may use only {{first}}, {{last}}, {{f}} and {{l}}."
        ) from exc
    base = _NOT_USERNAME.sub("", base)
    base = _SEPARATOR_RUN.sub(r"\1", base).strip("._-")[: USERNAME_LIMIT - 6] or "user"
    number = 1 if counters is None else counters.get(base, 1)
    candidate = base if number == 1 else f"{base}{number}"
    # Numbers already passed are taken for good, so over one import each is tried once.
    while candidate in taken:
        number += 1
        candidate = f"{base}{number}"
    if counters is not None:
        counters[base] = number + 1
    taken.add(candidate)
    return candidate
