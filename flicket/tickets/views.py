"""Ticket pages."""

from pyramid.view import view_config

from flicket.permissions import Permission


@view_config(route_name="home", renderer="tickets/home.jinja2", permission=Permission.VIEW)
def home(request):
    return {"page_title": "Home"}
