"""``flicket-email-outstanding-tickets``: remind people of their tickets that are not
closed yet, for cron.

Every enabled user with an email address who created, or is assigned, at least one ticket
whose status is not Closed gets one message, "Outstanding Ticket Notifications", with a
table of those tickets (number, title, priority, status, assignee) linking to each ticket
through the site's base URL. Disabled users and users without an address are skipped and
counted. Each message is handed to the application's mailer in its own transaction and
leaves when it commits, as ``flicket.mail.mode`` says (with ``queue``, flicket-mail-queue
sends it); a message that fails is reported, the others still go, and the exit code is 1.
"Suppress sending" in the site configuration stops the command before it sends anything
(except in the file and dummy modes, which only record messages).
"""

import sys
import time

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from transaction.interfaces import NoTransaction

from flicket.accounts.models import User
from flicket.i18n import _
from flicket.mail import send_templated_mail
from flicket.scripts.common import (
    EXIT_FAILED,
    EXIT_OK,
    CommandError,
    bootstrapped,
    make_parser,
    pluralize,
    require_schema,
    run_main,
    say,
)
from flicket.tickets.models import Priority, Status, Ticket

#: Each message is written in its recipient's language.
SUBJECT = _("Outstanding Ticket Notifications")
TEMPLATE = "outstanding_tickets"
CLOSED = "Closed"
DEFAULT_MAX_TICKETS = 200
#: Mail modes that only record messages on this machine: "Suppress sending" does not apply
#: to them (as in flicket.mail), only to the modes that send mail out (smtp, queue).
LOCAL_MAIL_MODES = ("file", "dummy")


def outstanding_tickets(session):
    """Every ticket whose status is not Closed (found by name), in id order."""
    assignee = aliased(User)
    return session.execute(
        sa.select(
            Ticket.id,
            Ticket.title,
            Ticket.started_id,
            Ticket.assigned_id,
            Priority.priority,
            Status.status,
            assignee.name,
            assignee.username,
        )
        .outerjoin(Status, Ticket.status_id == Status.id)
        .outerjoin(Priority, Ticket.ticket_priority_id == Priority.id)
        .outerjoin(assignee, Ticket.assigned_id == assignee.id)
        .where(sa.or_(Status.status.is_(None), Status.status != CLOSED))
        .order_by(Ticket.id)
    ).all()


def reminders(session, public_url):
    """``(to_send, skipped)``: to_send is a list of ``(user, [ticket values])``, one per
    enabled user with an address; skipped counts the others by reason."""
    per_user = {}
    for row in outstanding_tickets(session):
        values = {
            "id": row.id,
            "number": str(row.id).zfill(5),
            "title": row.title or "",
            "priority": row.priority,
            "status": row.status,
            "assignee": row.name or row.username,
            "link": public_url("ticket_view", ticket_id=row.id),
        }
        for user_id in {row.started_id, row.assigned_id} - {None}:
            per_user.setdefault(user_id, []).append(values)
    users = {}
    ids = sorted(per_user)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        users.update(
            (user.id, user) for user in session.scalars(sa.select(User).where(User.id.in_(chunk)))
        )
    to_send, skipped = [], {"disabled": 0, "no email": 0}
    for user_id in ids:
        user = users.get(user_id)
        if user is None:
            continue
        if user.disabled:
            skipped["disabled"] += 1
        elif not (user.email or "").strip():
            skipped["no email"] += 1
        else:
            to_send.append((user, per_user[user_id]))
    to_send.sort(key=lambda item: ((item[0].username or "").lower(), item[0].id))
    return to_send, skipped


