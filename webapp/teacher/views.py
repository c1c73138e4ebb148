"""Teacher pages: my classes, each class's roster, and sign-in help for its students."""

from __future__ import annotations

from flask import Response, flash, request, url_for
from flask_login import current_user

from webapp.admin.imports import csv_download
from webapp.delivery import codes
from webapp.extensions import db
from webapp.models import AccountState, Role, utcnow
from webapp.printing import badges, letters
from webapp.printing.slips import Layout, SlipOptions
from webapp.printing.views import pdf_download
from webapp.services import accounts, classroom, exports
from webapp.services.errors import PolicyError
from webapp.teacher import bp
from webapp.web.errors import error_response
from webapp.web.forms import CsrfOnlyForm
from webapp.web.guards import role_required
from webapp.web.htmx import redirect, render


@bp.get("/")
@role_required(Role.TEACHER)
def home() -> Response:
    return render("teacher/home.html", classes=accounts.teacher_class_summaries(current_user))


@bp.get("/classes/<int:class_id>")
@role_required(Role.TEACHER, Role.ADMIN)
def class_show(class_id: int) -> Response:
    try:
        state = AccountState(request.args.get("state", ""))
    except ValueError:
        state = None
    return render(
        "teacher/classes/show.html",
        roster=classroom.roster(current_user, class_id, state),
        state=state,
        states=list(AccountState),
        form=CsrfOnlyForm(),
    )


@bp.post("/classes/<int:class_id>/students/<int:student_id>/reset")
@role_required(Role.TEACHER, Role.ADMIN)
def student_reset(class_id: int, student_id: int) -> Response:
    """One student's new temporary password, shown once on screen."""
    (student,) = classroom.require_students(current_user, class_id, [student_id])
    if not CsrfOnlyForm().validate_on_submit():
        return error_response(400)
    (issued,) = classroom.reset_passwords(current_user, class_id, [student.id])
    db.session.commit()
    note = "They sign in with it once and then choose their own password."
    return _secret(
        class_id, student, "Temporary password", issued.password, issued.expires_at, note
    )


@bp.post("/classes/<int:class_id>/students/<int:student_id>/pin")
@role_required(Role.TEACHER, Role.ADMIN)
def student_pin(class_id: int, student_id: int) -> Response:
    """The student's PIN (made if they have none), for helping them with a parent."""
    (student,) = classroom.require_students(current_user, class_id, [student_id])
    if not CsrfOnlyForm().validate_on_submit():
        return error_response(400)
    pin = codes.show_student_pin(student.id, actor=current_user)
    if pin is None:
        pin = codes.issue_student_pin(student, actor=current_user)
    db.session.commit()
    note = "With a parent beside them, the student can use it to choose a new password."
    return _secret(class_id, student, "PIN", codes.display(pin), None, note)


@bp.post("/classes/<int:class_id>/parent-codes")
@role_required(Role.TEACHER, Role.ADMIN)
def class_parent_codes(class_id: int) -> Response:
    """Make parent codes for the class's students who have no live one."""
    if not CsrfOnlyForm().validate_on_submit():
        return error_response(400)
    made = classroom.make_missing_parent_codes(current_user, class_id)
    db.session.commit()
    flash(f"{made} new parent {'code' if made == 1 else 'codes'} made.", "success")
    return redirect(url_for("teacher.class_show", class_id=class_id))


@bp.post("/classes/<int:class_id>/slips")
@role_required(Role.TEACHER, Role.ADMIN)
def class_slips(class_id: int) -> Response:
    """Reset the chosen students' passwords (or everyone's) and download their slips."""
    if not CsrfOnlyForm().validate_on_submit():
        return error_response(400)
    form = request.form
    if form.get("everyone") == "1":
        ids = classroom.active_student_ids(current_user, class_id)
    else:
        ids = [int(i) for i in form.getlist("student_ids") if i.isdigit()]
    if not ids:
        flash("Tick the students whose passwords to reset, or choose everyone.", "error")
        return redirect(url_for("teacher.class_show", class_id=class_id))
    try:
        options = SlipOptions(
            layout=Layout(form.get("layout", "saver")),
            per_page=form.get("per_page", 10, type=int),
            paper=classroom.paper_for(current_user, class_id),
        )
    except ValueError:
        return error_response(400, "Choose paper saver (8, 10 or 12 a page) or one per page.")
    badges_wanted = form.get("badges") == "1"
    pdf = classroom.print_reset_slips(
        current_user, class_id, ids, options, with_badges=badges_wanted
    )
    db.session.commit()
    return pdf_download(pdf, f"class-{class_id}-slips-{utcnow():%Y%m%d}.pdf")


@bp.post("/classes/<int:class_id>/badges/revoke")
@role_required(Role.TEACHER, Role.ADMIN)
def class_badges_revoke(class_id: int) -> Response:
    """Stop every QR badge of the class from working (a lost sheet, a new term)."""
    if not CsrfOnlyForm().validate_on_submit():
        return error_response(400)
    revoked = badges.revoke_for(current_user, class_id=class_id)
    db.session.commit()
    flash(f"{revoked} {'badge' if revoked == 1 else 'badges'} revoked.", "success")
    return redirect(url_for("teacher.class_show", class_id=class_id))


@bp.post("/classes/<int:class_id>/letters")
@role_required(Role.TEACHER, Role.ADMIN)
def class_letters(class_id: int) -> Response:
    """Parent letters for the class, one a page, each with the child's parent code."""
    if not CsrfOnlyForm().validate_on_submit():
        return error_response(400)
    try:
        _, pdf = letters.print_letters(current_user, class_id=class_id)
    except PolicyError as exc:
        flash(" ".join(exc.problems), "error")
        return redirect(url_for("teacher.class_show", class_id=class_id))
    db.session.commit()
    return pdf_download(pdf, f"class-{class_id}-parent-letters-{utcnow():%Y%m%d}.pdf")


@bp.get("/classes/<int:class_id>/parent-codes.csv")
@role_required(Role.TEACHER, Role.ADMIN)
def class_parent_codes_csv(class_id: int) -> Response:
    """The class's students with their live parent codes, for letters or a mail merge."""
    body, _ = exports.export_mail_merge(current_user, exports.ExportFilter(class_id=class_id))
    db.session.commit()
    return csv_download(body, f"parent-codes-class-{class_id}.csv")


def _secret(class_id, student, what, value, expires_at, note) -> Response:
    response = render(
        "shared/secret.html",
        user=student,
        what=what,
        value=value,
        expires_at=expires_at,
        note=note,
        back_url=url_for("teacher.class_show", class_id=class_id),
        back_label="Back to the class",
    )
    response.headers["Cache-Control"] = "no-store"
    return response
