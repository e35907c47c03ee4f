"""The JSON API under /flicket-api/: every endpoint of Flicket 0.3.5 with its documented
shapes, plus write access to the whole ticket workflow through the ticket service.

Reading needs a valid bearer token (any enabled user, as in Flicket); writing follows the
same permission rules as the browser (the ticket ACLs). Errors are JSON.
"""

import re

import sqlalchemy as sa
from pyramid.httpexceptions import HTTPNoContent
from pyramid.view import view_config
from sqlalchemy.orm import joinedload

from flicket.accounts.models import User
from flicket.api import presenters
from flicket.api.collections import collection
from flicket.api.errors import APIError
from flicket.api.schemas import Field, json_body, validate
from flicket.departments.models import Category, Department
from flicket.departments.services import DepartmentError
from flicket.params import parse_id
from flicket.permissions import Permission as P
from flicket.tickets.lists import (
    in_category,
    in_department,
    parse_sort,
    sort_joins,
    sort_order,
    status_is,
)
from flicket.tickets.models import (
    Action,
    History,
    Post,
    Priority,
    Status,
    Subscription,
    Ticket,
    Upload,
)
from flicket.tickets.resources import TicketResource
from flicket.tickets.search import MAX_SEARCH, searcher
from flicket.tickets.services import LimitReached, TicketError

API = {"renderer": "json", "permission": P.VIEW}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _links(request):
    return presenters.Links(request)


def _present(request, present):
    links = _links(request)
    return lambda item: present(request, links, item)


def _id(request, key="id"):
    number = parse_id(request.matchdict.get(key, ""))
    if number is None:
        raise APIError(404, "There is no such resource.")
    return number


def _one(request, statement, what):
    item = request.dbsession.scalars(statement).unique().first()
    if item is None:
        raise APIError(404, f"There is no such {what}.")
    return item


def _existing_ticket_id(request):
    """The ``{ticket_id}`` of a per-ticket list; 404 when no such ticket exists."""
    ticket_id = _id(request, "ticket_id")
    _one(request, sa.select(Ticket.id).where(Ticket.id == ticket_id), "ticket")
    return ticket_id


def _query_int(request, name):
    raw = request.GET.get(name)
    if raw is None:
        return None
    number = parse_id(raw)
    if number is None:
        raise APIError(400, f"{name} must be a whole number.")
    return number


def _query_text(request, name, limit):
    """A text filter from the query string, trimmed, without control characters (which
    PostgreSQL refuses) and cut to ``limit`` characters (longer text cannot match)."""
    return _CONTROL.sub("", request.GET.get(name, "")).strip()[:limit]


def _created(request, body, route_name, item_id):
    request.response.status_int = 201
    request.response.location = request.public_url(route_name, id=item_id)
    return body


# -- one item of each resource ---------------------------------------------------------------


def _item_view(model, present, what, options=()):
    def view(request):
        statement = sa.select(model).options(*options).where(model.id == _id(request))
        return present(request, _links(request), _one(request, statement, what))

    return view


#: Every "GET one item" endpoint: (route, model, presenter, name in messages, eager loads).
ITEM_ENDPOINTS = (
    ("api_user", User, presenters.user, "user", ()),
    ("api_ticket", Ticket, presenters.ticket, "ticket", ()),
    ("api_post", Post, presenters.post, "post", ()),
    ("api_department", Department, presenters.department, "department", ()),
    (
        "api_category",
        Category,
        presenters.category,
        "category",
        (joinedload(Category.department),),
    ),
    (
        "api_department_category",
        Category,
        presenters.department_category,
        "category",
        (joinedload(Category.department),),
    ),
    ("api_priority", Priority, presenters.priority, "priority", ()),
    ("api_status", Status, presenters.status, "status", ()),
    (
        "api_subscription",
        Subscription,
        presenters.subscription,
        "subscription",
        (joinedload(Subscription.user),),
    ),
    ("api_upload", Upload, presenters.upload, "upload", ()),
    ("api_history", History, presenters.history, "history", ()),
    ("api_action", Action, presenters.action, "action", ()),
)


def add_item_views(config):
    for route_name, model, present, what, options in ITEM_ENDPOINTS:
        config.add_view(
            _item_view(model, present, what, options),
            route_name=route_name,
            request_method="GET",
            **API,
        )


