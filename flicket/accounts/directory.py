"""The users directory (``/users/``), one user's page (``/user/<id>/``) and the username
suggestions behind every username field (``/users/complete?q=``), reference §3.14.

Every logged-in user may see every user. Each page runs a fixed number of queries: the
role groups of the listed users are eager-loaded.
"""

import unicodedata

import sqlalchemy as sa
from pyramid.httpexceptions import HTTPNotFound
from pyramid.view import view_config
from sqlalchemy.orm import selectinload

from flicket.accounts.models import User
from flicket.i18n import _
from flicket.pagination import page_number, paginate, site_page_size
from flicket.params import parse_id
from flicket.permissions import Permission as P

#: Longest search text used; nobody types more, and longer text cannot match a column.
MAX_FILTER_LENGTH = 64
COMPLETE_MIN_LENGTH = 2
COMPLETE_LIMIT = 10
MAX_ID_DIGITS = 12


def includeme(config):
    config.scan(__name__)


def clean_search(text, limit=MAX_FILTER_LENGTH):
    """Search text from a query string: no control characters (PostgreSQL refuses NUL),
    trimmed and shortened."""
    if not isinstance(text, str):
        return ""
    text = "".join(char for char in text if unicodedata.category(char) != "Cc")
    return text.strip()[:limit].strip()


def _by_username():
    return (sa.func.lower(User.username), User.id)


def _is_enabled():
    return sa.or_(User.disabled.is_(False), User.disabled.is_(None))


@view_config(
    route_name="users",
    request_method="GET",
    renderer="accounts/users.jinja2",
    permission=P.VIEW,
)
@view_config(
    route_name="users_page",
    request_method="GET",
    renderer="accounts/users.jinja2",
    permission=P.VIEW,
)
def users(request):
    text = clean_search(request.GET.get("filter", ""))
    statement = sa.select(User).options(selectinload(User.groups)).order_by(*_by_username())
    if text:
        statement = statement.where(
            sa.or_(
                User.username.icontains(text, autoescape=True),
                User.name.icontains(text, autoescape=True),
                User.email.icontains(text, autoescape=True),
            )
        )
    page = paginate(request.dbsession, statement, page_number(request), site_page_size(request))
    query = {"filter": text} if text else {}
    return {
        "page": page,
        "filter": text,
        "page_query": query,
        "complete_url": request.route_path("users_complete"),
        "page_title": _("Users"),
    }


@view_config(
    route_name="user",
    request_method="GET",
    renderer="accounts/user.jinja2",
    permission=P.VIEW,
)
def user(request):
    user_id = parse_id(request.matchdict.get("user_id"), MAX_ID_DIGITS)
    if user_id is None:
        raise HTTPNotFound(_("There is no such user."))
    shown = request.dbsession.scalar(
        sa.select(User).options(selectinload(User.groups)).where(User.id == user_id)
    )
    if shown is None:
        raise HTTPNotFound(_("There is no such user."))
    return {
        "shown": shown,
        "avatar_url": request.route_path(
            "avatar", filename=shown.avatar or "__default_profile.png"
        ),
        "page_title": shown.name or shown.username or _("User"),
    }


@view_config(
    route_name="users_complete",
    request_method="GET",
    renderer="json",
    permission=P.VIEW,
)
def complete(request):
    """``[{"username": ..., "name": ...}]``: at most ten enabled users whose username or
    name contains ``q`` (at least two characters), sorted by username."""
    request.response.headers["Cache-Control"] = "no-store"
    text = clean_search(request.GET.get("q", ""))
    if len(text) < COMPLETE_MIN_LENGTH:
        return []
    rows = request.dbsession.execute(
        sa.select(User.username, User.name)
        .where(
            _is_enabled(),
            sa.or_(
                User.username.icontains(text, autoescape=True),
                User.name.icontains(text, autoescape=True),
            ),
        )
        .order_by(*_by_username())
        .limit(COMPLETE_LIMIT)
    )
    return [{"username": username, "name": name or ""} for username, name in rows]
