"""API input: the JSON body checked against a small declared schema.

Malformed JSON, a body that is not an object, a wrong content type, a missing, unknown or
wrongly typed field, or an over-long string is refused with a clear 400/415 message before
anything is written.
"""

import json
import re
from dataclasses import dataclass

from flicket.api.errors import APIError

MAX_BODY = 64 * 1024
#: The hours range of the ticket forms (``flicket.tickets.forms.HOURS_RANGE``).
MAX_HOURS = 99_999_999
#: Control characters other than tab, newline and carriage return (PostgreSQL refuses NUL).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Field:
    name: str
    kind: type
    required: bool = True
    min_length: int = 0
    max_length: int | None = None
    nullable: bool = False


def _no_duplicates(pairs):
    body = dict(pairs)
    if len(body) != len(pairs):
        raise ValueError("duplicate key")
    return body


def _no_constants(name):
    raise ValueError(f"{name} is not JSON")


def json_body(request):
    if request.content_type.lower() != "application/json":
        raise APIError(415, "Send the body as JSON with Content-Type: application/json.")
    if request.content_length and request.content_length > MAX_BODY:
        raise APIError(413, "The body is too large.")
    if request.content_length is None and request.is_body_readable:
        # A chunked body: read no more than one byte past the limit.
        raw = request.body_file.read(MAX_BODY + 1)
    else:
        raw = request.body
    if len(raw) > MAX_BODY:
        raise APIError(413, "The body is too large.")
    try:
        # JSON is UTF-8 (RFC 8259); whatever charset the header names. NaN, Infinity and
        # repeated keys are refused; so are integers too long to parse and deep nesting.
        body = json.loads(
            raw.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constants
        )
    except (ValueError, RecursionError):
        raise APIError(400, "The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise APIError(400, "The body must be a JSON object.")
    return body


def validate(body, fields):
    """The checked values of ``body`` (absent optional fields are left out)."""
    known = {f.name: f for f in fields}
    unknown = sorted(set(body) - set(known))
    if unknown:
        raise APIError(400, f"Unknown field(s): {', '.join(unknown)}.")
    values = {}
    for field in fields:
        if field.name not in body:
            if field.required:
                raise APIError(400, f"{field.name} is required.")
            continue
        value = body[field.name]
        if value is None and field.nullable:
            values[field.name] = None
            continue
        if field.kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif field.kind is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        else:
            ok = isinstance(value, field.kind)
        if not ok:
            kind = {int: "an integer", float: "a number", str: "a string"}.get(field.kind, "valid")
            raise APIError(400, f"{field.name} must be {kind}.")
        if field.kind is int and not -(2**31) < value < 2**31:
            raise APIError(400, f"{field.name} is out of range.")
        if field.kind is float and not abs(value) <= MAX_HOURS:
            raise APIError(400, f"{field.name} must be between -{MAX_HOURS} and {MAX_HOURS}.")
        if field.kind is str:
            if _CONTROL.search(value) or not _encodable(value):
                raise APIError(400, f"{field.name} contains characters that are not allowed.")
            value = value.strip() if field.name != "content" else value
            if len(value) < field.min_length or (
                field.max_length is not None and len(value) > field.max_length
            ):
                raise APIError(
                    400,
                    f"{field.name} must be {field.min_length} to {field.max_length} characters.",
                )
        values[field.name] = value
    return values


def _encodable(text):
    """False for text with lone surrogates (valid JSON, but no database can store it)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
