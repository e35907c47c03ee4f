"""The ticket lists (/tickets/, /my_tickets/, /subscribed/, paged in the path) and their
CSV export (/tickets_csv/).

Unlike Flicket, every link of a list (pages, sorts, search, reset, CSV) stays on the same
list with its filters, and choosing a sort does not redirect: the sort is remembered in a
cookie and used when a link carries none. The queries live in ``flicket.tickets.lists``.
"""

import csv
import io

from pyramid.view import view_config

from flicket import clock
from flicket.i18n import _, label, translate
from flicket.pagination import page_number, site_page_size
from flicket.permissions import Permission
from flicket.tickets.lists import (
    DEFAULT_SORT,
    SORT_KEYS,
    TicketFilters,
    fetch_page,
    fetch_rows,
    parse_sort,
    sort_label,
)
from flicket.tickets.search import searcher

SORT_COOKIE = "tickets_sort"
SORT_COOKIE_MAX_AGE = 2419200  # 28 days, as Flicket
DEFAULT_CSV_LIMIT = 1000

#: list route -> (scope, page title)
LISTS = {
    "tickets": ("all", _("Tickets")),
    "my_tickets": ("mine", _("My Tickets")),
    "subscribed": ("subscribed", _("Subscribed Tickets")),
}
ROUTE_OF_SCOPE = {scope: route for route, (scope, _title) in LISTS.items()}

#: The header row, written in the language of the person exporting.
CSV_HEADER = (
    _("Ticket_ID"),
    _("Priority"),
    _("Title"),
    _("Submitted By"),
    _("Date"),
    _("Replies"),
    _("Category"),
    _("Status"),
    _("Assigned"),
    _("URL"),
)
#: A cell starting with one of these is a formula to a spreadsheet (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _filters(request):
    filters = TicketFilters.from_params(request.GET)
    filters.resolve(request.tickets)
    return filters


def _sort(request):
    """(sort key, whether the request chose it): the ``sort`` parameter, else the cookie,
    else the default; an unknown value is ignored."""
    asked = parse_sort(request.GET.get("sort"))
    if asked:
        return asked, True
    return parse_sort(request.cookies.get(SORT_COOKIE)) or DEFAULT_SORT, False


def _remember_sort(request, sort):
    request.response.set_cookie(
        SORT_COOKIE,
        sort,
        max_age=SORT_COOKIE_MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=bool(request.registry.settings.get("flicket.session.secure")),
        path="/",
    )


def _csv_limit(request):
    value = getattr(request.flicket_config, "csv_dump_limit", None)
    if not isinstance(value, int) or value < 1:
        return DEFAULT_CSV_LIMIT
    return value


def _search_choices(request, filters):
    """Departments, categories and statuses for the search form's selects."""
    categories = request.tickets.categories()
    departments = []
    for category in categories:
        if category.department is not None and category.department not in departments:
            departments.append(category.department)
    chosen_department = next((d for d in departments if d.department == filters.department), None)
    # A category name exists in several departments: select the one of the chosen
    # department, or the first.
    selected_category = next(
        (
            c
            for c in categories
            if c.category == filters.category
            and (chosen_department is None or c.department_id == chosen_department.id)
        ),
        None,
    )
    groups = [(d, [c for c in categories if c.department_id == d.id]) for d in departments]
    return {
        "departments": departments,
        "category_groups": groups,
        "selected_category_id": selected_category.id if selected_category else None,
        "statuses": request.tickets.statuses(),
    }


@view_config(route_name="tickets", renderer="tickets/list.jinja2", permission=Permission.VIEW)
@view_config(route_name="tickets_page", renderer="tickets/list.jinja2", permission=Permission.VIEW)
@view_config(route_name="my_tickets", renderer="tickets/list.jinja2", permission=Permission.VIEW)
@view_config(
    route_name="my_tickets_page", renderer="tickets/list.jinja2", permission=Permission.VIEW
)
@view_config(route_name="subscribed", renderer="tickets/list.jinja2", permission=Permission.VIEW)
@view_config(
    route_name="subscribed_page", renderer="tickets/list.jinja2", permission=Permission.VIEW
)
def ticket_list(request):
    route = request.matched_route.name.removesuffix("_page")
    scope, title = LISTS[route]
    filters = _filters(request)
    sort, chosen = _sort(request)
    if chosen:
        _remember_sort(request, sort)
    page = fetch_page(
        request.dbsession,
        filters,
        scope=scope,
        user_id=request.user.id,
        sort=sort,
        page=page_number(request),
        per_page=site_page_size(request),
        search=searcher(request),
    )

    params = filters.query_params()

    def page_url(number):
        query = {**params, "sort": sort}
        if number <= 1:
            return request.route_path(route, _query=query)
        return request.route_path(route + "_page", page=number, _query=query)

    sort_options = [
        {
            "key": key,
            "label": sort_label(key),
            "url": request.route_path(route, _query={**params, "sort": key}),
            "active": key == sort,
        }
        for key in SORT_KEYS
    ]
    return {
        "page_title": title,
        "scope": scope,
        "list_route": route,
        "page": page,
        "rows": page.items,
        "filters": filters,
        "username_value": filters.username or (filters.user.username if filters.user else ""),
        "sort": sort,
        "sort_label": sort_label(sort),
        "sort_options": sort_options,
        "page_url": page_url,
        "form_action": request.route_path(route),
        "reset_url": request.route_path(route),
        "csv_url": request.route_path(
            "tickets_csv", _query={"scope": scope, **params, "sort": sort}
        ),
        **_search_choices(request, filters),
    }


def neutralise(value):
    """Text for a CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _csv_line(request, row):
    ticket = row.ticket
    category = ticket.category
    department = category.department if category is not None else None
    return [
        ticket.id_zfill,
        label(ticket.ticket_priority.priority) if ticket.ticket_priority else "",
        ticket.title,
        (ticket.user.name or ticket.user.username) if ticket.user else "",
        ticket.date_added.strftime("%Y-%m-%d") if ticket.date_added else "",
        row.replies,
        " - ".join(
            part
            for part in (
                department.department if department else "",
                category.category if category else "",
            )
            if part
        ),
        label(ticket.status.status) if ticket.status else "",
        (ticket.assigned.name or ticket.assigned.username)
        if ticket.assigned
        else translate(_("Not assigned"), request.localizer),
        request.public_url("ticket_view", ticket_id=ticket.id),
    ]


@view_config(route_name="tickets_csv", permission=Permission.VIEW)
def tickets_csv(request):
    """The list's tickets as CSV: same scope, filters and sort, up to ``csv_dump_limit``."""
    scope = request.GET.get("scope", "all")
    if scope not in ROUTE_OF_SCOPE:
        scope = "all"
    rows = fetch_rows(
        request.dbsession,
        _filters(request),
        scope=scope,
        user_id=request.user.id,
        sort=_sort(request)[0],
        limit=_csv_limit(request),
        search=searcher(request),
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([translate(name, request.localizer) for name in CSV_HEADER])
    for row in rows:
        writer.writerow([neutralise(cell) for cell in _csv_line(request, row)])
    response = request.response
    # The BOM lets spreadsheet programs read the UTF-8 (accented names) correctly.
    response.body = ("\ufeff" + buffer.getvalue()).encode("utf-8")
    response.content_type = "text/csv"
    response.charset = "utf-8"
    stamp = clock.utcnow().strftime("%Y%m%d-%H%M%S")
    response.content_disposition = f'attachment; filename="{stamp}ticketdump.csv"'
    return response