# -- users ------------------------------------------------------------------------------------


@view_config(route_name="api_users", request_method="GET", **API)
@view_config(route_name="api_users_page", request_method="GET", **API)
def list_users(request):
    name = _query_text(request, "name", 61)
    statement = sa.select(User).order_by(User.id)
    if name:
        statement = statement.where(User.name.icontains(name, autoescape=True))
    return collection(
        request,
        statement,
        _present(request, presenters.user),
        "api_users",
        filters={"name": name},
        path_paged=False,
    )


# -- tickets ----------------------------------------------------------------------------------

TICKET_FIELDS = [
    Field("title", str, min_length=3, max_length=128),
    Field("content", str, min_length=5, max_length=5000),
    Field("category_id", int),
    Field("ticket_priority_id", int),
    Field("hours", float, required=False),
]


def _ticket_filters(request):
    """status, department, category (names), assigned_id, started_id, q (text), sort."""
    filters = {
        name: _query_text(request, name, 128)
        for name in ("status", "department", "category", "sort")
    }
    # A text longer than any ticket field matches nothing (``text_matches``).
    filters["q"] = _query_text(request, "q", MAX_SEARCH + 1)
    filters["assigned_id"] = _query_int(request, "assigned_id")
    filters["started_id"] = _query_int(request, "started_id")
    if "sort" in request.GET and parse_sort(request.GET["sort"]) is None:
        raise APIError(400, "sort must be one of the ticket list's sort keys.")
    return filters


@view_config(route_name="api_tickets", request_method="GET", **API)
@view_config(route_name="api_tickets_page", request_method="GET", **API)
def list_tickets(request):
    filters = _ticket_filters(request)
    statement = sa.select(Ticket)
    if filters["status"]:
        statement = statement.where(status_is(request.tickets.statuses(), filters["status"]))
    if filters["department"]:
        statement = statement.where(in_department(filters["department"]))
    if filters["category"]:
        statement = statement.where(in_category(filters["category"]))
    if filters["assigned_id"] is not None:
        statement = statement.where(Ticket.assigned_id == filters["assigned_id"])
    if filters["started_id"] is not None:
        statement = statement.where(Ticket.started_id == filters["started_id"])
    if filters["q"]:
        statement = statement.where(searcher(request)(filters["q"]))
    if filters["sort"]:
        creator, assignee = sa.orm.aliased(User), sa.orm.aliased(User)
        statement = sort_joins(statement, filters["sort"], creator, assignee)
        statement = statement.order_by(
            *sort_order(
                filters["sort"],
                request.dbsession.get_bind().dialect.name,
                creator=creator,
                assignee=assignee,
            )
        )
    else:
        statement = statement.order_by(Ticket.id)
    return collection(
        request, statement, _present(request, presenters.ticket), "api_tickets", filters=filters
    )


@view_config(route_name="api_tickets_create", request_method="POST", **API)
def create_ticket(request):
    values = validate(json_body(request), TICKET_FIELDS)
    category = request.dbsession.get(Category, values["category_id"])
    if category is None:
        raise APIError(400, "category_id names no category.")
    priority = request.dbsession.get(Priority, values["ticket_priority_id"])
    if priority is None:
        raise APIError(400, "ticket_priority_id names no priority.")
    ticket = _run(
        request,
        lambda: request.tickets.create(
            request.user,
            title=values["title"],
            content=values["content"],
            category=category,
            priority=priority,
            hours=values.get("hours", 0),
        ),
    )
    return _created(
        request, presenters.ticket(request, _links(request), ticket), "api_ticket", ticket.id
    )


# -- the ticket workflow (new) ------------------------------------------------------------------


def _ticket_context(request):
    ticket = _one(request, sa.select(Ticket).where(Ticket.id == _id(request)), "ticket")
    return TicketResource(request, ticket)


def _require(request, permission, context):
    if not request.has_permission(permission, context):
        raise APIError(403, "You are not allowed to do this to this ticket.")


def _run(request, operation):
    try:
        return operation()
    except LimitReached as error:
        headers = {"Retry-After": str(error.retry_after)}
        raise APIError(429, error.message, headers) from None
    except TicketError as error:
        raise APIError(409, error.message) from None


