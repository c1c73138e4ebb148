"""Roster import pages: upload, map columns, preview, apply with progress, history."""

from __future__ import annotations

from flask import Response, current_app, make_response, request, url_for
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms.fields.choices import SelectChoice

from webapp.admin import bp
from webapp.admin.forms import ApplyForm, CreateSchoolsForm, DateOrderForm, ImportUploadForm
from webapp.extensions import db
from webapp.imports import history, jobs, mapping, preview, runs, sheets
from webapp.models import Role
from webapp.roster.sheet_columns import FIELDS as SHEET_FIELDS
from webapp.roster.sheet_files import fields_of
from webapp.services import scope, uploads
from webapp.services.errors import NotAllowed, PolicyError
from webapp.web.errors import error_response
from webapp.web.forms import CsrfOnlyForm
from webapp.web.guards import role_required
from webapp.web.htmx import redirect, render

FIELD_LABELS = {
    "sourced_id": "ID",
    "username": "Username",
    "given_name": "First name",
    "family_name": "Last name",
    "middle_name": "Middle name",
    "name": "Full name (instead of first and last)",
    "email": "Email",
    "phone": "Phone",
    "grade": "Grade",
    "role": "Role",
    "student_number": "Student number / UPN",
    "school": "School",
    "status": "Status (active / left)",
    "enabled": "Login enabled",
    "linked_student": "Linked student's ID (parent rows; several may share the cell)",
    "linked_student_2": "Second child's ID",
    "linked_student_3": "Third child's ID",
    "leave_date": "Leaving date (on or after it, the person is deactivated)",
    "password": "Password (used only by an import that sets passwords; blank = generate one)",
}
FIELD_NAMES = {field: label.split(" (", 1)[0] for field, label in FIELD_LABELS.items()}
MAPPED_FIELDS = [f for f in SHEET_FIELDS if f in FIELD_LABELS]
# Every field a file of any role may map (the form's allow-list).
MAPPABLE = {*MAPPED_FIELDS, "class_id", "title", "class_code", "teacher_id", "person_id"}
MAPPABLE |= {"link_parent", "link_student"}


@bp.errorhandler(RequestEntityTooLarge)
def upload_too_large(exc: RequestEntityTooLarge) -> Response:
    limit = current_app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)
    return error_response(
        413,
        f"That file is larger than the {limit} MB upload limit. Zip the CSV files "
        "(zipped CSVs are far smaller) or split the export, then try again.",
    )


def _school_choices() -> list[SelectChoice]:
    schools = db.session.scalars(scope.visible_schools(current_user)).all()
    return [SelectChoice("", "The file names the schools")] + [
        SelectChoice(str(s.id), s.name) for s in schools
    ]


@bp.get("/imports")
@role_required(Role.ADMIN)
def imports_index() -> Response:
    rows, page, pages = history.history_page(current_user, request.args.get("page", 1, type=int))
    return render(
        "admin/imports/index.html",
        "admin/imports/_runs.html",
        runs=rows,
        page_no=page,
        pages=pages,
        schools=history.school_names([r.school_id for r in rows]),
        who=history.usernames([r.requested_by_id for r in rows]),
    )


@bp.get("/imports/new")
@role_required(Role.ADMIN)
def imports_new() -> Response:
    form = ImportUploadForm()
    form.school_id.choices = _school_choices()
    return render("admin/imports/new.html", form=form)


@bp.post("/imports")
@role_required(Role.ADMIN)
def imports_create() -> Response:
    form = ImportUploadForm()
    form.school_id.choices = _school_choices()
    if not form.validate_on_submit():
        return render("admin/imports/new.html", form=form, status=422)
    upload = form.file.data
    request_options = runs.ImportRequest(
        format=form.format.data,
        mode=form.mode.data,
        # Unticked means "let the file say": a OneRoster manifest knows if it is bulk.
        complete=True if form.complete.data else None,
        school_id=form.school_id.data,
        username_template=form.username_template.data.strip(),
        date_order=form.date_order.data or None,
        passwords=form.passwords.data,
        send=form.send.data,
        has_header=not form.no_header.data,
    )
    try:
        run = runs.start_import(
            upload.filename or "upload.csv", upload.read(), request_options, actor=current_user
        )
    except PolicyError as exc:
        db.session.rollback()
        return render("admin/imports/new.html", form=form, problems=exc.problems, status=422)
    db.session.commit()
    if mapping.needs_mapping(run):
        return redirect(url_for("admin.imports_mapping", run_id=run.id))
    _keep_preview(run)
    return redirect(url_for("admin.imports_show", run_id=run.id))


FILE_ROLE_LABELS = {
    "students": "Students",
    "parents": "Parents (with a child ID column)",
    "staff": "Staff and teachers",
    "people": "People of several roles (a role column says who)",
    "classes": "Classes",
    "memberships": "Class memberships",
    "links": "Parent-student links",
    "ignore": "Not imported",
}
CLASS_FIELD_LABELS = {
    "class_id": "Class ID",
    "title": "Title",
    "class_code": "Code",
    "teacher_id": "Teacher ID(s)",
    "school": "School",
    "person_id": "Person ID (student or teacher)",
    "role": "Role in the class (student / teacher)",
    "link_parent": "Parent (ID, username or email)",
    "link_student": "Student (ID, username or email)",
}


