"""Helpers for the API tests: a WebTest app that checks every API answer against the OpenAPI
document, bearer-token clients for the cast, and the reference's resource key sets.

Use it from a test module with ``pytest_plugins = ["tests.api_helpers"]``; the fixtures are
``api`` (the validating app), ``api_as`` (``api_as("alice").get(...)``) and ``anonymous_api``.

The validator finds the operation of each ``/flicket-api/`` request in the document and
checks that the status is documented for it, that the body has the documented content
type and validates against the documented schema (``jsonschema``, Draft 2020-12, as
OpenAPI 3.1 says), and that the documented headers are present. A request the document does
not describe must be answered 404 or 405 with the error body.

(PYTEST_DONT_REWRITE: the test modules import this module before pytest loads it as a
plugin, so it cannot be rewritten; its assertions carry their own messages.)
"""

import json
import re
from collections import Counter

import pytest
import sqlalchemy as sa
import webtest
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from flicket import clock
from flicket.admin.models import Config
from flicket.api.openapi import document
from flicket.tickets.models import Action, History, Upload
from tests.conftest import PASSWORD, basic_auth, bearer

API = "/flicket-api"
DOC_URI = "urn:flicket:openapi"
JSON = "application/json"

#: Every key of every resource (reference §5.3, with the documented spellings; ``started_ny``
#: and ``date_added`` are kept beside ``started_by`` and ``data_added`` for old clients).
RESOURCE_KEYS = {
    "user": {"id", "avatar", "email", "job_title", "name", "username", "total_posts", "links"},
    "ticket": {
        "id",
        "assigned_id",
        "category_id",
        "content",
        "date_added",
        "date_modified",
        "modified_id",
        "started_id",
        "status_id",
        "title",
        "ticket_priority_id",
        "links",
    },
    "post": {
        "id",
        "content",
        "data_added",
        "date_added",
        "date_modified",
        "ticket_id",
        "user_id",
        "links",
    },
    "department": {"id", "department", "links"},
    "category": {"id", "category", "department", "links"},
    "department_category": {
        "department_category",
        "category_id",
        "category",
        "department_id",
        "department",
        "links",
    },
    "priority": {"id", "priority", "links"},
    "status": {"id", "status", "links"},
    "subscription": {"id", "ticket_id", "user_id", "user_def", "links"},
    "upload": {"id", "filename", "image", "original_filename", "post_id", "topic_id", "links"},
    "history": {
        "id",
        "date_modified",
        "original_content",
        "post_id",
        "topic_id",
        "user_id",
        "links",
    },
    "action": {
        "id",
        "ticket_id",
        "post_id",
        "action",
        "data",
        "user_id",
        "recipient_id",
        "date",
        "links",
    },
}
LINK_KEYS = {
    "user": {"self", "users"},
    "ticket": {
        "self",
        "assigned",
        "priority",
        "started_by",
        "started_ny",
        "modified_by",
        "category",
        "status",
        "subscribers",
        "tickets",
        "histories",
    },
    "post": {"self", "created_by", "posts"},
    "department": {"self", "departments"},
    "category": {"self", "categories", "department"},
    "department_category": {"self", "department_categories", "department", "category"},
    "priority": {"self", "priorities"},
    "status": {"self", "statuses"},
    "subscription": {"self", "subscriptions", "ticket", "user"},
    "upload": {"self", "post", "ticket", "uploads"},
    "history": {"self", "histories", "post", "ticket", "user"},
    "action": {"self", "actions"},
}
HTTP_DATE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"\d{4} \d{2}:\d{2}:\d{2} GMT$"
)


def assert_shape(item, kind):
    """``item`` has exactly the reference's keys and link keys for ``kind``."""
    assert set(item) == RESOURCE_KEYS[kind], sorted(set(item) ^ RESOURCE_KEYS[kind])
    assert set(item["links"]) == LINK_KEYS[kind], sorted(set(item["links"]) ^ LINK_KEYS[kind])


def assert_sorted_keys(text):
    """Every object in the JSON ``text`` has its keys in alphabetical order."""

    def check(pairs):
        keys = [key for key, _ in pairs]
        assert keys == sorted(keys), keys
        return dict(pairs)

    json.loads(text, object_pairs_hook=check)


# -- the validator --------------------------------------------------------------------------


class ResponseMismatch(AssertionError):
    pass


def _template_regex(template):
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile(
        "^" + "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts) + "$"
    )


