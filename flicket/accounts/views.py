"""Login, logout and password reset pages."""

import logging
from urllib.parse import urlsplit

from pyramid.httpexceptions import HTTPFound
from pyramid.security import NO_PERMISSION_REQUIRED, forget, remember
from pyramid.view import view_config

from flicket.accounts import throttle
from flicket.accounts.forms import LoginForm, NewPasswordForm, ResetRequestForm
from flicket.i18n import LOCALES, _, flash, localizer_for, pluralize
from flicket.mail import send_templated_mail
from flicket.permissions import Permission
from flicket.security import client_address

log = logging.getLogger(__name__)

LOGIN_FAILED = _("Invalid username, email or password.")
#: Shown whether or not the address belongs to someone; ``${minutes}``: the link's lifetime.
RESET_SENT = _(
    "If an account uses that address, we have sent it a link to choose a new password. "
    "The link works once and expires in ${minutes} minutes."
)


def safe_next(request, target):
    """``target`` if it is a path on this site, else the home page (no open redirects)."""
    home = request.route_path("home")
    if not target or not isinstance(target, str) or len(target) > 2000:
        return home
    if any(ord(c) < 32 or c == "\\" for c in target):
        return home
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return home
    if parts.path in (request.route_path("login"), request.route_path("logout")):
        return home
    return target


def _too_many(request, retry_after, template_values):
    request.response.status_int = 429
    request.response.headers["Retry-After"] = str(retry_after)
    minutes = max(1, (retry_after + 59) // 60)
    template_values["error"] = pluralize(
        "Too many attempts. Please wait ${n} minute and try again.",
        "Too many attempts. Please wait ${n} minutes and try again.",
        minutes,
        localizer=request.localizer,
    )
    return template_values


def _log_value(text):
    """A short, single-line, escaped rendering of user input for the logs."""
    return repr((text or "")[:64])


@view_config(
    route_name="login", renderer="accounts/login.jinja2", permission=NO_PERMISSION_REQUIRED
)
def login(request):
    if request.user is not None:
        return HTTPFound(location=safe_next(request, request.params.get("next")))
    form = LoginForm.from_request(request, next=request.GET.get("next", ""))
    values = {"form": form, "error": None, "page_title": _("Log in")}
    if request.method != "POST" or not form.validate():
        return values

    login_name = form.username.data
    retry_after = throttle.login_retry_after(request, login_name)
    if retry_after:
        log.warning(
            "login rate-limited: login=%s addr=%s", _log_value(login_name), client_address(request)
        )
        return _too_many(request, retry_after, values)

    user = request.accounts.authenticate(login_name, form.password.data)
    if user is None:
        throttle.record_login_failure(request, login_name)
        log.info("login failed: login=%s addr=%s", _log_value(login_name), client_address(request))
        values["error"] = LOGIN_FAILED
        form.password.data = ""
        return values

    throttle.record_login_success(request, login_name)
    if user.locale in LOCALES:
        # This request chose its language while anonymous; what it says from now on (the
        # flash below) is for the user who just logged in.
        request.localizer = localizer_for(request.registry, user.locale)
    headers = remember(request, user.id)
    log.info("login: user=%s addr=%s", user.id, client_address(request))
    if not user.email:
        flash(request, _("Please add your email address to your profile."), "danger")
        return HTTPFound(location=request.route_url("user_details"), headers=headers)
    flash(
        request,
        _("Welcome, ${name}. You are logged in.", mapping={"name": user.name or user.username}),
        "success",
    )
    return HTTPFound(location=safe_next(request, form.next.data), headers=headers)


@view_config(
    route_name="logout",
    request_method="GET",
    renderer="accounts/logout.jinja2",
    permission=Permission.VIEW,
)
def logout_confirm(request):
    return {"page_title": _("Log out")}


@view_config(route_name="logout", request_method="POST", permission=Permission.VIEW)
def logout(request):
    user = request.user
    # Logging out ends every session and API token of this user, not only this cookie.
    request.accounts.end_all_sessions(user)
    headers = forget(request)
    log.info("logout: user=%s", user.id)
    flash(request, _("You have been logged out."), "success")
    return HTTPFound(location=request.route_url("login"), headers=headers)


@view_config(
    route_name="password_reset",
    renderer="accounts/reset_request.jinja2",
    permission=NO_PERMISSION_REQUIRED,
)
def password_reset_request(request):
    form = ResetRequestForm.from_request(request)
    values = {"form": form, "error": None, "page_title": _("Reset your password")}
    if request.method != "POST" or not form.validate():
        return values
    email = form.email.data
    retry_after = throttle.reset_retry_after(request, email)
    if retry_after:
        log.warning("password reset rate-limited: addr=%s", client_address(request))
        return _too_many(request, retry_after, values)
    throttle.record_reset_request(request, email)

    user = request.accounts.find_by_email(email)
    if user is not None and not user.disabled:
        token = request.accounts.make_reset_token(user)
        send_templated_mail(
            request,
            "password_reset",
            [user.email],
            _("Password Reset"),
            locale=user.locale,
            user=user,
            link=request.public_url("password_reset_confirm", token=token),
            minutes=request.registry.settings["flicket.reset.token_lifetime"] // 60,
        )
        log.info("password reset link sent: user=%s", user.id)
    # The same answer whether or not the address belongs to someone.
    minutes = request.registry.settings["flicket.reset.token_lifetime"] // 60
    flash(request, RESET_SENT % {"minutes": minutes}, "info")
    return HTTPFound(location=request.route_url("login"))


@view_config(
    route_name="password_reset_confirm",
    renderer="accounts/reset_confirm.jinja2",
    permission=NO_PERMISSION_REQUIRED,
)
def password_reset_confirm(request):
    user = request.accounts.user_for_reset_token(request.matchdict["token"])
    form = NewPasswordForm.from_request(request)
    values = {
        "form": form,
        "valid": user is not None,
        "problems": [],
        "page_title": _("Choose a new password"),
    }
    if user is None:
        request.response.status_int = 400
        return values
    if request.method != "POST" or not form.validate():
        return values
    problems = request.accounts.password_problems(form.password.data, user)
    if problems:
        values["problems"] = problems
        return values
    request.accounts.set_password(user, form.password.data)
    headers = forget(request)
    log.info("password reset completed: user=%s", user.id)
    flash(request, _("Your password has been changed. Please log in."), "success")
    return HTTPFound(location=request.route_url("login"), headers=headers)