def run(args, out=print):
    if args.delay < 0 or args.max_tickets < 1:
        raise CommandError(_("--delay must be 0 or more and --max-tickets 1 or more."))
    sent = failed = 0
    with bootstrapped(args.config_uri) as env:
        require_schema(env["registry"]["dbengine"], "flicket_users", "flicket_topic")
        request = env["request"]
        with request.tm:
            config = request.flicket_config
            if config is None:
                raise CommandError(_("The site is not set up: run flicket-setup first."))
            if not (config.base_url or "").strip():
                raise CommandError(
                    _(
                        "The base URL is not set, so the messages could not link to the "
                        "tickets: set it in the admin panel (Config) or with flicket-setup "
                        "--base-url."
                    )
                )
            mode = request.registry.settings.get("flicket.mail.mode")
            if config.mail_suppress_send and mode not in LOCAL_MAIL_MODES and not args.dry_run:
                out(
                    say(
                        _(
                            "Nothing was sent: “Suppress sending” is on in the site "
                            "configuration (turn it off in the admin panel to send email)."
                        )
                    )
                )
                return EXIT_OK
            to_send, skipped = reminders(request.dbsession, request.public_url)
            my_tickets = request.public_url("my_tickets")

        for number, (user, tickets) in enumerate(to_send):
            shown = tickets[: args.max_tickets]
            recipient = {
                "username": user.username,
                "email": user.email,
                "tickets": pluralize("${count} ticket", "${count} tickets", len(tickets)),
            }
            if args.dry_run:
                out(say(_("Would send to ${username} <${email}>: ${tickets}") % recipient))
                continue
            if number and args.delay:
                time.sleep(args.delay)
            try:
                with request.tm:
                    send_templated_mail(
                        request,
                        TEMPLATE,
                        [user.email],
                        SUBJECT,
                        locale=user.locale,
                        user=user,
                        tickets=shown,
                        more=len(tickets) - len(shown),
                        my_tickets_link=my_tickets,
                    )
            except Exception as exc:  # noqa: BLE001 - reported; the other users still get theirs
                _abort_failed_commit(request.tm)
                failed += 1
                failure = {**recipient, "error": f"{type(exc).__name__}: {exc}"}
                out(
                    say(
                        _("Failed to send to ${username} <${email}>: ${tickets}: ${error}")
                        % failure
                    )
                )
            else:
                sent += 1
                out(say(_("Sent to ${username} <${email}>: ${tickets}") % recipient))

    ticket_total = len({ticket["id"] for _user, tickets in to_send for ticket in tickets})
    values = {
        "messages": pluralize(
            "${count} message", "${count} messages", len(to_send) if args.dry_run else sent
        ),
        "failed": failed,
        "tickets": pluralize(
            "${count} outstanding ticket", "${count} outstanding tickets", ticket_total
        ),
        "disabled": pluralize(
            "${count} disabled user", "${count} disabled users", skipped["disabled"]
        ),
        "no_email": pluralize(
            "${count} user without an email address",
            "${count} users without an email address",
            skipped["no email"],
        ),
    }
    if args.dry_run:
        summary = _("Dry run: would send ${messages} about ${tickets}")
    elif failed:
        summary = _("Sent ${messages}, ${failed} failed about ${tickets}")
    else:
        summary = _("Sent ${messages} about ${tickets}")
    summary = say(summary % values)
    if skipped["disabled"] and skipped["no email"]:
        note = _("${summary}; skipped ${disabled} and ${no_email}.")
    elif skipped["disabled"]:
        note = _("${summary}; skipped ${disabled}.")
    elif skipped["no email"]:
        note = _("${summary}; skipped ${no_email}.")
    else:
        note = None
    out(say(note % {**values, "summary": summary}) if note else summary + ".")
    return EXIT_FAILED if failed else EXIT_OK


def _abort_failed_commit(tm):
    """A commit that failed (e.g. the SMTP delivery) leaves its transaction open."""
    try:
        tm.abort()
    except NoTransaction:
        pass


def parser():
    parser = make_parser(
        "flicket-email-outstanding-tickets",
        "Email every enabled user a list of the tickets they created or are assigned that "
        "are not closed (subject 'Outstanding Ticket Notifications'), with links built from "
        "the site's base URL. Disabled users and users without an email address are "
        "skipped. Nothing is sent while 'Suppress sending' is on in the site "
        "configuration (except in the file and dummy mail modes, which only record "
        "messages). Exit code 1 if a message could not be handed to the mailer.\n\n"
        "Meant for cron, e.g. every weekday at 7:00:\n"
        "  0 7 * * 1-5  flicket-email-outstanding-tickets /etc/flicket/production.ini",
    )
    parser.add_argument(
        "--delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long between two messages (default: 0)",
    )
    parser.add_argument(
        "--max-tickets",
        type=int,
        default=DEFAULT_MAX_TICKETS,
        metavar="N",
        help=f"list at most N tickets in one message (default: {DEFAULT_MAX_TICKETS}); the "
        "message says how many more there are",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="list who would get a message; send nothing"
    )
    return parser


def main(argv=None):
    """``flicket-email-outstanding-tickets <ini> [--delay S] [--max-tickets N] [--dry-run]``"""
    return run_main("flicket-email-outstanding-tickets", parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