def _ticket_answer(request, ticket):
    return presenters.ticket(request, _links(request), ticket)


REPLY_FIELDS = [
    Field("content", str, min_length=5, max_length=5000),
    Field("hours", float, required=False),
    Field("status_id", int, required=False),
    Field("ticket_priority_id", int, required=False),
]


def _lookup(request, model, value, name):
    if value is None:
        return None
    item = request.dbsession.get(model, value)
    if item is None:
        raise APIError(400, f"{name} names nothing.")
    return item


@view_config(route_name="api_ticket_replies", request_method="POST", **API)
def reply(request):
    context = _ticket_context(request)
    _require(request, P.TICKET_REPLY, context)
    values = validate(json_body(request), REPLY_FIELDS)
    status = _lookup(request, Status, values.get("status_id"), "status_id")
    priority = _lookup(request, Priority, values.get("ticket_priority_id"), "ticket_priority_id")
    post = _run(
        request,
        lambda: request.tickets.reply(
            context.ticket,
            request.user,
            content=values["content"],
            hours=values.get("hours", 0),
            status=status,
            priority=priority,
        ),
    )
    return _created(request, presenters.post(request, _links(request), post), "api_post", post.id)


def _workflow(permission, operation):
    def view(request):
        context = _ticket_context(request)
        _require(request, permission, context)
        _run(request, lambda: operation(request, context.ticket))
        return _ticket_answer(request, context.ticket)

    return view


claim = view_config(route_name="api_ticket_claim", request_method="POST", **API)(
    _workflow(P.TICKET_CLAIM, lambda r, t: r.tickets.claim(t, r.user))
)
release = view_config(route_name="api_ticket_release", request_method="POST", **API)(
    _workflow(P.TICKET_RELEASE, lambda r, t: r.tickets.release(t, r.user))
)
close = view_config(route_name="api_ticket_close", request_method="POST", **API)(
    _workflow(P.TICKET_CLOSE, lambda r, t: r.tickets.close(t, r.user))
)


@view_config(route_name="api_ticket_assign", request_method="POST", **API)
def assign(request):
    context = _ticket_context(request)
    _require(request, P.TICKET_ASSIGN, context)
    values = validate(
        json_body(request),
        [
            Field("user_id", int, required=False),
            Field("username", str, required=False, max_length=24),
        ],
    )
    user = _user_from(request, values)
    _run(request, lambda: request.tickets.assign(context.ticket, request.user, user))
    return _ticket_answer(request, context.ticket)


def _user_from(request, values):
    if "user_id" in values:
        user = request.dbsession.get(User, values["user_id"])
    elif values.get("username"):
        user = request.tickets.user_by_username(values["username"])
    else:
        raise APIError(400, "Give user_id or username.")
    if user is None:
        raise APIError(400, "There is no such user.")
    return user


@view_config(route_name="api_ticket", request_method="PATCH", **API)
def change_ticket(request):
    """Change the status, priority and/or category (each through its own service rule)."""
    context = _ticket_context(request)
    values = validate(
        json_body(request),
        [
            Field("status_id", int, required=False),
            Field("ticket_priority_id", int, required=False),
            Field("category_id", int, required=False),
        ],
    )
    if not values:
        raise APIError(400, "Give status_id, ticket_priority_id and/or category_id.")
    ticket, service = context.ticket, request.tickets
    status = _lookup(request, Status, values.get("status_id"), "status_id")
    priority = _lookup(request, Priority, values.get("ticket_priority_id"), "ticket_priority_id")
    category = _lookup(request, Category, values.get("category_id"), "category_id")
    if category is not None:
        _require(request, P.TICKET_CHANGE_CATEGORY, context)
        if category.id != ticket.category_id:
            _run(request, lambda: service.change_category(ticket, request.user, category))
    if priority is not None and priority.id != ticket.ticket_priority_id:
        _require(request, P.TICKET_REPLY, context)
        _run(request, lambda: service.change_priority(ticket, request.user, priority))
    if status is not None and status.id != ticket.status_id:
        _require(request, P.TICKET_CLOSE if status.status == "Closed" else P.TICKET_REPLY, context)
        _run(request, lambda: service.change_status(ticket, request.user, status))
    return _ticket_answer(request, ticket)


