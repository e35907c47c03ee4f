"""The OpenAPI 3.1 document of the JSON API, served at ``/flicket-api/openapi.json``.

It describes every endpoint, parameter, request body, response and error of
``flicket.api.views`` and ``flicket.accounts.api``: the exact resource shapes of reference
§5.3 (every key required, no other key allowed), the paged envelope, the error body and the
two security schemes (HTTP Basic for ``POST /tokens``, a bearer token everywhere else).

The tests keep it true: every response the API test suite receives is validated against
it, and CI runs schemathesis against a live server with it.
"""

import copy
from functools import cache

from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.view import view_config

from flicket import __version__
from flicket.api.collections import MAX_PER_PAGE
from flicket.api.schemas import MAX_BODY, MAX_HOURS
from flicket.departments.services import NAME_MAX_LENGTH, NAME_MIN_LENGTH
from flicket.tickets.lists import SORT_KEYS

API = "/flicket-api"
MAX_ID = 2**31 - 1
#: Ids in URLs and query strings have at most nine digits (``flicket.params.parse_id``).
MAX_URL_NUMBER = 999_999_999

# -- small builders ------------------------------------------------------------------------


def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema):
    """``schema`` or null (OpenAPI 3.1 / JSON Schema 2020-12)."""
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    return {**schema, "type": [schema["type"], "null"]}


def exact(properties, description=None, required=None, examples=None):
    """An object with exactly these keys (all of them present unless ``required`` says)."""
    schema = {
        "type": "object",
        "properties": properties,
        "required": sorted(properties if required is None else required),
        "additionalProperties": False,
    }
    if description:
        schema["description"] = description
    if examples:
        schema["examples"] = examples
    return schema


INTEGER = {"type": "integer"}
ID = {"type": "integer", "minimum": 1}
STRING = {"type": "string"}
URL = {"type": "string", "format": "uri", "pattern": "^https?://"}
HTTP_DATE = {
    "type": "string",
    "description": "An HTTP-date (RFC 9110), in UTC, e.g. `Sun, 30 Jun 2019 14:15:37 GMT`.",
    "pattern": (
        r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
        r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
        r"[0-9]{2}:[0-9]{2}:[0-9]{2} GMT$"
    ),
}


def links(required, optional=()):
    """A ``links`` object: absolute URLs; the ``optional`` ones are null when unset."""
    properties = {name: URL for name in required}
    properties.update({name: nullable(URL) for name in optional})
    return exact(properties)


# -- resources (reference §5.3) --------------------------------------------------------------

