"""Family forms: they check shape; webapp/family checks the rules."""

from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from webapp.auth.forms import NewPasswordForm

_CODE = [DataRequired(), Length(max=40)]


class ParentRegisterForm(NewPasswordForm):
    code = StringField("Parent code", validators=_CODE)
    given_name = StringField("First name", validators=[DataRequired(), Length(max=100)])
    family_name = StringField("Last name", validators=[DataRequired(), Length(max=100)])
    email = StringField("Email address", validators=[DataRequired(), Length(max=254)])


class AddChildForm(FlaskForm):
    code = StringField("Parent code", validators=_CODE)


class ContactForm(FlaskForm):
    email = StringField("Email address", validators=[Length(max=254)])
    phone = StringField("Mobile phone", validators=[Length(max=40)])
    current_password = PasswordField(
        "Your current password", validators=[DataRequired(), Length(max=1024)]
    )