@view_config(route_name="api_ticket_subscribe", request_method="POST", **API)
def subscribe(request):
    context = _ticket_context(request)
    _require(request, P.TICKET_SUBSCRIBE, context)
    values = validate(
        json_body(request),
        [
            Field("user_id", int, required=False),
            Field("username", str, required=False, max_length=24),
        ],
    )
    user = _user_from(request, values)
    _run(request, lambda: request.tickets.subscribe(context.ticket, request.user, user))
    subscription = request.dbsession.scalars(
        sa.select(Subscription)
        .where(Subscription.ticket_id == context.ticket.id, Subscription.user_id == user.id)
        .order_by(Subscription.id.desc())
    ).first()
    return _created(
        request,
        presenters.subscription(request, _links(request), subscription),
        "api_subscription",
        subscription.id,
    )


@view_config(route_name="api_subscription", request_method="DELETE", permission=P.VIEW)
def unsubscribe(request):
    subscription = _one(
        request,
        sa.select(Subscription)
        .options(joinedload(Subscription.user))
        .where(Subscription.id == _id(request)),
        "subscription",
    )
    ticket = _one(request, sa.select(Ticket).where(Ticket.id == subscription.ticket_id), "ticket")
    context = TicketResource(request, ticket)
    if subscription.user_id != request.user.id:
        _require(request, P.TICKET_UNSUBSCRIBE_OTHERS, context)
    _run(request, lambda: request.tickets.unsubscribe(ticket, request.user, subscription.user))
    return HTTPNoContent()


# -- posts ------------------------------------------------------------------------------------


@view_config(route_name="api_ticket_posts", request_method="GET", **API)
@view_config(route_name="api_ticket_posts_page", request_method="GET", **API)
def list_posts(request):
    ticket_id = _existing_ticket_id(request)
    statement = sa.select(Post).where(Post.ticket_id == ticket_id).order_by(Post.id)
    return collection(
        request,
        statement,
        _present(request, presenters.post),
        "api_ticket_posts",
        route_kw={"ticket_id": ticket_id},
    )


# -- departments and categories --------------------------------------------------------------


@view_config(route_name="api_departments", request_method="GET", **API)
@view_config(route_name="api_departments_page", request_method="GET", **API)
def list_departments(request):
    statement = sa.select(Department).order_by(Department.department, Department.id)
    return collection(
        request,
        statement,
        _present(request, presenters.department),
        "api_departments",
        path_paged=False,
    )


def _category_query():
    return sa.select(Category).options(joinedload(Category.department))


@view_config(route_name="api_categories", request_method="GET", **API)
@view_config(route_name="api_categories_page", request_method="GET", **API)
def list_categories(request):
    department_id = _query_int(request, "department_id")
    department = _query_text(request, "department", 128)
    statement = _category_query().order_by(Category.category, Category.id)
    if department_id is not None:
        statement = statement.where(Category.department_id == department_id)
    if department:
        statement = statement.where(
            Category.department_id.in_(
                sa.select(Department.id).where(Department.department == department)
            )
        )
    return collection(
        request,
        statement,
        _present(request, presenters.category),
        "api_categories",
        filters={"department_id": department_id, "department": department},
        path_paged=False,
    )


@view_config(route_name="api_department_categories", request_method="GET", **API)
@view_config(route_name="api_department_categories_page", request_method="GET", **API)
def list_department_categories(request):
    text = _query_text(request, "department_category", 64)
    department = _query_text(request, "department", 128)
    department_id = _query_int(request, "department_id")
    label = Department.department + " / " + Category.category
    statement = (
        sa.select(Category)
        .join(Category.department)
        .options(sa.orm.contains_eager(Category.department))
        .order_by(label, Category.id)
    )
    if text:
        statement = statement.where(label.icontains(text, autoescape=True))
    if department:
        statement = statement.where(Department.department.icontains(department, autoescape=True))
    if department_id is not None:
        statement = statement.where(Category.department_id == department_id)
    return collection(
        request,
        statement,
        _present(request, presenters.department_category),
        "api_department_categories",
        filters={
            "department_category": text,
            "department": department,
            "department_id": department_id,
        },
        path_paged=False,
    )


# -- lookups: priorities, statuses ------------------------------------------------------------


