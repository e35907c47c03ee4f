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

    # ticket lists (page numbers in the path, as in Flicket) and CSV export
    for name, path in (("tickets", "/tickets/"), ("my_tickets", "/my_tickets/"),
                       ("subscribed", "/subscribed/")):
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
    config.add_route("ticket_change_status", "/change_status/{ticket_id}/{status}/", factory=ticket)
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

    # Markdown
    config.add_route("markdown_primer", "/markdown_primer/")
    config.add_route("markdown_preview", "/markdown_preview")

    # API
    config.add_route("api_tokens", "/flicket-api/tokens")
