"""Login, password-reset and profile forms."""

from wtforms import EmailField, FileField, HiddenField, PasswordField, SelectField, StringField
from wtforms.validators import Email, EqualTo, InputRequired, Length

from flicket.accounts.passwords import MAX_PASSWORD_LENGTH
from flicket.forms import BaseForm


class LoginForm(BaseForm):
    # Flicket's field name; it takes the username or the email address.
    username = StringField("Username or email", validators=[InputRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[InputRequired()])
    next = HiddenField()


class ResetRequestForm(BaseForm):
    email = EmailField(
        "Email address",
        validators=[InputRequired(), Length(max=254), Email(check_deliverability=False)],
    )


class NewPasswordForm(BaseForm):
    password = PasswordField(
        "New password", validators=[InputRequired(), Length(max=MAX_PASSWORD_LENGTH)]
    )
    confirm = PasswordField(
        "Repeat the new password",
        validators=[InputRequired(), EqualTo("password", message="The two passwords differ.")],
    )


class ProfileForm(BaseForm):
    """My profile (``/user_details``). The rules are the UserService's; the form only
    collects the values. There is deliberately no ``username`` field: the current password
    is always checked against the logged-in user."""

    name = StringField("Name")
    email = EmailField("Email address")
    job_title = StringField("Job title")
    locale = SelectField("Language", validators=[InputRequired()])
    avatar = FileField("Avatar")
    password = PasswordField("Current password", validators=[Length(max=MAX_PASSWORD_LENGTH)])
    new_password = PasswordField("New password", validators=[Length(max=MAX_PASSWORD_LENGTH)])
    confirm = PasswordField(
        "Repeat the new password",
        validators=[EqualTo("new_password", message="The two new passwords differ.")],
    )
