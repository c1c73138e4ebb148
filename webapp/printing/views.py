"""Print pages: a batch's slips or letters, parent letters for a class, grade or school,
and account reports.

Admin-only, within the admin's schools (others get 404). Every PDF goes only to the person
who asked, as an attachment with a plain file name, never cached.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, make_response
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from webapp.delivery import batches
from webapp.extensions import db
from webapp.models import BatchStatus, CredentialBatch, Kind, Role, utcnow
from webapp.printing import flow, letters, pending, reports
from webapp.printing.forms import LettersForm, PrintBatchForm, ReportForm
from webapp.printing.slips import Layout, SlipOptions
from webapp.services import audit, exports, scope
from webapp.services.errors import PolicyError
from webapp.services.exports import ExportFilter
from webapp.web.forms import CsrfOnlyForm
from webapp.web.guards import role_required
from webapp.web.htmx import render

bp = Blueprint("printing", __name__)


def pdf_download(pdf: bytes, filename: str) -> Response:
    """Send a credential PDF: an attachment with a plain name, kept by no cache."""
    safe = "".join(ch for ch in filename if ch.isalnum() or ch in "-_.")[:80] or "print.pdf"
    response = make_response(pdf)
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="{safe}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _batch_page(batch_id: int, form: PrintBatchForm, problems: list[str], status: int = 200):
    batch = batches.require_batch(current_user, batch_id)
    waiting = batch.status is BatchStatus.AWAITING_PRINT
    return render(
        "print/batch.html",
        batch=batch,
        form=form,
        problems=problems,
        waiting=waiting,
        people=flow.people_to_print(batch.id) if waiting else 0,
        letters=batch.kind is Kind.PARENT_CODE,
        status=status,
    )


@bp.get("/batches/<int:batch_id>/print")
@role_required(Role.ADMIN)
def batch_print_new(batch_id: int) -> Response:
    return _batch_page(batch_id, PrintBatchForm(), [])


@bp.post("/batches/<int:batch_id>/print")
@role_required(Role.ADMIN)
def batch_print(batch_id: int) -> Response:
    form = PrintBatchForm()
    if not form.validate_on_submit():
        return _batch_page(batch_id, form, [], status=422)
    options = SlipOptions(Layout(form.layout.data), form.per_page.data)
    try:
        flow.require_printable(current_user, batch_id)
        if flow.runs_as_job(flow.people_to_print(batch_id)):
            record = flow.start_print_job(batch_id, current_user, options)
            db.session.commit()  # the job starts now (inline in tests: it may be done already)
            record = pending.load(record.id)
            return _no_store(render("print/job.html", record=record, form=CsrfOnlyForm()))
        printed = flow.print_batch(batch_id, current_user, options)
    except PolicyError as exc:
        db.session.rollback()
        return _batch_page(batch_id, form, exc.problems, status=409)
    db.session.commit()
    return pdf_download(printed.pdf, f"batch-{batch_id}-{utcnow():%Y%m%d}.pdf")


def _own_print(print_id: str) -> pending.PendingPrint:
    try:
        return pending.load_for(print_id, current_user)
    except pending.PendingMissing:
        abort(404)


@bp.get("/prints/<print_id>")
@role_required(Role.ADMIN)
def print_show(print_id: str) -> Response:
    record = _own_print(print_id)
    return _no_store(
        render("print/job.html", "print/_job.html", record=record, form=CsrfOnlyForm())
    )


@bp.post("/prints/<print_id>/download")
@role_required(Role.ADMIN)
def print_download(print_id: str) -> Response:
    if not CsrfOnlyForm().validate_on_submit():
        abort(400)
    try:
        record, pdf = pending.take_pdf(print_id, current_user)
    except pending.PendingMissing:
        abort(404)
    batch = db.session.get(CredentialBatch, record.batch_id)
    audit.record(current_user, "print_downloaded", batch, print_id=print_id)
    db.session.commit()
    return pdf_download(pdf, f"batch-{record.batch_id}-{utcnow():%Y%m%d}.pdf")


def _place_choices(form: LettersForm | ReportForm) -> None:
    """Offer only the admin's own schools and classes."""
    schools = db.session.scalars(scope.visible_schools(current_user)).all()
    form.school_id.choices = [SelectChoice("", "Choose a school")] + [
        SelectChoice(s.id, s.name) for s in schools
    ]
    classes = exports.export_classes(current_user)
    form.class_id.choices = [SelectChoice("", "No class: the school or a grade")] + [
        SelectChoice(k.id, f"{k.title} ({k.school.name})") for k in classes
    ]


def _letters_form() -> LettersForm:
    form = LettersForm()
    _place_choices(form)
    return form


@bp.route("/print/letters", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def letters_print() -> Response:
    form = _letters_form()
    problems: list[str] = []
    if form.validate_on_submit():
        try:
            selection, pdf = letters.print_letters(
                current_user,
                school_id=form.school_id.data,
                class_id=form.class_id.data,
                grade=form.grade.data or None,
            )
        except PolicyError as exc:
            db.session.rollback()
            problems = exc.problems
        else:
            db.session.commit()
            return pdf_download(pdf, f"parent-letters-{selection.label}-{utcnow():%Y%m%d}.pdf")
    status = 422 if problems or form.errors else 200
    return render("print/letters_form.html", form=form, problems=problems, status=status)


def _report_filter(form: ReportForm) -> ExportFilter:
    return ExportFilter(
        role=form.role.data or None,
        class_id=form.class_id.data,
        grade=(form.grade.data or "").strip().upper() or None,
        state=form.state.data or None,
        school_id=form.school_id.data,
    )


@bp.route("/print/reports", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def reports_print() -> Response:
    form = ReportForm()
    _place_choices(form)
    form.school_id.choices[0] = SelectChoice("", "All my schools")
    form.class_id.choices[0] = SelectChoice("", "Any class")
    problems: list[str] = []
    if form.validate_on_submit():
        kind = reports.ReportKind(form.kind.data)
        # Issuing passwords hashes each one: past the print-job threshold, use the CLI.
        issuing = kind is reports.ReportKind.CREDENTIALS
        limit = current_app.config["PRINT_JOB_THRESHOLD"] if issuing else reports.MAX_ROWS
        try:
            report, pdf = reports.print_report(
                current_user, kind, _report_filter(form), limit=limit
            )
        except PolicyError as exc:
            db.session.rollback()
            problems = exc.problems
        else:
            db.session.commit()
            return pdf_download(pdf, report.filename)
    status = 422 if problems or form.errors else 200
    return render("print/reports_form.html", form=form, problems=problems, status=status)
