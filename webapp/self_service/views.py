"""Pages for parents, students and staff about their own accounts."""

from __future__ import annotations

from flask import Response
from flask_login import current_user, login_required

from webapp.models import Role
from webapp.self_service import bp
from webapp.services import scope
from webapp.web.guards import role_required
from webapp.web.htmx import render


@bp.get("/account")
@login_required
def account() -> Response:
    return render("self_service/account.html", user=current_user)


@bp.get("/parent")
@role_required(Role.PARENT)
def parent_home() -> Response:
    return render("self_service/parent_home.html", children=scope.linked_children(current_user))
