"""405 Method Not Allowed, with ``Allow``, for a documented API path asked with a method it
does not define (Pyramid's own answer is a 404: a route matched but no view took the method)
(SECURITY-TESTS API-7)."""

import re
from functools import cache

from pyramid.exceptions import PredicateMismatch
from pyramid.view import exception_view_config

from flicket.errors import error_response, not_found
from flicket.security import is_api_request

METHODS = ("get", "post", "put", "patch", "delete")


@cache
def _operations():
    """(path regex, the methods the document defines for it) for every documented path."""
    from flicket.api.openapi import document

    table = []
    for template, item in document()["paths"].items():
        parts = re.split(r"(\{[^}]+\})", template)
        regex = re.compile(
            "^" + "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts) + "$"
        )
        methods = [m.upper() for m in METHODS if m in item]
        if "GET" in methods:
            methods.insert(1, "HEAD")
        table.append((regex, methods))
    return table


def allowed_methods(path):
    """The methods of the documented operation at ``path``, or None."""
    for regex, methods in _operations():
        if regex.match(path):
            return methods
    return None


@exception_view_config(PredicateMismatch)
def method_not_allowed(exc, request):
    methods = allowed_methods(request.path_info) if is_api_request(request) else None
    if not methods or request.method in methods:
        return not_found(exc, request)
    return error_response(
        request, 405, "Method Not Allowed", headers={"Allow": ", ".join(methods)}
    )
