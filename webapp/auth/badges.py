"""Signing in with a QR badge: scan, confirm it is you, signed in.

The scanned URL carries the badge token; the first request moves it out of the address bar
into the session (as the set-password page does) so it never lingers in history, and the
person confirms with one tap (a POST with CSRF), so a link preview cannot sign anyone in.
"""

from __future__ import annotations

from flask import Response, current_app, redirect, session, url_for

from webapp.auth import bp
from webapp.auth.views import home_url
from webapp.extensions import db, limiter
from webapp.printing import badges
from webapp.web.forms import CsrfOnlyForm
from webapp.web.htmx import render
from webapp.web.security import sign_in_afresh

_KEY = "badge_token_hash"  # never the token itself: sessions are stored server-side


@bp.get("/badge/<token>")
@limiter.limit(lambda: current_app.config["BADGE_RATE_LIMIT"])
def badge_link(token: str) -> Response:
    session[_KEY] = badges.digest(token[:100])
    response = redirect(url_for("auth.badge"), code=303)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.route("/badge", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["BADGE_RATE_LIMIT"], methods=["POST"])
def badge() -> Response:
    student = badges.find(session.get(_KEY, ""))
    form = CsrfOnlyForm()
    if student is None:
        session.pop(_KEY, None)
        return _no_store(render("auth/badge.html", student=None, form=form, status=404))
    if form.validate_on_submit():
        badges.record_use(student)
        db.session.commit()
        sign_in_afresh(student)
        session["signed_in_by_badge"] = True
        return redirect(home_url())
    return _no_store(render("auth/badge.html", student=student, form=form))


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
