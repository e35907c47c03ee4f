"""The OpenAPI document at /flicket-api/openapi.json: public, a valid OpenAPI 3.1 document,
describing exactly the API's routes and methods, with the reference's exact resource shapes
and every error response; and the response validator the API suites rely on really
refuses answers that do not match it (PRODUCT §4; SECURITY-TESTS API-9).
"""

import json
import re

import pytest
from jsonschema import Draft202012Validator
from schemathesis.specs.openapi.definitions import OPENAPI_31

from flicket.api.openapi import PAGES, RESOURCES, document
from tests.api_helpers import (
    LINK_KEYS,
    RESOURCE_KEYS,
    OpenAPIValidator,
    ResponseMismatch,
    configure,
)

pytest_plugins = ["tests.api_helpers"]

A = "/flicket-api"
SCHEMA_OF_KIND = {
    "user": "User",
    "ticket": "Ticket",
    "post": "Post",
    "department": "Department",
    "category": "Category",
    "department_category": "DepartmentCategory",
    "priority": "Priority",
    "status": "Status",
    "subscription": "Subscription",
    "upload": "Upload",
    "history": "History",
    "action": "Action",
}
METHODS = {"get", "post", "patch", "delete", "put"}


@pytest.fixture(scope="module")
def doc():
    return document()


def operations(doc):
    for template, item in doc["paths"].items():
        for method, operation in item.items():
            yield template, method, operation


def node_ref_parts(ref):
    return ref.removeprefix("#/").split("/")


def deref(doc, node):
    """Follow local ``$ref``s to the object."""
    while isinstance(node, dict) and "$ref" in node:
        target = doc
        for part in node_ref_parts(node["$ref"]):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


# -- served, public, and the same as the code's -----------------------------------------------


def test_served_without_a_token(api, users):
    response = api.get(f"{A}/openapi.json", status=200)
    assert response.content_type == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    served = response.json
    assert served["servers"] == [{"url": "http://example.com"}]
    expected = document()
    expected["servers"] = served["servers"]
    assert served == expected


def test_the_server_follows_base_url_or_the_host(api, dbsession, users):
    configure(dbsession, base_url="https://desk.example.org/")
    servers = api.get(f"{A}/openapi.json").json["servers"]
    assert servers == [{"url": "https://desk.example.org"}]
    configure(dbsession, base_url="")
    servers = api.get(f"{A}/openapi.json", extra_environ={"HTTP_HOST": "x.example.net"}).json
    assert servers["servers"] == [{"url": "http://x.example.net"}]


def test_is_a_valid_openapi_3_1_document(doc):
    validator = Draft202012Validator(OPENAPI_31)
    errors = sorted(validator.iter_errors(json.loads(json.dumps(doc))), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]
    assert doc["openapi"] == "3.1.0"


