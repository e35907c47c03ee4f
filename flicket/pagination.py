"""Pagination shared by every paged page (ticket lists, replies, users, departments).

A ``Page`` counts with one query and fetches one page with one more; templates render it
with ``macros/pagination.jinja2``.
"""

import math

import sqlalchemy as sa

from flicket.params import parse_id


class Page:
    def __init__(self, items, page, per_page, total):
        self.items = items
        self.page = page
        self.per_page = per_page
        self.total = total
        self.pages = max(1, math.ceil(total / per_page)) if per_page else 1

    @property
    def first_index(self):
        """1-based number of the first item on this page (replies are numbered across pages)."""
        return (self.page - 1) * self.per_page + 1

    @property
    def has_previous(self):
        return self.page > 1

    @property
    def has_next(self):
        return self.page < self.pages

    def window(self, around=2):
        """Page numbers to show, with None for a gap: 1 … 4 5 [6] 7 8 … 20."""
        shown = {1, self.pages, *range(self.page - around, self.page + around + 1)}
        numbers = sorted(n for n in shown if 1 <= n <= self.pages)
        result, previous = [], 0
        for number in numbers:
            if number - previous > 1:
                result.append(None)
            result.append(number)
            previous = number
        return result


def page_number(request, key="page"):
    """The page asked for in the path (``.../<page>/``) or ``?page=``; 1 when absent or bad."""
    value = request.matchdict.get(key) if request.matchdict else None
    value = value or request.GET.get(key, "1")
    number = parse_id(value, max_digits=6)
    return number if number else 1


def paginate(dbsession, statement, page, per_page, count_statement=None):
    """Run ``statement`` for one page; ``count_statement`` defaults to counting it."""
    if count_statement is None:
        count_statement = sa.select(sa.func.count()).select_from(
            statement.order_by(None).subquery()
        )
    total = dbsession.scalar(count_statement) or 0
    pages = max(1, math.ceil(total / per_page))
    page = min(page, pages)
    items = list(
        dbsession.scalars(statement.limit(per_page).offset((page - 1) * per_page)).unique()
    )
    return Page(items, page, per_page, total)


DEFAULT_PAGE_SIZE = 50


def site_page_size(request):
    """The site's page size (``posts_per_page`` of the configuration row), or 50."""
    value = getattr(request.flicket_config, "posts_per_page", None)
    return value if isinstance(value, int) and value >= 1 else DEFAULT_PAGE_SIZE
