"""Forms of the department and category pages. Lengths and uniqueness are checked by the
service (one rule for the pages and the API; it also lets an existing name shorter than
the limit be saved unchanged); the form only asks for a value and trims it."""

from wtforms import PasswordField, StringField
from wtforms.validators import InputRequired

from flicket.departments.services import NAME_MAX_LENGTH
from flicket.forms import BaseForm
from flicket.i18n import _


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _name_field(label, missing):
    return StringField(
        label,
        filters=[_strip],
        validators=[InputRequired(message=missing)],
        render_kw={"maxlength": NAME_MAX_LENGTH, "autocomplete": "off"},
    )


class DepartmentForm(BaseForm):
    department = _name_field(_("Department name"), _("Give the department a name."))


class CategoryForm(BaseForm):
    category = _name_field(_("Category name"), _("Give the category a name."))


class ConfirmPasswordForm(BaseForm):
    password = PasswordField(_("Your password"), validators=[InputRequired()])
