"""What a complete file removes, only inside the schools it covers: leavers, classes, class
places and parent links; and what it adds to classes and families.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.imports.plan import ImportPlan, chunks, new_school_ids
from webapp.imports.plan_people import Known, leaver, sourced_ids
from webapp.models import (
    Class,
    Enrollment,
    GuardianLink,
    User,
    user_schools,
)
from webapp.roster.records import Problem


def plan_leavers(plan: ImportPlan, known: Known) -> None:
    """Plan who leaves the schools the file covers: absent from it, active, and a member.

    Someone who is also at a school the file does not cover only leaves the covered ones;
    the rest are deactivated.
    """
    if not plan.removes_absent or plan.roster.modes.get("users") == "delta":
        return
    school_ids = set(plan.school_ids.values())
    if not school_ids:
        return
    # Active members of this source per school, counted by the database; only the few
    # people missing from the file have their memberships loaded.
    members = (
        select(user_schools.c.school_id, func.count())
        .join(User, User.id == user_schools.c.user_id)
        .where(
            User.source == plan.options.source,
            user_schools.c.school_id.in_(school_ids),
            User.deactivated_at.is_(None),
        )
        .group_by(user_schools.c.school_id)
    )
    for school_id, total in db.session.execute(members).tuples():
        plan.removals_at(school_id).people_total = total
    present = set(known.user_ids.values())
    absent = [row.id for row in known.rows if row.deactivated_at is None and row.id not in present]
    memberships: dict[int, set[int]] = defaultdict(set)
    for chunk in chunks(absent):
        query = select(user_schools.c.user_id, user_schools.c.school_id).where(
            user_schools.c.user_id.in_(chunk)
        )
        for user_id, school_id in db.session.execute(query).tuples():
            memberships[user_id].add(school_id)
    leaving_ids: set[int] = set()
    for user_id, member_of in memberships.items():
        covered = member_of & school_ids
        if not covered:
            continue
        if member_of - school_ids:
            for school_id in sorted(covered):
                plan.memberships_remove.append((user_id, school_id))
                plan.removals_at(school_id).memberships += 1
            continue
        leaving_ids.add(user_id)
        for school_id in covered:
            plan.removals_at(school_id).people += 1
    if not leaving_ids:
        return
    already = {leaver.user_id for leaver in plan.deactivate}
    for row in known.by_sid.values():
        if row.id in leaving_ids and row.id not in already:
            plan.deactivate.append(leaver(row, "not in the SIS export"))


@dataclass
class _ExistingClasses:
    """This source's classes in Keyslip: sourced id -> (id, title, code), and their schools."""

    by_sid: dict[str, tuple[int, str, str | None]] = field(default_factory=dict)
    school_of: dict[int, int] = field(default_factory=dict)

    def school(self, class_sid: str) -> int | None:
        match = self.by_sid.get(class_sid)
        return self.school_of[match[0]] if match else None


def _outside_scope(plan: ImportPlan, record: Any, what: str) -> None:
    plan.problems.append(
        Problem(
            "warning",
            record.file,
            record.line,
            "sourcedId",
            f"This {what} is at a school outside your schools; it was left as it is.",
        )
    )


def plan_classes_and_enrollments(plan: ImportPlan, known: Known) -> None:
    if not plan.roster.classes and not plan.roster.enrollments:
        return
    existing = _ExistingClasses()
    for sid, class_id, title, code, school_id in db.session.execute(
        select(Class.sourced_id, Class.id, Class.title, Class.class_code, Class.school_id).where(
            Class.source == plan.options.source
        )
    ).tuples():
        existing.by_sid[sid] = (class_id, title, code)
        existing.school_of[class_id] = school_id
    for school_id in set(plan.school_ids.values()):
        removals = plan.removals_at(school_id)
        removals.classes_total = sum(1 for s in existing.school_of.values() if s == school_id)
    _plan_classes(plan, existing)
    _plan_enrollments(plan, known, existing)


