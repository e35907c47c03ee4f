"""Form plumbing shared by every feature: WTForms fed from WebOb, CSRF left to Pyramid.

Pyramid checks the CSRF token of every unsafe request before the view runs, so the forms
themselves carry no CSRF logic; templates add the token with the ``csrf_field`` macro.
"""

from pyramid.httpexceptions import HTTPBadRequest
from wtforms import Form, MultipleFileField, SelectMultipleField

from flicket.accounts.passwords import verify_password
from flicket.i18n import _, translate


class WebObFormData:
    """WTForms wants ``getlist``; WebOb's MultiDict calls it ``getall``."""

    def __init__(self, multidict):
        self._data = multidict

    def __iter__(self):
        return iter(self._data)

    def __len__(self):
        return len(self._data)

    def __contains__(self, name):
        return name in self._data

    def getlist(self, name):
        return self._data.getall(name)


#: Fields that take several values of one name (check boxes, several files).
MULTI_VALUED = (SelectMultipleField, MultipleFileField)


def refuse_repeated_fields(form, formdata):
    """A field that takes one value but was sent twice (``title=a&title=b``) makes the
    request a 400: no rule picks one of them silently (SECURITY-TESTS VAL-5). The JSON API
    refuses duplicate keys the same way."""
    for field in form:
        if not isinstance(field, MULTI_VALUED) and len(formdata.getlist(field.name)) > 1:
            raise HTTPBadRequest()


class BaseForm(Form):
    """Labels, descriptions and messages are marked with ``_`` where the form is declared;
    ``from_request`` shows them in the request's language (WTForms' own messages, such as
    "This field is required.", come from WTForms' catalogue for that language)."""

    @classmethod
    def from_request(cls, request, **kwargs):
        formdata = WebObFormData(request.POST) if request.method == "POST" else None
        localizer = request.localizer
        form = cls(formdata, meta={"locales": [localizer.locale_name]}, **kwargs)
        if formdata is not None:
            refuse_repeated_fields(form, formdata)
        for field in form:
            field.label.text = translate(field.label.text, localizer)
            field.description = translate(field.description, localizer)
        return form


def invalid(request, values, status=400):
    """Show the form again with its errors, answering ``status``. Nothing the request wrote
    is committed: every 4xx/5xx answer is rolled back (``flicket.db.commit_veto``)."""
    request.response.status_int = status
    return values


def password_confirmed(request, form):
    """True when ``form`` is valid and its ``password`` is the logged-in user's own."""
    if not form.validate():
        return False
    if not verify_password(form.password.data, request.user.password):
        form.password.errors.append(_("That is not your password."))
        return False
    return True
