"""Print forms: they check shape; the print flow checks rules."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, SelectField, StringField, ValidationError
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

from webapp.models import AccountState
from webapp.printing.reports import ReportKind
from webapp.printing.slips import PER_PAGE_CHOICES, Layout
from webapp.services.exports import EXPORT_ROLES


def _int_or_none(value: str | int | None) -> int | None:
    if value in (None, ""):
        return None
    return int(value)


class PrintBatchForm(FlaskForm):
    layout = RadioField(
        "Layout",
        choices=[
            SelectChoice(Layout.SAVER.value, "Paper saver: several slips a page, to cut apart"),
            SelectChoice(Layout.SINGLE.value, "One per page: a short letter for each person"),
        ],
        default=Layout.SAVER.value,
        validators=[InputRequired()],
    )
    per_page = SelectField(
        "Slips a page (paper saver)",
        choices=[SelectChoice(n, str(n)) for n in PER_PAGE_CHOICES],
        coerce=int,
        default=10,
    )


class LettersForm(FlaskForm):
    school_id = SelectField("School", coerce=_int_or_none, validators=[Optional()])
    class_id = SelectField("Class (leave empty for the school or a grade)", coerce=_int_or_none)
    grade = StringField("Grade (with the school; empty for the whole school)",
                        validators=[Optional(), Length(max=10)])  # fmt: skip


class ReportForm(FlaskForm):
    kind = RadioField(
        "Report",
        choices=[
            SelectChoice(ReportKind.STUDENT_INFO.value, "Student Account Info: usernames, "
                         "states, sign-ins, email on file and parents linked"),
            SelectChoice(ReportKind.USER_INFO.value, "User Account Info: everyone chosen, "
                         "with their state and last delivery"),
            SelectChoice(ReportKind.CREDENTIALS.value, "User Account Credentials: new "
                         "temporary passwords and parent codes for students and parents"),
        ],
        default=ReportKind.STUDENT_INFO.value,
        validators=[InputRequired()],
    )  # fmt: skip
    # The service checks the school and class against the admin's scope (404 outside it).
    school_id = SelectField("School", coerce=_int_or_none, validate_choice=False)
    class_id = SelectField("Class", coerce=_int_or_none, validate_choice=False)
    grade = StringField("Grade", validators=[Optional(), Length(max=10)])
    role = SelectField(
        "Role",
        choices=[SelectChoice("", "Any role")]
        + [SelectChoice(r.value, r.value.capitalize()) for r in EXPORT_ROLES],
        validators=[Optional()],
    )
    state = SelectField(
        "Account state",
        choices=[SelectChoice("", "Any state")]
        + [SelectChoice(s.value, s.value.replace("_", " ").capitalize()) for s in AccountState],
        validators=[Optional()],
    )
    reset_confirmed = BooleanField(
        "I understand that the credentials report resets these people's passwords"
    )

    def validate_reset_confirmed(self, field: BooleanField) -> None:
        if self.kind.data == ReportKind.CREDENTIALS.value and not field.data:
            raise ValidationError(
                "Tick this to print credentials: it gives everyone chosen a new password."
            )
