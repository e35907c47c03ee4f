"""Finding the department or category a URL names, and who may change them.

The department routes have no factory: their context is the ``Root``, whose ACL grants
``Permission.DEPARTMENT_MANAGE`` to admins (all permissions) and to ``group:super_user``.
Views declare that permission, so an ordinary user's edit, delete or add is refused (403)
before anything is loaded; ``can_manage`` only decides what the pages show.
"""

from pyramid.httpexceptions import HTTPNotFound

from flicket.i18n import _
from flicket.params import parse_id
from flicket.permissions import Permission as P

MAX_ID_DIGITS = 12


def _id_from(request, key):
    value = parse_id(request.matchdict.get(key), MAX_ID_DIGITS)
    if value is None:
        raise HTTPNotFound()
    return value


def department_from(request):
    """The department of ``{department_id}`` with its categories, or 404."""
    department = request.departments.department(_id_from(request, "department_id"))
    if department is None:
        raise HTTPNotFound(_("There is no such department."))
    return department


def category_from(request):
    """The category of ``{category_id}`` with its department, or 404."""
    category = request.departments.category(_id_from(request, "category_id"))
    if category is None:
        raise HTTPNotFound(_("There is no such category."))
    return category


def can_manage(request):
    return bool(request.has_permission(P.DEPARTMENT_MANAGE))