def test_every_schema_is_a_valid_json_schema(doc):
    for schema in doc["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def test_every_reference_resolves(doc):
    refs = re.findall(r'"\$ref": "([^"]+)"', json.dumps(doc))
    assert refs
    for ref in set(refs):
        assert ref.startswith("#/"), ref
        deref(doc, {"$ref": ref})  # raises KeyError when it does not


def test_operation_ids_are_unique(doc):
    ids = [operation["operationId"] for _t, _m, operation in operations(doc)]
    assert len(ids) == len(set(ids))


# -- the document and the application describe the same API -----------------------------------


def api_views(registry):
    """(path template, method) of every view under /flicket-api/."""
    patterns = {
        e["introspectable"]["name"]: e["introspectable"]["pattern"]
        for e in registry.introspector.get_category("routes")
    }
    found = set()
    for entry in registry.introspector.get_category("views"):
        intr = entry["introspectable"]
        route = intr["route_name"]
        if route is None or not patterns[route].startswith(A):
            continue
        methods = intr["request_methods"]
        methods = (methods,) if isinstance(methods, str) else methods
        assert methods, f"{route} accepts any method"
        template = re.sub(r"\{(\w+):[^}]*\}", r"{\1}", patterns[route])
        for method in methods:
            if method != "HEAD":
                found.add((template, method.lower()))
    return found


def test_every_api_view_is_documented_and_every_operation_exists(registry, doc):
    views = api_views(registry)
    documented = {(template, method) for template, method, _op in operations(doc)}
    assert views - documented == set(), "views missing from the document"
    assert documented - views == set(), "operations without a view"
    assert len(documented) > 50


def test_path_parameters_are_declared(doc):
    for template, method, operation in operations(doc):
        in_path = set(re.findall(r"\{(\w+)\}", template))
        declared = {
            deref(doc, p)["name"]
            for p in operation.get("parameters", [])
            if deref(doc, p)["in"] == "path"
        }
        assert in_path == declared, f"{method} {template}"


# -- shapes: exactly the reference's keys ------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(SCHEMA_OF_KIND))
def test_resource_schemas_are_exactly_the_reference_shapes(doc, kind):
    schema = doc["components"]["schemas"][SCHEMA_OF_KIND[kind]]
    assert set(schema["properties"]) == RESOURCE_KEYS[kind]
    assert set(schema["required"]) == RESOURCE_KEYS[kind]
    assert schema["additionalProperties"] is False
    links = schema["properties"]["links"]
    assert set(links["properties"]) == set(links["required"]) == LINK_KEYS[kind]
    assert links["additionalProperties"] is False


def test_every_resource_has_a_page_schema_in_the_envelope(doc):
    schemas = doc["components"]["schemas"]
    assert set(PAGES.values()) == set(RESOURCES)
    for page, item in PAGES.items():
        schema = schemas[page]
        assert set(schema["required"]) == {"items", "_meta", "_links"}
        assert schema["additionalProperties"] is False
        assert schema["properties"]["items"]["items"] == {"$ref": f"#/components/schemas/{item}"}
    assert set(schemas["PageMeta"]["required"]) == {
        "page",
        "per_page",
        "total_pages",
        "total_items",
    }
    assert set(schemas["PageLinks"]["required"]) == {"self", "next", "prev"}
    assert schemas["Error"]["required"] == ["error"]
    assert set(schemas["Error"]["properties"]) == {"error", "message"}


# -- security and error responses --------------------------------------------------------------


def test_security_schemes(doc):
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["basic"] == {**schemes["basic"], "type": "http", "scheme": "basic"}
    assert doc["security"] == [{"bearer": []}]
    assert doc["paths"][f"{A}/tokens"]["post"]["security"] == [{"basic": []}]
    assert doc["paths"][f"{A}/openapi.json"]["get"]["security"] == []


def test_every_operation_documents_its_errors(doc):
    for template, method, operation in operations(doc):
        where = f"{method.upper()} {template}"
        statuses = set(operation["responses"])
        assert any(s.startswith("2") for s in statuses), where
        if operation.get("security") != []:
            assert "401" in statuses, where
            unauthorized = deref(doc, operation["responses"]["401"])
            assert unauthorized["headers"]["WWW-Authenticate"]["required"] is True
        if "requestBody" in operation:
            assert {"400", "413", "415"} <= statuses, where
            schema = operation["requestBody"]["content"]["application/json"]["schema"]
            assert deref(doc, schema)["additionalProperties"] is False, where
        if re.search(r"\{(id|ticket_id)\}", template):
            assert "404" in statuses, where
        if operation["operationId"].startswith("list"):
            assert {"400", "404"} <= statuses, where
        for status, response in operation["responses"].items():
            response = deref(doc, response)
            if status >= "400":
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, where
            if status == "201":
                assert response["headers"]["Location"]["required"] is True, where


def test_writes_that_can_meet_a_state_refusal_document_409(doc):
    for template, method, operation in operations(doc):
        if template.startswith(f"{A}/ticket/{{id}}") and method in ("post", "patch"):
            assert "409" in operation["responses"], f"{method} {template}"
    assert "403" in doc["paths"][f"{A}/departments"]["post"]["responses"]
    assert "403" in doc["paths"][f"{A}/categories"]["post"]["responses"]


# -- the validator refuses what does not match -----------------------------------------------


@pytest.fixture(scope="module")
def checker(doc):
    return OpenAPIValidator(doc)


def good_status_body():
    return {
        "id": 1,
        "status": "Open",
        "links": {
            "self": "http://example.com/flicket-api/status/1",
            "statuses": "http://example.com/flicket-api/statuses/",
        },
    }


def check(
    checker,
    body,
    status=200,
    path=f"{A}/status/1",
    method="GET",
    headers=None,
    content_type="application/json",
):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    checker.validate(method, path, status, headers or {}, content_type, raw)


def test_the_validator_accepts_a_good_answer(checker):
    check(checker, good_status_body())


@pytest.mark.parametrize(
    "spoil",
    [
        lambda b: b.update(extra=1),
        lambda b: b.pop("status"),
        lambda b: b.update(id="1"),
        lambda b: b["links"].update(self="/flicket-api/status/1"),
        lambda b: b["links"].pop("statuses"),
        lambda b: b["links"].update(started_ny=None),
    ],
)
def test_the_validator_refuses_a_wrong_shape(checker, spoil):
    body = good_status_body()
    spoil(body)
    with pytest.raises(ResponseMismatch):
        check(checker, body)


def test_the_validator_refuses_undocumented_statuses_types_and_paths(checker):
    with pytest.raises(ResponseMismatch, match="not documented"):
        check(checker, {"error": "I'm a teapot"}, status=418)
    with pytest.raises(ResponseMismatch, match="content type"):
        check(checker, good_status_body(), content_type="text/html")
    with pytest.raises(ResponseMismatch, match="not JSON"):
        check(checker, b"<html>", status=200)
    with pytest.raises(ResponseMismatch, match="not in the document"):
        check(checker, good_status_body(), path=f"{A}/statuz/1")
    with pytest.raises(ResponseMismatch, match="without a body"):
        check(checker, b"{}", status=204, path=f"{A}/tokens", method="DELETE")


def test_the_validator_checks_documented_headers(checker):
    ticket_body = {"error": "Unauthorized"}
    with pytest.raises(ResponseMismatch, match="WWW-Authenticate"):
        check(checker, ticket_body, status=401, path=f"{A}/tickets/")
    check(
        checker,
        ticket_body,
        status=401,
        path=f"{A}/tickets/",
        headers={"WWW-Authenticate": 'Bearer realm="flicket-api"'},
    )


def test_the_validator_refuses_an_http_date_that_is_not_one(checker):
    body = {
        "id": 1,
        "content": "x",
        "data_added": "2019-06-30T14:15:37",
        "date_added": "Sun, 30 Jun 2019 14:15:37 GMT",
        "date_modified": None,
        "ticket_id": 1,
        "user_id": 1,
        "links": {
            "self": "http://example.com/flicket-api/post/1",
            "created_by": None,
            "posts": "http://example.com/flicket-api/posts/1/",
        },
    }
    with pytest.raises(ResponseMismatch, match="data_added"):
        check(checker, body, path=f"{A}/post/1")
    body["data_added"] = body["date_added"]
    check(checker, body, path=f"{A}/post/1")


# -- links and examples ------------------------------------------------------------------------


def test_links_name_real_operations_and_parameters(doc):
    by_id = {operation["operationId"]: operation for _t, _m, operation in operations(doc)}
    links = 0
    for template, method, operation in operations(doc):
        for response in operation["responses"].values():
            for name, link in deref(doc, response).get("links", {}).items():
                target = by_id[link["operationId"]]
                declared = {deref(doc, p)["name"] for p in target.get("parameters", [])}
                assert set(link["parameters"]) <= declared, f"{method} {template} {name}"
                for expression in link["parameters"].values():
                    assert expression.startswith("$response.body#/"), expression
                links += 1
    assert links >= 10


def test_examples_are_valid_bodies(doc):
    examples = 0
    for name, schema in doc["components"]["schemas"].items():
        for example in schema.get("examples", []):
            validator = Draft202012Validator(
                {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
            )
            assert not list(validator.iter_errors(example)), (name, example)
            examples += 1
    assert examples >= 6


def test_the_examples_work_on_a_new_site(api_as, doc):
    """The documented examples are real requests that succeed on a freshly set-up site."""
    schemas = doc["components"]["schemas"]
    client = api_as("admin")
    ticket = client.post_json(f"{A}/tickets", schemas["NewTicket"]["examples"][0], status=201)
    target = f"{A}/ticket/{ticket.json['id']}"
    client.post_json(f"{target}/replies", schemas["NewReply"]["examples"][0], status=201)
    for example in schemas["TicketChange"]["examples"]:
        client.patch_json(target, example, status=200)
    client.post_json(f"{target}/assign", schemas["Assignee"]["examples"][0], status=200)
    client.post_json(f"{A}/departments", schemas["NewDepartment"]["examples"][0], status=201)
    client.post_json(f"{A}/categories", schemas["NewCategory"]["examples"][0], status=201)
