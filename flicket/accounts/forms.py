"""Login and password-reset forms."""

from wtforms import EmailField, HiddenField, PasswordField, StringField
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
