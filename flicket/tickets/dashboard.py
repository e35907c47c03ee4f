"""The home page: a dashboard a desk manager reads at a glance.

Totals of the open work, the open high-priority tickets, and one chart per department of
its tickets by status. The page runs a fixed number of queries whatever the number of
tickets or departments: the statuses, the tally of tickets per category, status and
priority that the database keeps (which gives every total) and one query for the
high-priority list with the stored reply counts and hours. The charts are SVG drawn by the
template from numbers computed here: no JavaScript, and every name goes through Jinja's
autoescape.
"""

from dataclasses import dataclass, field
from decimal import Decimal

import sqlalchemy as sa
from pyramid.view import view_config
from sqlalchemy.orm import contains_eager, defer, joinedload, raiseload

from flicket.departments.models import Category, Department
from flicket.i18n import _
from flicket.permissions import Permission
from flicket.tickets.lists import not_closed
from flicket.tickets.models import Priority, Ticket, TicketTally
from flicket.tickets.services import CLOSED, IN_WORK

AWAITING_INFORMATION = "Awaiting Information"
HIGH = "high"
#: The dashboard shows the newest few at a glance; the list behind its total has them all.
HIGH_PRIORITY_LIMIT = 20

#: Chart colours by status name; other statuses take the palette in turn. Each reaches 3:1
#: against the white page, and segments are parted by white gaps and named in the legend.
STATUS_COLOURS = {
    "Open": "#0a58ca",
    "In Work": "#146c43",
    "Awaiting Information": "#b35900",
    "Closed": "#6c757d",
}
PALETTE = ("#6f42c1", "#d63384", "#087990", "#997404", "#495057", "#ab2e3c")


def status_colour(name, index):
    return STATUS_COLOURS.get(name) or PALETTE[index % len(PALETTE)]


@dataclass
class Segment:
    """One status in one department's bar: ``colour`` is an SVG fill, ``x`` and ``width``
    are in percent of the longest bar."""

    status: str
    count: int
    colour: str
    x: float = 0.0
    width: float = 0.0


@dataclass
class DepartmentChart:
    id: int
    name: str
    total: int = 0
    segments: list[Segment] = field(default_factory=list)


@dataclass
class Totals:
    open: int = 0
    in_work: int = 0
    awaiting_information: int = 0
    unassigned_open: int = 0
    high_priority_open: int = 0


@dataclass
class HighPriorityTicket:
    ticket: Ticket
    replies: int
    total_hours: Decimal


def _as_decimal(value):
    # SQLite hands back a float for an aggregate of NUMERIC values.
    return Decimal(str(value)) if value is not None else Decimal(0)


