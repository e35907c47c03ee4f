"""Error views: HTML pages, or JSON ``{"error": ..., "message": ...}`` under /flicket-api/
and for clients that prefer JSON. Unexpected errors are logged with an incident id that
the page shows; the traceback never reaches the client.

A page shows its title and message in the reader's language (the template translates
them); a JSON body is always English (``english``), as the rest of the API."""

import logging
import uuid

from pyramid.httpexceptions import (
    HTTPBadRequest,
    HTTPConflict,
    HTTPException,
    HTTPForbidden,
    HTTPFound,
    HTTPInternalServerError,
    HTTPNotFound,
    HTTPRequestEntityTooLarge,
    HTTPServiceUnavailable,
    HTTPTooManyRequests,
)
from pyramid.renderers import render_to_response
from pyramid.view import exception_view_config, forbidden_view_config, notfound_view_config
from sqlalchemy.exc import DBAPIError, OperationalError

from flicket.api.errors import APIError
from flicket.i18n import _, english, flash
from flicket.ratelimit import StoreUnavailable
from flicket.security import client_address, is_api_request

log = logging.getLogger(__name__)

#: The HTTP reason phrases a page may show, by status (a JSON body keeps the English one).
TITLES = {
    400: _("Bad Request"),
    401: _("Unauthorized"),
    403: _("Forbidden"),
    404: _("Not Found"),
    405: _("Method Not Allowed"),
    406: _("Not Acceptable"),
    409: _("Conflict"),
    413: _("Request Entity Too Large"),
    415: _("Unsupported Media Type"),
    429: _("Too Many Requests"),
    500: _("Internal Server Error"),
    503: _("Service Unavailable"),
}
#: Pyramid's default explanations (the message of an HTTP exception raised without one).
EXPLANATIONS = {
    HTTPBadRequest.explanation: _(
        "The server could not comply with the request since it is either malformed or "
        "otherwise incorrect."
    ),
    HTTPForbidden.explanation: _("Access was denied to this resource."),
    HTTPNotFound.explanation: _("The resource could not be found."),
    HTTPConflict.explanation: _("There was a conflict when trying to complete your request."),
    HTTPRequestEntityTooLarge.explanation: _(
        "The body of your request was too large for this server."
    ),
    HTTPTooManyRequests.explanation: _(
        "The action could not be performed because there were too many requests by the client."
    ),
    HTTPInternalServerError.explanation: _(
        "The server has either erred or is incapable of performing the requested operation."
    ),
    HTTPServiceUnavailable.explanation: _(
        "The server is currently unavailable. Please try again at a later time."
    ),
}


def wants_json(request):
    """JSON for the API, and wherever JSON is liked at least as much as HTML (as Flicket)."""
    if is_api_request(request):
        return True
    quality = dict(request.accept.acceptable_offers(["text/html", "application/json"]))
    return quality.get("application/json", 0) >= quality.get("text/html", 0)


def error_response(request, status, title, message=None, headers=None):
    """The error page or JSON body. ``title`` (the reason phrase) and ``message`` may be
    messages to translate: a page shows them in the reader's language, JSON in English."""
    if wants_json(request):
        body = {"error": english(title)}
        if message:
            body["message"] = english(message)
        response = request.response
        response.status_int = status
        response.json_body = body
        response.content_type = "application/json"
    else:
        if title == TITLES.get(status):
            title = TITLES[status]
        response = render_to_response(
            "errors/error.jinja2",
            {"status": status, "error_title": title, "message": message},
            request=request,
        )
        response.status_int = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


@notfound_view_config()
def not_found(exc, request):
    return error_response(request, 404, "Not Found", _("The page or resource does not exist."))


@forbidden_view_config()
def forbidden(exc, request):
    if request.user is None:
        if is_api_request(request):
            return error_response(
                request,
                401,
                "Unauthorized",
                "A valid bearer token is required.",
                {"WWW-Authenticate": 'Bearer realm="flicket-api"'},
            )
        if request.path_info != "/":
            flash(request, _("Please log in to see this page."), "info")
        location = request.route_url("login", _query={"next": request.path_qs})
        return HTTPFound(location=location)
    log.info("forbidden: user=%s path=%r", request.user.id, request.path)
    return error_response(request, 403, "Forbidden", _("You are not allowed to do this."))


@exception_view_config(HTTPException)
def http_exception(exc, request):
    if exc.status_int < 400:
        return exc
    if exc.status_int == 400 and "CSRF" in type(exc).__name__:
        log.warning("CSRF check failed: path=%r addr=%s", request.path, client_address(request))
        message = _("The form expired or was sent from elsewhere. Reload the page and try again.")
    elif isinstance(exc.detail, str):
        message = exc.detail
    else:
        message = EXPLANATIONS.get(exc.explanation, exc.explanation)
    headers = {k: v for k, v in exc.headers.items() if k in ("Retry-After", "Allow")}
    return error_response(request, exc.status_int, exc.title, message, headers)


@exception_view_config(APIError)
def api_error(exc, request):
    return error_response(request, exc.status, exc.title, exc.message, exc.headers)


@exception_view_config(OperationalError)
@exception_view_config(StoreUnavailable)  # the shared rate-limit store (Redis) is down
def database_unavailable(exc, request):
    log.error("database error: %s", exc.__class__.__name__, exc_info=True)
    return error_response(
        request,
        503,
        "Service Unavailable",
        _("The database is not reachable just now. Please try again in a moment."),
        {"Retry-After": "5"},
    )


@exception_view_config(Exception)
def server_error(exc, request):
    incident = uuid.uuid4().hex[:12]
    log.error(
        "incident %s: unhandled %s on %s %r",
        incident,
        type(exc).__name__,
        request.method,
        request.path,
        exc_info=exc,
    )
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return database_unavailable(exc, request)
    return error_response(
        request,
        500,
        "Internal Server Error",
        _(
            "Something went wrong on our side. Incident ${incident} has been logged.",
            mapping={"incident": incident},
        ),
    )


def includeme(config):
    config.scan(__name__)
