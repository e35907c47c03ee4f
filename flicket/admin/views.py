"""The admin panel (``/flicket_admin/``): configuration, test email, users and groups.

Every view needs ``Permission.ADMIN``, which only the ``flicket_admin`` group holds (the
Root ACL); others get 403 and anonymous visitors the login page. Views are thin: the rules
for users and groups are ``UserService``'s, the configuration's are in ``forms.py`` and
``services.py``.
"""

import logging

from pyramid.httpexceptions import HTTPFound, HTTPNotFound
from pyramid.security import remember
from pyramid.view import view_config

from flicket.accounts.models import Group, User
from flicket.accounts.profile import add_errors
from flicket.accounts.users import (
    PROTECTED_GROUPS,
    UserRefused,
    UserValidationError,
    listing,
    notify_account_changed,
)
from flicket.admin.forms import (
    ConfigForm,
    ConfirmPasswordForm,
    EditUserForm,
    GroupForm,
    SendTestEmailForm,
    UserForm,
)
from flicket.admin.services import CONFIG_FIELDS, send_test_email, update_config
from flicket.forms import invalid, password_confirmed
from flicket.i18n import LOCALES, _, flash
from flicket.pagination import page_number, paginate, site_page_size
from flicket.params import parse_id
from flicket.permissions import Permission as P

log = logging.getLogger(__name__)

USER_FIELD_LABELS = {
    "username": _("username"),
    "name": _("name"),
    "email": _("email address"),
    "job_title": _("job title"),
    "locale": _("language"),
    "disabled": _("disabled"),
    "groups": _("groups"),
    "password": _("password"),
}
#: The 404 message of each kind of row named by ``?id=N``.
NOT_FOUND = {User: _("There is no such user."), Group: _("There is no such group.")}


def _from_query(request, model):
    """The ``model`` row named by ``?id=N``; 404 for a missing, bad or unknown id."""
    row_id = parse_id(request.GET.get("id"))
    if row_id is None:
        raise HTTPNotFound(NOT_FOUND[model])
    row = request.dbsession.get(model, row_id)
    if row is None:
        raise HTTPNotFound(NOT_FOUND[model])
    return row


# -- home, configuration, test email -----------------------------------------------------------


@view_config(route_name="admin_home", renderer="admin/home.jinja2", permission=P.ADMIN)
def admin_home(request):
    return {"page_title": _("Admin Home")}


@view_config(route_name="admin_config", renderer="admin/config.jinja2", permission=P.ADMIN)
def admin_config(request):
    config = request.flicket_config
    if config is None:
        raise HTTPNotFound(_("There is no configuration yet: run flicket-setup first."))
    is_post = request.method == "POST"
    form = ConfigForm.from_request(request, obj=None if is_post else config)
    if not is_post:
        form.mail_password.data = ""  # write-only: the stored value is never shown
    values = {
        "form": form,
        "has_mail_password": bool(config.mail_password),
        "upload_dir": str(request.uploads.directory),
        "page_title": _("Flicket Config"),
    }
    if not is_post:
        return values
    if not form.validate():
        return invalid(request, values)
    changed = update_config(
        request.registry.settings,
        config,
        {name: getattr(form, name).data for name in CONFIG_FIELDS},
        new_mail_password=form.mail_password.data or None,
        clear_mail_password=form.mail_password_clear.data,
    )
    if changed:
        log.info("config changed: by=%s fields=%s", request.user.id, ",".join(changed))
        flash(request, _("The configuration was saved."), "success")
    else:
        flash(request, _("Nothing was changed."), "info")
    return HTTPFound(location=request.route_url("admin_config"))


@view_config(route_name="admin_test_email", renderer="admin/test_email.jinja2", permission=P.ADMIN)
def admin_test_email(request):
    form = SendTestEmailForm.from_request(request)
    if request.method != "POST" and request.user.email:
        form.email_address.data = request.user.email
    values = {"form": form, "page_title": _("Test Email")}
    if request.method != "POST":
        return values
    if not form.validate():
        return invalid(request, values)
    sent, message = send_test_email(request, form.email_address.data)
    if sent:
        flash(request, message, "success")
        flash(
            request,
            _("If it does not arrive, check the mail settings on the Flicket Config page."),
            "warning",
        )
    else:
        flash(request, message, "danger")
    return HTTPFound(location=request.route_url("admin_test_email"))