class Dashboard:
    """The numbers of the home page, in three queries (statuses, counts, high-priority)."""

    def __init__(self, request):
        self.request = request
        self.db = request.dbsession

    def counts(self):
        """Rows of (department id, department name, status id, priority id, priority name,
        tickets, assigned tickets) from the tally the database keeps per category, status
        and priority (``TicketTally``): a few dozen rows whatever the number of tickets."""
        return self.db.execute(
            sa.select(
                Department.id,
                Department.department,
                TicketTally.status_id,
                TicketTally.ticket_priority_id,
                Priority.priority,
                TicketTally.tickets,
                TicketTally.assigned,
            )
            .select_from(TicketTally)
            .outerjoin(Category, TicketTally.category_id == Category.id)
            .outerjoin(Department, Category.department_id == Department.id)
            .outerjoin(Priority, TicketTally.ticket_priority_id == Priority.id)
            .where(TicketTally.tickets > 0)
        ).all()

    def summary(self, statuses):
        """The totals, the department charts and the ids of the high priority (those of
        its tickets), all from the tally."""
        names = {status.id: status.status for status in statuses}
        totals = Totals()
        by_department = {}
        high_ids = set()
        for row in self.counts():
            department_id, department_name, status_id, priority_id, priority, count, assigned = row
            count, assigned = int(count), int(assigned)
            name = names.get(status_id)
            if priority == HIGH:
                high_ids.add(priority_id)
            if name != CLOSED:
                totals.open += count
                totals.unassigned_open += count - assigned
                if priority == HIGH:
                    totals.high_priority_open += count
            if name == IN_WORK:
                totals.in_work += count
            elif name == AWAITING_INFORMATION:
                totals.awaiting_information += count
            if department_id is not None:
                department = by_department.setdefault(
                    department_id, {"name": department_name or "", "counts": {}}
                )
                department["counts"][status_id] = department["counts"].get(status_id, 0) + count

        charts = []
        for department_id, department in by_department.items():
            chart = DepartmentChart(id=department_id, name=department["name"])
            chart.segments = [
                Segment(
                    status.status or "",
                    department["counts"].get(status.id, 0),
                    status_colour(status.status, index),
                )
                for index, status in enumerate(statuses)
            ]
            # Tickets without a (known) status still count in the department's total.
            chart.total = sum(department["counts"].values())
            charts.append(chart)
        charts.sort(key=lambda chart: (chart.name.lower(), chart.id))

        # Bars share one scale so departments compare at a glance.
        longest = max((chart.total for chart in charts), default=0)
        for chart in charts:
            x = 0.0
            for segment in chart.segments:
                segment.x = x
                segment.width = 100.0 * segment.count / longest if longest else 0.0
                x += segment.width
        return totals, charts, high_ids

    def high_priority(self, statuses, high_ids, limit=HIGH_PRIORITY_LIMIT):
        """Open high-priority tickets, newest first, with everything the cards show. The
        conditions are on literal ids (``high_ids``, the statuses but Closed), so every
        planner walks the (priority, date added) index from its end and stops after a
        page, whatever the number of tickets."""
        rows = self.db.execute(
            sa.select(Ticket)
            .join(Ticket.ticket_priority)
            .outerjoin(Ticket.status)
            .where(Ticket.ticket_priority_id.in_(sorted(high_ids)), not_closed(statuses))
            .options(
                contains_eager(Ticket.ticket_priority),
                contains_eager(Ticket.status),
                joinedload(Ticket.user),
                joinedload(Ticket.assigned),
                joinedload(Ticket.category).joinedload(Category.department),
                # Nothing else is loaded: a lazy load here would be one query per ticket.
                defer(Ticket.content, raiseload=True),
                raiseload("*"),
            )
            .order_by(Ticket.date_added.desc(), Ticket.id.desc())
            .limit(limit)
        ).scalars()
        return [
            HighPriorityTicket(
                ticket=ticket,
                replies=ticket.reply_count,
                total_hours=_as_decimal(ticket.total_hours),
            )
            for ticket in rows
        ]


def total_links(request):
    """Where each total leads: the ticket list filtered the same way.

    The list hides Closed tickets unless ``status=Closed`` is asked for, so "open" is the
    plain list. ``unassigned`` and ``priority`` are the list filters for the last two.
    """

    def tickets(**query):
        return request.route_path("tickets", _query=query)

    return {
        "open": tickets(),
        "in_work": tickets(status=IN_WORK),
        "awaiting_information": tickets(status=AWAITING_INFORMATION),
        "unassigned_open": tickets(unassigned="1"),
        "high_priority_open": tickets(priority=HIGH),
    }


@view_config(route_name="home", renderer="tickets/home.jinja2", permission=Permission.VIEW)
def home(request):
    dashboard = Dashboard(request)
    statuses = request.tickets.statuses()
    totals, charts, high_ids = dashboard.summary(statuses)
    return {
        "page_title": _("Home"),
        "totals": totals,
        "total_links": total_links(request),
        "charts": charts,
        "high_priority": dashboard.high_priority(statuses, high_ids),
        "high_priority_limit": HIGH_PRIORITY_LIMIT,
    }
