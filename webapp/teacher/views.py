"""Teacher pages: my classes and each class's roster."""

from __future__ import annotations

from flask import Response
from flask_login import current_user

from webapp.models import Role
from webapp.services import accounts, scope
from webapp.teacher import bp
from webapp.web.guards import role_required
from webapp.web.htmx import render


@bp.get("/")
@role_required(Role.TEACHER)
def home() -> Response:
    return render("teacher/home.html", classes=accounts.teacher_class_summaries(current_user))


@bp.get("/classes/<int:class_id>")
@role_required(Role.TEACHER, Role.ADMIN)
def class_show(class_id: int) -> Response:
    klass = scope.require_class(current_user, class_id)
    return render("teacher/classes/show.html", klass=klass, students=scope.class_students(klass))