@view_config(route_name="api_priorities", request_method="GET", **API)
@view_config(route_name="api_priorities_page", request_method="GET", **API)
def list_priorities(request):
    return collection(
        request,
        sa.select(Priority).order_by(Priority.id),
        _present(request, presenters.priority),
        "api_priorities",
    )


@view_config(route_name="api_statuses", request_method="GET", **API)
@view_config(route_name="api_statuses_page", request_method="GET", **API)
def list_statuses(request):
    return collection(
        request,
        sa.select(Status).order_by(Status.id),
        _present(request, presenters.status),
        "api_statuses",
        path_paged=False,
    )


# -- subscriptions, uploads, histories, actions ---------------------------------------------------


def _subscription_query():
    return sa.select(Subscription).options(joinedload(Subscription.user))


@view_config(route_name="api_subscriptions", request_method="GET", **API)
def list_subscriptions(request):
    return collection(
        request,
        _subscription_query().order_by(Subscription.id),
        _present(request, presenters.subscription),
        "api_subscriptions",
        path_paged=False,
    )


@view_config(route_name="api_ticket_subscriptions", request_method="GET", **API)
@view_config(route_name="api_ticket_subscriptions_page", request_method="GET", **API)
def list_ticket_subscriptions(request):
    ticket_id = _existing_ticket_id(request)
    statement = (
        _subscription_query().where(Subscription.ticket_id == ticket_id).order_by(Subscription.id)
    )
    return collection(
        request,
        statement,
        _present(request, presenters.subscription),
        "api_ticket_subscriptions",
        route_kw={"ticket_id": ticket_id},
    )


@view_config(route_name="api_uploads", request_method="GET", **API)
@view_config(route_name="api_uploads_page", request_method="GET", **API)
def list_uploads(request):
    return collection(
        request,
        sa.select(Upload).order_by(Upload.id),
        _present(request, presenters.upload),
        "api_uploads",
    )


@view_config(route_name="api_histories", request_method="GET", **API)
@view_config(route_name="api_histories_page", request_method="GET", **API)
def list_histories(request):
    topic_id = _query_int(request, "topic_id")
    post_id = _query_int(request, "post_id")
    statement = sa.select(History).order_by(History.id)
    if topic_id is not None:
        statement = statement.where(History.topic_id == topic_id)
    if post_id is not None:
        statement = statement.where(History.post_id == post_id)
    return collection(
        request,
        statement,
        _present(request, presenters.history),
        "api_histories",
        filters={"topic_id": topic_id, "post_id": post_id},
    )


@view_config(route_name="api_ticket_actions", request_method="GET", **API)
@view_config(route_name="api_ticket_actions_page", request_method="GET", **API)
def list_actions(request):
    ticket_id = _existing_ticket_id(request)
    statement = sa.select(Action).where(Action.ticket_id == ticket_id).order_by(Action.id)
    return collection(
        request,
        statement,
        _present(request, presenters.action),
        "api_ticket_actions",
        route_kw={"ticket_id": ticket_id},
        path_paged=False,
    )


# -- departments and categories: writes (admin and super_user) ---------------------------------


def _require_department_manager(request):
    if not request.has_permission(P.DEPARTMENT_MANAGE, request.root):
        raise APIError(403, "Only administrators and super users manage departments.")


def _department_write(request, operation):
    try:
        return operation()
    except DepartmentError as error:
        raise APIError(400, error.message) from None


@view_config(route_name="api_departments_create", request_method="POST", **API)
def create_department(request):
    _require_department_manager(request)
    values = validate(json_body(request), [Field("department", str, max_length=64)])
    department = _department_write(
        request, lambda: request.departments.add_department(values["department"])
    )
    return _created(
        request,
        presenters.department(request, _links(request), department),
        "api_department",
        department.id,
    )


@view_config(route_name="api_categories_create", request_method="POST", **API)
def create_category(request):
    _require_department_manager(request)
    values = validate(
        json_body(request),
        [Field("category", str, max_length=64), Field("department_id", int)],
    )
    department = request.dbsession.get(Department, values["department_id"])
    if department is None:
        raise APIError(400, "department_id names no department.")
    category = _department_write(
        request, lambda: request.departments.add_category(department, values["category"])
    )
    return _created(
        request,
        presenters.category(request, _links(request), category),
        "api_category",
        category.id,
    )
