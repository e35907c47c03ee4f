"""Login, password-reset and profile forms."""

from wtforms import EmailField, FileField, HiddenField, PasswordField, SelectField, StringField
from wtforms.validators import Email, EqualTo, InputRequired, Length

from flicket.accounts.passwords import MAX_PASSWORD_LENGTH
from flicket.forms import BaseForm
from flicket.i18n import _


class LoginForm(BaseForm):
    # Flicket's field name; it takes the username or the email address.
    username = StringField(_("Username or email"), validators=[InputRequired(), Length(max=254)])
    password = PasswordField(_("Password"), validators=[InputRequired()])
    next = HiddenField()


class ResetRequestForm(BaseForm):
    email = EmailField(
        _("Email address"),
        validators=[InputRequired(), Length(max=254), Email(check_deliverability=False)],
    )


class NewPasswordForm(BaseForm):
    password = PasswordField(
        _("New password"), validators=[InputRequired(), Length(max=MAX_PASSWORD_LENGTH)]
    )
    confirm = PasswordField(
        _("Repeat the new password"),
        validators=[InputRequired(), EqualTo("password", message=_("The two passwords differ."))],
    )


class ProfileForm(BaseForm):
    """My profile (``/user_details``). The rules are the UserService's; the form only
    collects the values. There is deliberately no ``username`` field: the current password
    is always checked against the logged-in user."""

    name = StringField(_("Name"))
    email = EmailField(_("Email address"))
    job_title = StringField(_("Job title"))
    locale = SelectField(_("Language"), validators=[InputRequired()])
    avatar = FileField(_("Avatar"))
    password = PasswordField(_("Current password"), validators=[Length(max=MAX_PASSWORD_LENGTH)])
    new_password = PasswordField(_("New password"), validators=[Length(max=MAX_PASSWORD_LENGTH)])
    confirm = PasswordField(
        _("Repeat the new password"),
        validators=[EqualTo("new_password", message=_("The two new passwords differ."))],
    )
