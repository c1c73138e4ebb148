"""Account reports as PDF (as Classter's): Student Account Info, User Account Info and
User Account Credentials, for a choice of school, class, grade, role and state.

The choice is the accounts export's (exports.ExportFilter), so a report covers exactly
whom an export would, within the admin's schools. Every report carries a header with the
school, the date and the filters, numbers its pages ("Page 1 of 3") and repeats its column
headers on every page. Its times are on the school's clock (the district's when it covers
several schools). Each is rendered as one document, so the page counters see every page.

The credentials report issues what it shows: new temporary passwords for everyone chosen
and, for students, their live parent code (a new one if they have none). It is all or
nothing: the caller commits only once the PDF exists, and the plain text lives nowhere but
the PDF.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from flask import current_app, render_template
from sqlalchemy import func, select

from webapp.delivery import codes
from webapp.delivery.messages import clean_line
from webapp.delivery.temp_passwords import issue_temporary_passwords
from webapp.extensions import db
from webapp.models import Class, Delivery, Role, School, User, utcnow
from webapp.printing import render
from webapp.printing.paper import SHEETS, Sheet, paper_for_school
from webapp.services import audit, scope
from webapp.services.errors import NotAllowed, PolicyError
from webapp.services.exports import ExportFilter, _filter_details, _parents, _selection
from webapp.web.labels import grade_label, when

MAX_ROWS = 2_000  # a report is one WeasyPrint document, rendered in the request
CREDENTIAL_ROLES = (Role.STUDENT, Role.PARENT)


class ReportKind(enum.StrEnum):
    STUDENT_INFO = "student-info"
    USER_INFO = "user-info"
    CREDENTIALS = "credentials"

    @property
    def title(self) -> str:
        return _TITLES[self]


_TITLES = {
    ReportKind.STUDENT_INFO: "Student Account Info",
    ReportKind.USER_INFO: "User Account Info",
    ReportKind.CREDENTIALS: "User Account Credentials",
}


@dataclass(frozen=True)
class Report:
    """What goes on paper: a title, the header lines, and a table."""

    kind: ReportKind
    school: str
    printed_at: str
    filters: list[str]
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]
    paper_school_id: int | None

    @property
    def filename(self) -> str:
        return f"{self.kind.value}-report-{utcnow():%Y%m%d}.pdf"


def print_report(
    actor: User,
    kind: ReportKind,
    filters: ExportFilter,
    *,
    limit: int | None = MAX_ROWS,
    now: datetime | None = None,
) -> tuple[Report, bytes]:
    """Build, render and audit a report; the caller commits (or rolls back on failure)."""
    if actor.role != Role.ADMIN:
        raise NotAllowed("reports are for admins")
    now = now or utcnow()
    if kind is ReportKind.STUDENT_INFO:
        filters = replace(filters, role=filters.role or Role.STUDENT)
    people = _people(actor, kind, filters, limit)
    school_id = _school_id(filters)
    rows = _ROWS[kind](people, actor, now, school_id)
    report = Report(
        kind,
        _school_label(actor, filters),
        when(now, school_id),
        describe(filters),
        _COLUMNS[kind],
        rows,
        filters.school_id,
    )
    pdf = render_report(report)
    audit.record(actor, "report_printed", kind=kind.value, rows=len(rows),
                 **_filter_details(filters))  # fmt: skip
    return report, pdf


def _people(actor: User, kind: ReportKind, filters: ExportFilter, limit: int | None) -> list[User]:
    if kind is ReportKind.STUDENT_INFO:
        if filters.role not in (None, "", Role.STUDENT):
            raise PolicyError(["Student Account Info covers students only."])
    people = _selection(actor, filters)
    if kind is ReportKind.CREDENTIALS:
        if filters.role and filters.role not in CREDENTIAL_ROLES:
            raise PolicyError(["Credentials are printed for students and parents only."])
        people = [p for p in people if p.role in CREDENTIAL_ROLES and p.deactivated_at is None]
    if not people:
        raise PolicyError(["Nobody matches that choice."])
    if limit is not None and len(people) > limit:
        raise PolicyError([f"{len(people):,} people match; this report holds up to {limit:,} "
                           "here. Narrow it by class, grade, role or state, or print it with "
                           "flask credentials report."])  # fmt: skip
    return people


def describe(filters: ExportFilter) -> list[str]:
    """The filters as a school office reads them."""
    parts = []
    if filters.class_id is not None:
        klass = db.session.get(Class, filters.class_id)
        parts.append(f"Class: {clean_line(klass.title, 80)}")
    if filters.grade:
        parts.append(f"Grade: {grade_label(filters.grade)}")
    if filters.role:
        parts.append(f"Role: {Role(filters.role).value}")
    if filters.state:
        parts.append(f"State: {filters.state.replace('_', ' ')}")
    return parts or ["Everyone in the chosen schools"]


def _school_id(filters: ExportFilter) -> int | None:
    """The one school a report covers, whose clock it shows (None: several schools)."""
    if filters.school_id is not None:
        return filters.school_id
    if filters.class_id is not None:
        return db.session.get(Class, filters.class_id).school_id
    return None


def _school_label(actor: User, filters: ExportFilter) -> str:
    if filters.school_id is not None:
        return clean_line(db.session.get(School, filters.school_id).name, 120)
    if filters.class_id is not None:
        return clean_line(db.session.get(Class, filters.class_id).school.name, 120)
    names = db.session.scalars(scope.visible_schools(actor).with_only_columns(School.name))
    return clean_line(", ".join(names), 200) or "No school"


def _name(user: User) -> str:
    return clean_line(user.display_name, 120)


def _student_rows(
    students: Sequence[User], actor: User, now: datetime, school_id: int | None
) -> list[tuple[str, ...]]:
    parents = _parents([s.id for s in students])
    return [
        (
            _name(s),
            s.username,
            grade_label(s.grade),
            s.state.value.replace("_", " "),
            when(s.activated_at, school_id) or "not yet",
            when(s.last_login_at, school_id) or "never",
            clean_line(s.email, 120) or "none",
            clean_line("; ".join(name for name, _ in parents.get(s.id, [])), 200) or "none",
        )
        for s in students
    ]


def _latest_deliveries(user_ids: list[int]) -> dict[int, Delivery]:
    latest = (
        select(func.max(Delivery.id))
        .where(Delivery.user_id.in_(user_ids))
        .group_by(Delivery.user_id)
    )
    rows = db.session.scalars(select(Delivery).where(Delivery.id.in_(latest)))
    return {d.user_id: d for d in rows}


def _user_rows(
    users: Sequence[User], actor: User, now: datetime, school_id: int | None
) -> list[tuple[str, ...]]:
    deliveries = _latest_deliveries([u.id for u in users])
    rows = []
    for u in users:
        d = deliveries.get(u.id)
        outcome = f"{d.status.value} ({d.channel.value})" if d else "never sent"
        rows.append((
            _name(u),
            u.username,
            str(u.role),
            u.state.value.replace("_", " "),
            outcome,
            when((d.sent_at or d.created_at) if d else None, school_id),
        ))  # fmt: skip
    return rows


def _credential_rows(
    users: Sequence[User], actor: User, now: datetime, school_id: int | None
) -> list[tuple[str, ...]]:
    issued = {p.user_id: p for p in issue_temporary_passwords(users, actor, now=now)}
    student_ids = [u.id for u in users if u.role == Role.STUDENT]
    live = codes.live_parent_codes(student_ids, now=now)
    rows = []
    for u in users:
        password = issued[u.id]
        code, code_expires = "", ""
        if u.role == Role.STUDENT:
            shown = live.get(u.id)
            if shown is None:
                new = codes.issue_parent_code(u, actor=actor, now=now)
                code, code_expires = new.formatted, when(new.expires_at, school_id)
            else:
                code, code_expires = shown.formatted, when(shown.expires_at, school_id)
        rows.append((_name(u), u.username, str(u.role), password.password,
                     when(password.expires_at, school_id), code, code_expires))  # fmt: skip
    return rows


_COLUMNS = {
    ReportKind.STUDENT_INFO: ("Name", "Username", "Grade", "State", "Activated",
                              "Last sign-in", "Email on file", "Parents linked"),
    ReportKind.USER_INFO: ("Name", "Username", "Role", "State", "Last delivery", "When"),
    ReportKind.CREDENTIALS: ("Name", "Username", "Role", "Temporary password",
                             "Password expires", "Parent code", "Code expires"),
}  # fmt: skip
_ROWS = {
    ReportKind.STUDENT_INFO: _student_rows,
    ReportKind.USER_INFO: _user_rows,
    ReportKind.CREDENTIALS: _credential_rows,
}


def landscape(sheet: Sheet) -> str:
    return f"{sheet.css_size} landscape"


def render_report(report: Report) -> bytes:
    """Render a report as one document, so its pages count as one (Page 1 of N)."""
    sheet = SHEETS[paper_for_school(report.paper_school_id)]
    html = render_template(
        "print/pdf_report.html",
        report=report,
        sheet=sheet,
        page_size=landscape(sheet) if len(report.columns) > 5 else sheet.css_size,
        private=report.kind is ReportKind.CREDENTIALS,
    )
    return render.render_chunks([html], current_app.static_folder)