def _render_files(run, files, form, *, problems=None, status=200) -> Response:
    return render(
        "admin/imports/mapping_files.html",
        run=run,
        form=form,
        files=files,
        file_roles=FILE_ROLE_LABELS,
        people_fields=MAPPED_FIELDS,
        labels={**CLASS_FIELD_LABELS, **FIELD_LABELS},
        other_labels=CLASS_FIELD_LABELS,
        names=FIELD_NAMES,
        fields_of=fields_of,
        role_constants=mapping.ROLE_CONSTANTS,
        problems=problems,
        status=status,
    )


def _chosen_files(run) -> dict[str, tuple[str, dict[str, str]]]:
    """Read each file's role and columns from the mapping form (files by position)."""
    chosen = {}
    for i, file in enumerate(sheets.files_choice(run)):
        role = request.form.get(f"role-{i}", "")
        fields = fields_of(role) if role in FILE_ROLE_LABELS else ()
        chosen[file.name] = (
            role,
            {f: request.form.get(f"map-{i}-{f}", "") for f in fields if f in MAPPABLE},
        )
    return chosen


@bp.get("/imports/<int:run_id>/mapping")
@role_required(Role.ADMIN)
def imports_mapping(run_id: int) -> Response:
    run = history.require_run(current_user, run_id)
    try:
        if sheets.maps_per_file(run):
            return _render_files(run, sheets.files_choice(run), CsrfOnlyForm())
        choice = mapping.mapping_choice(run)
    except uploads.UploadMissing:
        return _expired(run)
    return render(
        "admin/imports/mapping.html",
        run=run,
        form=CsrfOnlyForm(),
        choice=choice,
        fields=MAPPED_FIELDS,
        labels=FIELD_LABELS,
        names=FIELD_NAMES,
        role_constants=mapping.ROLE_CONSTANTS,
    )


@bp.post("/imports/<int:run_id>/mapping")
@role_required(Role.ADMIN)
def imports_mapping_save(run_id: int) -> Response:
    run = history.require_run(current_user, run_id)
    form = CsrfOnlyForm()
    if not form.validate_on_submit():
        return error_response(400)
    confirmed = request.form.get("confirm-columns") == "yes"
    try:
        if sheets.maps_per_file(run):
            return _save_files(run, form, confirmed)
    except uploads.UploadMissing:
        return _expired(run)
    chosen = {field: request.form.get(f"map-{field}", "") for field in MAPPED_FIELDS}
    try:
        mapping.save_mapping(run, chosen, actor=current_user, confirmed=confirmed)
    except PolicyError as exc:
        db.session.rollback()
        choice = mapping.mapping_choice(run)
        choice.mapping = {k: v for k, v in chosen.items() if v}
        return render(
            "admin/imports/mapping.html",
            run=run,
            form=form,
            choice=choice,
            fields=MAPPED_FIELDS,
            labels=FIELD_LABELS,
            names=FIELD_NAMES,
            role_constants=mapping.ROLE_CONSTANTS,
            problems=exc.problems,
            status=422,
        )
    except uploads.UploadMissing:
        return _expired(run)
    db.session.commit()
    _keep_preview(run)
    return redirect(url_for("admin.imports_show", run_id=run.id))


def _save_files(run, form: CsrfOnlyForm, confirmed: bool) -> Response:
    """Save each file's role and columns, or show the columns for newly chosen roles."""
    chosen = _chosen_files(run)
    if request.form.get("action") == "roles":
        # Show the columns each newly chosen role needs; nothing is saved yet.
        roles = {name: role for name, (role, _) in chosen.items()}
        return _render_files(run, sheets.files_choice(run, roles=roles), form)
    try:
        sheets.save_file_mappings(run, chosen, actor=current_user, confirmed=confirmed)
    except PolicyError as exc:
        db.session.rollback()
        files = sheets.files_choice(run, roles={n: r for n, (r, _) in chosen.items()})
        for file in files:
            file.columns.mapping = {k: v for k, v in chosen[file.name][1].items() if v}
        return _render_files(run, files, form, problems=exc.problems, status=422)
    db.session.commit()
    return redirect(url_for("admin.imports_show", run_id=run.id))


@bp.post("/imports/<int:run_id>/header")
@role_required(Role.ADMIN)
def imports_header_save(run_id: int) -> Response:
    run = history.require_run(current_user, run_id)
    form = CsrfOnlyForm()
    if not form.validate_on_submit():
        return error_response(400)
    try:
        mapping.choose_header(run, request.form.get("has-header") != "no", actor=current_user)
    except PolicyError as exc:
        db.session.rollback()
        return error_response(422, " ".join(exc.problems))
    db.session.commit()
    return redirect(url_for("admin.imports_mapping", run_id=run.id))


