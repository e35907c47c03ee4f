"""``flicket-update-user-posts`` and ``flicket-update-user-assigned``: recompute the users'
stored counters from the tickets.

- ``total_posts`` = tickets the user created + replies the user wrote;
- ``total_assigned`` = tickets currently assigned to the user.

``flicket-update-user-posts`` also repairs what each ticket stores about its replies:
``reply_count`` (its replies) and ``total_hours`` (its hours plus its replies' hours).

All are counted with grouped SQL; only rows whose value differs are written, and the new
value is computed again inside the UPDATE, so a reply written meanwhile is not lost.
``flicket-populate`` uses the same functions.
"""

import sys
from decimal import Decimal

import sqlalchemy as sa

from flicket.accounts.models import User
from flicket.i18n import _
from flicket.scripts.common import (
    bootstrapped,
    make_parser,
    pluralize,
    require_schema,
    run_main,
    say,
)
from flicket.tickets.models import Post, Ticket

#: counter column -> (command name, what it counts)
COUNTERS = {
    "total_posts": ("flicket-update-user-posts", "tickets created plus replies written"),
    "total_assigned": ("flicket-update-user-assigned", "tickets currently assigned"),
}
UPDATE_CHUNK = 500


def _posts_expression(user_id):
    """SQL for a user's true ``total_posts`` (correlated to ``user_id``)."""
    tickets = (
        sa.select(sa.func.count(Ticket.id)).where(Ticket.started_id == user_id).scalar_subquery()
    )
    replies = sa.select(sa.func.count(Post.id)).where(Post.user_id == user_id).scalar_subquery()
    return tickets + replies


def _assigned_expression(user_id):
    return (
        sa.select(sa.func.count(Ticket.id)).where(Ticket.assigned_id == user_id).scalar_subquery()
    )


def true_counts(conn, column):
    """``{user_id: true value}`` for every user with a non-zero count (grouped SQL)."""
    counts = {}
    if column == "total_posts":
        queries = [
            sa.select(Ticket.started_id, sa.func.count())
            .where(Ticket.started_id.is_not(None))
            .group_by(Ticket.started_id),
            sa.select(Post.user_id, sa.func.count())
            .where(Post.user_id.is_not(None))
            .group_by(Post.user_id),
        ]
    elif column == "total_assigned":
        queries = [
            sa.select(Ticket.assigned_id, sa.func.count())
            .where(Ticket.assigned_id.is_not(None))
            .group_by(Ticket.assigned_id)
        ]
    else:
        raise ValueError(f"unknown counter {column!r}")
    for query in queries:
        for user_id, count in conn.execute(query):
            counts[user_id] = counts.get(user_id, 0) + count
    return counts


def differences(conn, column):
    """``[(user_id, username, stored value, true value)]`` for the users whose stored value
    is wrong (NULL counts as wrong), by username."""
    counts = true_counts(conn, column)
    stored = conn.execute(
        sa.select(User.id, User.username, getattr(User, column)).order_by(User.username, User.id)
    )
    return [
        (user_id, username, value, counts.get(user_id, 0))
        for user_id, username, value in stored
        if value != counts.get(user_id, 0)
    ]


def fix(conn, column, user_ids):
    """Write the true value for ``user_ids``, recomputed inside the UPDATE itself."""
    expression = _posts_expression if column == "total_posts" else _assigned_expression
    user_ids = list(user_ids)
    for start in range(0, len(user_ids), UPDATE_CHUNK):
        chunk = user_ids[start : start + UPDATE_CHUNK]
        conn.execute(
            sa.update(User)
            .where(User.id.in_(chunk))
            .values({column: expression(User.id)})
            .execution_options(synchronize_session=False)
        )


def recompute(conn, column, dry_run=False):
    """Find and (unless ``dry_run``) fix the wrong counters; returns the differences."""
    changed = differences(conn, column)
    if changed and not dry_run:
        fix(conn, column, [row[0] for row in changed])
    return changed


def _ticket_truth():
    """Per-ticket replies and reply hours, as a derived table."""
    return (
        sa.select(
            Post.ticket_id.label("ticket_id"),
            sa.func.count(Post.id).label("replies"),
            sa.func.coalesce(sa.func.sum(Post.hours), 0).label("hours"),
        )
        .group_by(Post.ticket_id)
        .subquery("replies")
    )


