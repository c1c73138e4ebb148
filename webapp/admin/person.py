"""One person's page: contact details edited in place, and the credentials shown once.

A credential (temporary password, parent code, PIN) is shown on the page that issues or
reveals it and nowhere else: never flashed (the session lives in the database), never
cached (no-store), and each showing is audited.
"""

from __future__ import annotations

from flask import Response, flash, request, url_for
from flask_login import current_user

from webapp.admin import bp
from webapp.delivery import batches, codes
from webapp.delivery.temp_passwords import issue_temporary_passwords
from webapp.extensions import db
from webapp.models import Role
from webapp.services import exports, people, person, scope
from webapp.services.errors import PolicyError
from webapp.web.errors import error_response
from webapp.web.forms import CsrfOnlyForm
from webapp.web.guards import role_required
from webapp.web.htmx import redirect, render, wants_partial


@bp.post("/users/<int:user_id>/contact")
@role_required(Role.ADMIN)
def person_contact(user_id: int) -> Response:
    user = scope.require_user(current_user, user_id)
    if not CsrfOnlyForm().validate_on_submit():
        return error_response(400)
    email, phone = request.form.get("email", ""), request.form.get("phone", "")
    change = person.update_contact(current_user, user.id, email, phone)
    db.session.commit()
    if wants_partial():
        row = request.form.get("layout") == "row"
        return render(
            "admin/users/_contact_row.html" if row else "admin/users/_contact.html",
            user=user,
            problems=change.problems,
            typed={"email": email, "phone": phone},
            saved=change.changed,
            form=CsrfOnlyForm(),
        )
    if change.problems:
        for problem in change.problems.values():
            flash(problem, "error")
    elif change.changed:
        flash("Contact details saved. Links sent to the old address no longer work.", "success")
    return redirect(url_for("admin.user_show", user_id=user.id))


@bp.route("/users/new", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def person_new() -> Response:
    """Add someone the SIS does not have yet; optionally send them a link at once."""
    form = request.form
    problems: dict[str, str] = {}
    if request.method == "POST":
        if not CsrfOnlyForm().validate_on_submit():
            return error_response(400)
        new = person.NewPerson(
            role=form.get("role", ""),
            given_name=form.get("given_name", ""),
            family_name=form.get("family_name", ""),
            school_id=form.get("school_id", type=int),
            email=form.get("email", ""),
            phone=form.get("phone", ""),
            grade=form.get("grade", ""),
            class_id=form.get("class_id", type=int),
            child_username=form.get("child_username", ""),
        )
        user, problems = person.add_person(current_user, new)
        if user is not None:
            if form.get("send_now") == "1" and user.email:
                batches.send_credentials([user.id], "link", "email", {}, current_user)
            db.session.commit()
            flash(f"{user.display_name} added as {user.username}.", "success")
            return redirect(url_for("admin.user_show", user_id=user.id))
    return render(
        "admin/users/new.html",
        status=400 if problems else 200,
        problems=problems,
        typed=form,
        roles=people.ROLES,
        schools=db.session.scalars(scope.visible_schools(current_user)).all(),
        classes=exports.export_classes(current_user),
        form=CsrfOnlyForm(),
    )


@bp.get("/users/missing-contacts")
@role_required(Role.ADMIN)
def people_missing_contacts() -> Response:
    """Everyone without an email or phone, for one role and school, edited row by row."""
    role = request.args.get("role") or None
    role = Role(role) if role in {r.value for r in people.ROLES} else None
    school_id = request.args.get("school_id", type=int)
    rows, total = people.missing_contacts(current_user, role, school_id)
    return render(
        "admin/users/missing_contacts.html",
        rows=rows,
        total=total,
        role=role,
        school_id=school_id,
        roles=people.ROLES,
        schools=db.session.scalars(scope.visible_schools(current_user)).all(),
        form=CsrfOnlyForm(),
    )


@bp.post("/users/<int:user_id>/temporary-password")
@role_required(Role.ADMIN)
def person_temporary_password(user_id: int) -> Response:
    user = scope.require_user(current_user, user_id)
    if not CsrfOnlyForm().validate_on_submit():
        return error_response(400)
    (issued,) = issue_temporary_passwords([user], current_user)
    db.session.commit()
    note = (
        "They sign in with it once and then choose their own password. "
        "Their old password, links and sessions no longer work."
    )
    return _secret(user, "Temporary password", issued.password, issued.expires_at, note)


@bp.post("/users/<int:user_id>/parent-code")
@role_required(Role.ADMIN)
def person_parent_code(user_id: int) -> Response:
    """Show the live parent code, or issue a new one (which voids the old)."""
    user = scope.require_user(current_user, user_id)
    if not CsrfOnlyForm().validate_on_submit() or user.role != Role.STUDENT:
        return error_response(400)
    if request.form.get("new") == "1":
        issued = codes.issue_parent_code(user, actor=current_user)
        code, expires_at = issued.formatted, issued.expires_at
        note = "A parent registers with it at the sign-in page. The old code no longer works."
    else:
        code, expires_at = codes.show_parent_code(user.id, actor=current_user), None
        note = "A parent registers with it at the sign-in page."
    db.session.commit()
    if code is None:
        flash("There is no live parent code: make a new one.", "info")
        return redirect(url_for("admin.user_show", user_id=user.id))
    return _secret(user, "Parent code", code, expires_at, note)


@bp.post("/users/<int:user_id>/pin")
@role_required(Role.ADMIN)
def person_pin(user_id: int) -> Response:
    """Show the student's PIN, or make a new one."""
    user = scope.require_user(current_user, user_id)
    if not CsrfOnlyForm().validate_on_submit() or user.role != Role.STUDENT:
        return error_response(400)
    try:
        if request.form.get("new") == "1":
            pin = codes.issue_student_pin(user, actor=current_user)
        else:
            pin = codes.show_student_pin(user.id, actor=current_user)
    except PolicyError as exc:
        return error_response(400, " ".join(exc.problems))
    db.session.commit()
    if pin is None:
        flash("This student has no PIN yet: make one.", "info")
        return redirect(url_for("admin.user_show", user_id=user.id))
    note = "With a parent beside them, the student can use it to choose a new password."
    return _secret(user, "PIN", codes.display(pin), None, note)


def _secret(user, what: str, value: str, expires_at, note: str) -> Response:
    response = render(
        "shared/secret.html",
        user=user,
        what=what,
        value=value,
        expires_at=expires_at,
        note=note,
        back_url=url_for("admin.user_show", user_id=user.id),
        back_label=f"Back to {user.display_name}",
    )
    response.headers["Cache-Control"] = "no-store"
    return response
