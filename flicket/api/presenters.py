"""JSON shapes of the API resources, exactly as Flicket documents them (reference §5.3).

One function per resource turns a model into the documented dict; views never return ORM
objects. Links are absolute (from ``base_url``, else the request's host); dates are
HTTP-dates. Where Flicket 0.3.5 and its 0.1.9 documentation differ, the documentation
wins (``started_by``; posts keep ``data_added``), and the 0.3.5 spelling is added beside
it so that no client breaks.
"""

from datetime import UTC
from email.utils import format_datetime
from urllib.parse import urlencode

from pyramid.interfaces import IRoutesMapper

from flicket.routes import public_base


def http_date(value):
    """``Sun, 30 Jun 2019 14:15:37 GMT`` (stored times are UTC)."""
    if value is None:
        return None
    return format_datetime(value.replace(tzinfo=UTC), usegmt=True)


class Links:
    """Absolute API links for one request. A list page makes hundreds: the prefix is
    worked out once and each path comes straight from its route's generator (what
    ``request.route_path`` does, without its per-call set-up)."""

    def __init__(self, request):
        self.request = request
        self.prefix = public_base(request) + request.script_name
        self.routes = request.registry.getUtility(IRoutesMapper)

    def __call__(self, route_name, _query=None, **kw):
        url = self.prefix + self.routes.get_route(route_name).generate(kw)
        return url + "?" + urlencode(_query) if _query else url

    def maybe(self, route_name, key, value):
        return None if value is None else self(route_name, **{key: value})


def user(request, links, user):
    avatar = user.avatar or "__default_profile.png"
    show_email = not user.disabled or request.user.is_admin
    return {
        "id": user.id,
        "avatar": links("avatar", filename=avatar),
        "email": user.email if show_email else None,
        "job_title": user.job_title or "unknown",
        "name": user.name,
        "username": user.username,
        "total_posts": user.total_posts or 0,
        "links": {"self": links("api_user", id=user.id), "users": links("api_users")},
    }


def ticket(request, links, ticket):
    started_by = links.maybe("api_user", "id", ticket.started_id)
    return {
        "id": ticket.id,
        "assigned_id": ticket.assigned_id,
        "category_id": ticket.category_id,
        "content": ticket.content,
        "date_added": http_date(ticket.date_added),
        "date_modified": http_date(ticket.date_modified),
        "modified_id": ticket.modified_id,
        "started_id": ticket.started_id,
        "status_id": ticket.status_id,
        "title": ticket.title,
        "ticket_priority_id": ticket.ticket_priority_id,
        "links": {
            "self": links("api_ticket", id=ticket.id),
            "assigned": links.maybe("api_user", "id", ticket.assigned_id),
            "priority": links.maybe("api_priority", "id", ticket.ticket_priority_id),
            "started_by": started_by,
            "started_ny": started_by,
            "modified_by": links.maybe("api_user", "id", ticket.modified_id),
            "category": links.maybe("api_category", "id", ticket.category_id),
            "status": links.maybe("api_status", "id", ticket.status_id),
            "subscribers": links("api_ticket_subscriptions", ticket_id=ticket.id),
            "tickets": links("api_tickets"),
            "histories": links("api_histories", _query={"topic_id": ticket.id}),
        },
    }


def post(request, links, post):
    added = http_date(post.date_added)
    return {
        "id": post.id,
        "content": post.content,
        "data_added": added,
        "date_added": added,
        "date_modified": http_date(post.date_modified),
        "ticket_id": post.ticket_id,
        "user_id": post.user_id,
        "links": {
            "self": links("api_post", id=post.id),
            "created_by": links.maybe("api_user", "id", post.user_id),
            "posts": links("api_ticket_posts", ticket_id=post.ticket_id),
        },
    }


def department(request, links, department):
    return {
        "id": department.id,
        "department": department.department,
        "links": {
            "self": links("api_department", id=department.id),
            "departments": links("api_departments"),
        },
    }


def category(request, links, category):
    return {
        "id": category.id,
        "category": category.category,
        "department": category.department.department if category.department else None,
        "links": {
            "self": links("api_category", id=category.id),
            "categories": links("api_categories"),
            "department": links.maybe("api_department", "id", category.department_id),
        },
    }


def department_category(request, links, category):
    department = category.department
    return {
        "department_category": category.department_category,
        "category_id": category.id,
        "category": category.category,
        "department_id": category.department_id,
        "department": department.department if department else None,
        "links": {
            "self": links("api_department_category", id=category.id),
            "department_categories": links("api_department_categories"),
            "department": links.maybe("api_department", "id", category.department_id),
            "category": links("api_category", id=category.id),
        },
    }


def priority(request, links, priority):
    return {
        "id": priority.id,
        "priority": priority.priority,
        "links": {
            "self": links("api_priority", id=priority.id),
            "priorities": links("api_priorities"),
        },
    }


def status(request, links, status):
    return {
        "id": status.id,
        "status": status.status,
        "links": {"self": links("api_status", id=status.id), "statuses": links("api_statuses")},
    }


def subscription(request, links, subscription):
    return {
        "id": subscription.id,
        "ticket_id": subscription.ticket_id,
        "user_id": subscription.user_id,
        "user_def": subscription.user.name if subscription.user else None,
        "links": {
            "self": links("api_subscription", id=subscription.id),
            "subscriptions": links("api_subscriptions"),
            "ticket": links.maybe("api_ticket", "id", subscription.ticket_id),
            "user": links.maybe("api_user", "id", subscription.user_id),
        },
    }


def upload(request, links, upload):
    return {
        "id": upload.id,
        "filename": upload.filename,
        "image": links("upload_download", filename=upload.filename),
        "original_filename": upload.original_filename,
        "post_id": upload.posts_id,
        "topic_id": upload.topic_id,
        "links": {
            "self": links("api_upload", id=upload.id),
            "post": links.maybe("api_post", "id", upload.posts_id),
            "ticket": links.maybe("api_ticket", "id", upload.topic_id),
            "uploads": links("api_uploads"),
        },
    }


def history(request, links, history):
    return {
        "id": history.id,
        "date_modified": http_date(history.date_modified),
        "original_content": history.original_content,
        "post_id": history.post_id,
        "topic_id": history.topic_id,
        "user_id": history.user_id,
        "links": {
            "self": links("api_history", id=history.id),
            "histories": links("api_histories"),
            "post": links.maybe("api_post", "id", history.post_id),
            "ticket": links.maybe("api_ticket", "id", history.topic_id),
            "user": links.maybe("api_user", "id", history.user_id),
        },
    }


def action(request, links, action):
    return {
        "id": action.id,
        "ticket_id": action.ticket_id,
        "post_id": action.post_id,
        "action": action.action,
        "data": action.data,
        "user_id": action.user_id,
        "recipient_id": action.recipient_id,
        "date": http_date(action.date),
        "links": {
            "self": links("api_action", id=action.id),
            "actions": links.maybe("api_ticket_actions", "ticket_id", action.ticket_id),
        },
    }