RESOURCES = {
    "User": exact(
        {
            "id": ID,
            "avatar": URL,
            "email": nullable(
                {
                    "type": "string",
                    "description": "null for a disabled account, except for administrators.",
                }
            ),
            "job_title": {"type": "string", "description": '"unknown" when empty.'},
            "name": nullable(STRING),
            "username": nullable(STRING),
            "total_posts": INTEGER,
            "links": links(["self", "users"]),
        },
        "A user (reference §5.3).",
    ),
    "Ticket": exact(
        {
            "id": ID,
            "assigned_id": nullable(INTEGER),
            "category_id": nullable(INTEGER),
            "content": nullable(STRING),
            "date_added": nullable(HTTP_DATE),
            "date_modified": nullable(HTTP_DATE),
            "modified_id": nullable(INTEGER),
            "started_id": nullable(INTEGER),
            "status_id": nullable(INTEGER),
            "title": nullable(STRING),
            "ticket_priority_id": nullable(INTEGER),
            "links": links(
                ["self", "subscribers", "tickets", "histories"],
                [
                    "assigned",
                    "priority",
                    "started_by",
                    "started_ny",
                    "modified_by",
                    "category",
                    "status",
                ],
            ),
        },
        "A ticket. `links.started_by` is the documented key; `links.started_ny` (Flicket "
        "0.3.5's spelling) carries the same value for old clients.",
    ),
    "Post": exact(
        {
            "id": ID,
            "content": nullable(STRING),
            "data_added": nullable(HTTP_DATE),
            "date_added": nullable(HTTP_DATE),
            "date_modified": nullable(HTTP_DATE),
            "ticket_id": nullable(INTEGER),
            "user_id": nullable(INTEGER),
            "links": links(["self", "posts"], ["created_by"]),
        },
        "A reply. `data_added` is the documented key (sic); `date_added` is the same value.",
    ),
    "Department": exact(
        {"id": ID, "department": nullable(STRING), "links": links(["self", "departments"])},
        "A department.",
    ),
    "Category": exact(
        {
            "id": ID,
            "category": nullable(STRING),
            "department": nullable({"type": "string", "description": "The department's name."}),
            "links": links(["self", "categories"], ["department"]),
        },
        "A category.",
    ),
    "DepartmentCategory": exact(
        {
            "department_category": {"type": "string", "description": '"Department / Category"'},
            "category_id": ID,
            "category": nullable(STRING),
            "department_id": nullable(INTEGER),
            "department": nullable(STRING),
            "links": links(["self", "department_categories", "category"], ["department"]),
        },
        "A category seen with its department.",
    ),
    "Priority": exact(
        {"id": ID, "priority": nullable(STRING), "links": links(["self", "priorities"])},
        "A ticket priority.",
    ),
    "Status": exact(
        {"id": ID, "status": nullable(STRING), "links": links(["self", "statuses"])},
        "A ticket status.",
    ),
    "Subscription": exact(
        {
            "id": ID,
            "ticket_id": nullable(INTEGER),
            "user_id": nullable(INTEGER),
            "user_def": nullable({"type": "string", "description": "The subscriber's name."}),
            "links": links(["self", "subscriptions"], ["ticket", "user"]),
        },
        "A user's subscription to a ticket.",
    ),
    "Upload": exact(
        {
            "id": ID,
            "filename": nullable(STRING),
            "image": URL,
            "original_filename": nullable(STRING),
            "post_id": nullable(INTEGER),
            "topic_id": nullable(INTEGER),
            "links": links(["self", "uploads"], ["post", "ticket"]),
        },
        "An attachment. `image` is its download address (login required).",
    ),
    "History": exact(
        {
            "id": ID,
            "date_modified": nullable(HTTP_DATE),
            "original_content": nullable(STRING),
            "post_id": nullable(INTEGER),
            "topic_id": nullable(INTEGER),
            "user_id": nullable(INTEGER),
            "links": links(["self", "histories"], ["post", "ticket", "user"]),
        },
        "The text of a ticket or reply before an edit.",
    ),
    "Action": exact(
        {
            "id": ID,
            "ticket_id": nullable(INTEGER),
            "post_id": nullable(INTEGER),
            "action": nullable(STRING),
            "data": {"type": ["object", "null"], "description": "Details of the action."},
            "user_id": nullable(INTEGER),
            "recipient_id": nullable(INTEGER),
            "date": nullable(HTTP_DATE),
            "links": links(["self"], ["actions"]),
        },
        "Something done to a ticket (claimed, assigned, closed, status changed...).",
    ),
}

#: Collection schema name -> resource schema name.
PAGES = {f"{name}Page": name for name in RESOURCES}

COMMON_SCHEMAS = {
    "Error": exact(
        {
            "error": {"type": "string", "description": "The HTTP reason phrase."},
            "message": {"type": "string", "description": "What was wrong, for people."},
        },
        "Every error answer.",
        required=["error"],
    ),
    "PageMeta": exact(
        {
            "page": {"type": "integer", "minimum": 1},
            "per_page": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
            "total_pages": {"type": "integer", "minimum": 0},
            "total_items": {"type": "integer", "minimum": 0},
        }
    ),
    "PageLinks": exact(
        {"self": URL, "next": nullable(URL), "prev": nullable(URL)},
        "This page, and the next and previous ones (null at the ends); filters are kept.",
    ),
    "Token": exact({"token": {"type": "string", "minLength": 32}}, "A new API token."),
    "OpenAPIDocument": {"type": "object", "required": ["openapi", "paths"]},
}


def page_schema(item):
    return exact(
        {
            "items": {"type": "array", "items": ref(item)},
            "_meta": ref("PageMeta"),
            "_links": ref("PageLinks"),
        },
        f"One page of {item} resources.",
    )


