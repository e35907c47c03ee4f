"""API tokens: ``POST /flicket-api/tokens`` (HTTP Basic) and ``DELETE`` (Bearer)."""

import base64
import logging

from pyramid.httpexceptions import HTTPNoContent
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.view import view_config

from flicket.accounts import throttle
from flicket.errors import error_response
from flicket.permissions import Permission
from flicket.security import client_address

log = logging.getLogger(__name__)


def _basic_credentials(request):
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic" or not encoded or len(encoded) > 8192:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except ValueError:
        # binascii.Error, UnicodeDecodeError, and the plain ValueError that b64decode raises
        # for a header with non-ASCII characters: all of them are bad credentials, not a 500.
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep else None


def _unauthorized(request):
    return error_response(
        request,
        401,
        "Unauthorized",
        "Valid credentials are required.",
        {"WWW-Authenticate": 'Basic realm="flicket-api"'},
    )


@view_config(
    route_name="api_tokens",
    request_method="POST",
    renderer="json",
    permission=NO_PERMISSION_REQUIRED,
)
def issue_token(request):
    credentials = _basic_credentials(request)
    if credentials is None:
        return _unauthorized(request)
    username, password = credentials
    retry_after = throttle.login_retry_after(request, username)
    if retry_after:
        return error_response(
            request,
            429,
            "Too Many Requests",
            "Too many failed attempts; try again later.",
            {"Retry-After": str(retry_after)},
        )
    # The same verifier as the login page (so the same limits and disabled-account rule).
    user = request.accounts.authenticate(username, password)
    if user is None:
        throttle.record_login_failure(request, username)
        log.info("API token refused: login=%r addr=%s", username[:64], client_address(request))
        return _unauthorized(request)
    token = request.accounts.issue_api_token(user)
    log.info("API token issued: user=%s", user.id)
    return {"token": token}


@view_config(route_name="api_tokens", request_method="DELETE", permission=Permission.VIEW)
def revoke_token(request):
    request.accounts.revoke_api_token(request.api_token)
    log.info("API token revoked: user=%s", request.user.id)
    return HTTPNoContent()
