"""Plan a roster import against the database without changing anything.

`plan_import()` matches every person, class and link in a Roster to what Keyslip already holds
and says what would change: who is new, who changes, what a complete file removes from the
schools it covers, and every problem with its file, line and column.

Identity: a person is matched by (source, sourced id), then by email within the same role;
two candidates for one person is an error, never a silent merge.
"""

from __future__ import annotations

from webapp.extensions import db
from webapp.imports.plan import MODES, ImportOptions, ImportPlan, warn
from webapp.imports.plan_passwords import (
    context_school_names,
    plan_file_resets,
    plan_ignored_passwords,
)
from webapp.imports.plan_people import plan_people
from webapp.imports.plan_removals import plan_classes_and_enrollments, plan_guardians, plan_leavers
from webapp.imports.plan_schools import plan_schools
from webapp.models import (
    Role,
    User,
)
from webapp.roster.bulk import paused_gc
from webapp.roster.records import Roster
from webapp.services import scope


def plan_import(roster: Roster, options: ImportOptions, *, actor: User) -> ImportPlan:
    """Work out what importing this roster would change. Changes nothing."""
    with paused_gc():
        return _plan_import(roster, options, actor)


def _plan_import(roster: Roster, options: ImportOptions, actor: User) -> ImportPlan:
    if options.mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    complete = roster.complete if options.complete is None else options.complete
    plan = ImportPlan(roster=roster, options=options, complete=complete)
    plan.problems.extend(roster.problems)
    known_errors = len(plan.errors)
    plan_schools(plan, actor)
    if len(plan.errors) > known_errors and not plan.school_ids:
        return plan  # no school to place anyone in
    if not (actor.role == Role.ADMIN and actor.district_wide):
        plan.visible_user_ids = set(
            db.session.scalars(scope.visible_users(actor).with_only_columns(User.id))
        )
    if options.passwords == "set":
        plan.password_context = context_school_names(plan)
    known = plan_people(plan)
    plan_file_resets(plan, known.file_resets, actor)
    plan_ignored_passwords(plan)
    # Every error is known by now: the steps below only warn.
    plan.removes_absent = complete and not plan.errors
    if complete and plan.errors:
        warn(
            plan,
            "upload",
            None,
            "The file has errors, so nothing will be removed: people, classes, class places "
            "and parent links missing from it stay as they are.",
        )
    plan_leavers(plan, known)
    plan_classes_and_enrollments(plan, known)
    plan_guardians(plan, known)
    return plan
