"""Error pages that suit both full page loads and htmx swaps."""

from __future__ import annotations

import logging

from flask import Flask, Response, render_template, request, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, NotFound

from webapp.extensions import db
from webapp.services import audit
from webapp.services.errors import NotAllowed
from webapp.web.htmx import is_htmx

log = logging.getLogger(__name__)

MESSAGES = {
    400: "The request could not be used. Reload the page and try again.",
    401: "Please sign in to continue.",
    403: "You do not have access to this page.",
    404: "We could not find that page, or you do not have access to it.",
    405: "That action is not available here.",
    413: "That file is too large to upload.",
    429: "Too many attempts. Wait a minute and try again.",
    500: "Something went wrong on our side. Nothing was changed; please try again.",
}


def error_response(status: int, message: str | None = None) -> Response:
    message = message or MESSAGES.get(status, MESSAGES[500])
    if is_htmx():
        # Show the message in the page's alert region rather than inside the swap target.
        body = render_template("errors/_toast.html", code=status, message=message)
        response = Response(body, status)
        response.headers["HX-Retarget"] = "#flash"
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    return Response(render_template("errors/error.html", code=status, message=message), status)


def register(app: Flask) -> None:
    @app.errorhandler(NotAllowed)
    def not_allowed(exc: NotAllowed) -> Response:
        # Nothing the request did survives; only the denial itself is recorded.
        db.session.rollback()
        actor = current_user if current_user.is_authenticated else audit.ANONYMOUS
        audit.record(
            actor,
            "authz_denied",
            reason=exc.what,
            object_type=exc.target_type,
            object_id=exc.target_id,
            endpoint=request.endpoint,
        )
        db.session.commit()
        return error_response(404)

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> Response:
        db.session.rollback()
        return error_response(400, "This form has expired. Reload the page and try again.")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        db.session.rollback()
        status = exc.code or 500
        if status == 401:
            if is_htmx():
                response = Response("", 401)
                response.headers["HX-Redirect"] = url_for("auth.sign_in")
                return response
        if isinstance(exc, NotFound) or status in MESSAGES:
            return error_response(status)
        return error_response(status, exc.description)

    @app.errorhandler(Exception)
    def server_error(exc: Exception) -> Response:
        db.session.rollback()
        if app.testing and not app.config.get("TESTING_ERROR_PAGES"):
            raise exc
        log.exception("unhandled error on %s", request.path)
        return error_response(500)
