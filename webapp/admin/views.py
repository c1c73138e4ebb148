"""Admin console."""

from __future__ import annotations

import uuid

from flask import Response
from flask_login import current_user

from webapp.admin import bp
from webapp.delivery import log
from webapp.extensions import db
from webapp.imports import history
from webapp.models import AccountState, ImportRun, Role
from webapp.services import accounts, person, scope
from webapp.web.forms import CsrfOnlyForm
from webapp.web.guards import role_required
from webapp.web.htmx import render

ROLE_LABELS = {
    Role.STUDENT: "Students",
    Role.PARENT: "Parents",
    Role.TEACHER: "Teachers",
    Role.STAFF: "Staff",
    Role.ADMIN: "Admins",
}
STATE_ORDER = list(AccountState)


@bp.get("/")
@role_required(Role.ADMIN)
def home() -> Response:
    recent = log.batches_for(current_user).rows[:5]
    runs = history.visible_runs(current_user)
    weeks = accounts.activations_by_week(current_user)
    return render(
        "admin/home.html",
        schools=accounts.school_counts(current_user),
        roles=ROLE_LABELS,
        states=STATE_ORDER,
        import_alerts=history.alert_runs(current_user),
        weeks=weeks,
        most=max((week.activated for week in weeks), default=0),
        attention=log.needing_attention(current_user),
        recent_batches=recent,
        requesters=log.requesters(recent),
        recent_imports=db.session.scalars(runs.limit(5)).all(),
        last_sync=db.session.scalar(runs.where(ImportRun.origin.startswith("sync")).limit(1)),
    )


@bp.get("/users/<int:user_id>")
@role_required(Role.ADMIN)
def user_show(user_id: int) -> Response:
    user = scope.require_user(current_user, user_id)
    # Only people inside the admin's scope are named; others are only counted.
    children, hidden_children = _within_scope(
        scope.linked_children(user) if user.role == Role.PARENT else []
    )
    guardians, hidden_guardians = _within_scope(
        scope.guardians(user) if user.role == Role.STUDENT else []
    )
    return render(
        "admin/users/show.html",
        user=user,
        children=children,
        hidden_children=hidden_children,
        guardians=guardians,
        hidden_guardians=hidden_guardians,
        classes=person.classes_of(user),
        timeline=person.timeline(user),
        form=CsrfOnlyForm(),
        problems={},
        typed={"email": user.email or "", "phone": user.phone or ""},
        saved=False,
        key=uuid.uuid4().hex,
    )


def _within_scope(people_list: list) -> tuple[list, int]:
    """Split people into those the admin may see, and how many others there are."""
    visible = scope.visible_ids(current_user, [p.id for p in people_list])
    shown = [p for p in people_list if p.id in visible]
    return shown, len(people_list) - len(shown)
