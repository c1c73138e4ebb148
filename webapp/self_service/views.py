"""Pages for parents, students and staff about their own accounts, and parent registration."""

from __future__ import annotations

from flask import Response, current_app, flash, g, redirect, url_for
from flask_login import current_user, login_required

from webapp.extensions import db, limiter
from webapp.family import parents, student_codes
from webapp.family.parents import CodeRefused, NewParent
from webapp.models import Role
from webapp.self_service import bp
from webapp.self_service.forms import AddChildForm, ContactForm, ParentRegisterForm
from webapp.services import audit
from webapp.services.errors import PolicyError
from webapp.web.forms import CsrfOnlyForm
from webapp.web.guards import role_required
from webapp.web.htmx import render, wants_partial
from webapp.web.security import sign_in_afresh


def _code_refused() -> bool:
    """Count a redemption against the limits only when the code was refused."""
    return bool(g.get("parent_code_refused"))


# Wrong parent codes, per client address and for the whole site (README "Family pages").
code_per_ip = limiter.shared_limit(
    lambda: current_app.config["PARENT_CODE_RATE_LIMIT"],
    scope="parent-code",
    methods=["POST"],
    deduct_when=lambda response: _code_refused(),
)
code_global = limiter.shared_limit(
    lambda: current_app.config["PARENT_CODE_GLOBAL_RATE_LIMIT"],
    scope="parent-code-global",
    key_func=lambda: "everyone",
    methods=["POST"],
    deduct_when=lambda response: _code_refused(),
)


def _refused(actor: audit.Actor) -> list[str]:
    """Undo the attempt, keep its audit row, and count it against the limits."""
    db.session.rollback()
    parents.record_refused_code(actor)
    db.session.commit()
    g.parent_code_refused = True
    return [parents.REFUSED_CODE]


# --- students and everyone: my account ---------------------------------------------------


def _account(status: int = 200, *, renewed: bool = False) -> Response:
    user = current_user._get_current_object()
    code = None
    if user.role == Role.STUDENT:
        code = student_codes.my_parent_code(user)
        db.session.commit()  # the audit row of showing the code
    return render(
        "self_service/account.html",
        "self_service/_parent_code.html",
        user=user,
        code=code,
        renewed=renewed,
        form=CsrfOnlyForm(),
        register_url=current_app.config["BASE_URL"].rstrip("/")
        + url_for("self_service.parent_register"),
        status=status,
    )


@bp.get("/account")
@login_required
def account() -> Response:
    return _account()


@bp.post("/account/parent-code")
@role_required(Role.STUDENT)
def parent_code_renew() -> Response:
    student = current_user._get_current_object()
    student_codes.renew_parent_code(student, actor=student)
    db.session.commit()
    if wants_partial():
        return _account(renewed=True)
    flash("Your new parent code is ready. The old one no longer works.", "success")
    return redirect(url_for("self_service.account"), code=303)


# --- parents -----------------------------------------------------------------------------


def _dashboard(
    *,
    child_form: AddChildForm | None = None,
    contact_form: ContactForm | None = None,
    child_problems: list[str] | None = None,
    contact_problems: list[str] | None = None,
    contact_message: str | None = None,
    partial: str | None = None,
    status: int = 200,
) -> Response:
    parent = current_user._get_current_object()
    cards = []
    if not (partial and wants_partial()):
        cards = parents.children_overview(parent)
        db.session.commit()  # PIN views are audited; a child's first PIN is kept
    return render(
        "self_service/parent_home.html",
        partial,
        cards=cards,
        child_form=child_form or AddChildForm(),
        contact_form=contact_form
        or ContactForm(data={"email": parent.email or "", "phone": parent.phone or ""}),
        child_problems=child_problems or [],
        contact_problems=contact_problems or [],
        contact_message=contact_message,
        status=status,
    )


@bp.get("/parent")
@role_required(Role.PARENT)
def parent_home() -> Response:
    return _dashboard()


@bp.post("/parent/children")
@role_required(Role.PARENT)
@code_per_ip
@code_global
def children_add() -> Response:
    form = AddChildForm()
    if not form.validate_on_submit():
        return _dashboard(child_form=form, status=422)
    parent = current_user._get_current_object()
    try:
        child = parents.add_child(parent, form.code.data)
    except CodeRefused:
        return _dashboard(child_form=form, child_problems=_refused(parent), status=422)
    except PolicyError as exc:
        db.session.rollback()
        return _dashboard(child_form=form, child_problems=exc.problems, status=422)
    db.session.commit()
    flash(f"{child.display_name} is now linked to your account.", "success")
    return redirect(url_for("self_service.parent_home"), code=303)


@bp.post("/parent/contact")
@role_required(Role.PARENT)
def contact_update() -> Response:
    form = ContactForm()
    partial = "self_service/_contact.html"
    if not form.validate_on_submit():
        return _dashboard(contact_form=form, partial=partial, status=422)
    parent = current_user._get_current_object()
    try:
        changed = parents.update_contact(
            parent,
            email=form.email.data or "",
            phone=form.phone.data or "",
            current_password=form.current_password.data,
        )
    except PolicyError as exc:
        db.session.commit()  # keeps the audit row of a wrong password
        return _dashboard(
            contact_form=form, contact_problems=exc.problems, partial=partial, status=422
        )
    db.session.commit()
    if changed:
        # The epoch rotated: other sessions are dead; this one continues, renewed.
        sign_in_afresh(parent)
    message = "Your contact details are saved." if changed else "Nothing changed."
    if wants_partial():
        return _dashboard(partial=partial, contact_message=message)
    flash(message, "success" if changed else "info")
    return redirect(url_for("self_service.parent_home"), code=303)


@bp.route("/parent/register", methods=["GET", "POST"])
@code_per_ip
@code_global
def parent_register() -> Response:
    if current_user.is_authenticated:
        return redirect(url_for("auth.index"))
    form = ParentRegisterForm()
    problems: list[str] = []
    if form.validate_on_submit():
        person = NewParent(
            form.given_name.data, form.family_name.data, form.email.data, form.new_password.data
        )
        try:
            parent = parents.register_parent(form.code.data, person)
        except CodeRefused:
            problems = _refused(audit.ANONYMOUS)
        except PolicyError as exc:
            db.session.rollback()
            problems = exc.problems
        else:
            db.session.commit()
            sign_in_afresh(parent)
            flash("Welcome! Your account is ready and linked to your child.", "success")
            return redirect(url_for("self_service.parent_home"), code=303)
    response = render(
        "self_service/parent_register.html",
        form=form,
        problems=problems,
        minimum=current_app.config["PASSWORD_MIN_LENGTH"][Role.PARENT],
        status=422 if problems or form.errors else 200,
    )
    response.headers["Cache-Control"] = "no-store"
    return response
