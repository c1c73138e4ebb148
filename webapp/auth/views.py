"""Sign in, sign out, change password, and the home redirect."""

from __future__ import annotations

from flask import Response, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, login_required, logout_user

from webapp.auth import bp
from webapp.auth.forms import ChangePasswordForm, NewPasswordForm, SignInForm
from webapp.extensions import db, limiter
from webapp.models import Role
from webapp.services import audit, auth
from webapp.services.auth import SignInOutcome
from webapp.services.errors import PolicyError
from webapp.web.htmx import render
from webapp.web.security import same_site_path, sign_in_afresh

FAILED_MESSAGE = (
    "That username or password is not right. After several tries, wait a few minutes "
    "before trying again."
)
HOME_ENDPOINTS = {
    Role.ADMIN: "admin.home",
    Role.TEACHER: "teacher.home",
    Role.PARENT: "self_service.parent_home",
    Role.STUDENT: "self_service.account",
    Role.STAFF: "self_service.account",
}


def home_url() -> str:
    return url_for(HOME_ENDPOINTS[current_user.role])


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.get("/")
def index() -> Response:
    if current_user.is_authenticated:
        return redirect(home_url())
    return redirect(url_for("auth.sign_in"))


@bp.route("/sign-in", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def sign_in() -> Response:
    if current_user.is_authenticated:
        return redirect(home_url())
    notice = session.pop("flash_after_signout", None)
    if notice:
        flash(notice, "info")
    form = SignInForm()
    error = None
    if form.validate_on_submit():
        result = auth.sign_in(form.identifier.data, form.password.data)
        db.session.commit()
        if result.outcome is SignInOutcome.TEMP_EXPIRED:
            error = (
                "Your temporary password has expired. Ask your teacher or the school office "
                "for a new one."
            )
        elif result.user is not None and result.outcome in (
            SignInOutcome.OK,
            SignInOutcome.MUST_CHANGE,
        ):
            sign_in_afresh(result.user)
            if result.outcome is SignInOutcome.MUST_CHANGE:
                flash("Welcome! Choose your own password to finish setting up.", "info")
                return redirect(url_for("auth.change_password"))
            return redirect(_safe_next() or home_url())
        else:
            error = FAILED_MESSAGE
    status = 200 if error is None else 401
    return render("auth/sign_in.html", form=form, error=error, status=status)


def _safe_next() -> str | None:
    return same_site_path(request.args.get("next", ""))


@bp.post("/sign-out")
@login_required
def sign_out() -> Response:
    audit.record(current_user, "signed_out", current_user._get_current_object())
    db.session.commit()
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.sign_in"))


@bp.route("/password/change", methods=["GET", "POST"])
@login_required
def change_password() -> Response:
    user = current_user._get_current_object()
    forced = user.must_change_password
    form = NewPasswordForm() if forced else ChangePasswordForm()
    problems: list[str] = []
    if form.validate_on_submit():
        try:
            if forced:
                auth.set_password(user, form.new_password.data, actor=user)
            else:
                auth.change_password(user, form.current_password.data, form.new_password.data)
        except PolicyError as exc:
            db.session.commit()  # keeps the audit row of a wrong current password
            problems = exc.problems
        else:
            db.session.commit()
            # The epoch rotated: every other session is dead; this one continues, renewed.
            sign_in_afresh(user)
            flash("Your password is changed. You are signed in on this device only.", "success")
            return redirect(home_url())
    return render(
        "auth/change_password.html",
        form=form,
        forced=forced,
        problems=problems,
        status=422 if problems else 200,
    )
