"""Admin forms: they check shape; services check rules."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from webapp.roster import FORMATS

FORMAT_LABELS = {
    "auto": "Detect from the file",
    "oneroster-1.1": "OneRoster 1.1",
    "oneroster-1.2": "OneRoster 1.2",
    "clever": "Clever",
    "sds-2.1": "Microsoft SDS v2.1",
    "sds-uk": "Microsoft SDS (UK format)",
    "csv": "Spreadsheet (CSV with my own columns)",
}
MODE_LABELS = {
    "add-update": "Add new people and update existing ones",
    "add": "Only add new people",
    "update": "Only update people already in Keyslip",
}
PASSWORD_LABELS = {
    "keep": "Keep passwords as they are",
    "set": "Set passwords from the file's password column",
}
SEND_LABELS = {
    "none": "Send nothing now",
    "email": "Email new accounts their credentials",
    "sms": "Text new accounts a set-password link (SMS)",
    "print": "Prepare printed slips for new accounts",
}


class ImportUploadForm(FlaskForm):
    file = FileField("Roster file (.csv or .zip)", validators=[FileRequired("Choose a file.")])
    format = SelectField(
        "Format",
        choices=[SelectChoice(k, FORMAT_LABELS[k]) for k in ("auto", *FORMATS)],
        default="auto",
    )
    mode = SelectField(
        "What to do",
        choices=[SelectChoice(k, v) for k, v in MODE_LABELS.items()],
        default="add-update",
    )
    complete = BooleanField("This file is the complete roster (spreadsheets)")
    no_header = BooleanField("The first row is data: the file has no header row (spreadsheets)")
    school_id = SelectField("School", coerce=lambda v: int(v) if v else None, default=None)
    date_order = SelectField(
        "Dates such as 03/04/2025 are written",
        choices=[
            SelectChoice("", "Ask me if the file does not make it clear"),
            SelectChoice("DMY", "Day first (3 April 2025)"),
            SelectChoice("MDY", "Month first (March 4, 2025)"),
        ],
        default="",
    )
    username_template = StringField(
        "Username pattern",
        default="{first}.{last}",
        validators=[DataRequired(), Length(max=60)],
    )
    passwords = SelectField(
        "Passwords",
        choices=[SelectChoice(k, v) for k, v in PASSWORD_LABELS.items()],
        default="keep",
    )
    send = SelectField(
        "Send credentials to new accounts",
        choices=[SelectChoice(k, v) for k, v in SEND_LABELS.items()],
        default="none",
    )


class SchoolForm(FlaskForm):
    name = StringField(
        "Name", validators=[DataRequired("Give the school a name."), Length(max=200)]
    )
    sis_id = StringField("SIS id", validators=[Optional(), Length(max=255)])


class ApplyForm(FlaskForm):
    confirm_deactivation = BooleanField("I confirm these removals")
    skip_errors = BooleanField("Apply the rest")


class CreateSchoolsForm(FlaskForm):
    create_schools = BooleanField("Create the schools named in the file that Keyslip does not have")


class DateOrderForm(FlaskForm):
    date_order = RadioField(
        "How are the dates written?",
        choices=[SelectChoice("DMY", "Day first"), SelectChoice("MDY", "Month first")],
        validators=[InputRequired("Choose day/month or month/day.")],
    )
