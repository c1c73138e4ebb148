"""Account export: a filter form and the CSV download."""

from __future__ import annotations

from flask import Response, request
from flask_login import current_user

from webapp.admin import bp
from webapp.admin.imports import csv_download
from webapp.extensions import db
from webapp.models import AccountState, Role
from webapp.models.base import utcnow
from webapp.services import exports, scope
from webapp.services.errors import PolicyError
from webapp.web.errors import error_response
from webapp.web.guards import role_required
from webapp.web.htmx import render


@bp.get("/exports/accounts")
@role_required(Role.ADMIN)
def exports_new() -> Response:
    return render(
        "admin/exports/new.html",
        roles=exports.EXPORT_ROLES,
        states=list(AccountState),
        classes=exports.export_classes(current_user),
        schools=db.session.scalars(scope.visible_schools(current_user)).all(),
    )


@bp.get("/exports/accounts.csv")
@role_required(Role.ADMIN)
def exports_download() -> Response:
    filters = _filters()
    try:
        body, _ = exports.export_accounts(current_user, filters)
    except PolicyError as exc:
        return error_response(400, " ".join(exc.problems))
    db.session.commit()
    return csv_download(body, f"accounts-{filters.role or 'all'}-{utcnow():%Y%m%d}.csv")


@bp.get("/exports/mail-merge.csv")
@role_required(Role.ADMIN)
def exports_mail_merge() -> Response:
    try:
        body, _ = exports.export_mail_merge(current_user, _filters())
    except PolicyError as exc:
        return error_response(400, " ".join(exc.problems))
    db.session.commit()
    return csv_download(body, f"mail-merge-{utcnow():%Y%m%d}.csv")


def _filters() -> exports.ExportFilter:
    args = request.args
    return exports.ExportFilter(
        role=args.get("role") or None,
        class_id=args.get("class_id", type=int),
        grade=(args.get("grade") or "").strip() or None,
        state=args.get("state") or None,
        school_id=args.get("school_id", type=int),
    )
