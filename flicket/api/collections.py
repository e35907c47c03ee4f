"""Paged collections in Flicket's envelope::

    {"items": [...], "_meta": {"page", "per_page", "total_pages", "total_items"},
     "_links": {"self", "next", "prev"}}

Every list takes the page in the path (``.../tickets/2/``) or as ``?page=2``; ``per_page``
defaults to the site's ``posts_per_page`` and is capped at 100. Filters are carried into
the links. One count query and one page query, whatever the page size.
"""

import math

import sqlalchemy as sa

from flicket.api.errors import APIError
from flicket.pagination import site_page_size
from flicket.params import parse_id

MAX_PER_PAGE = 100


def _positive_int(request, name, raw):
    if raw is None:
        return None
    number = parse_id(raw)
    if not number:
        raise APIError(400, f"{name} must be a whole number of at least 1.")
    return number


def paging(request):
    page = _positive_int(request, "page", request.matchdict.get("page") or request.GET.get("page"))
    per_page = _positive_int(request, "per_page", request.GET.get("per_page"))
    if per_page is None:
        per_page = site_page_size(request)
    return page or 1, min(per_page, MAX_PER_PAGE)


def collection(
    request,
    statement,
    present,
    route_name,
    route_kw=None,
    filters=None,
    path_paged=True,
    count_statement=None,
    after_load=None,
):
    """Run ``statement`` for the requested page and wrap the presented items."""
    page, per_page = paging(request)
    if count_statement is None:
        count_statement = sa.select(sa.func.count()).select_from(
            statement.order_by(None).subquery()
        )
    total = request.dbsession.scalar(count_statement) or 0
    total_pages = math.ceil(total / per_page) if total else 0
    if page > max(total_pages, 1):
        raise APIError(404, f"Page {page} does not exist; there are {total_pages} pages.")
    items = list(
        request.dbsession.scalars(statement.limit(per_page).offset((page - 1) * per_page)).unique()
    )
    if after_load is not None:
        after_load(items)
    route_kw = route_kw or {}
    query = {k: v for k, v in (filters or {}).items() if v not in (None, "")}

    def link(number):
        if path_paged:
            return request.public_url(
                route_name + "_page",
                page=number,
                _query={**query, "per_page": per_page},
                **route_kw,
            )
        return request.public_url(
            route_name, _query={**query, "page": number, "per_page": per_page}, **route_kw
        )

    return {
        "items": [present(item) for item in items],
        "_meta": {
            "page": page,
            "per_page": per_page,
            "total_pages": total_pages,
            "total_items": total,
        },
        "_links": {
            "self": link(page),
            "next": link(page + 1) if page < total_pages else None,
            "prev": link(page - 1) if page > 1 else None,
        },
    }