def _plan_classes(plan: ImportPlan, existing: _ExistingClasses) -> None:
    roster = plan.roster
    in_file: set[str] = set()
    new_schools = new_school_ids(plan)
    for record in roster.classes:
        if record.status == "tobedeleted":
            school_id = existing.school(record.sourced_id)
            if school_id is None:
                continue
            if school_id not in plan.allowed_school_ids:
                _outside_scope(plan, record, "class")
                continue
            _remove_class(plan, existing.by_sid[record.sourced_id][0], school_id)
            continue
        in_file.add(record.sourced_id)
        match = existing.by_sid.get(record.sourced_id)
        if match:
            if (match[1], match[2]) != (record.title, record.class_code):
                plan.updated_classes[match[0]] = {
                    "title": record.title,
                    "class_code": record.class_code,
                }
        elif record.school_id in plan.school_ids or record.school_id in new_schools:
            plan.new_classes.append((record.sourced_id, record.school_id, record.title))
        elif "" in plan.school_ids:
            plan.new_classes.append((record.sourced_id, "", record.title))
        else:
            plan.problems.append(
                Problem(
                    "warning",
                    record.file,
                    record.line,
                    "schoolSourcedId",
                    f"Class {record.title!r} is for a school not in this import; skipped.",
                )
            )
    if not (plan.removes_absent and roster.modes.get("classes", "bulk") == "bulk"):
        return
    # A snapshot speaks only for the schools it covers.
    covered = set(plan.school_ids.values())
    for sid, (class_id, _, _) in existing.by_sid.items():
        school_id = existing.school_of[class_id]
        if sid not in in_file and school_id in covered:
            _remove_class(plan, class_id, school_id)


def _remove_class(plan: ImportPlan, class_id: int, school_id: int) -> None:
    if class_id not in plan.removed_classes:
        plan.removed_classes.append(class_id)
        plan.removals_at(school_id).classes += 1


def _plan_enrollments(plan: ImportPlan, known: Known, existing: _ExistingClasses) -> None:
    roster = plan.roster
    new_class_sids = {sid for sid, _, _ in plan.new_classes}
    in_upload = {c.sourced_id for c in roster.classes}
    wanted: dict[tuple[str, str], tuple[str, bool]] = {}
    dropped: dict[tuple[str, str], Any] = {}
    for record in roster.enrollments:
        key = (record.class_id, record.user_id)
        if record.status == "tobedeleted":
            dropped[key] = record
            continue
        if record.class_id not in existing.by_sid and record.class_id not in new_class_sids:
            if roster.format == "csv" and record.class_id not in in_upload:
                _not_in_keyslip(plan, record, f"Class '{record.class_id}'")
            continue  # otherwise the readers already warned about the dangling class
        if record.user_id not in known.roles:
            earlier = _member_in_keyslip(plan, known, record.user_id)
            if earlier is not None:
                wanted[key] = (earlier, False)
            elif plan.errors and record.user_id in known.in_file:
                plan.held_enrollments += 1
                _held_back(plan, record, f"{record.user_id} in class {record.class_id}")
            elif roster.format == "csv" and record.user_id not in known.in_file:
                _not_in_keyslip(plan, record, f"'{record.user_id}'")
            elif plan.errors:
                plan.held_enrollments += 1
                _held_back(plan, record, f"{record.user_id} in class {record.class_id}")
            continue
        wanted[key] = (record.role, record.primary)
    held = _existing_enrollments(plan, known, existing)
    for key, (role, primary) in wanted.items():
        if key not in held:
            plan.enrollments_add.add((key[0], key[1], role, primary))
    covered = set(plan.school_ids.values())
    for key in held:
        school_id = existing.school(key[0])
        if school_id in covered:
            plan.removals_at(school_id).enrollments_total += 1
    bulk = plan.removes_absent and roster.modes.get("enrollments", "bulk") == "bulk"
    removed = set(plan.removed_classes)
    for key, enrollment_id in held.items():
        school_id = existing.school(key[0])
        if existing.by_sid[key[0]][0] in removed:
            continue  # goes with its class
        if key in dropped:
            if school_id not in plan.allowed_school_ids:
                _outside_scope(plan, dropped[key], "enrollment")
                continue
        elif not (bulk and key not in wanted and school_id in covered):
            continue
        plan.enrollments_remove.append(enrollment_id)
        plan.removals_at(school_id).enrollments += 1


def _member_in_keyslip(plan: ImportPlan, known: Known, sourced_id: str) -> str | None:
    """Return the class role of someone of this source imported earlier, not in this file."""
    if plan.roster.format != "csv" or sourced_id in known.in_file:
        return None
    row = known.by_sid.get(sourced_id)
    visible = plan.visible_user_ids
    if row is None or (visible is not None and row.id not in visible):
        return None
    if row.role == "student":
        return "student"
    return "teacher" if row.role in ("teacher", "staff", "admin") else None


def _not_in_keyslip(plan: ImportPlan, record: Any, what: str) -> None:
    plan.problems.append(
        Problem(
            "warning",
            record.file,
            record.line,
            None,
            f"{what} is neither in this upload nor in Keyslip (matched by SIS id); the class "
            "place was not added.",
            "dangling-enrollment",
        )
    )


