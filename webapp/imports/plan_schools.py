"""Which schools an import's people go into: an SIS's orgs, or a spreadsheet's school values."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from webapp.extensions import db
from webapp.imports.plan import ImportOptions, ImportPlan, add_error, warn
from webapp.models import (
    Role,
    School,
    User,
)
from webapp.roster.records import Problem
from webapp.services import schools, scope
from webapp.services.errors import NotAllowed


def plan_schools(plan: ImportPlan, actor: User) -> None:
    roster, options = plan.roster, plan.options
    allowed = set(scope.visible_school_ids(actor))
    plan.allowed_school_ids = allowed
    if roster.format == "csv":
        _plan_named_schools(plan, actor, allowed)
    else:
        _plan_org_schools(plan, actor, allowed)
    if options.school_id is not None:
        if options.school_id not in allowed:
            raise NotAllowed(
                "import into a school outside the admin's scope", "school", options.school_id
            )
        plan.school_ids[""] = options.school_id
    elif not roster.schools and not any(p.school_ids for p in roster.people):
        add_error(plan, None, "Choose the school these people belong to: the file names none.")


def _plan_org_schools(plan: ImportPlan, actor: User, allowed: set[int]) -> None:
    """Match an SIS's orgs to schools by their ids in this source; new ones are created."""
    existing = dict(
        db.session.execute(
            select(School.sourced_id, School.id).where(School.source == plan.options.source)
        ).all()
    )
    names = {schools.name_key(name) for name in db.session.scalars(select(School.name))}
    for record in plan.roster.schools:
        school_id = existing.get(record.sourced_id)
        if school_id is not None:
            if school_id not in allowed:
                raise NotAllowed(
                    "import touches a school outside the admin's scope", "school", school_id
                )
            plan.school_ids[record.sourced_id] = school_id
        elif actor.role == Role.ADMIN and actor.district_wide:
            plan.new_schools.append((record.sourced_id, record.name))
            if schools.name_key(record.name) in names:
                warn(
                    plan,
                    record.file,
                    record.line,
                    f"A school called {record.name!r} is already in Keyslip, without the SIS "
                    f"id {record.sourced_id}, so a second one will be created. To use the one "
                    "you have, give it this SIS id on the Schools page and preview again.",
                )
        else:
            plan.problems.append(
                Problem(
                    "error",
                    record.file,
                    record.line,
                    "sourcedId",
                    f"School {record.name!r} ({record.sourced_id}) is not one of your schools. "
                    "Ask a district admin to import it.",
                )
            )


def _plan_named_schools(plan: ImportPlan, actor: User, allowed: set[int]) -> None:
    """Map a spreadsheet's school values to the admin's schools, by SIS id, then by name.

    A spreadsheet's school column is whatever the admin typed ("1", "Oak", "oak-101"), not
    an SIS's org ids: a value that names no school of theirs is an error, unless the admin
    chose to create the schools named in the file.
    """
    if not plan.roster.schools:
        return
    every = db.session.scalars(select(School).order_by(School.id)).all()
    mine = [school for school in every if school.id in allowed]
    rows = Counter(sid for person in plan.roster.people for sid in person.school_ids)
    for record in plan.roster.schools:
        value = record.sourced_id
        found = schools.match_school(value, mine)
        if len(found) == 1:
            plan.school_ids[value] = found[0].id
            continue
        if not found and plan.options.create_schools and actor.district_wide:
            plan.new_schools.append((value, record.name))
            continue
        plan.unknown_schools.add(value)
        elsewhere = not found and bool(schools.match_school(value, every))
        message = _unknown_school(value, rows[value], found, mine, elsewhere, plan.options)
        plan.problems.append(
            Problem(
                "error",
                record.file,
                record.line,
                record.column or "school",
                message,
                "unknown-school",
            )
        )


def _unknown_school(
    value: str,
    rows: int,
    found: list[School],
    mine: list[School],
    elsewhere: bool,
    options: ImportOptions,
) -> str:
    """Say why a spreadsheet's school value was not used, and what would work."""
    named = f"School '{value}'" + (f" (named on {rows} rows)" if rows > 1 else "")
    if found:
        return (
            f"{named} could be any of {schools.describe(found)}. Give each its own SIS id "
            "on the Schools page and use those in the file."
        )
    if elsewhere:
        return f"{named} is not one of your schools."
    if options.create_schools:
        return (
            f"{named} is not in Keyslip, and only a district-wide admin can create schools. "
            "Ask one to create it, then preview again."
        )
    return (
        f"{named} is not in Keyslip. Known schools: {schools.describe(mine)}. Use a "
        "school's name or SIS id in the file, give the school this SIS id on the Schools "
        "page, or choose to create the schools named in the file."
    )
