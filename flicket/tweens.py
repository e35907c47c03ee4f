"""Tweens: security headers on every response (pages, errors, redirects, static files and
API), and a 400 for a URL that is not UTF-8 (before anything else reads it)."""

import json

from pyramid.response import Response
from pyramid.tweens import INGRESS

from flicket.errors import wants_json

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)

#: For files users uploaded (attachments, avatars): nothing in them may run or load.
SERVED_FILE_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox"
STATIC_PREFIX = "/flicket/static/"
BAD_URL_MESSAGE = "The address of the request is not valid UTF-8."


def _raw_path(request):
    # The WSGI (latin-1) form of the path: reading it never fails, unlike request.path_info.
    return request.environ.get("PATH_INFO", "")


def security_headers_tween_factory(handler, registry):
    hsts = registry.settings.get("flicket.hsts")

    def security_headers_tween(request):
        response = handler(request)
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if hsts:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if not _raw_path(request).startswith(STATIC_PREFIX):
            # Pages and API answers may hold private data: never keep them in a cache.
            headers["Cache-Control"] = "no-store"
        return response

    return security_headers_tween


def _undecodable_url(request):
    try:
        request.script_name, request.path_info, request.GET  # noqa: B018 - decoding is the test
    except UnicodeDecodeError:
        return True
    return False


def _bad_url_response(request):
    """A 400 built without anything that reads the path (which would raise again)."""
    if wants_json(request):
        body = json.dumps({"error": "Bad Request", "message": BAD_URL_MESSAGE})
        return Response(body, status=400, content_type="application/json", charset="utf-8")
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>400 Bad Request'
        f"</title></head><body><h1>400 Bad Request</h1><p>{BAD_URL_MESSAGE}</p></body></html>"
    )
    return Response(page, status=400, content_type="text/html", charset="utf-8")


def bad_url_tween_factory(handler, registry):
    """A path or query string that is not UTF-8 is a 400, not an exception that escapes the
    error views (which read the path themselves) and ends as the server's bare 500."""

    def bad_url_tween(request):
        if _undecodable_url(request):
            return _bad_url_response(request)
        return handler(request)

    return bad_url_tween


def includeme(config):
    config.add_tween("flicket.tweens.security_headers_tween_factory", under=INGRESS)
    config.add_tween(
        "flicket.tweens.bad_url_tween_factory",
        under="flicket.tweens.security_headers_tween_factory",
    )
