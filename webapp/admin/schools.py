"""Schools page: district admins list, create and rename schools and set their SIS ids."""

from __future__ import annotations

from flask import Response, flash, url_for
from flask_login import current_user

from webapp.admin import bp
from webapp.admin.forms import SchoolForm
from webapp.extensions import db
from webapp.models import Role, School
from webapp.services import schools
from webapp.services.errors import NotAllowed
from webapp.web.guards import role_required
from webapp.web.htmx import redirect, render


def _manager() -> None:
    # School-limited admins get the 404 (and the authz_denied row) of any out-of-scope request.
    schools.require_school_manager(current_user)


def _index(form: SchoolForm, status: int = 200) -> Response:
    return render(
        "admin/schools/index.html",
        "admin/schools/_schools.html",
        rows=schools.list_schools(current_user),
        form=form,
        status=status,
    )


def _field_error(form: SchoolForm, problem: schools.SchoolProblem) -> None:
    form[problem.field].errors = [*form[problem.field].errors, *problem.problems]


@bp.get("/schools")
@role_required(Role.ADMIN)
def schools_index() -> Response:
    _manager()
    return _index(SchoolForm())


@bp.post("/schools")
@role_required(Role.ADMIN)
def schools_create() -> Response:
    _manager()
    form = SchoolForm()
    if not form.validate_on_submit():
        return _index(form, 422)
    try:
        school = schools.create_school(form.name.data, actor=current_user, sis_id=form.sis_id.data)
    except schools.SchoolProblem as problem:
        db.session.rollback()
        _field_error(form, problem)
        return _index(form, 422)
    db.session.commit()
    flash(f"{school.name} created.", "success")
    return redirect(url_for("admin.schools_index"))


def _school(school_id: int) -> School:
    school = db.session.get(School, school_id)
    if school is None:
        raise NotAllowed("no such school", "school", school_id)
    return school


@bp.get("/schools/<int:school_id>/edit")
@role_required(Role.ADMIN)
def schools_edit(school_id: int) -> Response:
    _manager()
    school = _school(school_id)
    form = SchoolForm(data={"name": school.name, "sis_id": school.sourced_id or ""})
    return render("admin/schools/edit.html", school=school, form=form)


@bp.post("/schools/<int:school_id>")
@role_required(Role.ADMIN)
def schools_update(school_id: int) -> Response:
    _manager()
    school = _school(school_id)
    form = SchoolForm()
    if not form.validate_on_submit():
        return render("admin/schools/edit.html", school=school, form=form, status=422)
    try:
        schools.rename_school(school.id, form.name.data, actor=current_user)
        schools.set_sis_id(school.id, form.sis_id.data, actor=current_user)
    except schools.SchoolProblem as problem:
        db.session.rollback()
        _field_error(form, problem)
        return render("admin/schools/edit.html", school=_school(school_id), form=form, status=422)
    db.session.commit()
    flash(f"{school.name} saved.", "success")
    return redirect(url_for("admin.schools_index"))