def _keep_preview(run) -> None:
    """Plan the run in the POST that changed what it depends on, so its preview GET only reads.

    A plan that fails here is left to the preview page, which plans again and says why.
    """
    try:
        preview.refresh(run, actor=current_user)
    except (PolicyError, NotAllowed, uploads.UploadMissing):
        db.session.rollback()
        return
    db.session.commit()


def _expired(run) -> Response:
    return render("admin/imports/expired.html", run=run, status=410)


@bp.get("/imports/<int:run_id>")
@role_required(Role.ADMIN)
def imports_show(run_id: int) -> Response:
    run = history.require_run(current_user, run_id)
    if not run.previewable:
        return render("admin/imports/show.html", "admin/imports/_status.html", run=run)
    if mapping.needs_mapping(run):
        return redirect(url_for("admin.imports_mapping", run_id=run.id))
    try:
        view = preview.preview(
            run,
            actor=current_user,
            tab=request.args.get("tab", ""),
            page=request.args.get("page", 1, type=int),
            severity=request.args.get("severity", ""),
            file=request.args.get("file", ""),
        )
    except uploads.UploadMissing:
        return _expired(run)
    # No commit: a page view changes nothing (preview() only reads).
    return render(
        "admin/imports/preview.html",
        "admin/imports/_tab.html",
        run=run,
        view=view,
        form=ApplyForm(),
    )


@bp.get("/imports/<int:run_id>/status")
@role_required(Role.ADMIN)
def imports_status(run_id: int) -> Response:
    run = history.require_run(current_user, run_id)
    return render("admin/imports/show.html", "admin/imports/_status.html", run=run)


@bp.post("/imports/<int:run_id>/apply")
@role_required(Role.ADMIN)
def imports_apply(run_id: int) -> Response:
    run = history.require_run(current_user, run_id)
    form = ApplyForm()
    if not form.validate_on_submit():
        return error_response(400)
    try:
        jobs.request_apply(
            run,
            actor=current_user,
            confirm=form.confirm_deactivation.data,
            skip_errors=form.skip_errors.data,
        )
    except (PolicyError, uploads.UploadMissing) as exc:
        db.session.rollback()
        if isinstance(exc, uploads.UploadMissing):
            return _expired(run)
        return _refused(run, exc.problems, form)
    db.session.commit()
    return redirect(url_for("admin.imports_show", run_id=run.id))


def _refused(run, problems: list[str], form: ApplyForm | None = None) -> Response:
    """Show the preview again with what was refused (nothing was changed)."""
    view = preview.preview(run, actor=current_user)
    return render(
        "admin/imports/preview.html",
        run=run,
        view=view,
        form=form or ApplyForm(),
        problems=problems,
        status=422,
    )


@bp.post("/imports/<int:run_id>/date-order")
@role_required(Role.ADMIN)
def imports_date_order(run_id: int) -> Response:
    run = history.require_run(current_user, run_id)
    form = DateOrderForm()
    try:
        if not form.validate_on_submit():
            raise PolicyError(form.date_order.errors or ["Choose day/month or month/day."])
        mapping.choose_date_order(run, form.date_order.data, actor=current_user)
    except (PolicyError, uploads.UploadMissing) as exc:
        db.session.rollback()
        if isinstance(exc, uploads.UploadMissing) or not run.previewable:
            return redirect(url_for("admin.imports_show", run_id=run.id))
        return _refused(run, exc.problems)
    db.session.commit()
    _keep_preview(run)
    return redirect(url_for("admin.imports_show", run_id=run.id))


@bp.post("/imports/<int:run_id>/create-schools")
@role_required(Role.ADMIN)
def imports_create_schools(run_id: int) -> Response:
    run = history.require_run(current_user, run_id)
    form = CreateSchoolsForm()
    if not form.validate_on_submit():
        return error_response(400)
    try:
        mapping.choose_create_schools(run, form.create_schools.data, actor=current_user)
    except PolicyError as exc:
        db.session.rollback()
        if not run.previewable:
            return redirect(url_for("admin.imports_show", run_id=run.id))
        return _refused(run, exc.problems)
    db.session.commit()
    _keep_preview(run)
    return redirect(url_for("admin.imports_show", run_id=run.id))


@bp.get("/imports/<int:run_id>/problems.csv")
@role_required(Role.ADMIN)
def imports_problems(run_id: int) -> Response:
    run = history.require_run(current_user, run_id)
    body = history.problems_csv(run, actor=current_user)
    db.session.commit()
    return csv_download(body, f"import-{run.id}-problems.csv")


def csv_download(body: str, filename: str) -> Response:
    """Send CSV as an attachment that no cache keeps."""
    safe = "".join(ch for ch in filename if ch.isalnum() or ch in "-_.")[:80] or "export.csv"
    response = make_response(body)
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{safe}"'
    response.headers["Cache-Control"] = "no-store"
    return response
