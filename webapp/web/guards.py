"""Route guards. They say who may reach a page; services still check each object."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort, request
from flask_login import current_user, login_required

from webapp.extensions import db
from webapp.models import Role
from webapp.services import audit


def role_required(*roles: Role) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Let only signed-in users with one of these roles through; others get 404."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        @login_required
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if current_user.role not in roles:
                audit.record(current_user, "authz_denied", reason="role", endpoint=request.endpoint)
                db.session.commit()
                abort(404)
            return view(*args, **kwargs)

        return guarded

    return decorate
