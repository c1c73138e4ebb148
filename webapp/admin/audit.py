"""The audit trail page: filters in the URL, pages by id, CSV of the filtered events."""

from __future__ import annotations

from datetime import date

from flask import Response, request, url_for
from flask_login import current_user

from webapp.admin import bp
from webapp.admin.imports import csv_download
from webapp.extensions import db
from webapp.models import Role, utcnow
from webapp.services import audit_log
from webapp.web.guards import role_required
from webapp.web.htmx import render


@bp.get("/audit")
@role_required(Role.ADMIN)
def audit_index() -> Response:
    filters, problems = _filters()
    found = None
    if not problems:
        before = request.args.get("before", type=int)
        found = audit_log.page(current_user, filters, before=before)
    args = {k: v for k, v in request.args.items() if k != "before" and v}
    response = render(
        "admin/audit/index.html",
        "admin/audit/_events.html",
        found=found,
        filters=filters,
        problems=problems,
        args=args,
    )
    # The address bar shows only the filters in use, ready to bookmark or share.
    before = {"before": request.args["before"]} if request.args.get("before") else {}
    response.headers["HX-Push-Url"] = url_for("admin.audit_index", **args, **before)
    return response


@bp.get("/audit.csv")
@role_required(Role.ADMIN)
def audit_csv() -> Response:
    filters, problems = _filters()
    if problems:
        return render("admin/audit/index.html", status=400, found=None, filters=filters,
                      problems=problems, args={})  # fmt: skip
    body, _ = audit_log.export_csv(current_user, filters)
    db.session.commit()
    return csv_download(body, f"audit-{utcnow():%Y%m%d}.csv")


def _filters() -> tuple[audit_log.AuditFilter, dict[str, str]]:
    args = request.args
    problems: dict[str, str] = {}
    days = {}
    for field in ("since", "until"):
        text = (args.get(field) or "").strip()
        try:
            days[field] = date.fromisoformat(text) if text else None
        except ValueError:
            problems[field] = f"Give a date as YYYY-MM-DD, for example 2026-09-01 (not {text!r})."
            days[field] = None
    if days["since"] and days["until"] and days["since"] > days["until"]:
        problems["until"] = "The end date is before the start date."
    filters = audit_log.AuditFilter(
        actor=(args.get("actor") or "").strip() or None,
        person=(args.get("person") or "").strip() or None,
        action=(args.get("action") or "").strip() or None,
        **days,
    )
    return filters, problems
