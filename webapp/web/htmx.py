"""One place that answers "is this htmx?" and builds dual-mode responses."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, make_response, render_template, request


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def wants_partial() -> bool:
    """True for an htmx swap; false for boosted navigation and history restores."""
    return (
        is_htmx()
        and request.headers.get("HX-Boosted") != "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def render(page: str, partial: str | None = None, status: int = 200, **context: Any) -> Response:
    """Render the whole page, or only its partial for an htmx swap."""
    template = partial if partial and wants_partial() else page
    response = make_response(render_template(template, **context), status)
    if partial:
        response.vary.add("HX-Request")
    return response


def trigger(response: Response, event: str, detail: Any = True) -> Response:
    """Ask htmx to fire a client event (kebab-case names, for example users-changed)."""
    events = json.loads(response.headers.get("HX-Trigger", "{}") or "{}")
    events[event] = detail
    response.headers["HX-Trigger"] = json.dumps(events)
    return response


def redirect(location: str) -> Response:
    """Redirect a full page load normally and an htmx request with HX-Redirect."""
    if is_htmx():
        response = make_response("", 204)
        response.headers["HX-Redirect"] = location
        return response
    response = make_response("", 303)
    response.headers["Location"] = location
    return response
