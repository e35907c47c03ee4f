"""Forms of the ticket pages. Choices (categories, statuses, priorities) are filled in by
``bind_choices`` from the database for each request."""

import re

from wtforms import (
    DecimalField,
    MultipleFileField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from flicket.forms import BaseForm
from flicket.i18n import _, label, translate

TITLE_LIMITS = Length(min=3, max=128, message=_("The title must be 3 to 128 characters long."))
CONTENT_LIMITS = Length(min=5, max=5000, message=_("The text must be 5 to 5000 characters long."))
HOURS_RANGE = NumberRange(
    min=-99999999, max=99999999, message=_("Hours must be a number such as 1.5.")
)


#: NUL and the other C0 controls but tab, line feed and carriage return, DEL, and lone
#: surrogates: no database stores them all (PostgreSQL refuses NUL, MariaDB and sqlite3
#: surrogates) and no reader can see them.
NOT_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
LINE_BREAKS = re.compile(r"[\r\n]")


def single_line(form, field):
    """A title is one line of visible text."""
    if isinstance(field.data, str) and (
        NOT_TEXT.search(field.data) or LINE_BREAKS.search(field.data)
    ):
        raise ValidationError(_("Line breaks and control characters are not allowed here."))


def visible_text(form, field):
    """Text may hold line breaks and tabs, but no other control character."""
    if isinstance(field.data, str) and NOT_TEXT.search(field.data):
        raise ValidationError(_("The text contains control characters, which are not allowed."))


def strip_text(value):
    """Surrounding white space is not part of a title (and a blank title is too short)."""
    return value.strip() if isinstance(value, str) else value


def not_blank(form, field):
    """Text made of white space only is no text (it would pass the length check)."""
    if isinstance(field.data, str) and not field.data.strip():
        raise ValidationError(_("The text cannot be only white space."))


class HoursField(DecimalField):
    def __init__(self, label=_("Hours"), **kwargs):
        super().__init__(
            label,
            places=2,
            default=0,
            validators=[Optional(), HOURS_RANGE],
            render_kw={"inputmode": "decimal", "step": "0.01"},
            **kwargs,
        )


class CheckboxList(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def chosen_files(field):
    """The files really chosen in a file field (browsers send an empty part for none)."""
    return [item for item in (field.data or []) if getattr(item, "filename", None)]


class TicketForm(BaseForm):
    title = StringField(
        _("Title"),
        validators=[InputRequired(), TITLE_LIMITS, single_line],
        filters=[strip_text],
    )
    content = TextAreaField(
        _("Content"), validators=[InputRequired(), CONTENT_LIMITS, not_blank, visible_text]
    )
    priority = SelectField(_("Priority"), coerce=int, validators=[InputRequired()])
    department = SelectField(_("Department"), coerce=str, validate_choice=False)
    category = SelectField(_("Category"), coerce=int, validators=[InputRequired()])
    hours = HoursField()
    file = MultipleFileField(_("Attachments"))


class EditTicketForm(TicketForm):
    remove_uploads = CheckboxList(_("Remove these attachments"), coerce=int)


class ReplyForm(BaseForm):
    content = TextAreaField(
        _("Your reply"), validators=[InputRequired(), CONTENT_LIMITS, not_blank, visible_text]
    )
    status = SelectField(_("Status"), coerce=int, validators=[InputRequired()])
    priority = SelectField(_("Priority"), coerce=int, validators=[InputRequired()])
    hours = HoursField()
    file = MultipleFileField(_("Attachments"))


class EditPostForm(ReplyForm):
    content = TextAreaField(
        _("Reply"), validators=[InputRequired(), CONTENT_LIMITS, not_blank, visible_text]
    )
    remove_uploads = CheckboxList(_("Remove these attachments"), coerce=int)


class UsernameForm(BaseForm):
    username = StringField(
        _("Username"),
        validators=[
            InputRequired(),
            Length(max=24, message=_("A username has at most 24 characters.")),
        ],
        render_kw={"autocomplete": "off"},
    )


class CategoryForm(BaseForm):
    department = SelectField(_("Department"), coerce=str, validate_choice=False)
    category = SelectField(_("Category"), coerce=int, validators=[InputRequired()])


class ConfirmPasswordForm(BaseForm):
    password = PasswordField(_("Your password"), validators=[InputRequired()])


def bind_choices(form, service, *, with_closed=False):
    """Fill the select fields of ``form`` from the database (one query per kind).

    Seeded status and priority names are shown in the request's language (``label``);
    ``names`` keeps each choice's name as stored, for code that looks one up by name."""
    if hasattr(form, "priority"):
        priorities = service.priorities()
        form.priority.names = {p.id: p.priority for p in priorities}
        form.priority.choices = [(p.id, label(p.priority)) for p in priorities]
    if hasattr(form, "status"):
        statuses = [s for s in service.statuses() if with_closed or s.status != "Closed"]
        form.status.names = {s.id: s.status for s in statuses}
        form.status.choices = [(s.id, label(s.status)) for s in statuses]
    if hasattr(form, "category"):
        categories = service.categories()
        departments = {}
        for c in categories:
            departments.setdefault(c.department.id, c.department.department)
        form.category.choices = [(c.id, c.category) for c in categories]
        form.category.departments = {c.id: c.department.id for c in categories}
        form.category.labels = {
            c.id: f"{c.department.department} - {c.category}" for c in categories
        }
        all_departments = translate(_("All departments"), service.request.localizer)
        form.department.choices = [("", all_departments)] + [
            (str(i), name) for i, name in departments.items()
        ]
    return form