class OpenAPIValidator:
    """Checks real answers against the OpenAPI document."""

    def __init__(self, doc):
        self.doc = doc
        self.registry = Registry().with_resource(DOC_URI, DRAFT202012.create_resource(doc))
        # More literal characters first, so /tickets/ wins over /tickets/{page}/ etc.
        self.templates = sorted(
            ((_template_regex(t), t) for t in doc["paths"]),
            key=lambda pair: -len(re.sub(r"\{[^}]+\}", "", pair[1])),
        )
        self.seen = Counter()

    def resolve(self, node):
        """Follow a local ``$ref`` (responses, parameters) to its object."""
        while isinstance(node, dict) and "$ref" in node:
            pointer = node["$ref"].removeprefix("#/").split("/")
            node = self.doc
            for part in pointer:
                node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def operation(self, method, path):
        """``(template, operation)`` for a request, or ``(template or None, None)``."""
        for regex, template in self.templates:
            if regex.match(path):
                return template, self.doc["paths"][template].get(method.lower())
        return None, None

    def schema_validator(self, schema):
        assert set(schema) == {"$ref"}, f"response schemas are references: {schema}"
        return Draft202012Validator(
            {"$ref": DOC_URI + schema["$ref"]},
            registry=self.registry,
            format_checker=FormatChecker(),
        )

    def check_body(self, schema, body, where):
        errors = sorted(self.schema_validator(schema).iter_errors(body), key=str)
        if errors:
            details = "\n".join(
                f"- at {'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
                for e in errors[:10]
            )
            raise ResponseMismatch(f"{where}: the body does not match the document:\n{details}")

    def validate(self, method, path, status, headers, content_type, body_bytes):
        if method.upper() == "HEAD":
            return
        template, operation = self.operation(method, path)
        where = f"{method.upper()} {path} -> {status}"
        if operation is None:
            # Not an operation of the document: only a JSON 404 or 405 is acceptable.
            if status not in (404, 405):
                raise ResponseMismatch(f"{where}: not in the document (template {template})")
            schema = {"$ref": "#/components/schemas/Error"}
            self.check_body(schema, json.loads(body_bytes), where)
            self.seen[(method.upper(), "(undocumented)", status)] += 1
            return
        responses = operation["responses"]
        definition = responses.get(str(status)) or responses.get("default")
        if definition is None:
            raise ResponseMismatch(
                f"{where}: status {status} is not documented for {method.upper()} {template} "
                f"(documented: {sorted(responses)})"
            )
        definition = self.resolve(definition)
        self.seen[(method.upper(), template, status)] += 1
        for name, spec in definition.get("headers", {}).items():
            spec = self.resolve(spec)
            value = headers.get(name)
            if spec.get("required") and value is None:
                raise ResponseMismatch(f"{where}: the documented header {name} is missing")
            if value is not None and "pattern" in spec.get("schema", {}):
                assert re.search(spec["schema"]["pattern"], value), f"{where}: {name}={value}"
        content = definition.get("content")
        if not content:
            if body_bytes:
                raise ResponseMismatch(f"{where}: documented without a body, but has one")
            return
        if content_type not in content:
            raise ResponseMismatch(
                f"{where}: content type {content_type!r} is not documented ({sorted(content)})"
            )
        try:
            body = json.loads(body_bytes)
        except ValueError as error:
            raise ResponseMismatch(f"{where}: the body is not JSON ({error})") from None
        self.check_body(content[content_type]["schema"], body, where)


_validator = None


def validator():
    """One validator for the whole run (the document does not change)."""
    global _validator
    if _validator is None:
        _validator = OpenAPIValidator(document())
    return _validator


class ValidatingTestApp(webtest.TestApp):
    """A ``webtest.TestApp`` whose every answer under /flicket-api/ is checked against the
    OpenAPI document (a mismatch fails the test that made the request)."""

    def do_request(self, req, status=None, expect_errors=None):
        response = super().do_request(req, status=status, expect_errors=expect_errors)
        path = req.path_info
        if path == API or path.startswith(API + "/"):
            validator().validate(
                req.method,
                path,
                response.status_int,
                response.headers,
                response.content_type,
                response.body,
            )
        return response


def make_api_app(wsgi_app):
    return ValidatingTestApp(
        wsgi_app, extra_environ={"HTTP_HOST": "example.com", "REMOTE_ADDR": "192.0.2.10"}
    )


def issue_token(app, username, password=PASSWORD):
    response = app.post(API + "/tokens", headers=basic_auth(username, password), status=200)
    return response.json["token"]