# -- request bodies ----------------------------------------------------------------------------

#: Text may hold tabs and line breaks, but no other control character.
TEXT_PATTERN = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f]*$"
#: Names hold no control character at all (Unicode category Cc).
NAME_PATTERN = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
TITLE = {
    "type": "string",
    "minLength": 3,
    "maxLength": 128,
    "pattern": TEXT_PATTERN,
    "description": "3 to 128 characters once surrounding white space is trimmed.",
}
CONTENT = {
    "type": "string",
    "minLength": 5,
    "maxLength": 5000,
    "pattern": TEXT_PATTERN,
    "description": "Markdown, 5 to 5000 characters.",
}
HOURS = {
    "type": "number",
    "minimum": -MAX_HOURS,
    "maximum": MAX_HOURS,
    "description": "Hours worked (kept to two decimals); 0 when left out.",
}
BODY_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
NAME = {
    "type": "string",
    "minLength": NAME_MIN_LENGTH,
    "maxLength": NAME_MAX_LENGTH,
    "pattern": NAME_PATTERN,
    "description": f"{NAME_MIN_LENGTH} to {NAME_MAX_LENGTH} characters once trimmed, "
    "no control characters, unique (case-insensitively).",
}
WHO = {
    "type": "object",
    "properties": {
        "user_id": BODY_ID,
        "username": {
            "type": "string",
            "minLength": 1,
            "maxLength": 24,
            "pattern": NAME_PATTERN,
        },
    },
    "minProperties": 1,
    "additionalProperties": False,
    "description": "The user, by `user_id` or by exact `username` (`user_id` wins).",
    "examples": [{"username": "admin"}, {"user_id": 1}],
}

BODIES = {
    "NewTicket": exact(
        {
            "title": TITLE,
            "content": CONTENT,
            "category_id": BODY_ID,
            "ticket_priority_id": BODY_ID,
            "hours": HOURS,
        },
        "A new ticket; its creator is subscribed to it.",
        required=["title", "content", "category_id", "ticket_priority_id"],
        examples=[
            {
                "title": "The printer on floor 2 jams",
                "content": "It jams on every **second** page.",
                "category_id": 1,
                "ticket_priority_id": 1,
                "hours": 0.5,
            }
        ],
    ),
    "NewReply": exact(
        {
            "content": CONTENT,
            "hours": HOURS,
            "status_id": {**BODY_ID, "description": "A new status, other than Closed."},
            "ticket_priority_id": {**BODY_ID, "description": "A new priority."},
        },
        "A reply; a reply to a closed ticket reopens it unless it sets a status.",
        required=["content"],
        examples=[{"content": "Have you tried turning it off and on again?", "hours": 0.25}],
    ),
    "TicketChange": {
        **exact(
            {
                "status_id": {
                    **BODY_ID,
                    "description": "Closed needs the close permission (creator, assignee, "
                    "administrator); any other status, the reply permission.",
                },
                "ticket_priority_id": BODY_ID,
                "category_id": {
                    **BODY_ID,
                    "description": "Allowed when the site lets this user change categories.",
                },
            },
            "What to change; a value the ticket already has is left as it is.",
            required=[],
        ),
        "minProperties": 1,
        "examples": [{"ticket_priority_id": 3}, {"status_id": 3, "ticket_priority_id": 1}],
    },
    "Assignee": WHO,
    "Subscriber": WHO,
    "NewDepartment": exact(
        {"department": NAME}, "A new department.", examples=[{"department": "Facilities"}]
    ),
    "NewCategory": exact(
        {"category": NAME, "department_id": BODY_ID},
        "A new category in a department.",
        examples=[{"category": "Lifts", "department_id": 1}],
    ),
}

# -- parameters --------------------------------------------------------------------------------


def path_id(name="id", what="resource"):
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": f"The {what}'s id.",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_URL_NUMBER},
    }


def query(name, schema, description):
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


