"""The ticket list query: one builder for /tickets/, /my_tickets/, /subscribed/ and the CSV.

``TicketFilters`` reads the list's query parameters (reference §3.4); ``list_statement``
turns filters, scope and sort into one SELECT that also loads everything a ticket card
shows: creator, assignee, status, priority, category with its department, and the stored
reply count and total hours. Every filter is a condition on ``flicket_topic``'s own
(indexed) columns, names being turned into ids by subqueries, so the count and the choice
of the page's ids read one table through its indexes; a derived table picks the page's
ticket ids (with a window count of all the matches) first and only those rows are joined to
what the cards show. A list page therefore runs the same statements whatever its size: one
for the page of rows and the count, and one for the role groups of the users named on it
(see ``fetch_page``). The text filter is the
database's full-text index (``flicket.tickets.search``).

Rules kept here, in one place:

- Closed tickets are hidden unless ``status=Closed`` is asked for; statuses, departments
  and categories are matched by *name*, never by id.
- Bad values never fail: unknown names match nothing, a user number that is not a number is
  ignored (with a notice for the page), a number too large for the database matches nothing,
  an unknown sort key falls back to the default.
- Sorts break ties by ticket id ascending (except the two id sorts). NULL sorts as the lowest
  value on every database (PostgreSQL is told so; SQLite and MariaDB do it already).
"""

import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

import sqlalchemy as sa
from pyramid.i18n import TranslationString
from sqlalchemy.orm import aliased, contains_eager

from flicket.accounts.models import User
from flicket.accounts.roles import load_role_groups
from flicket.departments.models import Category, Department
from flicket.i18n import _
from flicket.pagination import Page
from flicket.tickets.models import Priority, Status, Subscription, Ticket
from flicket.tickets.services import CLOSED

SCOPES = ("all", "mine", "subscribed")
DEFAULT_SORT = "priority_desc"

#: sort key -> (ascending label, descending label); reference §3.4. Each label is one
#: message, so a translator sees the whole of it.
SORTS = {
    "priority": (_("Priority (low first)"), _("Priority (high first)")),
    "title": (_("Title (A to Z)"), _("Title (Z to A)")),
    "ticketid": (_("Number (oldest first)"), _("Number (newest first)")),
    "addedby": (_("Submitted by (A to Z)"), _("Submitted by (Z to A)")),
    "addedon": (_("Created (oldest first)"), _("Created (newest first)")),
    "last_updated": (_("Updated (oldest first)"), _("Updated (newest first)")),
    "replies": (_("Replies (fewest first)"), _("Replies (most first)")),
    "department_category": (
        _("Department / category (A to Z)"),
        _("Department / category (Z to A)"),
    ),
    "status": (_("Status (ascending)"), _("Status (descending)")),
    "assigned": (_("Assigned (A to Z)"), _("Assigned (Z to A)")),
    "time": (_("Hours (fewest first)"), _("Hours (most first)")),
}
SORT_KEYS = tuple(key for base in SORTS for key in (base, base + "_desc"))

