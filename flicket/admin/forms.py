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

#: The largest value an Integer column holds on every supported database.
MAX_INTEGER = 2**31 - 1
EXTENSION_RE = re.compile(r"^[a-z0-9]{1,16}$")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def strip(value):
    return value.strip() if isinstance(value, str) else value


def no_control_characters(form, field):
    if field.data and CONTROL_RE.search(field.data):
        raise ValidationError("Line breaks and control characters are not allowed here.")


def normalise_extensions(text):
    """``"TXT, .pdf ,png"`` → ``["txt", "pdf", "png"]`` (order kept, no duplicates);
    raises ValueError naming the first entry that is not a simple extension."""
    result = []
    for entry in (text or "").split(","):
        entry = entry.strip().lower()
        if not entry:
            continue  # a stray comma is harmless
        if not EXTENSION_RE.match(entry):
            raise ValueError(
                f"“{entry}” is not a simple extension. Give letters and digits only, "
                "without dots, separated by commas (for example: txt, pdf, png)."
            )
        if entry not in result:
            result.append(entry)
    if not result:
        raise ValueError("Give at least one extension, separated by commas.")
    return result


def valid_extensions(form, field):
    try:
        field.data = ", ".join(normalise_extensions(field.data))
    except ValueError as error:
        raise ValidationError(str(error)) from None
    if len(field.data) > 256:
        raise ValidationError("The list is too long: at most 256 characters.")


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
            "Give the address people use to reach Flicket, starting with http:// or "
            "https://, for example https://tickets.example.com"
        )
    try:
        parts.port  # noqa: B018 - reading it checks the port number
    except ValueError:
        raise ValidationError("The port number in this address is not valid.") from None


def valid_sender(form, field):
    if not field.data:
        return
    _, address = parseaddr(field.data)
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        raise ValidationError(
            "Give an email address, optionally with a name: Flicket <flicket@example.com>"
        ) from None


def valid_mail_password(form, field):
    if field.data and mail_password_too_long(field.data):
        raise ValidationError(
            f"The password is too long to be stored: at most {MAX_MAIL_PASSWORD_BYTES} bytes "
            "(as many plain letters and digits; accented letters count double)."
        )


class ConfigForm(BaseForm):
    # Mail
    mail_server = StringField(
        "Mail server", filters=[strip], validators=[Length(max=128), no_control_characters]
    )
    mail_port = IntegerField(
        "Mail port",
        validators=[
            InputRequired("Give the port of the mail server (usually 465, 587 or 25)."),
            NumberRange(1, 65535, "The port must be a number from 1 to 65535."),
        ],
    )
    mail_use_tls = BooleanField("Use TLS (STARTTLS)")
    mail_use_ssl = BooleanField("Use SSL")
    mail_debug = BooleanField("Mail debug output")
    mail_username = StringField(
        "Mail user name", filters=[strip], validators=[Length(max=128), no_control_characters]
    )
    mail_password = PasswordField("Mail password", validators=[valid_mail_password])
    mail_password_clear = BooleanField("Remove the stored mail password")
    mail_default_sender = StringField(
        "Default sender",
        filters=[strip],
        validators=[Length(max=128), no_control_characters, valid_sender],
    )
    mail_max_emails = IntegerField(
        "Maximum emails per connection",
        validators=[
            Optional(),
            NumberRange(1, MAX_INTEGER, "Give a whole number of at least 1, or leave empty."),
        ],
    )
    mail_suppress_send = BooleanField("Suppress sending (no email leaves Flicket)")
    mail_ascii_attachments = BooleanField("ASCII attachment names")
    # Display and files
    application_title = StringField(
        "Application title",
        filters=[strip],
        validators=[
            InputRequired("Give a title."),
            Length(3, 32, "The title must be 3 to 32 characters long."),
            no_control_characters,
        ],
    )
    posts_per_page = IntegerField(
        "Posts per page",
        validators=[
            InputRequired("Give the number of items per page."),
            NumberRange(10, 200, "Posts per page must be a number from 10 to 200."),
        ],
    )
    allowed_extensions = StringField(
        "Allowed extensions",
        filters=[strip],
        validators=[InputRequired("Give at least one extension."), valid_extensions],
    )
    ticket_upload_folder = StringField(
        "Ticket upload folder",
        filters=[strip],
        validators=[
            InputRequired("Give a folder name."),
            Length(max=256),
            no_control_characters,
        ],
    )
    base_url = StringField(
        "Base URL",
        filters=[strip],
        validators=[
            Length(max=128, message="The base URL must be at most 128 characters long."),
            valid_base_url,
        ],
    )
    # Windows domain login
    use_auth_domain = BooleanField("Use Windows domain authentication")
    auth_domain = StringField(
        "Windows domain", filters=[strip], validators=[Length(max=64), no_control_characters]
    )
    # Export and features
    csv_dump_limit = IntegerField(
        "CSV export row limit",
        validators=[
            InputRequired("Give the largest number of rows a CSV export may hold."),
            NumberRange(1, MAX_INTEGER, "The limit must be a whole number of at least 1."),
        ],
    )
    change_category = BooleanField("Allow changing a ticket's department and category")
    change_category_only_admin_or_super_user = BooleanField(
        "Only administrators and super users may change them"
    )

    def validate_mail_use_ssl(self, field):
        if field.data and self.mail_use_tls.data:
            raise ValidationError(
                "Choose SSL (usually port 465) or TLS (STARTTLS, usually port 587), not both."
            )

    def validate_mail_password_clear(self, field):
        if field.data and self.mail_password.data:
            raise ValidationError("Either give a new password or remove the stored one.")


class SendTestEmailForm(BaseForm):
    email_address = EmailField(
        "Send a test email to",
        filters=[strip],
        validators=[
            InputRequired("Give an email address."),
            Length(max=254),
            Email("This is not a valid email address.", check_deliverability=False),
        ],
    )


class CheckboxList(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class UserForm(BaseForm):
    """Add a user (reference §4.1); the rules are checked by ``UserService``."""

    username = StringField("Username", filters=[strip])
    name = StringField("Name", filters=[strip])
    email = EmailField("Email address", filters=[strip])
    job_title = StringField("Job title", filters=[strip])
    locale = SelectField("Language")
    groups = CheckboxList("Groups", coerce=int)
    disabled = BooleanField("Disabled (cannot log in)")
    password = PasswordField("Password", validators=[Length(max=MAX_PASSWORD_LENGTH)])
    confirm = PasswordField(
        "Repeat the password",
        validators=[EqualTo("password", message="The two passwords differ.")],
    )


class EditUserForm(UserForm):
    password = PasswordField("New password", validators=[Length(max=MAX_PASSWORD_LENGTH)])


class GroupForm(BaseForm):
    group_name = StringField("Group name", filters=[strip])


class ConfirmPasswordForm(BaseForm):
    password = PasswordField("Your password", validators=[InputRequired("Enter your password.")])
