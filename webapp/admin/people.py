"""People: find anyone with active search and filters, select, and act on thousands at once.

Every bulk action shows what will happen first (the batch planner's own numbers), then
acts on the selection as it stands when the admin confirms.
"""

from __future__ import annotations

import enum
import uuid
from urllib.parse import parse_qsl, urlencode

from flask import Response, flash, request, url_for
from flask_login import current_user
from sqlalchemy import select

from webapp.admin import bp
from webapp.admin.imports import csv_download
from webapp.delivery import batches
from webapp.extensions import db
from webapp.jobs import enqueue
from webapp.models import AccountState, CredentialBatch, Kind, Role, utcnow
from webapp.services import exports, people, scope
from webapp.services.errors import PolicyError
from webapp.web.errors import error_response
from webapp.web.forms import CsrfOnlyForm
from webapp.web.guards import role_required
from webapp.web.htmx import redirect, render


class BulkAction(enum.StrEnum):
    LINK_EMAIL = "link_email"
    LINK_SMS = "link_sms"
    PASSWORD_PRINT = "password_print"  # noqa: S105 (an action's name, not a password)
    PARENT_CODES = "parent_codes"
    DEACTIVATE = "deactivate"
    REACTIVATE = "reactivate"
    EXPORT = "export"


LABELS = {
    BulkAction.LINK_EMAIL: "Send a set-password link by email",
    BulkAction.LINK_SMS: "Send a set-password link by SMS",
    BulkAction.PASSWORD_PRINT: "Issue temporary passwords to print",
    BulkAction.PARENT_CODES: "Issue parent codes to print as letters",
    BulkAction.DEACTIVATE: "Deactivate",
    BulkAction.REACTIVATE: "Reactivate",
    BulkAction.EXPORT: "Export as CSV",
}
# Bulk actions that make a delivery batch: (kind, channel).
SENDS = {
    BulkAction.LINK_EMAIL: ("link", "email"),
    BulkAction.LINK_SMS: ("link", "sms"),
    BulkAction.PASSWORD_PRINT: ("password", "print"),
    BulkAction.PARENT_CODES: (Kind.PARENT_CODE.value, "print"),
}


@bp.get("/users")
@role_required(Role.ADMIN)
def people_index() -> Response:
    filters = people.PeopleFilter.from_args(request.args)
    found = people.page(current_user, filters, request.args.get("page", 1, type=int))
    schools = db.session.scalars(scope.visible_schools(current_user)).all()
    response = render(
        "admin/users/index.html",
        "admin/users/_results.html",
        found=found,
        filters=filters,
        view=urlencode(filters.to_args()),
        schools=schools,
        school_names={school.id: school.name for school in schools},
        classes=exports.export_classes(current_user),
        roles=people.ROLES,
        states=list(AccountState),
        problems=list(people.Problem),
        sorts=list(people.Sort),
        actions=LABELS,
        form=CsrfOnlyForm(),
    )
    # The address bar shows the view plainly (no empty fields), ready to bookmark or share.
    page_no = {"page": found.page_no} if found.page_no > 1 else {}
    canonical = url_for("admin.people_index", **filters.to_args(), **page_no)
    response.headers["HX-Push-Url"] = canonical
    return response


@bp.post("/users/bulk")
@role_required(Role.ADMIN)
def people_bulk() -> Response:
    """Step one: say what the action would do to the selection."""
    action, selection = _read_selection()
    if action is None or not CsrfOnlyForm().validate_on_submit():
        return error_response(400, "Choose an action for the people you selected.")
    ids = selection.resolve(current_user)
    if not ids:
        flash("Select at least one person first.", "error")
        return redirect(url_for("admin.people_index", **selection.filters.to_args()))
    if action is BulkAction.EXPORT:
        body, _ = exports.export_accounts(current_user, exports.ExportFilter(user_ids=ids))
        db.session.commit()
        return csv_download(body, f"people-{utcnow():%Y%m%d}.csv")
    plan = None
    if action in SENDS:
        kind, channel = SENDS[action]
        try:
            plan = batches.preview(ids, kind, channel, {}, current_user)
        except PolicyError as exc:
            return error_response(400, " ".join(exc.problems))
    return render(
        "admin/users/bulk_confirm.html",
        action=action,
        label=LABELS[action],
        count=len(ids),
        plan=plan,
        changing=_changing(ids, action),
        selection=selection,
        view=urlencode(selection.filters.to_args()),
        key=uuid.uuid4().hex,
        form=CsrfOnlyForm(),
    )


@bp.post("/users/bulk/apply")
@role_required(Role.ADMIN)
def people_bulk_apply() -> Response:
    """Step two: act on the selection as it stands now."""
    action, selection = _read_selection()
    if action is None or action is BulkAction.EXPORT or not CsrfOnlyForm().validate_on_submit():
        return error_response(400)
    back = url_for("admin.people_index", **selection.filters.to_args())
    if action in SENDS:
        kind, channel = SENDS[action]
        scope.require_user_ids(current_user, selection.ids)  # a foreign id refuses it all
        key = (request.form.get("idempotency_key") or "")[:64]
        if len(key) < 8:
            key = uuid.uuid4().hex
        # Only the person page asks: one named person's sign-in is reset on purpose.
        include_active = request.form.get("include_active") == "1" and len(selection.ids) == 1
        enqueue(
            people.send_to_selection,
            current_user.id,
            kind,
            channel,
            urlencode(selection.filters.to_args()),
            ",".join(str(i) for i in selection.ids),
            selection.all_matching,
            key,
            include_active and not selection.all_matching,
        )
        db.session.commit()
        return redirect(url_for("admin.people_bulk_status", key=key))
    ids = selection.resolve(current_user)
    changed = people.set_active(current_user, ids, active=action is BulkAction.REACTIVATE)
    db.session.commit()
    verb = "reactivated" if action is BulkAction.REACTIVATE else "deactivated"
    flash(f"{changed} {'person' if changed == 1 else 'people'} {verb}.", "success")
    if request.form.get("return_to") == "person" and len(ids) == 1:
        back = url_for("admin.user_show", user_id=ids[0])
    return redirect(back)


@bp.get("/users/bulk/<key>")
@role_required(Role.ADMIN)
def people_bulk_status(key: str) -> Response:
    """Wait for the batch a bulk send is preparing, then open it."""
    batch = db.session.scalar(
        select(CredentialBatch).where(
            CredentialBatch.idempotency_key == key,
            CredentialBatch.requested_by_id == current_user.id,
        )
    )
    if batch is not None:
        return redirect(url_for("admin.batch_show", batch_id=batch.id))
    return render("admin/users/bulk_waiting.html", "admin/users/_bulk_waiting.html", key=key)


def _read_selection() -> tuple[BulkAction | None, people.Selection]:
    form = request.form
    filters = people.PeopleFilter.from_args(dict(parse_qsl(form.get("view", ""))))
    ids = tuple(int(i) for i in form.getlist("ids") if i.isdigit())[:1000]
    selection = people.Selection(filters, ids, all_matching=form.get("all_matching") == "1")
    try:
        action = BulkAction(form.get("action", ""))
    except ValueError:
        action = None
    return action, selection


def _changing(ids: list[int], action: BulkAction) -> int | None:
    """How many of the people a (de)activation would change."""
    if action not in (BulkAction.DEACTIVATE, BulkAction.REACTIVATE):
        return None
    rows = scope.require_users(current_user, ids)
    if action is BulkAction.DEACTIVATE:
        return sum(1 for user in rows if user.deactivated_at is None)
    return sum(1 for user in rows if user.deactivated_at is not None)
