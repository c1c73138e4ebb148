"""Print forms: they check shape; the print flow checks rules."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

from webapp.printing.slips import PER_PAGE_CHOICES, Layout


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
