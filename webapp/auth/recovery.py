"""Forgot password (an emailed link) and PIN recovery (a student with a parent beside them)."""

from __future__ import annotations

from flask import Response, current_app, flash, g, redirect, url_for
from flask_login import current_user

from webapp.auth import bp
from webapp.auth.forms import ForgotPasswordForm, PinRecoveryForm
from webapp.auth.views import home_url
from webapp.extensions import db, limiter
from webapp.family import recovery
from webapp.family.recovery import PinLocked, PinRefused, UseSso
from webapp.services.errors import PolicyError
from webapp.web.htmx import render
from webapp.web.security import sign_in_afresh


def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/forgot-password", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["FORGOT_PASSWORD_RATE_LIMIT"], methods=["POST"])
def forgot_password() -> Response:
    if current_user.is_authenticated:
        return redirect(home_url())
    form = ForgotPasswordForm()
    result = None
    if form.validate_on_submit():
        # Whatever the account (or none), the same writes, the same page; mail goes later.
        result = recovery.request_password_reset(form.identifier.data)
        db.session.commit()
    return _private(
        render(
            "auth/forgot_password.html",
            form=ForgotPasswordForm(formdata=None) if result else form,
            result=result,
            minutes=current_app.config["RESET_LINK_MINUTES"],
            status=422 if form.errors else 200,
        )
    )


def _pin_refused() -> bool:
    return bool(g.get("pin_refused"))


@bp.route("/forgot-password/pin", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["PIN_RECOVERY_RATE_LIMIT"],
    methods=["POST"],
    deduct_when=lambda response: _pin_refused(),
)
def pin_recovery() -> Response:
    if current_user.is_authenticated:
        return redirect(home_url())
    form = PinRecoveryForm()
    problems: list[str] = []
    sso_notice = None
    if form.validate_on_submit():
        try:
            user = recovery.recover_with_pin(
                form.username.data, form.pin.data, form.new_password.data
            )
        except PinLocked as exc:
            db.session.commit()  # the audit row of the locked attempt
            problems = [str(exc)]
        except PinRefused as exc:
            db.session.rollback()
            locked = recovery.record_pin_failure(exc.user)
            db.session.commit()
            g.pin_refused = True
            problems = [recovery.PIN_LOCKED if locked else recovery.PIN_REFUSED]
        except UseSso as exc:
            db.session.rollback()
            sso_notice = str(exc)
        except PolicyError as exc:
            db.session.rollback()
            problems = exc.problems
        else:
            db.session.commit()
            sign_in_afresh(user)
            flash(
                "Your new password is set and you are signed in. Your PIN has changed: "
                "your parent sees the new one on their Keyslip page.",
                "success",
            )
            return redirect(url_for("self_service.account"), code=303)
    return _private(
        render(
            "auth/pin_recovery.html",
            form=form,
            problems=problems,
            sso_notice=sso_notice,
            status=422 if problems or form.errors else 200,
        )
    )
