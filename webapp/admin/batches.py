"""Delivery batches: the list, one batch's live progress and people, resume, retry, CSV."""

from __future__ import annotations

from collections.abc import Callable

from flask import Response, request, url_for
from flask_login import current_user

from webapp.admin import bp
from webapp.admin.imports import csv_download
from webapp.delivery import batches, log
from webapp.delivery.progress import batch_progress
from webapp.extensions import db
from webapp.models import CredentialBatch, DeliveryStatus, Role, User
from webapp.web.errors import error_response
from webapp.web.forms import CsrfOnlyForm
from webapp.web.guards import role_required
from webapp.web.htmx import redirect, render, wants_partial


@bp.get("/batches")
@role_required(Role.ADMIN)
def batches_index() -> Response:
    page = log.batches_for(current_user, before=request.args.get("before", type=int))
    return render("admin/batches/index.html", batches=page, requesters=log.requesters(page.rows))


@bp.get("/batches/<int:batch_id>")
@role_required(Role.ADMIN)
def batch_show(batch_id: int) -> Response:
    batch = batches.require_batch(current_user, batch_id)
    status = _status_filter()
    return render(
        "admin/batches/show.html",
        batch=batch,
        progress=batch_progress(batch),
        form=CsrfOnlyForm(),
        status=status,
        statuses=list(DeliveryStatus),
        people=log.deliveries_of(batch, status=status, after=request.args.get("after", type=int)),
        requester=log.requesters([batch]).get(batch.requested_by_id, "system"),
    )


@bp.get("/batches/<int:batch_id>/progress")
@role_required(Role.ADMIN)
def batch_progress_partial(batch_id: int) -> Response:
    """The progress card alone, for the page's polling; a plain visit gets the page."""
    batch = batches.require_batch(current_user, batch_id)
    if not wants_partial():
        return redirect(url_for("admin.batch_show", batch_id=batch_id))
    response = render(
        "admin/batches/_progress.html",
        batch=batch,
        progress=batch_progress(batch),
        form=CsrfOnlyForm(),
    )
    response.vary.add("HX-Request")
    return response


@bp.post("/batches/<int:batch_id>/resume")
@role_required(Role.ADMIN)
def batch_resume(batch_id: int) -> Response:
    return _act(batch_id, batches.resume_batch)


@bp.post("/batches/<int:batch_id>/retry-failed")
@role_required(Role.ADMIN)
def batch_retry_failed(batch_id: int) -> Response:
    return _act(batch_id, batches.retry_failed)


def _act(batch_id: int, action: Callable[[CredentialBatch, User], object]) -> Response:
    """Run a batch action from its page (scope first, then CSRF), and show the batch."""
    batch = batches.require_batch(current_user, batch_id)
    if not CsrfOnlyForm().validate_on_submit():
        return error_response(400)
    action(batch, current_user)
    db.session.commit()
    return redirect(url_for("admin.batch_show", batch_id=batch_id))


@bp.get("/batches/<int:batch_id>/deliveries.csv")
@role_required(Role.ADMIN)
def batch_deliveries_csv(batch_id: int) -> Response:
    batch = batches.require_batch(current_user, batch_id)
    body = log.deliveries_csv(batch, current_user)
    db.session.commit()
    return csv_download(body, f"batch-{batch.id}-deliveries.csv")


def _status_filter() -> DeliveryStatus | None:
    try:
        return DeliveryStatus(request.args.get("status") or "")
    except ValueError:
        return None
