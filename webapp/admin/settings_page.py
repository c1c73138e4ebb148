"""Settings page: every per-school setting, for the district or one school, checked and audited.

What each setting means lives in FIELDS beside how the page asks for it; the rules for a
valid value stay in webapp/services/settings.py, which also audits each change old -> new.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from flask import Response, flash, request, url_for
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from webapp.admin import bp
from webapp.extensions import db
from webapp.models import Role, School
from webapp.services import scope, settings
from webapp.services.errors import NotAllowed, PolicyError
from webapp.web.errors import error_response
from webapp.web.forms import CsrfOnlyForm
from webapp.web.guards import role_required
from webapp.web.htmx import redirect, render


class Ask(enum.StrEnum):
    YES_NO = "yes_no"
    NUMBER = "number"
    TEXT = "text"
    LIST = "list"  # comma-separated
    CHOICE = "choice"


@dataclass(frozen=True)
class Field:
    label: str
    help: str
    ask: Ask
    choices: tuple[str, ...] = ()


FIELDS: dict[str, Field] = {
    "notify_new_students": Field(
        "Send new students their sign-in",
        "When an import adds students, send each a set-password link.",
        Ask.YES_NO,
    ),
    "notify_new_parents": Field(
        "Send new parents their sign-in",
        "When an import adds parents, send each a set-password link.",
        Ask.YES_NO,
    ),
    "notify_channel": Field(
        "Send new accounts' sign-in by", "Email or SMS.", Ask.CHOICE, ("email", "sms")
    ),
    "fallback_email": Field(
        "Fallback email",
        "Messages for people with no email of their own go here (the school office, say). "
        "Leave empty for none.",
        Ask.TEXT,
    ),
    "test_mode": Field(
        "Test mode",
        "Send every message to the test address instead, naming the real recipient.",
        Ask.YES_NO,
    ),
    "test_mode_email": Field("Test mode email", "Where email goes in test mode.", Ask.TEXT),
    "test_mode_phone": Field(
        "Test mode phone", "Where SMS goes in test mode, like +15125550123.", Ask.TEXT
    ),
    "invite_link_days": Field("Invitation links last (days)", "1 to 7.", Ask.NUMBER),
    "reset_link_minutes": Field("Reset links last (minutes)", "1 to 60.", Ask.NUMBER),
    "sso_roles": Field(
        "Roles that sign in with the school's single sign-on",
        "Forgot password tells them to use the school's sign-in. Roles separated by commas: "
        "student, teacher. Leave empty for none.",
        Ask.LIST,
    ),
    "sso_notice": Field(
        "Single sign-on notice",
        "What forgot password says to those roles (1 to 500 characters).",
        Ask.TEXT,
    ),
    "temp_password_days": Field("Temporary passwords last (days)", "1 to 30.", Ask.NUMBER),
    "young_student_grades": Field(
        "Young students' grades",
        "They get kind word passwords, like tiger-moon-42. "
        "Grade codes separated by commas: PK, KG, 01.",
        Ask.LIST,
    ),
    "paper_size": Field(
        "Paper size", "What slips and letters are printed on.", Ask.CHOICE, ("A4", "Letter")
    ),
    "time_zone": Field(
        "Time zone",
        "The clock that pages, slips and reports show times on, like America/Chicago.",
        Ask.CHOICE,
        settings.zone_names(),
    ),
    "badge_grades": Field(
        "QR sign-in badges for grades",
        "Students in these grades may get a badge that signs them in when scanned. "
        "Grade codes separated by commas: KG, 01. Leave empty for none.",
        Ask.LIST,
    ),
    "parent_code_days": Field("Parent codes last (days)", "1 to 365.", Ask.NUMBER),
    "parent_code_max_uses": Field(
        "Parents per code", "How many parents may register with one code (1 to 20).", Ask.NUMBER
    ),
    "import_other_contacts": Field(
        "Import other contacts",
        "Also make parent accounts for a roster's emergency and other contacts.",
        Ask.YES_NO,
    ),
}


@dataclass(frozen=True)
class Row:
    key: str
    field: Field
    value: str  # as the form shows it
    own: bool  # set for this school (or the district) rather than inherited


def _shown(value: object, ask: Ask) -> str:
    if ask is Ask.YES_NO:
        return "yes" if value else "no"
    if ask is Ask.LIST:
        return ", ".join(value or [])
    return "" if value is None else str(value)


def _parsed(text: str, ask: Ask) -> object:
    text = text.strip()
    if ask is Ask.YES_NO:
        return {"yes": True, "no": False}.get(text, text)
    if ask is Ask.NUMBER:
        return int(text) if text.isdigit() else text
    if ask is Ask.LIST:
        return [part.strip() for part in text.split(",") if part.strip()]
    return text or None


def _school(school_id: int | None) -> School | None:
    if school_id is None:
        if not current_user.district_wide:
            raise NotAllowed("district settings need a district-wide admin")
        return None
    if school_id not in scope.visible_school_ids(current_user):
        raise NotAllowed("school outside scope", "school", school_id)
    return db.session.get(School, school_id)


def _rows(school: School | None, typed: MultiDict | None = None) -> list[Row]:
    values = settings.snapshot(school)
    own = settings.own_keys(school)
    return [
        Row(key, field, typed.get(key, "") if typed else _shown(values[key], field.ask), key in own)
        for key, field in FIELDS.items()
    ]


def _page(school: School | None, problems: dict[str, str], typed=None, status: int = 200):
    return render(
        "admin/settings/index.html",
        status=status,
        school=school,
        schools=db.session.scalars(scope.visible_schools(current_user)).all(),
        rows=_rows(school, typed),
        problems=problems,
        form=CsrfOnlyForm(),
    )


@bp.get("/settings")
@role_required(Role.ADMIN)
def settings_index() -> Response:
    school_id = request.args.get("school_id", type=int)
    if school_id is None and not current_user.district_wide:
        first = scope.visible_school_ids(current_user)
        if first:
            return redirect(url_for("admin.settings_index", school_id=first[0]))
    return _page(_school(school_id), {})


@bp.post("/settings")
@role_required(Role.ADMIN)
def settings_save() -> Response:
    school = _school(request.form.get("school_id", type=int))
    if not CsrfOnlyForm().validate_on_submit():
        return error_response(400)
    values = settings.snapshot(school)
    problems: dict[str, str] = {}
    changed = []
    for key, field in FIELDS.items():
        if key not in request.form:
            continue
        text = request.form[key]
        if text.strip() == _shown(values[key], field.ask):
            continue
        try:
            settings.set(key, _parsed(text, field.ask), school, current_user)
            changed.append(field.label)
        except PolicyError as exc:
            problems[key] = " ".join(exc.problems)
    if problems:
        db.session.rollback()
        return _page(school, problems, request.form, status=400)
    db.session.commit()
    where = school.name if school else "the district"
    flash(f"Saved for {where}: {', '.join(changed)}." if changed else "Nothing changed.", "success")
    return redirect(url_for("admin.settings_index", school_id=school.id if school else None))