class ApiUser:
    """Requests with one user's bearer token (or none): ``get``, ``post_json``, ``patch_json``,
    ``post`` and ``delete`` as in WebTest, with the ``Authorization`` header added."""

    def __init__(self, app, token=None):
        self.app = app
        self.token = token
        self.headers = bearer(token) if token else {}

    def _headers(self, kw):
        return {**self.headers, **kw.pop("headers", {})}

    def get(self, url, **kw):
        return self.app.get(url, headers=self._headers(kw), **kw)

    def delete(self, url, **kw):
        return self.app.delete(url, headers=self._headers(kw), **kw)

    def post(self, url, params="", **kw):
        return self.app.post(url, params, headers=self._headers(kw), **kw)

    def post_json(self, url, params=None, **kw):
        return self.app.post_json(url, params, headers=self._headers(kw), **kw)

    def patch_json(self, url, params=None, **kw):
        return self.app.patch_json(url, params, headers=self._headers(kw), **kw)

    def request(self, url, method, **kw):
        return self.app.request(url, method=method, headers=self._headers(kw), **kw)


def assert_error(response, status, message=None):
    """The documented error body: ``{"error": <reason>, "message": ...}``."""
    assert response.status_int == status, response.text
    assert response.content_type == JSON
    assert set(response.json) <= {"error", "message"}
    assert isinstance(response.json["error"], str) and response.json["error"]
    if message is not None:
        assert message in response.json.get("message", ""), response.json


# -- data the factories do not make ------------------------------------------------------


def site_config(dbsession):
    return dbsession.scalars(sa.select(Config).order_by(Config.id)).first()


def configure(dbsession, **values):
    config = site_config(dbsession)
    for name, value in values.items():
        setattr(config, name, value)
    dbsession.flush()


def make_upload(dbsession, ticket=None, post=None, name="report.pdf"):
    number = dbsession.scalar(sa.select(sa.func.count()).select_from(Upload)) + 1
    upload = Upload(
        filename=f"stored{number:04d}.pdf",
        original_filename=name,
        topic_id=ticket.id if ticket is not None else None,
        posts_id=post.id if post is not None else None,
    )
    dbsession.add(upload)
    dbsession.flush()
    return upload


def make_history(dbsession, user, ticket=None, post=None, text="The text before the edit."):
    history = History(
        topic_id=ticket.id if ticket is not None else None,
        post_id=post.id if post is not None else None,
        user_id=user.id,
        original_content=text,
        date_modified=clock.utcnow(),
    )
    dbsession.add(history)
    dbsession.flush()
    return history


def make_action(dbsession, ticket, user, action="claim", recipient=None, data=None, post=None):
    row = Action(
        ticket_id=ticket.id,
        post_id=post.id if post is not None else None,
        action=action,
        data=data,
        user_id=user.id,
        recipient_id=recipient.id if recipient is not None else None,
        date=clock.utcnow(),
    )
    dbsession.add(row)
    dbsession.flush()
    return row


def fresh(dbsession, model, ident):
    """The row as the database has it now (the application committed in its own session)."""
    dbsession.expire_all()
    return dbsession.get(model, ident)


# -- fixtures (registered by ``pytest_plugins = ["tests.api_helpers"]``) -------------------


@pytest.fixture
def api(wsgi_app, connection):
    """The application, every API answer checked against the OpenAPI document."""
    return make_api_app(wsgi_app)


@pytest.fixture
def api_as(api, users):
    """``api_as("alice")``: a client with a fresh bearer token of that user (cached)."""
    clients = {}

    def _as(username):
        if username not in clients:
            clients[username] = ApiUser(api, issue_token(api, username))
        return clients[username]

    return _as


@pytest.fixture
def anonymous_api(api):
    return ApiUser(api)


def pytest_terminal_summary(terminalreporter):
    """How many API answers were checked, and which documented statuses no test saw."""
    if _validator is None or not _validator.seen:
        return
    seen = {(m, t, s) for (m, t, s) in _validator.seen}
    documented = set()
    for template, item in _validator.doc["paths"].items():
        for method, operation in item.items():
            for status in operation["responses"]:
                if status not in ("503", "default"):
                    documented.add((method.upper(), template, int(status)))
    terminalreporter.write_sep("-", "OpenAPI check of API answers")
    terminalreporter.write_line(
        f"{sum(_validator.seen.values())} answers checked against the document; "
        f"{len(documented & seen)} of {len(documented)} documented (operation, status) "
        "pairs seen (-v lists the others)"
    )
    if terminalreporter.verbosity > 0:
        for method, template, status in sorted(documented - seen):
            terminalreporter.write_line(f"  not seen: {method} {template} -> {status}")
