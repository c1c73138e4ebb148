"""Per-school settings: a school's row, else the district row (school NULL), else config.

Only the keys declared in SPECS exist; each names the config key that supplies its default
and a check for values an admin sets.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from flask import current_app, g
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Role, School, Setting, User
from webapp.services import audit, scope
from webapp.services.errors import NotAllowed, PolicyError


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise PolicyError(["Choose yes or no."])
    return value


def _positive_int(limit: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
            raise PolicyError([f"Use a whole number from 1 to {limit}."])
        return value

    return check


def _email_or_none(value: Any) -> str | None:
    if value in (None, ""):
        return None
    try:
        return validate_email(str(value), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise PolicyError([f"That email address is not valid: {exc}"]) from exc


def _phone_or_none(value: Any) -> str | None:
    if value in (None, ""):
        return None
    try:
        number = phonenumbers.parse(str(value), None)
    except phonenumbers.NumberParseException as exc:
        raise PolicyError(["Give the number in international form, like +15125550123."]) from exc
    if not phonenumbers.is_valid_number(number):
        raise PolicyError(["That phone number is not valid."])
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _roles(value: Any) -> list[str]:
    known = [role.value for role in Role]
    if not isinstance(value, list) or not all(v in known for v in value):
        raise PolicyError([f"Give a list of roles from: {', '.join(known)}."])
    return sorted(dict.fromkeys(value))  # this module defines its own set()


def _notice(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= 500:
        raise PolicyError(["Write the notice in 1 to 500 characters."])
    return value.strip()


def _channel(value: Any) -> str:
    if value not in ("email", "sms"):
        raise PolicyError(["Choose email or sms."])
    return value


def _paper_size(value: Any) -> str:
    if value not in ("A4", "Letter"):
        raise PolicyError(["Choose A4 or Letter."])
    return value


def _grades(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(g, str) and g for g in value):
        raise PolicyError(["Give a list of grade codes, like KG, 01, 02."])
    return [g.strip().upper() for g in value]


def _grades_or_none(value: Any) -> list[str]:
    return [] if value in (None, [], "") else _grades(value)


@functools.cache
def zone_names() -> tuple[str, ...]:
    """Every time zone name this machine knows, sorted (read from disk once)."""
    return tuple(sorted(available_timezones()))


def _time_zone(value: Any) -> str:
    if value not in zone_names():
        raise PolicyError(["Use a time zone name such as America/Chicago or Europe/London."])
    return value


@dataclass(frozen=True)
class Spec:
    config_key: str
    check: Callable[[Any], Any]


SPECS: dict[str, Spec] = {
    "notify_new_students": Spec("NOTIFY_NEW_STUDENTS", _bool),
    "notify_new_parents": Spec("NOTIFY_NEW_PARENTS", _bool),
    "notify_channel": Spec("NOTIFY_CHANNEL", _channel),
    "fallback_email": Spec("FALLBACK_EMAIL", _email_or_none),
    "test_mode": Spec("TEST_MODE", _bool),
    "test_mode_email": Spec("TEST_MODE_EMAIL", _email_or_none),
    "test_mode_phone": Spec("TEST_MODE_PHONE", _phone_or_none),
    "invite_link_days": Spec("INVITE_LINK_DAYS", _positive_int(7)),
    "reset_link_minutes": Spec("RESET_LINK_MINUTES", _positive_int(60)),
    "sso_roles": Spec("SSO_ROLES", _roles),
    "sso_notice": Spec("SSO_NOTICE", _notice),
    "temp_password_days": Spec("TEMP_PASSWORD_DAYS", _positive_int(30)),
    "young_student_grades": Spec("YOUNG_STUDENT_GRADES", _grades),
    "badge_grades": Spec("BADGE_GRADES", _grades_or_none),
    "parent_code_days": Spec("PARENT_CODE_DAYS", _positive_int(365)),
    "parent_code_max_uses": Spec("PARENT_CODE_MAX_USES", _positive_int(20)),
    "import_other_contacts": Spec("IMPORT_OTHER_CONTACTS", _bool),
    "paper_size": Spec("PAPER_SIZE", _paper_size),
    "time_zone": Spec("TIME_ZONE", _time_zone),
}


def _spec(key: str) -> Spec:
    try:
        return SPECS[key]
    except KeyError:
        raise KeyError(f"unknown setting {key!r}") from None


def _school_id(school: School | int | None) -> int | None:
    return school.id if isinstance(school, School) else school


def get(key: str, school: School | int | None = None) -> Any:
    """Return a setting for a school, falling back to the district row, then config."""
    _spec(key)
    return snapshot(school)[key]


def snapshot(school: School | int | None = None) -> dict[str, Any]:
    """Return every setting for one school in two queries (jobs read it once per chunk)."""
    school_id = _school_id(school)
    values = {key: current_app.config[spec.config_key] for key, spec in SPECS.items()}
    rows = db.session.execute(
        select(Setting.school_id, Setting.key, Setting.value).where(
            Setting.school_id.is_(None)
            if school_id is None
            else (Setting.school_id.is_(None) | (Setting.school_id == school_id))
        )
    ).all()
    # District rows first, so the school's own rows win.
    for _row_school, key, value in sorted(rows, key=lambda r: r[0] is not None):
        if key in values:
            values[key] = value
    return values


def on_anywhere(key: str) -> bool:
    """Return True if any school, the district or the config default turns a yes/no key on."""
    spec = _spec(key)
    if current_app.config[spec.config_key]:
        return True
    values = db.session.scalars(select(Setting.value).where(Setting.key == key))
    return any(value is True for value in values)


def school_of(user: User) -> int | None:
    """The school whose settings apply to a user: their first by id (None: the district)."""
    return min((school.id for school in user.schools), default=None)


def for_user(user: User, cache: dict[int | None, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Return the settings of the user's first school (by id), or the district's.

    Pass the same `cache` dict across a loop to read each school's settings once.
    """
    school_id = school_of(user)
    if cache is None:
        return snapshot(school_id)
    return for_school(school_id, cache)


