"""Quick ways to arrange ticket data in tests (straight to the database, no service)."""

from decimal import Decimal

import sqlalchemy as sa

from flicket import clock
from flicket.departments.models import Category, Department
from flicket.tickets.models import Post, Priority, Status, Subscription, Ticket


def status(dbsession, name):
    return dbsession.scalars(sa.select(Status).where(Status.status == name)).one()


def priority(dbsession, name):
    return dbsession.scalars(sa.select(Priority).where(Priority.priority == name)).one()


def category(dbsession, department_name="IT", category_name="Other"):
    return dbsession.scalars(
        sa.select(Category)
        .join(Category.department)
        .where(Department.department == department_name, Category.category == category_name)
    ).one()


def make_ticket(
    dbsession,
    creator,
    title="Printer on fire",
    content="The printer on floor 2 is on fire.",
    *,
    status_name="Open",
    priority_name="medium",
    department="IT",
    category_name="Other",
    assigned=None,
    hours="0",
    when=None,
    subscribe=True,
):
    now = when or clock.utcnow()
    ticket = Ticket(
        title=title,
        content=content,
        user=creator,
        date_added=now,
        last_updated=now,
        status=status(dbsession, status_name),
        ticket_priority=priority(dbsession, priority_name),
        category=category(dbsession, department, category_name),
        assigned=assigned,
        hours=Decimal(hours),
        total_hours=Decimal(hours),
    )
    dbsession.add(ticket)
    dbsession.flush()
    if subscribe:
        dbsession.add(Subscription(ticket_id=ticket.id, user_id=creator.id))
        dbsession.flush()
    return ticket


def make_post(dbsession, ticket, author, content="Have you tried turning it off?", hours="0"):
    post = Post(ticket=ticket, user=author, content=content, date_added=clock.utcnow(),
                hours=Decimal(hours))
    dbsession.add(post)
    # The stored counters, as the ticket service keeps them.
    ticket.reply_count = (ticket.reply_count or 0) + 1
    ticket.total_hours = (ticket.total_hours or 0) + Decimal(hours)
    dbsession.flush()
    return post
