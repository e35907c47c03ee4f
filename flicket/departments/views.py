"""Department and category pages (reference §3.13), with the server-side checks Flicket
lacked: only admins and super users may add, rename or delete (``DEPARTMENT_MANAGE`` on
every state-changing view and on the edit and delete pages); everyone else sees the lists.

Views are thin: the rules are in ``DepartmentService``, which raises ``DepartmentError``.
A GET never changes anything; deleting asks for the user's own password.
"""

import sqlalchemy as sa
from pyramid.httpexceptions import HTTPFound
from pyramid.view import view_config

from flicket.departments.forms import CategoryForm, ConfirmPasswordForm, DepartmentForm
from flicket.departments.resources import can_manage, category_from, department_from
from flicket.departments.services import DepartmentError
from flicket.forms import invalid, password_confirmed
from flicket.i18n import _, flash
from flicket.pagination import page_number, paginate, site_page_size
from flicket.permissions import Permission as P
from flicket.tickets.models import Ticket

LIST = "departments/list.jinja2"
CATEGORIES = "departments/categories.jinja2"
EDIT = "departments/edit.jinja2"
DELETE = "departments/delete.jinja2"


def _done(request, message, location, kind="success"):
    flash(request, message, kind)
    return HTTPFound(location=location)


def _departments_url(request):
    return request.route_url("departments")


def _categories_url(request, department_id):
    """Back to the department's categories (to the list for a category without one)."""
    if department_id is None:
        return request.route_url("departments")
    return request.route_url("categories", department_id=department_id)


# -- the list and adding a department ---------------------------------------------------------


def _list_values(request, form):
    page = paginate(
        request.dbsession,
        request.departments.departments_statement(),
        page_number(request),
        site_page_size(request),
    )
    return {
        "page": page,
        "form": form,
        "can_manage": can_manage(request),
        "page_title": _("Departments"),
    }


@view_config(route_name="departments", request_method="GET", renderer=LIST, permission=P.VIEW)
@view_config(route_name="departments_page", request_method="GET", renderer=LIST, permission=P.VIEW)
def departments(request):
    return _list_values(request, DepartmentForm.from_request(request))


@view_config(
    route_name="departments",
    request_method="POST",
    renderer=LIST,
    permission=P.DEPARTMENT_MANAGE,
)
@view_config(
    route_name="departments_page",
    request_method="POST",
    renderer=LIST,
    permission=P.DEPARTMENT_MANAGE,
)
def add_department(request):
    form = DepartmentForm.from_request(request)
    if form.validate():
        try:
            department = request.departments.add_department(form.department.data)
        except DepartmentError as error:
            form.department.errors.append(error.message)
        else:
            return _done(
                request,
                _("Department “${name}” added.", mapping={"name": department.department}),
                _departments_url(request),
            )
    return invalid(request, _list_values(request, form))


@view_config(
    route_name="department_edit",
    request_method=("GET", "POST"),
    renderer=EDIT,
    permission=P.DEPARTMENT_MANAGE,
)
def edit_department(request):
    department = department_from(request)
    old_name = department.department
    form = DepartmentForm.from_request(request, obj=department)
    values = {
        "form": form,
        "name_field": form.department,
        "what": "department",
        "old_name": old_name,
        "department": department,
        "cancel_url": request.route_path("departments"),
        "page_title": _("Rename department"),
    }
    if request.method != "POST":
        return values
    if form.validate():
        try:
            request.departments.rename_department(department, form.department.data)
        except DepartmentError as error:
            form.department.errors.append(error.message)
        else:
            return _done(
                request,
                _(
                    "Department “${old}” is now called “${new}”.",
                    mapping={"old": old_name, "new": department.department},
                ),
                _departments_url(request),
            )
    return invalid(request, values)


