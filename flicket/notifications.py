"""E-mail notifications for ticket events (reference §6, plus what Flicket never sent).

The ticket service emits its events inside the request's transaction; the subscribers here
render the messages at once and hand them to ``request.mailer``, which delivers them only
when that transaction commits (nothing leaves for a request that fails or is rolled back).

Who gets what:

========================  =============================================  ==================
Event                     Recipients                                     Subject ends with
========================  =============================================  ==================
created                   the creator                                    has been created.
reply                     subscribers, except the replier                has new replies.
assign, claim             subscribers (the actor and the assignee too)   has been assigned
                                                                         to <name>.
release                   subscribers                                    has been released.
close                     subscribers; the details show the state        has been closed.
                          before closing
department/category       subscribers                                    has changed
                                                                         department and/or
                                                                         category.
========================  =============================================  ==================

Subjects start ``Ticket #00042 - "<title>"``. "Subscribers" are the ticket's subscribers
whose account is not disabled and who have an e-mail address; each address gets its own
message (nobody sees the other recipients), once even when it is subscribed twice.
"""

import logging

import sqlalchemy as sa

from flicket.accounts.models import User
from flicket.i18n import _
from flicket.mail import send_templated_mail_to_each
from flicket.tickets import events
from flicket.tickets.models import Subscription

log = logging.getLogger(__name__)

#: Characters that never appear in a usable address; an address with one is skipped
#: rather than risk it being read as several recipients or a header.
_BAD_ADDRESS_CHARACTERS = frozenset(' ,;<>()[]"\\')


def display_name(user):
    if user is None:
        return None
    return user.name or user.username


#: Subjects by notice; each recipient reads it in their own language.
SUBJECTS = {
    "ticket_created": _('Ticket #${number} - "${title}" has been created.'),
    "ticket_replied": _('Ticket #${number} - "${title}" has new replies.'),
    "ticket_assigned": _('Ticket #${number} - "${title}" has been assigned to ${name}.'),
    "ticket_released": _('Ticket #${number} - "${title}" has been released.'),
    "ticket_closed": _('Ticket #${number} - "${title}" has been closed.'),
    "ticket_category_changed": _(
        'Ticket #${number} - "${title}" has changed department and/or category.'
    ),
}


def ticket_subject(template, ticket, **mapping):
    return _(
        SUBJECTS[template],
        mapping={"number": ticket.id_zfill, "title": ticket.title or "", **mapping},
    )


def usable_address(email):
    email = (email or "").strip()
    if email.count("@") != 1 or email.startswith("@") or email.endswith("@"):
        return None
    if any(ch in _BAD_ADDRESS_CHARACTERS or not ch.isprintable() for ch in email):
        return None
    return email


def addresses(users, exclude=()):
    """``(address, locale)`` of the ``users`` that may receive ticket mail: enabled accounts
    with a usable address, each address once, none of the ``exclude`` users."""
    excluded_ids = {user.id for user in exclude if user is not None}
    excluded = {
        (user.email or "").strip().lower() for user in exclude if user is not None and user.email
    }
    seen, result = set(), []
    for user in users:
        if user is None or user.disabled or user.id in excluded_ids:
            continue
        email = usable_address(user.email)
        if email is None:
            continue
        key = email.lower()
        if key in seen or key in excluded:
            continue
        seen.add(key)
        result.append((email, user.locale))
    return result


def subscribers(request, ticket):
    """The ticket's subscribed users, in subscription order."""
    return list(
        request.dbsession.scalars(
            sa.select(User)
            .join(Subscription, Subscription.user_id == User.id)
            .where(Subscription.ticket_id == ticket.id)
            .order_by(Subscription.id)
        )
    )


def details(ticket, *, status=None, assignee=None, use_current=True):
    """The details block: status, priority, assignee (None: not claimed) and content."""
    if use_current:
        status, assignee = ticket.status, ticket.assigned
    return {
        "status": status.status if status is not None else "",
        "priority": ticket.ticket_priority.priority if ticket.ticket_priority else "",
        "assigned": display_name(assignee),
        "content": ticket.content or "",
    }


def notify(event, template, recipients, subject_mapping=None, **values):
    """Render and queue one message per recipient; a failure is logged, never raised, so
    a mail problem cannot lose the ticket operation that triggered it."""
    if not recipients:
        return []
    request, ticket = event.request, event.ticket
    values.setdefault("details", details(ticket))
    try:
        return send_templated_mail_to_each(
            request,
            template,
            recipients,
            ticket_subject(template, ticket, **(subject_mapping or {})),
            ticket=ticket,
            number=ticket.id_zfill,
            title=ticket.title or "",
            link=request.public_url("ticket_view", ticket_id=ticket.id),
            actor_name=display_name(event.actor),
            **values,
        )
    except Exception:  # noqa: BLE001 - logged with its traceback; the operation goes on
        log.exception("the %s notice for ticket %s could not be prepared", template, ticket.id)
        return []


# -- subscribers ----------------------------------------------------------------------------------


def ticket_created(event):
    notify(event, "ticket_created", addresses([event.ticket.user]))


def ticket_replied(event):
    recipients = addresses(subscribers(event.request, event.ticket), exclude=[event.actor])
    post = event.post
    notify(
        event,
        "ticket_replied",
        recipients,
        reply=post.content if post is not None else "",
    )


def _assigned(event, assignee, claimed):
    recipients = addresses(subscribers(event.request, event.ticket))
    name = display_name(assignee)
    notify(
        event,
        "ticket_assigned",
        recipients,
        {"name": name or _("Someone")},
        assignee_name=name,
        claimed=claimed,
        previous_name=display_name(event.previous_assignee),
    )


def ticket_assigned(event):
    _assigned(event, event.assignee, claimed=False)


def ticket_claimed(event):
    _assigned(event, event.actor, claimed=True)


def ticket_released(event):
    notify(
        event,
        "ticket_released",
        addresses(subscribers(event.request, event.ticket)),
        previous_name=display_name(event.previous_assignee),
    )


def ticket_closed(event):
    ticket = event.ticket
    notify(
        event,
        "ticket_closed",
        addresses(subscribers(event.request, ticket)),
        details=details(
            ticket,
            status=event.previous_status,
            assignee=event.previous_assignee,
            use_current=False,
        ),
    )


def ticket_category_changed(event):
    previous = event.previous_category
    current = event.ticket.category
    notify(
        event,
        "ticket_category_changed",
        addresses(subscribers(event.request, event.ticket)),
        previous_category=previous.department_category if previous is not None else "",
        category=current.department_category if current is not None else "",
    )


def includeme(config):
    config.add_subscriber(ticket_created, events.TicketCreated)
    config.add_subscriber(ticket_replied, events.TicketReplied)
    config.add_subscriber(ticket_assigned, events.TicketAssigned)
    config.add_subscriber(ticket_claimed, events.TicketClaimed)
    config.add_subscriber(ticket_released, events.TicketReleased)
    config.add_subscriber(ticket_closed, events.TicketClosed)
    config.add_subscriber(ticket_category_changed, events.TicketCategoryChanged)