# -- users --------------------------------------------------------------------------------------


@view_config(route_name="admin_users", renderer="admin/users.jinja2", permission=P.ADMIN)
@view_config(route_name="admin_users_page", renderer="admin/users.jinja2", permission=P.ADMIN)
def admin_users(request):
    page = paginate(
        request.dbsession,
        request.user_service.users_page_statement(),
        page_number(request),
        site_page_size(request),
    )
    return {
        "page": page,
        "page_url": lambda n: request.route_path("admin_users_page", page=n),
        "page_title": _("Users"),
    }


def _bind_user_choices(form, groups):
    # Each language is named in its own language, whatever the page's language.
    form.locale.choices = list(LOCALES.items())
    form.groups.choices = [(g.id, g.group_name) for g in groups]
    return form


def _chosen_groups(form, groups):
    chosen = set(form.groups.data or [])
    return [g for g in groups if g.id in chosen]


@view_config(route_name="admin_add_user", renderer="admin/user_form.jinja2", permission=P.ADMIN)
def admin_add_user(request):
    service = request.user_service
    groups = service.groups()
    form = _bind_user_choices(UserForm.from_request(request, locale="en"), groups)
    values = {"form": form, "target": None, "page_title": _("Add User")}
    if request.method != "POST":
        return values
    if not form.validate():
        return invalid(request, values)
    try:
        user = service.create_user(
            username=form.username.data,
            name=form.name.data,
            email=form.email.data,
            password=form.password.data,
            job_title=form.job_title.data,
            locale=form.locale.data,
            disabled=form.disabled.data,
            groups=_chosen_groups(form, groups),
        )
    except UserValidationError as error:
        add_errors(form, error.errors)
        return invalid(request, values)
    log.info("admin added user: user=%s by=%s", user.id, request.user.id)
    flash(
        request,
        _("The user ${username} was added.", mapping={"username": user.username}),
        "success",
    )
    return HTTPFound(location=request.route_url("admin_users"))


@view_config(route_name="admin_edit_user", renderer="admin/user_form.jinja2", permission=P.ADMIN)
def admin_edit_user(request):
    user = _from_query(request, User)
    service = request.user_service
    groups = service.groups()
    initial = {}
    if request.method != "POST":
        initial = {
            "username": user.username,
            "name": user.name,
            "email": user.email,
            "job_title": user.job_title,
            "locale": user.locale if user.locale in LOCALES else "en",
            "groups": [g.id for g in user.groups],
            "disabled": bool(user.disabled),
        }
    form = _bind_user_choices(EditUserForm.from_request(request, **initial), groups)
    values = {
        "form": form,
        "target": user,
        "is_last_admin": service.is_last_admin(user),
        "page_title": _("Edit User"),
    }
    if request.method != "POST":
        return values
    if not form.validate():
        return invalid(request, values)
    old_email = user.email
    try:
        changed = service.update_user(
            user,
            actor=request.user,
            username=form.username.data,
            name=form.name.data,
            email=form.email.data,
            job_title=form.job_title.data,
            locale=form.locale.data,
            disabled=form.disabled.data,
            groups=_chosen_groups(form, groups),
            password=form.password.data or None,
        )
    except UserValidationError as error:
        add_errors(form, error.errors)
        return invalid(request, values)
    headers = []
    if "password" in changed and user.id == request.user.id:
        headers = remember(request, user.id)  # the admin's own session goes on
    notify_account_changed(request, user, old_email, changed)
    if changed:
        labels = listing(USER_FIELD_LABELS[field] for field in changed)
        flash(
            request,
            _(
                "Saved the ${fields} of ${username}.",
                mapping={"fields": labels, "username": user.username},
            ),
            "success",
        )
        if ("password" in changed or "disabled" in changed and user.disabled) and (
            user.id != request.user.id
        ):
            flash(
                request,
                _(
                    "All sessions and API tokens of ${username} have ended.",
                    mapping={"username": user.username},
                ),
                "info",
            )
    else:
        flash(request, _("Nothing was changed."), "info")
    return HTTPFound(
        location=request.route_url("admin_edit_user", _query={"id": user.id}), headers=headers
    )


