"""Forms of the admin panel.

The configuration form holds the rules of reference §4.2 (with Flicket's bugs fixed). The
user and group forms only collect values: their rules live in ``UserService``, which the
admin pages, the profile, the API and the import command share.
"""

import re
from email.utils import parseaddr
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from wtforms import (
    BooleanField,
    EmailField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import (
    Email,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from flicket.accounts.passwords import MAX_PASSWORD_LENGTH
from flicket.admin.services import MAX_MAIL_PASSWORD_BYTES, mail_password_too_long
from flicket.forms import BaseForm
from flicket.i18n import _, english

#: The largest value an Integer column holds on every supported database.
MAX_INTEGER = 2**31 - 1
EXTENSION_RE = re.compile(r"^[a-z0-9]{1,16}$")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


class ExtensionsError(ValueError):
    """A list of extensions was refused; ``message`` (to translate) says why."""

    def __init__(self, message):
        super().__init__(english(message))
        self.message = message


def strip(value):
    return value.strip() if isinstance(value, str) else value


def no_control_characters(form, field):
    if field.data and CONTROL_RE.search(field.data):
        raise ValidationError(_("Line breaks and control characters are not allowed here."))


def normalise_extensions(text):
    """``"TXT, .pdf ,png"`` → ``["txt", "pdf", "png"]`` (order kept, no duplicates);
    raises ExtensionsError naming the first entry that is not a simple extension."""
    result = []
    for entry in (text or "").split(","):
        entry = entry.strip().lower()
        if not entry:
            continue  # a stray comma is harmless
        if not EXTENSION_RE.match(entry):
            raise ExtensionsError(
                _(
                    "“${entry}” is not a simple extension. Give letters and digits only, "
                    "without dots, separated by commas (for example: txt, pdf, png).",
                    mapping={"entry": entry},
                )
            )
        if entry not in result:
            result.append(entry)
    if not result:
        raise ExtensionsError(_("Give at least one extension, separated by commas."))
    return result


def valid_extensions(form, field):
    try:
        field.data = ", ".join(normalise_extensions(field.data))
    except ExtensionsError as error:
        raise ValidationError(error.message) from None
    if len(field.data) > 256:
        raise ValidationError(_("The list is too long: at most 256 characters."))


def valid_base_url(form, field):
    if not field.data:
        return
    parts = urlsplit(field.data)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(c.isspace() for c in field.data)
        or "@" in parts.netloc
        or parts.query
        or parts.fragment
    ):
        raise ValidationError(
            _(
                "Give the address people use to reach Flicket, starting with http:// or "
                "https://, for example https://tickets.example.com"
            )
        )
    try:
        parts.port  # noqa: B018 - reading it checks the port number
    except ValueError:
        raise ValidationError(_("The port number in this address is not valid.")) from None


def valid_sender(form, field):
    if not field.data:
        return
    _name, address = parseaddr(field.data)
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        raise ValidationError(
            _("Give an email address, optionally with a name: Flicket <flicket@example.com>")
        ) from None


def valid_mail_password(form, field):
    if field.data and mail_password_too_long(field.data):
        raise ValidationError(
            _(
                "The password is too long to be stored: at most ${max} bytes "
                "(as many plain letters and digits; accented letters count double).",
                mapping={"max": MAX_MAIL_PASSWORD_BYTES},
            )
        )


class ConfigForm(BaseForm):
    # Mail
    mail_server = StringField(
        _("Mail server"), filters=[strip], validators=[Length(max=128), no_control_characters]
    )
    mail_port = IntegerField(
        _("Mail port"),
        validators=[
            InputRequired(_("Give the port of the mail server (usually 465, 587 or 25).")),
            NumberRange(1, 65535, _("The port must be a number from 1 to 65535.")),
        ],
    )
    mail_use_tls = BooleanField(_("Use TLS (STARTTLS)"))
    mail_use_ssl = BooleanField(_("Use SSL"))
    mail_debug = BooleanField(_("Mail debug output"))
    mail_username = StringField(
        _("Mail user name"), filters=[strip], validators=[Length(max=128), no_control_characters]
    )
    mail_password = PasswordField(_("Mail password"), validators=[valid_mail_password])
    mail_password_clear = BooleanField(_("Remove the stored mail password"))
    mail_default_sender = StringField(
        _("Default sender"),
        filters=[strip],
        validators=[Length(max=128), no_control_characters, valid_sender],
    )
    mail_max_emails = IntegerField(
        _("Maximum emails per connection"),
        validators=[
            Optional(),
            NumberRange(1, MAX_INTEGER, _("Give a whole number of at least 1, or leave empty.")),
        ],
    )
    mail_suppress_send = BooleanField(_("Suppress sending (no email leaves Flicket)"))
    mail_ascii_attachments = BooleanField(_("ASCII attachment names"))
    # Display and files
    application_title = StringField(
        _("Application title"),
        filters=[strip],
        validators=[
            InputRequired(_("Give a title.")),
            Length(3, 32, _("The title must be 3 to 32 characters long.")),
            no_control_characters,
        ],
    )
    posts_per_page = IntegerField(
        _("Posts per page"),
        validators=[
            InputRequired(_("Give the number of items per page.")),
            NumberRange(10, 200, _("Posts per page must be a number from 10 to 200.")),
        ],
    )
    allowed_extensions = StringField(
        _("Allowed extensions"),
        filters=[strip],
        validators=[InputRequired(_("Give at least one extension.")), valid_extensions],
    )
    ticket_upload_folder = StringField(
        _("Ticket upload folder"),
        filters=[strip],
        validators=[
            InputRequired(_("Give a folder name.")),
            Length(max=256),
            no_control_characters,
        ],
    )
    base_url = StringField(
        _("Base URL"),
        filters=[strip],
        validators=[
            Length(max=128, message=_("The base URL must be at most 128 characters long.")),
            valid_base_url,
        ],
    )
    # Windows domain login
    use_auth_domain = BooleanField(_("Use Windows domain authentication"))
    auth_domain = StringField(
        _("Windows domain"), filters=[strip], validators=[Length(max=64), no_control_characters]
    )
    # Export and features
    csv_dump_limit = IntegerField(
        _("CSV export row limit"),
        validators=[
            InputRequired(_("Give the largest number of rows a CSV export may hold.")),
            NumberRange(1, MAX_INTEGER, _("The limit must be a whole number of at least 1.")),
        ],
    )
    change_category = BooleanField(_("Allow changing a ticket's department and category"))
    change_category_only_admin_or_super_user = BooleanField(
        _("Only administrators and super users may change them")
    )

    def validate_mail_use_ssl(self, field):
        if field.data and self.mail_use_tls.data:
            raise ValidationError(
                _("Choose SSL (usually port 465) or TLS (STARTTLS, usually port 587), not both.")
            )

    def validate_mail_password_clear(self, field):
        if field.data and self.mail_password.data:
            raise ValidationError(_("Either give a new password or remove the stored one."))


class SendTestEmailForm(BaseForm):
    email_address = EmailField(
        _("Send a test email to"),
        filters=[strip],
        validators=[
            InputRequired(_("Give an email address.")),
            Length(max=254),
            Email(_("This is not a valid email address."), check_deliverability=False),
        ],
    )


class CheckboxList(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class UserForm(BaseForm):
    """Add a user (reference §4.1); the rules are checked by ``UserService``."""

    username = StringField(_("Username"), filters=[strip])
    name = StringField(_("Name"), filters=[strip])
    email = EmailField(_("Email address"), filters=[strip])
    job_title = StringField(_("Job title"), filters=[strip])
    locale = SelectField(_("Language"))
    groups = CheckboxList(_("Groups"), coerce=int)
    disabled = BooleanField(_("Disabled (cannot log in)"))
    password = PasswordField(_("Password"), validators=[Length(max=MAX_PASSWORD_LENGTH)])
    confirm = PasswordField(
        _("Repeat the password"),
        validators=[EqualTo("password", message=_("The two passwords differ."))],
    )


class EditUserForm(UserForm):
    password = PasswordField(_("New password"), validators=[Length(max=MAX_PASSWORD_LENGTH)])


class GroupForm(BaseForm):
    group_name = StringField(_("Group name"), filters=[strip])


class ConfirmPasswordForm(BaseForm):
    password = PasswordField(
        _("Your password"), validators=[InputRequired(_("Enter your password."))]
    )