QUERY_ID = {"type": "integer", "minimum": 0, "maximum": MAX_URL_NUMBER}
PARAMETERS = {
    "PagePath": {
        "name": "page",
        "in": "path",
        "required": True,
        "description": "The page number (from 1).",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_URL_NUMBER},
    },
    "PageQuery": query(
        "page",
        {"type": "integer", "minimum": 1, "maximum": MAX_URL_NUMBER},
        "The page number (from 1); a page past the last one is a 404.",
    ),
    "PerPage": query(
        "per_page",
        {"type": "integer", "minimum": 1, "maximum": MAX_URL_NUMBER},
        f"Items per page: the site's posts_per_page by default, at most {MAX_PER_PAGE} "
        "(larger values are taken as that).",
    ),
}


def param_ref(name):
    return {"$ref": f"#/components/parameters/{name}"}


# -- responses ---------------------------------------------------------------------------------

JSON = "application/json"


def json_content(schema):
    return {JSON: {"schema": schema}}


def header(description, schema=STRING, required=True):
    return {"description": description, "required": required, "schema": schema}


ERRORS = {
    "400": (
        "BadRequest",
        "Bad input: malformed JSON, a missing, unknown, mistyped or too "
        "long field, an id that names nothing, or a bad query parameter.",
    ),
    "401": (
        "Unauthorized",
        "No valid credentials (a missing, unknown, expired or revoked "
        "token, or a disabled account).",
    ),
    "403": ("Forbidden", "The user may not do this."),
    "404": ("NotFound", "No such resource, or a page past the last one."),
    "409": ("Conflict", "The ticket's state does not allow it (e.g. already closed)."),
    "413": ("PayloadTooLarge", f"The body is larger than {MAX_BODY // 1024} KiB."),
    "415": ("UnsupportedMediaType", "The body is not sent as application/json."),
    "429": (
        "TooManyRequests",
        "Too many attempts, or a per-user limit reached; wait Retry-After seconds.",
    ),
    "503": ("ServiceUnavailable", "The database is not reachable; try again shortly."),
}


def error_response(status):
    name, description = ERRORS[status]
    response = {"description": description, "content": json_content(ref("Error"))}
    if status == "401":
        response["headers"] = {
            "WWW-Authenticate": header("The scheme to authenticate with (Bearer or Basic).")
        }
    if status in ("429", "503"):
        response["headers"] = {"Retry-After": header("Seconds to wait.")}
    return response


RESPONSES = {name: error_response(status) for status, (name, _) in ERRORS.items()}


def responses(ok_status, ok, *errors):
    answer = {ok_status: ok}
    for status in (*errors, "503"):
        answer[status] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
    return answer


def ok(schema_name, description):
    return {"description": description, "content": json_content(ref(schema_name))}


def created(schema_name, description):
    return {
        "description": description,
        "headers": {"Location": header("The new resource's absolute URL.", URL)},
        "content": json_content(ref(schema_name)),
    }


def body(schema_name, description=None):
    request_body = {"required": True, "content": json_content(ref(schema_name))}
    if description:
        request_body["description"] = description
    return request_body


# -- operations --------------------------------------------------------------------------------


def get_one(tag, resource, what, summary=None, id_name="id"):
    return {
        "tags": [tag],
        "operationId": f"get{resource}",
        "summary": summary or f"One {what}",
        "parameters": [path_id(id_name, what)],
        "responses": responses("200", ok(resource, f"The {what}."), "401", "404"),
    }


def list_paths(
    name,
    path,
    tag,
    resource,
    summary,
    filters=(),
    path_paged=True,
    prefix_params=(),
    page_path=True,
    unknown_parent=False,
    description=None,
):
    """The list at ``path`` and, when ``page_path``, at ``path + "{page}/"``."""
    errors = ["400", "401", "404"]
    paging_note = (
        "Links use the path page (`.../2/?per_page=N`)."
        if path_paged
        else "Links use the query page (`?page=2&per_page=N`)."
    )
    text = " ".join(
        part
        for part in (
            description,
            "A page past the last one is a 404; a bad `page`, `per_page` or filter is a 400.",
            "A 404 also means the parent resource does not exist." if unknown_parent else "",
            paging_note,
        )
        if part
    )

    def operation(operation_id, paged_in_path):
        parameters = list(prefix_params)
        if paged_in_path:
            parameters.append(param_ref("PagePath"))
        else:
            parameters.append(param_ref("PageQuery"))
        parameters.append(param_ref("PerPage"))
        parameters += list(filters)
        return {
            "tags": [tag],
            "operationId": operation_id,
            "summary": summary,
            "description": text,
            "parameters": parameters,
            "responses": responses(
                "200", ok(f"{resource}Page", f"A page of {summary.lower()}."), *errors
            ),
        }

    paths = {path: {"get": operation(name, False)}}
    if page_path:
        paths[path + "{page}/"] = {"get": operation(name + "Page", True)}
    return paths


