"""My profile (``/user_details``) and the avatar images
(``/flicket/static/flicket_avatars/<name>``, Flicket's address, served by a view).

The rules are the UserService's; this module reads the form, checks the current password
against the logged-in user (never against a submitted name), and reports.
"""

import logging

from pyramid.httpexceptions import HTTPFound, HTTPNotFound
from pyramid.response import FileResponse, Response
from pyramid.security import remember
from pyramid.view import view_config

from flicket.accounts import throttle
from flicket.accounts.avatars import (
    DEFAULT_AVATAR,
    IMAGE_TYPES,
    AvatarError,
    avatar_url,
    check_image,
    default_avatar_bytes,
    get_avatar_storage,
    read_upload,
)
from flicket.accounts.forms import ProfileForm
from flicket.accounts.users import UserValidationError, notify_account_changed
from flicket.forms import invalid
from flicket.i18n import LOCALES, _, flash, localizer_for
from flicket.permissions import Permission as P
from flicket.tweens import SERVED_FILE_CSP

log = logging.getLogger(__name__)

#: Flash text for each field that changed, in the order they are shown.
CHANGE_MESSAGES = {
    "name": _("Your name was saved."),
    "email": _("Your email address was changed."),
    "job_title": _("Your job title was saved."),
    "locale": _("Your language was saved."),
    "avatar": _("Your avatar was changed."),
    "password": _("Your password was changed. Your other sessions and API tokens have ended."),
}
#: The service names the new password "password"; this form calls it "new_password".
FIELD_OF = {"password": "new_password"}
#: Image headers: never rendered as anything but an image, not even when opened directly.


def add_errors(form, errors, field_of=None):
    """Show the service's ``errors`` (field name → messages) on the form's fields."""
    field_of = field_of or {}
    for name, messages in errors.items():
        field = getattr(form, field_of.get(name, name), None)
        if field is None:
            continue
        field.errors = [*field.errors, *messages]


def _current_password_refused(request, form):
    """``(error message, status)`` when the current password is missing or wrong (429
    while the account's attempts are rate-limited), else None."""
    user = request.user
    if not form.password.data:
        return _("Enter your current password to change your email address or password."), 400
    retry_after = throttle.login_retry_after(request, user.username)
    if retry_after:
        minutes = max(1, (retry_after + 59) // 60)
        message = _(
            "Too many wrong passwords. Try again in ${minutes} minute(s).",
            mapping={"minutes": minutes},
        )
        return message, 429
    if not request.user_service.check_current_password(user, form.password.data):
        throttle.record_login_failure(request, user.username)
        log.info("profile: wrong current password: user=%s", user.id)
        return _("That is not your current password."), 400
    return None


@view_config(route_name="user_details", renderer="accounts/profile.jinja2", permission=P.VIEW)
def profile(request):
    user = request.user
    form = ProfileForm.from_request(
        request,
        name=user.name,
        email=user.email,
        job_title=user.job_title,
        locale=user.locale if user.locale in LOCALES else "en",
    )
    # Each language is named in its own language, whatever the page's language.
    form.locale.choices = list(LOCALES.items())
    values = {
        "form": form,
        "user": user,
        "avatar_src": avatar_url(request, user),
        "page_title": _("User Details"),
    }
    if request.method != "POST":
        return values
    if not form.validate():
        return invalid(request, values)

    new_password = form.new_password.data or ""
    email_changes = (form.email.data or "").strip().lower() != (user.email or "").lower()
    if new_password or email_changes:
        refused = _current_password_refused(request, form)
        if refused:
            problem, status = refused
            form.password.errors.append(problem)
            return invalid(request, values, status)

    image = None
    upload = request.POST.get("avatar")
    if getattr(upload, "filename", None):
        try:
            data = read_upload(upload)
            image = (data, check_image(data))
        except AvatarError as error:
            form.avatar.errors.append(error.message)
            return invalid(request, values)

    service = request.user_service
    old_email = user.email
    try:
        changed = service.update_user(
            user,
            actor=user,
            require_email=True,
            name=form.name.data,
            email=form.email.data,
            job_title=form.job_title.data,
            locale=form.locale.data,
            password=new_password or None,
        )
    except UserValidationError as error:
        add_errors(form, error.errors, FIELD_OF)
        return invalid(request, values)
    if image is not None:
        service.set_avatar(user, *image)
        changed.append("avatar")

    headers = []
    if "password" in changed:
        # Every session ended with the password change; this one goes on, re-issued.
        headers = remember(request, user.id)
    notify_account_changed(request, user, old_email, changed)
    if "locale" in changed:
        # The messages below are already in the language just chosen.
        request.localizer = localizer_for(request.registry, user.locale)
    for field, message in CHANGE_MESSAGES.items():
        if field in changed:
            flash(request, message, "success")
    if not changed:
        flash(request, _("Nothing was changed."), "info")
    return HTTPFound(location=request.route_url("user_details"), headers=headers)


@view_config(route_name="avatar", request_method="GET", permission=P.VIEW)
def avatar(request):
    """An avatar image, for logged-in users only, always as an image type."""
    name = request.matchdict["filename"]
    if name == DEFAULT_AVATAR:
        response = Response(body=default_avatar_bytes(), content_type="image/png")
    else:
        try:
            path = get_avatar_storage(request).path_of(name)
        except (FileNotFoundError, OSError):
            raise HTTPNotFound(_("There is no such avatar.")) from None
        content_type = IMAGE_TYPES[path.suffix.lstrip(".")]
        response = FileResponse(str(path), request=request, content_type=content_type)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = SERVED_FILE_CSP
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.content_disposition = "inline"
    return response


def includeme(config):
    # Needs ``request.user_service`` (``config.include("flicket.accounts.users")``).
    config.scan(__name__)