@view_config(
    route_name="admin_delete_user", renderer="admin/delete_user.jinja2", permission=P.ADMIN
)
def admin_delete_user(request):
    user = _from_query(request, User)
    service = request.user_service
    form = ConfirmPasswordForm.from_request(request)
    values = {
        "form": form,
        "target": user,
        "problem": service.delete_problem(user, request.user),
        "page_title": _("Delete User"),
    }
    if values["problem"] is not None:
        return invalid(request, values, 409) if request.method == "POST" else values
    if request.method != "POST":
        return values
    if not password_confirmed(request, form):
        return invalid(request, values)
    username = user.username
    try:
        service.delete_user(user, request.user)
    except UserRefused as refusal:
        values["problem"] = refusal
        return invalid(request, values, 409)
    flash(
        request, _("The user ${username} was deleted.", mapping={"username": username}), "success"
    )
    return HTTPFound(location=request.route_url("admin_users"))


# -- groups -------------------------------------------------------------------------------------


@view_config(route_name="admin_groups", renderer="admin/groups.jinja2", permission=P.ADMIN)
def admin_groups(request):
    service = request.user_service
    form = GroupForm.from_request(request)
    values = {
        "form": form,
        "groups": service.groups(),
        "member_counts": service.member_counts(),
        "protected": PROTECTED_GROUPS,
        "page_title": _("Groups"),
    }
    if request.method != "POST":
        return values
    if not form.validate():
        return invalid(request, values)
    try:
        group = service.create_group(form.group_name.data)
    except UserValidationError as error:
        add_errors(form, error.errors)
        return invalid(request, values)
    flash(
        request, _("The group ${group} was added.", mapping={"group": group.group_name}), "success"
    )
    return HTTPFound(location=request.route_url("admin_groups"))


@view_config(route_name="admin_edit_group", renderer="admin/edit_group.jinja2", permission=P.ADMIN)
def admin_edit_group(request):
    group = _from_query(request, Group)
    service = request.user_service
    initial = {} if request.method == "POST" else {"group_name": group.group_name}
    form = GroupForm.from_request(request, **initial)
    values = {
        "form": form,
        "group": group,
        "protected": service.is_protected_group(group),
        "page_title": _("Edit Group"),
    }
    if request.method != "POST":
        return values
    if values["protected"]:
        return invalid(request, values, 409)
    if not form.validate():
        return invalid(request, values)
    try:
        service.rename_group(group, form.group_name.data)
    except UserValidationError as error:
        add_errors(form, error.errors)
        return invalid(request, values)
    except UserRefused:
        return invalid(request, values, 409)
    flash(
        request,
        _("The group was renamed to ${group}.", mapping={"group": group.group_name}),
        "success",
    )
    return HTTPFound(location=request.route_url("admin_groups"))


@view_config(
    route_name="admin_delete_group", renderer="admin/delete_group.jinja2", permission=P.ADMIN
)
def admin_delete_group(request):
    group = _from_query(request, Group)
    service = request.user_service
    form = ConfirmPasswordForm.from_request(request)
    values = {
        "form": form,
        "group": group,
        "protected": service.is_protected_group(group),
        "members": service.member_counts().get(group.id, 0),
        "page_title": _("Delete Group"),
    }
    if values["protected"]:
        return invalid(request, values, 409) if request.method == "POST" else values
    if request.method != "POST":
        return values
    if not password_confirmed(request, form):
        return invalid(request, values)
    name = group.group_name
    service.delete_group(group)
    flash(request, _("The group ${group} was deleted.", mapping={"group": name}), "success")
    return HTTPFound(location=request.route_url("admin_groups"))