def ticket_differences(conn):
    """``[(ticket id, stored replies, true replies, stored hours, true hours)]`` for the
    tickets whose stored reply count or total hours is wrong, by id."""
    truth = _ticket_truth()
    replies = sa.func.coalesce(truth.c.replies, 0)
    hours = sa.func.coalesce(Ticket.hours, 0) + sa.func.coalesce(truth.c.hours, 0)
    return conn.execute(
        sa.select(Ticket.id, Ticket.reply_count, replies, Ticket.total_hours, hours)
        .outerjoin(truth, truth.c.ticket_id == Ticket.id)
        .where(
            sa.or_(
                Ticket.reply_count.is_(None),
                Ticket.reply_count != replies,
                Ticket.total_hours.is_(None),
                # SQLite adds NUMERIC hours as floats: compare them at two decimals.
                sa.func.round(Ticket.total_hours, 2) != sa.func.round(hours, 2),
            )
        )
        .order_by(Ticket.id)
    ).all()


def fix_tickets(conn, ticket_ids):
    """Write the true reply count and total hours of ``ticket_ids``, computed inside the
    UPDATE."""
    replies = (
        sa.select(sa.func.count(Post.id)).where(Post.ticket_id == Ticket.id).scalar_subquery()
    )
    reply_hours = (
        sa.select(sa.func.coalesce(sa.func.sum(Post.hours), 0))
        .where(Post.ticket_id == Ticket.id)
        .scalar_subquery()
    )
    ticket_ids = list(ticket_ids)
    for start in range(0, len(ticket_ids), UPDATE_CHUNK):
        conn.execute(
            sa.update(Ticket)
            .where(Ticket.id.in_(ticket_ids[start : start + UPDATE_CHUNK]))
            .values(
                reply_count=replies, total_hours=sa.func.coalesce(Ticket.hours, 0) + reply_hours
            )
            .execution_options(synchronize_session=False)
        )


def recompute_tickets(conn, dry_run=False):
    changed = ticket_differences(conn)
    if changed and not dry_run:
        fix_tickets(conn, [row[0] for row in changed])
    return changed


def _hours(value):
    return f"{Decimal(str(value or 0)):.2f}"


def _shown(value):
    return "NULL" if value is None else str(value)


def run(args, out=print, column="total_posts"):
    with bootstrapped(args.config_uri) as env:
        require_schema(env["registry"]["dbengine"])
        request = env["request"]
        with request.tm:
            session = request.dbsession
            total = session.scalar(sa.select(sa.func.count(User.id)))
            changed = recompute(session, column, dry_run=args.dry_run)
            if column == "total_posts":
                tickets = session.scalar(sa.select(sa.func.count(Ticket.id)))
                changed_tickets = recompute_tickets(session, dry_run=args.dry_run)
    for _user_id, username, old, new in changed:
        out(f"{username}: {_shown(old)} → {new}")
    _summary(out, args, column, changed, total, ("${count} user", "${count} users"))
    if column == "total_posts":
        for ticket_id, old_replies, new_replies, old_hours, new_hours in changed_tickets:
            out(
                f"ticket {ticket_id}: reply_count {_shown(old_replies)} → {new_replies}, "
                f"total_hours {_hours(old_hours)} → {_hours(new_hours)}"
            )
        _summary(
            out,
            args,
            "reply_count, total_hours",
            changed_tickets,
            tickets,
            ("${count} ticket", "${count} tickets"),
        )
    return changed


def _summary(out, args, column, changed, total, forms):
    """``column: updated 2 users of 3 users.`` and the like."""
    everything = pluralize(*forms, total)
    changed_ones = pluralize(*forms, len(changed))
    if not changed:
        message = _("${column}: all ${users} already correct.")
    elif args.dry_run:
        message = _(
            "${column}: ${changed} of ${users} would change (dry run: nothing was written)."
        )
    else:
        message = _("${column}: updated ${changed} of ${users}.")
    out(say(message % {"column": column, "changed": changed_ones, "users": everything}))


def _parser(column):
    prog, counts = COUNTERS[column]
    parser = make_parser(
        prog,
        f"Recompute every user's {column} ({counts}) from the tickets, write the values "
        "that differ and print them as 'username: old → new'."
        + (
            " It also repairs each ticket's stored reply_count and total_hours."
            if column == "total_posts"
            else ""
        ),
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="show what would change; write nothing"
    )
    return parser


def _main(column, argv):
    prog = COUNTERS[column][0]
    return run_main(prog, _parser(column), lambda args, out: run(args, out, column), argv)


def posts_main(argv=None):
    """``flicket-update-user-posts <ini> [--dry-run]``"""
    return _main("total_posts", argv)


def assigned_main(argv=None):
    """``flicket-update-user-assigned <ini> [--dry-run]``"""
    return _main("total_assigned", argv)


if __name__ == "__main__":
    sys.exit(posts_main())
