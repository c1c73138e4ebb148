"""The set-password page behind every link, and the development outbox."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, redirect, session, url_for
from markupsafe import Markup, escape

from webapp.auth.forms import NewPasswordForm
from webapp.auth.views import home_url
from webapp.delivery import batches, devoutbox, links
from webapp.delivery.links import LinkError, LinkStatus
from webapp.extensions import db, limiter
from webapp.models import Role, User
from webapp.services import passwords
from webapp.services.errors import PolicyError
from webapp.web.forms import CsrfOnlyForm
from webapp.web.guards import role_required
from webapp.web.htmx import render
from webapp.web.security import sign_in_afresh

bp = Blueprint("delivery", __name__)
dev_bp = Blueprint("dev", __name__)

_SESSION_KEY = "set_password_token_hash"
_MALFORMED = "malformed"
# Far longer than any real token; anything beyond is not looked at at all.
_MAX_TOKEN = 200

WHO_TO_ASK = {
    Role.STUDENT: "your teacher or the school office",
    Role.PARENT: "your child's school office",
    Role.TEACHER: "your school's Keyslip administrator",
    Role.STAFF: "your school's Keyslip administrator",
    Role.ADMIN: "your district's Keyslip administrator",
}


def _private(response: Response) -> Response:
    """Keep the token page out of caches and out of Referer headers."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/set-password/<path:token>")
def set_password_link(token: str) -> Response:
    # Keep only the hash, server-side, and move to a URL without the token (as Django does),
    # so it cannot leak through history, Referer or logs of later requests.
    token_hash = links.hash_token(token) if len(token) <= _MAX_TOKEN else None
    session[_SESSION_KEY] = token_hash or _MALFORMED
    return _private(redirect(url_for("delivery.set_password"), code=303))


def _problem(
    status: LinkStatus, user: User | None, *, may_resend: bool = False, resent: bool = False
) -> Response:
    who = WHO_TO_ASK.get(user.role if user else None, "the school office")
    school = user.schools[0].name if user is not None and user.schools else None
    response = render(
        "delivery/link_problem.html",
        status=410 if status is not LinkStatus.INVALID else 404,
        link_status=status.value,
        who=who,
        school=school,
        has_email=bool(user and user.email),
        may_resend=may_resend,
        resent=resent,
        form=CsrfOnlyForm(),
        referrer_policy="no-referrer",
        no_third_party=True,
    )
    return _private(response)


def _dead_link() -> Response:
    check = links.check_hash(_session_hash())
    return _problem(check.status, check.user, may_resend=batches.may_request_new_link(check))


def _session_hash() -> str | None:
    token_hash = session.get(_SESSION_KEY)
    return None if token_hash == _MALFORMED else token_hash


@bp.post("/set-password/new-link")
@limiter.limit(lambda: current_app.config["NEW_LINK_RATE_LIMIT"])
def request_new_link() -> Response:
    """Email a fresh invite to the address on file of the account behind a dead link."""
    check = links.check_hash(_session_hash())
    if check.status is LinkStatus.VALID:
        return _private(redirect(url_for("delivery.set_password"), code=303))
    if not CsrfOnlyForm().validate_on_submit() or not batches.may_request_new_link(check):
        return _dead_link()
    batches.request_new_link(check)
    db.session.commit()
    return _problem(check.status, check.user, resent=True)


@bp.route("/set-password", methods=["GET", "POST"])
def set_password() -> Response:
    token_hash = _session_hash()
    check = links.check_hash(token_hash)
    if check.status is not LinkStatus.VALID:
        return _dead_link()
    user = check.user
    form = NewPasswordForm()
    problems: list[str] = []
    if form.validate_on_submit():
        try:
            links.redeem(token_hash, form.new_password.data)
        except LinkError as exc:
            db.session.rollback()
            return _problem(exc.status, exc.user or user)
        except PolicyError as exc:
            db.session.rollback()
            problems = exc.problems
        else:
            db.session.commit()
            sign_in_afresh(user)  # also forgets the token hash
            return _private(redirect(home_url(), code=303))
    response = render(
        "delivery/set_password.html",
        form=form,
        user=user,
        minimum=passwords.minimum_length(user),
        problems=problems,
        status=422 if problems or form.errors else 200,
        referrer_policy="no-referrer",
        no_third_party=True,
    )
    return _private(response)


@dev_bp.get("/dev/outbox")
@role_required(Role.ADMIN)
def outbox_index() -> Response:
    return render("dev/outbox.html", messages=devoutbox.messages())


@dev_bp.get("/dev/outbox/<message_id>")
@role_required(Role.ADMIN)
def outbox_message(message_id: str) -> Response:
    message = devoutbox.message(message_id)
    if message is None:
        abort(404)
    return _private(render("dev/outbox_message.html", message=message, body=linkify(message.text)))


def linkify(text: str) -> Markup:
    """Escape text and turn http(s) addresses into links (the outbox's only markup)."""
    import re

    escaped = str(escape(text))
    linked = re.sub(
        r"(https?://[^\s<>&\"']+)",
        lambda m: f'<a href="{m.group(1)}">{m.group(1)}</a>',
        escaped,
    )
    return Markup(linked)  # noqa: S704 (built from escaped text)
