"""Form plumbing shared by every feature: WTForms fed from WebOb, CSRF left to Pyramid.

Pyramid checks the CSRF token of every unsafe request before the view runs, so the forms
themselves carry no CSRF logic; templates add the token with the ``csrf_field`` macro.
"""

from wtforms import Form


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


class BaseForm(Form):
    @classmethod
    def from_request(cls, request, **kwargs):
        formdata = WebObFormData(request.POST) if request.method == "POST" else None
        return cls(formdata, **kwargs)