def sso_notice(user: User) -> str | None:
    """Return what to tell someone whose school signs their role in by single sign-on."""
    cfg = for_user(user)
    return cfg["sso_notice"] if str(user.role) in cfg["sso_roles"] else None


def for_school(school_id: int | None, cache: dict[int | None, dict[str, Any]]) -> dict[str, Any]:
    """Return a school's settings (None: the district's), read once per `cache`."""
    if school_id not in cache:
        cache[school_id] = snapshot(school_id)
    return cache[school_id]


def zone(place: School | User | int | None = None) -> ZoneInfo:
    """The clock a school keeps (a user: the school `for_user` picks; None: the district's).

    Every school's zone is read in one query, once per app context (a request, a job), so a
    page of fifty people from ten schools asks once.
    """
    if "time_zones" not in g:
        rows = db.session.execute(
            select(Setting.school_id, Setting.value).where(Setting.key == "time_zone")
        )
        g.time_zones = dict(rows.tuples().all())
    school_id = school_of(place) if isinstance(place, User) else _school_id(place)
    district = g.time_zones.get(None, current_app.config["TIME_ZONE"])
    return ZoneInfo(g.time_zones.get(school_id, district))


def set(key: str, value: Any, school: School | None, actor: User) -> Any:  # noqa: A001
    """Store a setting for a school (None: district-wide) after checking it; caller commits."""
    spec = _spec(key)
    if actor.role != Role.ADMIN:
        raise NotAllowed("settings need an admin", "school", _school_id(school))
    if school is None and not actor.district_wide:
        raise NotAllowed("district settings need a district-wide admin")
    if school is not None and school.id not in scope.visible_school_ids(actor):
        raise NotAllowed("school outside scope", "school", school.id)
    clean = spec.check(value)
    school_id = _school_id(school)
    row = db.session.scalar(
        select(Setting).where(
            Setting.key == key,
            Setting.school_id.is_(None) if school_id is None else Setting.school_id == school_id,
        )
    )
    old = row.value if row else None
    if row is None:
        row = Setting(school_id=school_id, key=key, value=clean)
        db.session.add(row)
    else:
        row.value = clean
    db.session.flush()
    g.pop("time_zones", None)  # zone() reads the new value from here on
    audit.record(actor, "settings_changed", school, key=key, old=old, new=clean)
    return clean


def own_keys(school: School | int | None) -> frozenset[str]:
    """The keys set for this school itself (None: for the district) rather than inherited."""
    school_id = _school_id(school)
    return frozenset(
        db.session.scalars(
            select(Setting.key).where(
                Setting.school_id.is_(None) if school_id is None else Setting.school_id == school_id
            )
        )
    )