TICKET_ID = path_id("ticket_id", "ticket")


def ticket_workflow(operation_id, summary, description, permission):
    return {
        "post": {
            "tags": ["tickets"],
            "operationId": operation_id,
            "summary": summary,
            "description": f"{description} Allowed to {permission}.",
            "parameters": [path_id("id", "ticket")],
            "responses": responses(
                "200", ok("Ticket", "The ticket as it is now."), "401", "403", "404", "409"
            ),
        }
    }


def build_paths():
    paths = {}
    paths[API + "/openapi.json"] = {
        "get": {
            "tags": ["documentation"],
            "operationId": "getOpenAPI",
            "summary": "This document",
            "security": [],
            "responses": {
                "200": ok("OpenAPIDocument", "The OpenAPI 3.1 document of the API."),
                "503": {"$ref": "#/components/responses/ServiceUnavailable"},
            },
        }
    }
    paths[API + "/tokens"] = {
        "post": {
            "tags": ["tokens"],
            "operationId": "issueToken",
            "summary": "Get a token",
            "description": "Log in with HTTP Basic (username or email, and password) to get "
            "a new bearer token. Each call issues a new token; earlier ones stay valid until "
            "they expire (10 hours by default) or are revoked.",
            "security": [{"basic": []}],
            "responses": {
                "200": ok("Token", "The token."),
                "401": {"$ref": "#/components/responses/Unauthorized"},
                "429": {"$ref": "#/components/responses/TooManyRequests"},
                "503": {"$ref": "#/components/responses/ServiceUnavailable"},
            },
        },
        "delete": {
            "tags": ["tokens"],
            "operationId": "revokeToken",
            "summary": "Revoke this token",
            "description": "Revokes the token presented; it is refused from then on.",
            "responses": responses("204", {"description": "Revoked."}, "401"),
        },
    }

    # users
    paths[API + "/user/{id}"] = {"get": get_one("users", "User", "user")}
    paths.update(
        list_paths(
            "listUsers",
            API + "/users/",
            "users",
            "User",
            "Users",
            filters=[query("name", STRING, "Case-insensitive part of the user's name.")],
            path_paged=False,
            description="Ordered by id.",
        )
    )

    # tickets
    paths[API + "/ticket/{id}"] = {
        "get": get_one("tickets", "Ticket", "ticket"),
        "patch": {
            "tags": ["tickets"],
            "operationId": "changeTicket",
            "summary": "Change a ticket's status, priority and/or category",
            "description": "Each change goes through the same rules as the ticket page and "
            "is recorded as an action. Closed tickets cannot change category.",
            "parameters": [path_id("id", "ticket")],
            "requestBody": body("TicketChange"),
            "responses": responses(
                "200",
                ok("Ticket", "The ticket as it is now."),
                "400",
                "401",
                "403",
                "404",
                "409",
                "413",
                "415",
            ),
        },
    }
    paths.update(
        list_paths(
            "listTickets",
            API + "/tickets/",
            "tickets",
            "Ticket",
            "Tickets",
            filters=[
                query("status", STRING, "Status name, e.g. Open or Closed."),
                query("department", STRING, "Department name."),
                query("category", STRING, "Category name."),
                query("assigned_id", QUERY_ID, "Only tickets assigned to this user."),
                query("started_id", QUERY_ID, "Only tickets this user created."),
                query(
                    "q",
                    STRING,
                    "Case-insensitive text in the title, the content or any reply.",
                ),
                query(
                    "sort",
                    {"type": "string", "enum": list(SORT_KEYS)},
                    "Sort order, as in the ticket list; by id when left out.",
                ),
            ],
            description="Every ticket, closed ones too, by id unless `sort` says otherwise.",
        )
    )
    paths[API + "/tickets"] = {
        "post": {
            "tags": ["tickets"],
            "operationId": "createTicket",
            "summary": "Create a ticket",
            "description": "As the ticket page does: status Open, the creator subscribed, "
            "their post count raised, subscribers notified.",
            "requestBody": body("NewTicket"),
            "responses": responses(
                "201",
                created("Ticket", "The new ticket."),
                "400",
                "401",
                "409",
                "413",
                "415",
                "429",
            ),
        }
    }
    paths[API + "/ticket/{id}/replies"] = {
        "post": {
            "tags": ["tickets"],
            "operationId": "replyToTicket",
            "summary": "Reply to a ticket",
            "description": "As the reply form does, optionally with hours, a status (not "
            "Closed: use /close) and a priority. Any logged-in user may reply.",
            "parameters": [path_id("id", "ticket")],
            "requestBody": body("NewReply"),
            "responses": responses(
                "201",
                created("Post", "The new reply."),
                "400",
                "401",
                "403",
                "404",
                "409",
                "413",
                "415",
                "429",
            ),
        }
    }
    paths[API + "/ticket/{id}/claim"] = ticket_workflow(
        "claimTicket",
        "Claim a ticket",
        "Assigns the ticket to the caller and sets it In Work.",
        "any logged-in user",
    )
    paths[API + "/ticket/{id}/release"] = ticket_workflow(
        "releaseTicket",
        "Release a ticket",
        "Unassigns the ticket and sets it Open.",
        "the assignee and administrators",
    )
    paths[API + "/ticket/{id}/close"] = ticket_workflow(
        "closeTicket",
        "Close a ticket",
        "Closes the ticket and unassigns it.",
        "the creator, the assignee and administrators",
    )
    paths[API + "/ticket/{id}/assign"] = {
        "post": {
            "tags": ["tickets"],
            "operationId": "assignTicket",
            "summary": "Assign a ticket",
            "description": "Assigns the ticket to an enabled user and sets it In Work; the "
            "assignee is subscribed. Any logged-in user may assign.",
            "parameters": [path_id("id", "ticket")],
            "requestBody": body("Assignee"),
            "responses": responses(
                "200",
                ok("Ticket", "The ticket as it is now."),
                "400",
                "401",
                "403",
                "404",
                "409",
                "413",
                "415",
            ),
        }
    }
    paths[API + "/ticket/{id}/subscriptions"] = {
        "post": {
            "tags": ["subscriptions"],
            "operationId": "subscribeToTicket",
            "summary": "Subscribe a user to a ticket",
            "parameters": [path_id("id", "ticket")],
            "requestBody": body("Subscriber"),
            "responses": responses(
                "201",
                created("Subscription", "The new subscription."),
                "400",
                "401",
                "403",
                "404",
                "409",
                "413",
                "415",
            ),
        }
    }

    # posts
    paths[API + "/post/{id}"] = {"get": get_one("posts", "Post", "reply", "One reply")}
    paths.update(
        list_paths(
            "listTicketPosts",
            API + "/posts/{ticket_id}/",
            "posts",
            "Post",
            "Replies",
            prefix_params=[TICKET_ID],
            unknown_parent=True,
            description="The replies of one ticket, oldest first.",
        )
    )

    # departments and categories
    paths[API + "/department/{id}"] = {"get": get_one("departments", "Department", "department")}
    paths.update(
        list_paths(
            "listDepartments",
            API + "/departments/",
            "departments",
            "Department",
            "Departments",
            path_paged=False,
            description="Ordered by name.",
        )
    )
    paths[API + "/departments"] = {
        "post": {
            "tags": ["departments"],
            "operationId": "createDepartment",
            "summary": "Create a department",
            "description": "Administrators and super users only.",
            "requestBody": body("NewDepartment"),
            "responses": responses(
                "201",
                created("Department", "The new department."),
                "400",
                "401",
                "403",
                "413",
                "415",
            ),
        }
    }
    paths[API + "/category/{id}"] = {"get": get_one("categories", "Category", "category")}
    paths.update(
        list_paths(
            "listCategories",
            API + "/categories/",
            "categories",
            "Category",
            "Categories",
            filters=[
                query("department_id", QUERY_ID, "Only this department's categories."),
                query("department", STRING, "Only the categories of the department so named."),
            ],
            path_paged=False,
            description="Ordered by name.",
        )
    )
    paths[API + "/categories"] = {
        "post": {
            "tags": ["categories"],
            "operationId": "createCategory",
            "summary": "Create a category",
            "description": "Administrators and super users only. An unknown department is a 400.",
            "requestBody": body("NewCategory"),
            "responses": responses(
                "201",
                created("Category", "The new category."),
                "400",
                "401",
                "403",
                "413",
                "415",
            ),
        }
    }
    paths[API + "/department_category/{id}"] = {
        "get": get_one(
            "categories",
            "DepartmentCategory",
            "category",
            "One category with its department",
        )
    }
    paths.update(
        list_paths(
            "listDepartmentCategories",
            API + "/department_categories/",
            "categories",
            "DepartmentCategory",
            "Categories with their departments",
            filters=[
                query(
                    "department_category",
                    STRING,
                    'Case-insensitive part of "Department / Category".',
                ),
                query("department_id", QUERY_ID, "Only this department's categories."),
                query("department", STRING, "Case-insensitive part of the department name."),
            ],
            path_paged=False,
            description='Ordered by "Department / Category".',
        )
    )

    # priorities and statuses
    paths[API + "/priority/{id}"] = {"get": get_one("priorities", "Priority", "priority")}
    paths.update(
        list_paths(
            "listPriorities",
            API + "/priorities/",
            "priorities",
            "Priority",
            "Priorities",
            description="Ordered by id.",
        )
    )
    paths[API + "/status/{id}"] = {"get": get_one("statuses", "Status", "status")}
    paths.update(
        list_paths(
            "listStatuses",
            API + "/statuses/",
            "statuses",
            "Status",
            "Statuses",
            path_paged=False,
            description="Ordered by id.",
        )
    )

    # subscriptions
    paths[API + "/subscription/{id}"] = {
        "get": get_one("subscriptions", "Subscription", "subscription"),
        "delete": {
            "tags": ["subscriptions"],
            "operationId": "deleteSubscription",
            "summary": "Unsubscribe",
            "description": "Anyone may end their own subscription; ending someone else's "
            "is for administrators and super users.",
            "parameters": [path_id("id", "subscription")],
            "responses": responses(
                "204", {"description": "Unsubscribed."}, "401", "403", "404", "409"
            ),
        },
    }
    paths.update(
        list_paths(
            "listSubscriptions",
            API + "/subscriptions/",
            "subscriptions",
            "Subscription",
            "Subscriptions",
            path_paged=False,
            page_path=False,
            description="Every subscription, by id (`/subscriptions/<n>/` is ticket n's).",
        )
    )
    paths.update(
        list_paths(
            "listTicketSubscriptions",
            API + "/subscriptions/{ticket_id}/",
            "subscriptions",
            "Subscription",
            "Subscriptions of a ticket",
            prefix_params=[TICKET_ID],
            unknown_parent=True,
            description="By id.",
        )
    )

    # uploads, histories, actions
    paths[API + "/upload/{id}"] = {"get": get_one("uploads", "Upload", "attachment")}
    paths.update(
        list_paths(
            "listUploads",
            API + "/uploads/",
            "uploads",
            "Upload",
            "Attachments",
            description="By id.",
        )
    )
    paths[API + "/history/{id}"] = {"get": get_one("histories", "History", "history entry")}
    paths.update(
        list_paths(
            "listHistories",
            API + "/histories/",
            "histories",
            "History",
            "History entries",
            filters=[
                query("topic_id", QUERY_ID, "Only this ticket's edits."),
                query("post_id", QUERY_ID, "Only this reply's edits."),
            ],
            description="By id.",
        )
    )
    paths[API + "/action/{id}"] = {"get": get_one("actions", "Action", "action")}
    actions = list_paths(
        "listTicketActions",
        API + "/actions/{ticket_id}/",
        "actions",
        "Action",
        "Actions of a ticket",
        prefix_params=[TICKET_ID],
        path_paged=False,
        unknown_parent=True,
        description="Oldest first.",
    )
    # Flicket's address has no trailing slash; the page form has one.
    paths[API + "/actions/{ticket_id}"] = actions.pop(API + "/actions/{ticket_id}/")
    paths.update(actions)
    add_links(paths)
    return paths