def _existing_enrollments(
    plan: ImportPlan, known: Known, existing: _ExistingClasses
) -> dict[tuple[str, str], int]:
    """Map (class sourced id, person sourced id) to the enrollment ids of this source."""
    if not existing.by_sid:
        return {}
    class_sid = {class_id: sid for sid, (class_id, _, _) in existing.by_sid.items()}
    rows = (
        db.session.execute(
            select(Enrollment.id, Enrollment.class_id, Enrollment.user_id)
            .join(Class, Class.id == Enrollment.class_id)
            .where(Class.source == plan.options.source)
        )
        .tuples()
        .all()
    )
    # People's sourced ids come from the users already loaded, not from a join
    # that looks every enrolled person up again.
    user_sid = known.sourced_ids()
    others = sorted({user_id for _, _, user_id in rows if user_id not in user_sid})
    user_sid.update(sourced_ids(others))
    return {
        (class_sid[class_id], user_sid[user_id]): enrollment_id
        for enrollment_id, class_id, user_id in rows
    }


def _held_back(plan: ImportPlan, record: Any, what: str) -> None:
    plan.problems.append(
        Problem(
            "warning",
            record.file,
            record.line,
            None,
            f"Held back: {what}, because a person in it has an error (or is not in the "
            "file). It is added once that row is fixed and imported.",
            "held-back",
        )
    )


def plan_guardians(plan: ImportPlan, known: Known) -> None:
    roster = plan.roster
    wanted = set()
    earlier = _students_in_keyslip(plan, known)
    for g in roster.guardians:
        student_known = g.student_id in known.roles or g.student_id in earlier
        if g.parent_id in known.roles and student_known:
            wanted.add((g.parent_id, g.student_id))
            if g.relationship:
                plan.link_relations[(g.parent_id, g.student_id)] = g.relationship[:40]
        elif plan.errors and (g.parent_id not in known.roles or g.student_id in known.in_file):
            plan.held_links += 1
            _held_back(plan, g, f"the link of parent {g.parent_id} to {g.student_id}")
        elif g.parent_id in known.roles:
            plan.problems.append(
                Problem(
                    "warning",
                    g.file,
                    g.line,
                    None,
                    f"Child '{g.student_id}' is neither in this upload nor a student in "
                    "Keyslip (matched by SIS id); no link was made.",
                    "dangling-link",
                )
            )
    existing: dict[tuple[str, str], int] = {}
    # Roster links between two people of this source: known.rows holds exactly those people.
    sids = known.sourced_ids()
    rows = db.session.execute(
        select(GuardianLink.id, GuardianLink.parent_id, GuardianLink.student_id).where(
            GuardianLink.origin == "roster"
        )
    ).tuples()
    for link_id, parent_id, student_id in rows.all():
        if parent_id in sids and student_id in sids:
            existing[(sids[parent_id], sids[student_id])] = link_id
    plan.links_add = wanted - set(existing)
    links_bulk = plan.removes_absent and roster.modes.get("users", "bulk") == "bulk"
    if links_bulk and roster.guardians:
        plan.links_remove = [
            link_id
            for key, link_id in existing.items()
            if key not in wanted and key[0] in known.in_file and key[1] in known.in_file
        ]


def _students_in_keyslip(plan: ImportPlan, known: Known) -> set[str]:
    """Return the children named by parent rows who are students imported earlier.

    A student of this source matches by sourced id; for a spreadsheet, so does a student
    of the run's schools from another source (its SIS export), when only one matches.
    Others' students (outside the actor's scope) never match.
    """
    missing = {g.student_id for g in plan.roster.guardians if g.student_id not in known.in_file}
    found: set[str] = set()
    visible = plan.visible_user_ids
    for sid in missing:
        row = known.by_sid.get(sid)
        if row is not None and row.role == "student" and (visible is None or row.id in visible):
            known.roles[sid] = row.role
            known.user_ids[sid] = row.id
            found.add(sid)
    # The run's school, else the schools the file names.
    schools = {plan.options.school_id} - {None} or set(plan.school_ids.values())
    others = sorted(missing - found - known.by_sid.keys())
    if not others or plan.roster.format != "csv" or not schools:
        return found
    matches: dict[str, set[int]] = defaultdict(set)
    for chunk in chunks(others):
        rows = db.session.execute(
            select(User.sourced_id, User.id)
            .join(user_schools, user_schools.c.user_id == User.id)
            .where(
                User.sourced_id.in_(chunk),
                User.role == "student",
                User.source != plan.options.source,
                user_schools.c.school_id.in_(schools),
            )
        ).tuples()
        for sid, user_id in rows:
            if visible is None or user_id in visible:
                matches[sid].add(user_id)
    for sid, user_ids in matches.items():
        if len(user_ids) == 1:
            plan.linked_students[sid] = next(iter(user_ids))
            found.add(sid)
    return found
