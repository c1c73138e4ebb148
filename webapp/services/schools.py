"""Schools as district admins manage them: list, create, rename, give an SIS id; find one.

A school's SIS id is its sourced id in one source (id namespace). A school made by hand
takes the deployment's SIS source (ROSTER_SOURCE) with its SIS id, so the SIS's own
exports find it instead of making a second one. Names are unique whatever their case.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Role, School, User, user_schools
from webapp.services import audit, scope
from webapp.services.errors import NotAllowed, PolicyError

NAME_LENGTH = School.__table__.c.name.type.length
SIS_ID_LENGTH = School.__table__.c.sourced_id.type.length
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class SchoolProblem(PolicyError):
    """A name or SIS id broke a rule; `field` ("name" or "sis_id") says which."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__([message])
        self.field = field


@dataclass(frozen=True)
class SchoolRow:
    school: School
    people: int


def list_schools(actor: User) -> list[SchoolRow]:
    """Return the actor's schools by name, each with how many people belong to it."""
    schools = db.session.scalars(scope.visible_schools(actor)).all()
    counts = dict(
        db.session.execute(
            select(user_schools.c.school_id, func.count())
            .where(user_schools.c.school_id.in_([s.id for s in schools]))
            .group_by(user_schools.c.school_id)
        ).all()
    )
    return [SchoolRow(school, counts.get(school.id, 0)) for school in schools]


def require_school_manager(actor: User) -> None:
    """Refuse anyone but a district-wide admin."""
    if not (actor.role == Role.ADMIN and actor.district_wide):
        raise NotAllowed("managing schools needs a district-wide admin", "school")


def create_school(name: str, *, actor: User, sis_id: str | None = None) -> School:
    """Add a school, optionally with its SIS id; the caller commits."""
    require_school_manager(actor)
    name = _clean_name(name)
    sis_id = _clean_sis_id(sis_id)
    source = current_app.config["ROSTER_SOURCE"]
    _require_free_name(name)
    if sis_id is not None:
        _require_free_sis_id(source, sis_id)
    school = School(name=name, source=source, sourced_id=sis_id)
    db.session.add(school)
    db.session.flush()
    audit.record(actor, "school_created", school, name=name, sis_id=sis_id, source=source)
    return school


def rename_school(school_id: int, name: str, *, actor: User) -> School:
    """Give a school a new name; the caller commits."""
    require_school_manager(actor)
    school = _get(school_id)
    name = _clean_name(name)
    if name == school.name:
        return school
    _require_free_name(name, school)
    old, school.name = school.name, name
    db.session.flush()
    audit.record(actor, "school_renamed", school, old=old, new=name)
    return school


def set_sis_id(school_id: int, sis_id: str | None, *, actor: User) -> School:
    """Set (or, given None or "", clear) a school's SIS id; the caller commits."""
    require_school_manager(actor)
    school = _get(school_id)
    sis_id = _clean_sis_id(sis_id)
    if sis_id == school.sourced_id:
        return school
    # A school without an SIS id has no namespace worth keeping: it joins the SIS's.
    source = school.source if school.sourced_id else current_app.config["ROSTER_SOURCE"]
    if sis_id is not None:
        _require_free_sis_id(source, sis_id, school)
    old = school.sourced_id
    school.source, school.sourced_id = source, sis_id
    db.session.flush()
    audit.record(actor, "school_sis_id_set", school, old=old, new=sis_id, source=source)
    return school


def find_school(ref: str, *, actor: User) -> School:
    """Find a school by its id, SIS id or exact name, within the actor's scope.

    Raises PolicyError when nothing (or more than one school) matches, listing the actor's
    schools, and NotAllowed when the school exists but is not the actor's.
    """
    ref = ref.strip()
    every = db.session.scalars(select(School).order_by(School.id)).all()
    found = [s for s in every if ref.isdigit() and s.id == int(ref)]
    found += [s for s in every if s.sourced_id == ref and s not in found]
    found += [s for s in every if s.name == ref and s not in found]
    allowed = scope.visible_school_ids(actor)
    if not found:
        known = [s for s in every if s.id in allowed]
        raise PolicyError([f"No such school: {ref}. Known schools: {describe(known)}."])
    if len(found) > 1:
        # Only the actor's own schools are named: the others' names are not theirs to see.
        visible = [s for s in found if s.id in allowed]
        if not visible:
            raise NotAllowed("school outside the admin's scope", "school", found[0].id)
        listed = f" ({describe(visible)} among them)"
        raise PolicyError(
            [f"{ref!r} fits more than one school{listed}: give the school's exact name instead."]
        )
    if found[0].id not in allowed:
        raise NotAllowed("school outside the admin's scope", "school", found[0].id)
    return found[0]


def match_school(value: str, schools: Sequence[School]) -> list[School]:
    """Return the schools a file's value names: by SIS id, else by name, any case."""
    value = value.strip()
    by_sis_id = [s for s in schools if s.sourced_id is not None and s.sourced_id.strip() == value]
    if by_sis_id:
        return by_sis_id
    key = name_key(value)
    return [s for s in schools if name_key(s.name) == key]


def describe(schools: Iterable[School]) -> str:
    """Name schools for a message: "Oak School (SIS id oak, id 3), Elm (id 4)"."""
    parts = []
    for school in sorted(schools, key=lambda s: name_key(s.name)):
        sis = f"SIS id {school.sourced_id}, " if school.sourced_id else ""
        parts.append(f"{school.name} ({sis}id {school.id})")
    return ", ".join(parts) or "none yet"


def _get(school_id: int) -> School:
    school = db.session.get(School, school_id)
    if school is None:
        raise NotAllowed("no such school", "school", school_id)
    return school


def name_key(name: str) -> str:
    """Return what two names must share to be the same school's: spaces and case aside."""
    return " ".join(name.split()).casefold()


def _clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise SchoolProblem("name", "Give the school a name.")
    if len(name) > NAME_LENGTH or _CONTROL.search(name):
        raise SchoolProblem(
            "name", f"A school's name is at most {NAME_LENGTH} printable characters."
        )
    return name


def _clean_sis_id(sis_id: str | None) -> str | None:
    sis_id = (sis_id or "").strip()
    if not sis_id:
        return None
    if len(sis_id) > SIS_ID_LENGTH or _CONTROL.search(sis_id):
        raise SchoolProblem("sis_id", f"An SIS id is at most {SIS_ID_LENGTH} printable characters.")
    return sis_id


def _require_free_name(name: str, school: School | None = None) -> None:
    key = name_key(name)
    # Few schools: compared in Python, since SQLite's lower() folds only ASCII.
    for other_id, other in db.session.execute(select(School.id, School.name)):
        if name_key(other) == key and (school is None or other_id != school.id):
            raise SchoolProblem("name", f"There is already a school called {other!r}.")


def _require_free_sis_id(source: str, sis_id: str, school: School | None = None) -> None:
    other = db.session.scalar(
        select(School).where(School.source == source, School.sourced_id == sis_id)
    )
    if other is not None and other is not school:
        raise SchoolProblem("sis_id", f"The SIS id {sis_id!r} already belongs to {other.name!r}.")
