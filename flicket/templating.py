"""Jinja2 set-up and the values every page layout needs.

The layout must render even when the database is unreachable (error pages), so the
values it reads from the database are fetched defensively here, not in templates.
"""

import datetime
import logging
from dataclasses import dataclass

from pyramid.csrf import get_csrf_token
from pyramid.events import BeforeRender
from sqlalchemy.exc import SQLAlchemyError

import flicket
from flicket.i18n import install_jinja2
from flicket.markdown import render_markdown
from flicket.uploads import allowed_extensions

log = logging.getLogger(__name__)

DEFAULT_TITLE = "Flicket"


def _safe(getter, default):
    try:
        return getter()
    except SQLAlchemyError:
        log.warning("database unavailable while rendering the layout", exc_info=True)
        return default


@dataclass(frozen=True)
class LayoutUser:
    """What the layout shows of the logged-in user, read while the database answers (an
    error page after a failed transaction must not reload expired attributes)."""

    id: int
    username: str
    name: str | None
    is_admin: bool


def _layout_user(request):
    user = request.user
    if user is None:
        return None
    return LayoutUser(user.id, user.username, user.name, user.is_admin)


def _title(request):
    config = request.flicket_config
    return config.application_title if config is not None else None


#: Navigation section of each page (the menu marks it as the current one), by route-name
#: prefix; the first prefix that matches wins.
SECTIONS = (
    ("home", "home"),
    ("my_tickets", "my_tickets"),
    ("subscribed", "my_tickets"),
    ("ticket_create", "create"),
    ("ticket", "tickets"),
    ("post_", "tickets"),
    ("markdown", "tickets"),
    ("department", "departments"),
    ("categor", "departments"),
    ("users", "users"),
    ("user_details", "profile"),
    ("user", "users"),
    ("admin", "admin"),
)


def _section(request):
    matched = getattr(request, "matched_route", None)
    route = matched.name if matched is not None else ""
    return next((section for prefix, section in SECTIONS if route.startswith(prefix)), None)


def add_layout_values(event):
    request = event.get("request")
    if request is None or "layout" in event:
        return
    event["layout"] = {
        "user": _safe(lambda: _layout_user(request), None),
        "title": _safe(lambda: _title(request), None) or DEFAULT_TITLE,
        "section": _section(request),
        "version": flicket.__version__,
        "year": datetime.date.today().year,
    }


def _autoescape(template_name):
    # Plain-text mail bodies are not HTML; everything else is escaped.
    return not (template_name or "").endswith(".txt.jinja2")


def includeme(config):
    config.add_jinja2_search_path("flicket:templates", name=".jinja2")
    config.add_subscriber(add_layout_values, BeforeRender)
    config.commit()
    env = config.get_jinja2_environment()
    env.globals["csrf_token"] = get_csrf_token
    env.globals["render_markdown"] = render_markdown
    env.globals["allowed_extensions"] = allowed_extensions
    env.autoescape = _autoescape
    install_jinja2(env)
