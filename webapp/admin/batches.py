"""A delivery batch's page: live progress with the estimated finish, and resume."""

from __future__ import annotations

from flask import Response, url_for
from flask_login import current_user

from webapp.admin import bp
from webapp.delivery import batches
from webapp.delivery.progress import batch_progress
from webapp.extensions import db
from webapp.models import Role
from webapp.web.errors import error_response
from webapp.web.forms import CsrfOnlyForm
from webapp.web.guards import role_required
from webapp.web.htmx import redirect, render


@bp.get("/batches/<int:batch_id>")
@role_required(Role.ADMIN)
def batch_show(batch_id: int) -> Response:
    return _render(batch_id)


@bp.get("/batches/<int:batch_id>/progress")
@role_required(Role.ADMIN)
def batch_progress_partial(batch_id: int) -> Response:
    return _render(batch_id)


@bp.post("/batches/<int:batch_id>/resume")
@role_required(Role.ADMIN)
def batch_resume(batch_id: int) -> Response:
    batch = batches.require_batch(current_user, batch_id)
    if not CsrfOnlyForm().validate_on_submit():
        return error_response(400)
    batches.resume_batch(batch, current_user)
    db.session.commit()
    return redirect(url_for("admin.batch_show", batch_id=batch_id))


def _render(batch_id: int) -> Response:
    batch = batches.require_batch(current_user, batch_id)
    return render(
        "admin/batches/show.html",
        "admin/batches/_progress.html",
        batch=batch,
        progress=batch_progress(batch),
        form=CsrfOnlyForm(),
    )