@view_config(
    route_name="department_delete",
    request_method=("GET", "POST"),
    renderer=DELETE,
    permission=P.DEPARTMENT_MANAGE,
)
def delete_department(request):
    department = department_from(request)
    service = request.departments
    form = ConfirmPasswordForm.from_request(request)
    problem = service.department_deletion_problem(department)
    values = {
        "form": form,
        "what": "department",
        "name": department.department,
        "department": department,
        "problem": problem,
        "cancel_url": request.route_path("departments"),
        "page_title": _("Delete department"),
    }
    if request.method != "POST":
        return values
    if problem:
        return _done(request, problem, _departments_url(request), "warning")
    if not password_confirmed(request, form):
        return invalid(request, values)
    try:
        service.delete_department(department)
    except DepartmentError as error:
        return _done(request, error.message, _departments_url(request), error.kind)
    return _done(
        request,
        _("Department “${name}” deleted.", mapping={"name": values["name"]}),
        _departments_url(request),
    )


# -- categories of one department --------------------------------------------------------------


def _categories_values(request, department, form):
    ids = [category.id for category in department.categories]
    ticket_counts = dict(
        request.dbsession.execute(
            sa.select(Ticket.category_id, sa.func.count(Ticket.id))
            .where(Ticket.category_id.in_(ids or [-1]))
            .group_by(Ticket.category_id)
        ).all()
    )
    return {
        "department": department,
        "categories": department.categories,
        "ticket_counts": ticket_counts,
        "form": form,
        "can_manage": can_manage(request),
        "page_title": _(
            "Categories of ${department}", mapping={"department": department.department}
        ),
    }


@view_config(route_name="categories", request_method="GET", renderer=CATEGORIES, permission=P.VIEW)
def categories(request):
    department = department_from(request)
    return _categories_values(request, department, CategoryForm.from_request(request))


@view_config(
    route_name="categories",
    request_method="POST",
    renderer=CATEGORIES,
    permission=P.DEPARTMENT_MANAGE,
)
def add_category(request):
    department = department_from(request)
    form = CategoryForm.from_request(request)
    if form.validate():
        try:
            category = request.departments.add_category(department, form.category.data)
        except DepartmentError as error:
            form.category.errors.append(error.message)
        else:
            return _done(
                request,
                _(
                    "Category “${name}” added to “${department}”.",
                    mapping={"name": category.category, "department": department.department},
                ),
                _categories_url(request, department.id),
            )
    return invalid(request, _categories_values(request, department, form))


@view_config(
    route_name="category_edit",
    request_method=("GET", "POST"),
    renderer=EDIT,
    permission=P.DEPARTMENT_MANAGE,
)
def edit_category(request):
    category = category_from(request)
    old_name = category.category
    form = CategoryForm.from_request(request, obj=category)
    values = {
        "form": form,
        "name_field": form.category,
        "what": "category",
        "old_name": old_name,
        "department": category.department,
        "cancel_url": _categories_url(request, category.department_id),
        "page_title": _("Rename category"),
    }
    if request.method != "POST":
        return values
    if form.validate():
        try:
            request.departments.rename_category(category, form.category.data)
        except DepartmentError as error:
            form.category.errors.append(error.message)
        else:
            return _done(
                request,
                _(
                    "Category “${old}” is now called “${new}”.",
                    mapping={"old": old_name, "new": category.category},
                ),
                _categories_url(request, category.department_id),
            )
    return invalid(request, values)


@view_config(
    route_name="category_delete",
    request_method=("GET", "POST"),
    renderer=DELETE,
    permission=P.DEPARTMENT_MANAGE,
)
def delete_category(request):
    category = category_from(request)
    service = request.departments
    department_id = category.department_id
    back = _categories_url(request, department_id)
    form = ConfirmPasswordForm.from_request(request)
    problem = service.category_deletion_problem(category)
    values = {
        "form": form,
        "what": "category",
        "name": category.category,
        "department": category.department,
        "problem": problem,
        "cancel_url": back,
        "page_title": _("Delete category"),
    }
    if request.method != "POST":
        return values
    if problem:
        return _done(request, problem, back, "warning")
    if not password_confirmed(request, form):
        return invalid(request, values)
    try:
        service.delete_category(category)
    except DepartmentError as error:
        return _done(request, error.message, back, error.kind)
    department_name = category.department.department if category.department else ""
    return _done(
        request,
        _(
            "Category “${name}” of “${department}” deleted.",
            mapping={"name": values["name"], "department": department_name},
        ),
        back,
    )