#: The largest id an INTEGER column holds on every supported database.
MAX_ID = 2**31 - 1
_DIGITS = re.compile(r"[0-9]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def parse_sort(value):
    """``value`` if it is one of the 22 sort keys, else None."""
    return value if isinstance(value, str) and value in SORT_KEYS else None


def sort_label(key):
    """The sort's name for people (a TranslationString)."""
    base, descending = (key[:-5], True) if key.endswith("_desc") else (key, False)
    ascending_label, descending_label = SORTS[base]
    return descending_label if descending else ascending_label


def _clean_text(value):
    """Query-string text without control characters (PostgreSQL refuses NUL), trimmed."""
    if not isinstance(value, str):
        return ""
    return _CONTROL.sub("", value).strip()


@dataclass
class TicketFilters:
    """The filters of a ticket list, read from its query string (names, not ids)."""

    status: str = ""
    priority: str = ""
    #: Only tickets nobody is assigned to ("1").
    unassigned: bool = False
    department: str = ""
    category: str = ""
    user_id: int | None = None
    username: str = ""
    assigned_id: int | None = None
    created_id: int | None = None
    content: str = ""
    #: Messages for the page about values that were ignored or match nothing
    #: (TranslationStrings).
    notices: list = field(default_factory=list)
    #: The user named by ``username`` or ``user_id``, once ``resolve`` found them.
    user: User | None = None
    #: Set when a filter can match no ticket at all (an unknown username).
    match_nothing: bool = False
    #: Every status (``TicketService.statuses``), so that status names become ids here.
    statuses: list = field(default_factory=list)

    #: Query parameters, in the order links carry them.
    PARAMS = (
        "status",
        "priority",
        "unassigned",
        "department",
        "category",
        "user_id",
        "username",
        "assigned_id",
        "created_id",
        "content",
    )
    #: id parameter -> what to say when its value is not a user number.
    _ID_LABELS = {
        "user_id": _("The user filter “${value}” is not a user number, so it was ignored."),
        "assigned_id": _(
            "The assigned user filter “${value}” is not a user number, so it was ignored."
        ),
        "created_id": _("The creator filter “${value}” is not a user number, so it was ignored."),
    }

    @classmethod
    def from_params(cls, params):
        filters = cls()
        for name in ("status", "priority", "department", "category", "username", "content"):
            setattr(filters, name, _clean_text(params.get(name)))
        filters.unassigned = _clean_text(params.get("unassigned")) in ("1", "true", "yes")
        for name in cls._ID_LABELS:
            setattr(filters, name, filters._parse_id(name, params.get(name)))
        return filters

    def _parse_id(self, name, raw):
        raw = _clean_text(raw)
        if not raw:
            return None
        if _DIGITS.fullmatch(raw):
            # Too large for the column: no user has it, so the filter matches nothing.
            return int(raw) if len(raw) <= 10 and int(raw) <= MAX_ID else 0
        shown = raw if len(raw) <= 40 else raw[:40] + "…"
        self.notices.append(TranslationString(self._ID_LABELS[name], mapping={"value": shown}))
        return None

    def resolve(self, tickets):
        """Find the statuses and the user of the ``username`` (or ``user_id``) filter with
        the ticket service ``tickets``; an unknown username matches nothing and says so."""
        self.statuses = tickets.statuses()
        if self.username:
            self.user = tickets.user_by_username(self.username)
            if self.user is None:
                self.match_nothing = True
                shown = self.username if len(self.username) <= 40 else self.username[:40] + "…"
                self.notices.append(
                    _("There is no user with the username “${name}”.", mapping={"name": shown})
                )
        elif self.user_id:
            self.user = tickets.db.get(User, self.user_id)

    @property
    def effective_user_id(self):
        """The creator-or-assignee filter: the username's user when given, else user_id."""
        if self.username:
            return self.user.id if self.user is not None else None
        return self.user_id

    def query_params(self):
        """The filters as query parameters for links (only those that are set)."""
        params = {}
        for name in self.PARAMS:
            value = getattr(self, name)
            if value is True:
                params[name] = "1"
            elif value not in (None, "", False):
                params[name] = str(value)
        return params

    def conditions(self, search):
        """WHERE clauses on ``flicket_topic``'s own columns; ``search`` turns the text
        filter into a condition (``flicket.tickets.search.searcher``)."""
        conditions = []
        if self.match_nothing:
            conditions.append(sa.false())
        if self.status:
            conditions.append(status_is(self.statuses, self.status))
        else:
            conditions.append(not_closed(self.statuses))
        if self.priority:
            conditions.append(
                Ticket.ticket_priority_id.in_(
                    sa.select(Priority.id).where(Priority.priority == self.priority)
                )
            )
        if self.unassigned:
            conditions.append(Ticket.assigned_id.is_(None))
        if self.department:
            conditions.append(in_department(self.department))
        if self.category:
            conditions.append(in_category(self.category))
        user_id = self.effective_user_id
        if user_id is not None:
            conditions.append(sa.or_(Ticket.started_id == user_id, Ticket.assigned_id == user_id))
        if self.assigned_id is not None:
            conditions.append(Ticket.assigned_id == self.assigned_id)
        if self.created_id is not None:
            conditions.append(Ticket.started_id == self.created_id)
        if self.content:
            conditions.append(search(self.content))
        return conditions


# Names are turned into ids (statuses: from the request's list of them, so the ids are
# literal and every planner can use the index, an OR with IS NULL included; departments and
# categories: by subqueries), so that every condition is on an indexed column of
# flicket_topic (no join is needed to count or to choose a page).


def status_is(statuses, name):
    ids = [status.id for status in statuses if status.status == name]
    return Ticket.status_id.in_(ids) if ids else sa.false()


def not_closed(statuses):
    """Every status but Closed (from ``statuses``, all of them), and no status."""
    ids = [status.id for status in statuses if status.status != CLOSED]
    if not ids:
        return Ticket.status_id.is_(None)
    return sa.or_(Ticket.status_id.is_(None), Ticket.status_id.in_(ids))


def in_department(name):
    return Ticket.category_id.in_(
        sa.select(Category.id)
        .join(Department, Category.department_id == Department.id)
        .where(Department.department == name)
    )


def in_category(name):
    return Ticket.category_id.in_(sa.select(Category.id).where(Category.category == name))


def _scope_condition(scope, user_id):
    if scope == "mine":
        return sa.or_(Ticket.started_id == user_id, Ticket.assigned_id == user_id)
    if scope == "subscribed":
        # IN, not a join: the table has no unique constraint, duplicates must not show; and
        # the database can start from the user's few subscriptions (user_id index).
        return Ticket.id.in_(
            sa.select(Subscription.ticket_id).where(Subscription.user_id == user_id)
        )
    return None


def join_filter_tables(statement):
    return (
        statement.outerjoin(Status, Ticket.status_id == Status.id)
        .outerjoin(Category, Ticket.category_id == Category.id)
        .outerjoin(Department, Category.department_id == Department.id)
    )


def _where(statement, filters, scope, user_id, search):
    if scope not in SCOPES:
        raise ValueError(f"unknown ticket list scope {scope!r}")
    scope_condition = _scope_condition(scope, user_id)
    if scope_condition is not None:
        statement = statement.where(scope_condition)
    return statement.where(*filters.conditions(search))


class TicketRow(NamedTuple):
    ticket: Ticket
    replies: int
    total_hours: Decimal


def count_statement(filters, *, scope="all", user_id=None, search=None):
    statement = sa.select(sa.func.count(Ticket.id)).select_from(Ticket)
    return _where(statement, filters, scope, user_id, search)


def sort_order(sort, dialect, *, creator, assignee):
    """ORDER BY clauses of ``sort``, over the given creator/assignee aliases (and
    ``Category``/``Department`` for the department sort)."""
    sort = parse_sort(sort) or DEFAULT_SORT
    descending = sort.endswith("_desc")
    base = sort.removesuffix("_desc")
    if base == "ticketid":
        return [Ticket.id.desc() if descending else Ticket.id.asc()]
    columns = {
        "priority": [Ticket.ticket_priority_id],
        "title": [Ticket.title],
        "addedby": [creator.name],
        "addedon": [Ticket.date_added],
        "last_updated": [Ticket.last_updated],
        "replies": [Ticket.reply_count],
        "department_category": [Department.department, Category.category],
        "status": [Ticket.status_id],
        "assigned": [assignee.name],
        "time": [Ticket.total_hours],
    }[base]
    return [_ordered(column, descending, dialect) for column in columns] + [Ticket.id.asc()]


def _ordered(column, descending, dialect):
    ordered = column.desc() if descending else column.asc()
    if dialect == "postgresql":
        # PostgreSQL sorts NULL as the highest value; the others as the lowest.
        ordered = ordered.nulls_last() if descending else ordered.nulls_first()
    return ordered


def sort_joins(statement, sort, creator, assignee):
    """``statement`` with the tables ``sort`` orders by joined (none for most sorts)."""
    base = (parse_sort(sort) or DEFAULT_SORT).removesuffix("_desc")
    if base == "addedby":
        statement = statement.outerjoin(creator, Ticket.started_id == creator.id)
    if base == "assigned":
        statement = statement.outerjoin(assignee, Ticket.assigned_id == assignee.id)
    if base == "department_category":
        statement = statement.outerjoin(Category, Ticket.category_id == Category.id).outerjoin(
            Department, Category.department_id == Department.id
        )
    return statement


def _page_of_ids(filters, *, scope, user_id, sort, dialect, search, limit, offset):
    """The ids of one page, as a derived table: filtered, sorted and cut on the ticket
    table's indexes, joining only what a name sort needs. Each row also carries the number
    of tickets the filters match (a window count, computed in the same pass as the page,
    so the filters, a text search above all, are evaluated once)."""
    creator = aliased(User, name="page_creator")
    assignee = aliased(User, name="page_assignee")
    statement = sa.select(
        Ticket.id.label("id"), sa.func.count().over().label("total")
    ).select_from(Ticket)
    statement = sort_joins(statement, sort, creator, assignee)
    order = sort_order(sort, dialect, creator=creator, assignee=assignee)
    statement = _where(statement, filters, scope, user_id, search).order_by(*order)
    return statement.limit(limit).offset(offset).subquery("page")


def list_statement(
    filters,
    *,
    scope="all",
    user_id=None,
    sort=DEFAULT_SORT,
    dialect=None,
    search=None,
    limit,
    offset=0,
):
    """One SELECT of (ticket, reply count, total hours, tickets matched) for ``limit``
    tickets from ``offset``, with everything a card shows loaded by the same statement."""
    page = _page_of_ids(
        filters,
        scope=scope,
        user_id=user_id,
        sort=sort,
        dialect=dialect,
        search=search,
        limit=limit,
        offset=offset,
    )
    creator = aliased(User, name="creator")
    assignee = aliased(User, name="assignee")
    statement = (
        join_filter_tables(
            sa.select(Ticket, Ticket.reply_count, Ticket.total_hours, page.c.total)
            .select_from(Ticket)
            .join(page, page.c.id == Ticket.id)
        )
        .outerjoin(Priority, Ticket.ticket_priority_id == Priority.id)
        .outerjoin(creator, Ticket.started_id == creator.id)
        .outerjoin(assignee, Ticket.assigned_id == assignee.id)
        .options(
            contains_eager(Ticket.status),
            contains_eager(Ticket.ticket_priority),
            contains_eager(Ticket.category).contains_eager(Category.department),
            contains_eager(Ticket.user.of_type(creator)),
            contains_eager(Ticket.assigned.of_type(assignee)),
        )
    )
    order = sort_order(sort, dialect, creator=creator, assignee=assignee)
    return statement.order_by(*order)


def _dialect(dbsession):
    return dbsession.get_bind().dialect.name


def _rows(dbsession, filters, *, scope, user_id, sort, search, limit, offset=0):
    """(``TicketRow`` list, number of tickets the filters match; 0 when no row came)."""
    statement = list_statement(
        filters,
        scope=scope,
        user_id=user_id,
        sort=sort,
        dialect=_dialect(dbsession),
        search=search,
        limit=limit,
        offset=offset,
    )
    result = dbsession.execute(statement).all()
    rows = [TicketRow(ticket, replies, hours) for ticket, replies, hours, _total in result]
    return rows, (result[0][3] if result else 0)


def fetch_page(dbsession, filters, *, scope, user_id, sort, page, per_page, search):
    """One page of ``TicketRow``; a page past the end shows the last page. ``search``:
    ``flicket.tickets.search.searcher`` of the request. One statement gives the page and
    the count; only a page past the end costs a count and a second page query."""
    page = max(page, 1)
    query = {"scope": scope, "user_id": user_id, "search": search}
    rows, total = _rows(
        dbsession, filters, sort=sort, limit=per_page, offset=(page - 1) * per_page, **query
    )
    if not rows and page > 1:
        total = dbsession.scalar(count_statement(filters, **query)) or 0
        page = max(1, math.ceil(total / per_page))
        if total:
            rows, total = _rows(
                dbsession,
                filters,
                sort=sort,
                limit=per_page,
                offset=(page - 1) * per_page,
                **query,
            )
    # Creators and assignees are named with their role: their groups in one query.
    load_role_groups(
        dbsession, [u for row in rows for u in (row.ticket.user, row.ticket.assigned)]
    )
    return Page(rows, page, per_page, total)


def fetch_rows(dbsession, filters, *, scope, user_id, sort, limit, search):
    """Up to ``limit`` ``TicketRow`` (the CSV export)."""
    rows, _total = _rows(
        dbsession, filters, scope=scope, user_id=user_id, sort=sort, search=search, limit=limit
    )
    return rows
