"""Sign-in and password forms: they check shape; services check rules."""

from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length


class SignInForm(FlaskForm):
    identifier = StringField("Username or email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


class NewPasswordForm(FlaskForm):
    new_password = PasswordField("New password", validators=[DataRequired(), Length(max=1024)])
    confirm = PasswordField(
        "Type the new password again",
        validators=[DataRequired(), EqualTo("new_password", message="The two passwords differ.")],
    )


class ChangePasswordForm(NewPasswordForm):
    current_password = PasswordField(
        "Current password", validators=[DataRequired(), Length(max=1024)]
    )


class ForgotPasswordForm(FlaskForm):
    identifier = StringField("Username or email", validators=[DataRequired(), Length(max=254)])


class PinRecoveryForm(NewPasswordForm):
    username = StringField("Your username", validators=[DataRequired(), Length(max=150)])
    pin = StringField("The PIN your parent sees", validators=[DataRequired(), Length(max=40)])
