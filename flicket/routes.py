"""Every URL of the application, grouped by feature.

Flicket's GET URLs are kept so old links and bookmarks still land; state changes are POST.
"""

from pyramid.security import NO_PERMISSION_REQUIRED


def public_base(request):
    """What absolute links start with: the configured ``base_url`` when set, else the
    request's own host."""
    config = request.flicket_config
    base = (config.base_url or "").strip().rstrip("/") if config else ""
    return base or request.application_url.rstrip("/")


def public_url(request, route_name, *elements, **kw):
    """An absolute URL for mail and API links (see ``public_base``)."""
    return public_base(request) + request.route_path(route_name, *elements, **kw)


def includeme(config):
    config.add_request_method(public_url, "public_url")

    # home
    config.add_route("home", "/")

    # operations: the health check for the reverse proxy and monitoring (no login)
    config.add_route("healthz", "/healthz")

    # accounts
    config.add_route("login", "/login")
    config.add_route("logout", "/logout")
    config.add_route("password_reset", "/password_reset")
    config.add_route("password_reset_confirm", "/password_reset/{token}")

    # ticket lists (page numbers in the path, as in Flicket) and CSV export
    for name, path in (
        ("tickets", "/tickets/"),
        ("my_tickets", "/my_tickets/"),
        ("subscribed", "/subscribed/"),
    ):
        config.add_route(name, path)
        config.add_route(name + "_page", path + "{page:\\d+}/")
    config.add_route("tickets_csv", "/tickets_csv/")

    # one ticket (factories load the object and give it its ACL)
    ticket = "flicket.tickets.resources.ticket_factory"
    post = "flicket.tickets.resources.post_factory"
    config.add_route("ticket_create", "/ticket_create/")
    config.add_route("ticket_view", "/ticket_view/{ticket_id}/", factory=ticket)
    config.add_route("ticket_view_page", "/ticket_view/{ticket_id}/{page:\\d+}/", factory=ticket)
    config.add_route("ticket_subscribe", "/ticket_subscribe/{ticket_id}/", factory=ticket)
    config.add_route("ticket_unsubscribe", "/unsubscribe/{ticket_id}/{user_id}", factory=ticket)
    config.add_route("ticket_claim", "/ticket_claim/{ticket_id}/", factory=ticket)
    config.add_route("ticket_release", "/release/{ticket_id}/", factory=ticket)
    config.add_route("ticket_assign", "/ticket_assign/{ticket_id}/", factory=ticket)
    config.add_route(
        "ticket_change_status", "/change_status/{ticket_id}/{status}/", factory=ticket
    )
    config.add_route(
        "ticket_change_category", "/ticket_department_category/{ticket_id}/", factory=ticket
    )
    config.add_route("ticket_edit", "/edit_ticket/{ticket_id}", factory=ticket)
    config.add_route("ticket_delete", "/delete_ticket/{ticket_id}/", factory=ticket)
    config.add_route("ticket_history", "/history/topic/{ticket_id}/", factory=ticket)
    config.add_route("post_edit", "/edit_post/{post_id}/", factory=post)
    config.add_route("post_delete", "/delete_post/{post_id}/", factory=post)
    config.add_route("post_history", "/history/post/{post_id}/", factory=post)
    config.add_route(
        "upload_download",
        "/flicket_uploads/{filename}",
        factory="flicket.tickets.resources.upload_factory",
    )

    # departments and categories
    config.add_route("departments", "/departments/")
    config.add_route("departments_page", "/departments/{page:\\d+}/")
    config.add_route("department_edit", "/department_edit/{department_id}/")
    config.add_route("department_delete", "/delete/department/{department_id}/")
    config.add_route("categories", "/categories/{department_id}/")
    config.add_route("category_edit", "/category_edit/{category_id}/")
    config.add_route("category_delete", "/delete/category/{category_id}/")

    # users and profiles
    config.add_route("users", "/users/")
    config.add_route("users_complete", "/users/complete")
    config.add_route("users_page", "/users/{page:\\d+}/")
    config.add_route("user", "/user/{user_id}/")
    config.add_route("user_details", "/user_details")
    # Flicket's avatar address, served by a view (never as a plain static file).
    config.add_route("avatar", "/flicket/static/flicket_avatars/{filename}")

    # admin panel
    config.add_route("admin_home", "/flicket_admin/")
    config.add_route("admin_config", "/flicket_admin/config/")
    config.add_route("admin_test_email", "/flicket_admin/test_email/")
    config.add_route("admin_users", "/flicket_admin/users/")
    config.add_route("admin_users_page", "/flicket_admin/users/{page:\\d+}")
    config.add_route("admin_add_user", "/flicket_admin/add_user/")
    config.add_route("admin_edit_user", "/flicket_admin/edit_user/")
    config.add_route("admin_delete_user", "/flicket_admin/delete_user/")
    config.add_route("admin_groups", "/flicket_admin/groups/")
    config.add_route("admin_edit_group", "/flicket_admin/edit_group/")
    config.add_route("admin_delete_group", "/flicket_admin/delete_group/")

    # Markdown
    config.add_route("markdown_primer", "/markdown_primer/")
    config.add_route("markdown_preview", "/markdown_preview")

    # API (reference §5.2); every list also takes its page in the path
    api = "/flicket-api"
    config.add_route("api_tokens", api + "/tokens")
    config.add_route("api_openapi", api + "/openapi.json")
    for name, path in (
        ("api_users", "/users/"),
        ("api_tickets", "/tickets/"),
        ("api_departments", "/departments/"),
        ("api_categories", "/categories/"),
        ("api_department_categories", "/department_categories/"),
        ("api_priorities", "/priorities/"),
        ("api_statuses", "/statuses/"),
        ("api_uploads", "/uploads/"),
        ("api_histories", "/histories/"),
    ):
        config.add_route(name, api + path)
        config.add_route(name + "_page", api + path + "{page:\\d+}/")
    for name, path in (
        ("api_user", "/user/{id}"),
        ("api_ticket", "/ticket/{id}"),
        ("api_post", "/post/{id}"),
        ("api_department", "/department/{id}"),
        ("api_category", "/category/{id}"),
        ("api_department_category", "/department_category/{id}"),
        ("api_priority", "/priority/{id}"),
        ("api_status", "/status/{id}"),
        ("api_subscription", "/subscription/{id}"),
        ("api_upload", "/upload/{id}"),
        ("api_history", "/history/{id}"),
        ("api_action", "/action/{id}"),
    ):
        config.add_route(name, api + path)
    config.add_route("api_tickets_create", api + "/tickets")
    config.add_route("api_departments_create", api + "/departments")
    config.add_route("api_categories_create", api + "/categories")
    config.add_route("api_ticket_posts", api + "/posts/{ticket_id}/")
    config.add_route("api_ticket_posts_page", api + "/posts/{ticket_id}/{page:\\d+}/")
    config.add_route("api_subscriptions", api + "/subscriptions/")
    config.add_route("api_ticket_subscriptions", api + "/subscriptions/{ticket_id}/")
    config.add_route(
        "api_ticket_subscriptions_page", api + "/subscriptions/{ticket_id}/{page:\\d+}/"
    )
    config.add_route("api_ticket_actions", api + "/actions/{ticket_id}")
    config.add_route("api_ticket_actions_page", api + "/actions/{ticket_id}/{page:\\d+}/")
    # the ticket workflow (new in this version)
    config.add_route("api_ticket_replies", api + "/ticket/{id}/replies")
    config.add_route("api_ticket_claim", api + "/ticket/{id}/claim")
    config.add_route("api_ticket_release", api + "/ticket/{id}/release")
    config.add_route("api_ticket_close", api + "/ticket/{id}/close")
    config.add_route("api_ticket_assign", api + "/ticket/{id}/assign")
    config.add_route("api_ticket_subscribe", api + "/ticket/{id}/subscriptions")

    # Static files last, so the routes above (avatars) are matched first.
    config.add_static_view(
        "flicket/static", "flicket:static", cache_max_age=3600, permission=NO_PERMISSION_REQUIRED
    )
