"""Error views: HTML pages, or JSON ``{"error": ..., "message": ...}`` under /flicket-api/
and for clients that prefer JSON. Unexpected errors are logged with an incident id that
the page shows; the traceback never reaches the client."""

import logging
import uuid

from pyramid.httpexceptions import HTTPException, HTTPFound
from pyramid.renderers import render_to_response
from pyramid.view import exception_view_config, forbidden_view_config, notfound_view_config
from sqlalchemy.exc import DBAPIError, OperationalError

from flicket.api.errors import APIError
from flicket.security import is_api_request

log = logging.getLogger(__name__)


def wants_json(request):
    """JSON for the API, and wherever JSON is liked at least as much as HTML (as Flicket)."""
    if is_api_request(request):
        return True
    quality = dict(request.accept.acceptable_offers(["text/html", "application/json"]))
    return quality.get("application/json", 0) >= quality.get("text/html", 0)


def error_response(request, status, title, message=None, headers=None):
    if wants_json(request):
        body = {"error": title}
        if message:
            body["message"] = message
        response = request.response
        response.status_int = status
        response.json_body = body
        response.content_type = "application/json"
    else:
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
    return error_response(request, 404, "Not Found", "The page or resource does not exist.")


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
            request.session.flash("Please log in to see this page.", "info")
        location = request.route_url("login", _query={"next": request.path_qs})
        return HTTPFound(location=location)
    log.info("forbidden: user=%s path=%r", request.user.id, request.path)
    return error_response(request, 403, "Forbidden", "You are not allowed to do this.")


@exception_view_config(HTTPException)
def http_exception(exc, request):
    if exc.status_int < 400:
        return exc
    if exc.status_int == 400 and "CSRF" in type(exc).__name__:
        log.warning("CSRF check failed: path=%r addr=%s", request.path, request.client_addr)
        message = "The form expired or was sent from elsewhere. Reload the page and try again."
    else:
        message = exc.detail if isinstance(exc.detail, str) else exc.explanation
    headers = {k: v for k, v in exc.headers.items() if k in ("Retry-After", "Allow")}
    return error_response(request, exc.status_int, exc.title, message, headers)


@exception_view_config(APIError)
def api_error(exc, request):
    return error_response(request, exc.status, exc.title, exc.message)


@exception_view_config(OperationalError)
def database_unavailable(exc, request):
    log.error("database error: %s", exc.__class__.__name__, exc_info=True)
    return error_response(
        request,
        503,
        "Service Unavailable",
        "The database is not reachable just now. Please try again in a moment.",
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
        f"Something went wrong on our side. Incident {incident} has been logged.",
    )


def includeme(config):
    config.scan(__name__)
