"""Every URL of the application, grouped by feature.

Flicket's GET URLs are kept so old links and bookmarks still land; state changes are POST.
"""


def public_url(request, route_name, *elements, **kw):
    """An absolute URL for mail and API links: from the configured ``base_url`` when set,
    else from the request's own host."""
    config = request.flicket_config
    base = (config.base_url or "").strip().rstrip("/") if config else ""
    path = request.route_path(route_name, *elements, **kw)
    return (base or request.application_url.rstrip("/")) + path


def includeme(config):
    config.add_request_method(public_url, "public_url")

    # home
    config.add_route("home", "/")

    # accounts
    config.add_route("login", "/login")
    config.add_route("logout", "/logout")
    config.add_route("password_reset", "/password_reset")
    config.add_route("password_reset_confirm", "/password_reset/{token}")

    # API
    config.add_route("api_tokens", "/flicket-api/tokens")