def _link(operation_id, parameter="id", expression="$response.body#/id"):
    return {"operationId": operation_id, "parameters": {parameter: expression}}


#: What a client can do next with what a write answered (OpenAPI links).
LINKS = {
    ("/tickets", "post"): {
        "GetTicket": _link("getTicket"),
        "ReplyToTicket": _link("replyToTicket"),
        "ClaimTicket": _link("claimTicket"),
        "AssignTicket": _link("assignTicket"),
        "ChangeTicket": _link("changeTicket"),
        "SubscribeToTicket": _link("subscribeToTicket"),
        "CloseTicket": _link("closeTicket"),
        "ListTicketPosts": _link("listTicketPosts", "ticket_id"),
        "ListTicketSubscriptions": _link("listTicketSubscriptions", "ticket_id"),
        "ListTicketActions": _link("listTicketActions", "ticket_id"),
    },
    ("/ticket/{id}/claim", "post"): {"ReleaseTicket": _link("releaseTicket")},
    ("/ticket/{id}/replies", "post"): {
        "GetPost": _link("getPost"),
        "GetTicket": _link("getTicket", expression="$response.body#/ticket_id"),
    },
    ("/ticket/{id}/subscriptions", "post"): {
        "GetSubscription": _link("getSubscription"),
        "DeleteSubscription": _link("deleteSubscription"),
    },
    ("/departments", "post"): {"GetDepartment": _link("getDepartment")},
    ("/categories", "post"): {
        "GetCategory": _link("getCategory"),
        "GetDepartmentCategory": _link("getDepartmentCategory"),
    },
}


