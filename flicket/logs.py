"""Logging for operators: a request id on every line, one access line per request, and a
JSON formatter that a log collector reads without parsing rules (``production.ini``).

Each request gets an id: the proxy's ``X-Request-ID`` when it is a plain token (nginx sends
its ``$request_id``), else a new random one. It is sent back in ``X-Request-ID`` and is on
every line logged while the request runs, so one request's lines (and nginx's) can be
found together (SECURITY.rst LOG-1).
"""

import contextvars
import json
import logging
import re
import secrets
import time
from datetime import UTC, datetime

from pyramid.tweens import INGRESS

from flicket.security import client_address

REQUEST_ID_HEADER = "X-Request-ID"
#: What an incoming id may look like: a token, never text that could forge a log line.
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._-]{8,64}")
#: Routes whose path carries a credential (the reset link's token): logged as their pattern.
SECRET_PATH_ROUTES = frozenset({"password_reset_confirm"})
#: Probes ask every few seconds; their lines would bury the others at INFO.
QUIET_ROUTES = frozenset({"healthz"})

_request_id = contextvars.ContextVar("flicket_request_id", default=None)
access_log = logging.getLogger("flicket.access")

#: Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


def current_request_id():
    """The id of the request this thread is serving, or None outside a request."""
    return _request_id.get()


def _incoming_or_new_id(request):
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    if REQUEST_ID_RE.fullmatch(incoming):
        return incoming
    return secrets.token_hex(16)


def _logged_path(request):
    route = getattr(request, "matched_route", None)
    if route is not None and route.name in SECRET_PATH_ROUTES:
        return route.pattern
    # The raw WSGI path: reading it never fails, even for a URL that is not UTF-8.
    return request.environ.get("PATH_INFO", "")


def request_log_tween_factory(handler, registry):
    """Outermost tween: sets the request id, answers it, and logs the access line."""

    def request_log_tween(request):
        request_id = _incoming_or_new_id(request)
        token = _request_id.set(request_id)
        started = time.perf_counter()
        status = 500
        try:
            response = handler(request)
            status = response.status_int
            response.headers[REQUEST_ID_HEADER] = request_id
            return response
        finally:
            route = getattr(request, "matched_route", None)
            quiet = route is not None and route.name in QUIET_ROUTES
            path = _logged_path(request)
            access_log.log(
                logging.DEBUG if quiet else logging.INFO,
                "%s %s %s",
                request.method,
                path,
                status,
                extra={
                    "http_method": request.method,
                    "http_path": path,
                    "http_status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    "client": client_address(request),
                },
            )
            _request_id.reset(token)

    return request_log_tween


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request_id,
    any ``extra`` fields, and the traceback as one string. Newlines and quotes in a message
    are escaped by JSON itself, so no message can fake another line (LOG-3)."""

    def format(self, record):
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = current_request_id()
        if request_id:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The usual text lines, with the request id available as ``%(request_id)s``."""

    def format(self, record):
        record.request_id = current_request_id() or "-"
        return super().format(record)


def includeme(config):
    config.add_tween(
        "flicket.logs.request_log_tween_factory",
        under=INGRESS,
        over="flicket.tweens.security_headers_tween_factory",
    )