def add_links(paths):
    for (path, method), links in LINKS.items():
        responses = paths[API + path][method]["responses"]
        success = next(status for status in responses if status.startswith("2"))
        responses[success]["links"] = links


@cache
def _document():
    schemas = {**RESOURCES, **{page: page_schema(item) for page, item in PAGES.items()}}
    schemas.update(COMMON_SCHEMAS)
    schemas.update(BODIES)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Flicket API",
            "version": __version__,
            "description": (
                "The JSON API of Flicket: Flicket's documented endpoints and shapes, plus "
                "write access to the ticket workflow. Authenticate with a bearer token from "
                "`POST /flicket-api/tokens` (HTTP Basic). Keys are sorted, dates are "
                "HTTP-dates in UTC, links are absolute. Lists answer with "
                '`{"items", "_meta", "_links"}`; errors with `{"error", "message"}`.'
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "tags": [
            {"name": name}
            for name in (
                "tokens",
                "users",
                "tickets",
                "posts",
                "departments",
                "categories",
                "priorities",
                "statuses",
                "subscriptions",
                "uploads",
                "histories",
                "actions",
                "documentation",
            )
        ],
        "paths": build_paths(),
        "components": {
            "schemas": schemas,
            "parameters": PARAMETERS,
            "responses": RESPONSES,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from POST /flicket-api/tokens.",
                },
                "basic": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "Username (or email) and password; only for "
                    "POST /flicket-api/tokens.",
                },
            },
        },
    }


def document(server_url=None):
    """The document (a fresh copy), with ``server_url`` as its server when given."""
    doc = copy.deepcopy(_document())
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc


@view_config(
    route_name="api_openapi",
    request_method="GET",
    renderer="json",
    permission=NO_PERMISSION_REQUIRED,
)
def openapi_json(request):
    """Public documentation: no token needed."""
    return document(request.public_url("home").rstrip("/"))
