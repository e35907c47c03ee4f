"""The ticket service: the one implementation of every ticket operation.

HTML views and the JSON API both call these methods. Each operation checks the ticket's
state (permissions are the ACLs' job, see ``resources.py``), writes its action row, sets
``last_updated``, keeps the users' counters right with SQL-side arithmetic, and emits its
event. Refusals raise ``TicketError`` with a message for the person acting.
"""

import hashlib
import json
import logging
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from flicket import clock
from flicket.accounts.models import User
from flicket.departments.models import Category
from flicket.i18n import VOCABULARY, _, english, translate
from flicket.params import parse_id
from flicket.tickets import events
from flicket.tickets.models import (
    Action,
    History,
    Post,
    Priority,
    Status,
    Subscription,
    Ticket,
    Upload,
)

log = logging.getLogger(__name__)

OPEN = "Open"
CLOSED = "Closed"
IN_WORK = "In Work"


class TicketError(Exception):
    """An operation was refused because of the ticket's state or the input. ``message`` is
    a TranslationString: pages show it translated (``flash``, ``translate``), the API in
    English (``english``)."""

    def __init__(self, message, kind="warning"):
        super().__init__(message)
        self.message = message
        self.kind = kind

    def __str__(self):
        return english(self.message)


class EditConflict(TicketError):
    """The ticket or reply was changed by someone else after the edit form was loaded
    (REL-4): the edit is refused rather than silently overwriting that change."""

    def __init__(self, message):
        super().__init__(message, "warning")


class StorageUnavailable(TicketError):
    """An attachment could not be written (upload folder unwritable, disk full): nothing is
    saved, and the answer is 503, not a 500 (REL-13)."""

    status = 503


class LimitReached(TicketError):
    """A per-user business limit (VAL-3) is reached: answered 429 with ``Retry-After``;
    nothing of the refused operation is saved."""

    status = 429

    def __init__(self, message, retry_after):
        super().__init__(message, "warning")
        self.retry_after = retry_after


#: (limit name, message) for each business limit on what a user writes.
LIMIT_MESSAGES = {
    "tickets": _(
        "You have created many tickets in the last hour. Please try again in ${minutes} min."
    ),
    "replies": _(
        "You have replied many times in the last minute. Please try again in ${minutes} min."
    ),
    "uploads": _("You have attached many files today. Please try again in ${minutes} min."),
    "upload_mib": _("You have attached a lot of data today. Please try again in ${minutes} min."),
}


#: The same ticket (title, content, category) sent from the ticket form by the same person
#: within this many seconds is one submission sent twice (a double click, a reload).
SAME_SUBMISSION_SECONDS = 60


def _mebibytes(item):
    """The size of an uploaded file in started MiB (at least 1)."""
    source = item.file
    position = source.tell()
    source.seek(0, 2)
    size = source.tell()
    source.seek(position)
    return max(1, -(-size // (1024 * 1024)))


def _fingerprint(*values):
    text = json.dumps([None if v is None else str(v) for v in values], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _hours_text(hours):
    return str(Decimal(hours or 0).quantize(Decimal("0.01")))


def ticket_fingerprint(ticket):
    """A digest of what the ticket edit form changes, as the form was loaded. Replies,
    assignment, status and the ``last_updated`` time are not part of it: a reply by someone
    else while a ticket is being edited is no edit conflict."""
    return _fingerprint(
        ticket.title,
        ticket.content,
        _hours_text(ticket.hours),
        ticket.ticket_priority_id,
        ticket.category_id,
    )


def post_fingerprint(post):
    """A digest of the editable fields of a reply (its text and hours)."""
    return _fingerprint(post.content, _hours_text(post.hours))


def _named(name):
    """A status or priority name inside a message: translated lazily when it is a seeded
    name (the message may end up in the English API), as typed otherwise."""
    return VOCABULARY.get(name, name)


def _bump(user_id, column, delta):
    """SQL-side counter update, so concurrent requests never lose one."""
    return (
        sa.update(User)
        .where(User.id == user_id)
        .values({column: sa.func.coalesce(getattr(User, column), 0) + delta})
        .execution_options(synchronize_session=False)
    )


class LatestChange(NamedTuple):
    """``kind`` is "action", "reply", "edit" or "created"; ``row`` the Action, Post or
    Ticket; ``user`` who did it; ``when`` the time."""

    kind: str
    row: object
    user: object
    when: datetime


class TicketService:
    def __init__(self, request):
        self.request = request
        self.db = request.dbsession
        self._statuses = None

    # -- lookups ----------------------------------------------------------------------------

    def statuses(self):
        if self._statuses is None:
            self._statuses = list(self.db.scalars(sa.select(Status).order_by(Status.id)))
        return self._statuses

    def status(self, name):
        """The status called ``name`` (statuses are found by name, never by id)."""
        for status in self.statuses():
            if status.status == name:
                return status
        raise TicketError(
            _(
                "The status ${name} does not exist; run flicket-setup.",
                mapping={"name": repr(name)},
            ),
            "danger",
        )

    def priorities(self):
        return list(self.db.scalars(sa.select(Priority).order_by(Priority.id)))

    def categories(self):
        """Every category with its department, sorted by department then category."""
        from flicket.departments.models import Department

        return list(
            self.db.scalars(
                sa.select(Category)
                .join(Category.department)
                .options(joinedload(Category.department))
                .order_by(Department.department, Category.category)
            )
        )

    def user_by_username(self, username):
        username = (username or "").strip().lower()
        if not username:
            return None
        return self.db.scalar(sa.select(User).where(sa.func.lower(User.username) == username))

    def is_closed(self, ticket):
        return ticket.status is not None and ticket.status.status == CLOSED

    def latest_post_id(self, ticket):
        return self.db.scalar(sa.select(sa.func.max(Post.id)).where(Post.ticket_id == ticket.id))

    def newest_post(self, ticket):
        """The ticket's newest reply with its author (None before the first reply)."""
        return self.db.scalars(
            sa.select(Post)
            .options(joinedload(Post.user))
            .where(Post.ticket_id == ticket.id)
            .order_by(Post.id.desc())
            .limit(1)
        ).first()

    @staticmethod
    def latest_change(ticket, newest_action, newest_post):
        """What happened to ``ticket`` last, for its page (a ``LatestChange``): its newest
        action or reply, its last edit, or its creation, whichever came last."""
        candidates = [
            LatestChange("created", ticket, ticket.user, ticket.date_added),
            LatestChange("edit", ticket, ticket.modified, ticket.date_modified),
        ]
        if newest_action is not None:
            candidates.append(
                LatestChange("action", newest_action, newest_action.user, newest_action.date)
            )
        if newest_post is not None:
            candidates.append(
                LatestChange("reply", newest_post, newest_post.user, newest_post.date_added)
            )
        dated = [change for change in candidates if change.when is not None]
        return max(dated, key=lambda change: change.when) if dated else None

    def is_subscribed(self, ticket, user):
        return (
            self.db.scalar(
                sa.select(Subscription.id)
                .where(Subscription.ticket_id == ticket.id, Subscription.user_id == user.id)
                .limit(1)
            )
            is not None
        )

    # -- helpers ----------------------------------------------------------------------------

    def _lock(self, obj):
        """Lock ``obj``'s row until the end of the transaction and reload it, so that the
        checks and changes that follow see the last committed state and concurrent
        operations on the same row take turns (``SELECT ... FOR UPDATE`` on MariaDB and
        PostgreSQL; a writing SQLite transaction holds the database's write lock already,
        see ``flicket.db``)."""
        model = type(obj)
        self.db.scalars(
            sa.select(model)
            .where(model.id == obj.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one()
        return obj

    def _notify(self, event):
        self.request.registry.notify(event)

    def _touch(self, ticket):
        ticket.last_updated = clock.utcnow()

    def _count(self, ticket, replies=0, hours=None):
        """Move the ticket's stored reply count and total hours by ``replies`` and
        ``hours``, in SQL arithmetic so that concurrent changes never lose one."""
        if replies:
            ticket.reply_count = Ticket.reply_count + replies
        if hours:
            ticket.total_hours = Ticket.total_hours + hours

    def _action(self, ticket, actor, action, data=None, recipient=None):
        self.db.add(
            Action(
                ticket_id=ticket.id,
                post_id=self.latest_post_id(ticket),
                action=action,
                data=data,
                user_id=actor.id if actor else None,
                recipient_id=recipient.id if recipient else None,
                date=clock.utcnow(),
            )
        )

    def _set_assignee(self, ticket, new_assignee):
        """Change the assignee, keeping total_assigned equal to tickets currently assigned."""
        previous_id = ticket.assigned_id
        new_id = new_assignee.id if new_assignee else None
        if previous_id == new_id:
            return
        if previous_id:
            self.db.execute(_bump(previous_id, "total_assigned", -1))
        if new_id:
            self.db.execute(_bump(new_id, "total_assigned", +1))
        ticket.assigned = new_assignee

    def _ensure_subscribed(self, ticket, user):
        if user is not None and not self.is_subscribed(ticket, user):
            self.db.add(Subscription(ticket_id=ticket.id, user_id=user.id))
            self.db.flush()
            return True
        return False

    def _save_files(self, files, ticket=None, post=None):
        storage = self.request.uploads
        storage.check(files, self.request.flicket_config)
        for item in files:
            try:
                stored, original = storage.save(item, self.request.tm)
            except OSError:
                log.exception("an attachment could not be stored")
                raise StorageUnavailable(
                    _(
                        "The attachment could not be stored just now, so nothing was saved. "
                        "Please try again later, or tell the administrator."
                    ),
                    "danger",
                ) from None
            self.db.add(
                Upload(
                    filename=stored,
                    original_filename=original,
                    topic_id=ticket.id if ticket is not None else None,
                    posts_id=post.id if post is not None else None,
                )
            )

    def _remove_uploads(self, owner_uploads, upload_ids):
        wanted = {parse_id(i) for i in upload_ids} - {None}
        doomed = [u for u in owner_uploads if u.id in wanted]
        for upload in doomed:
            self.db.delete(upload)
        self.request.uploads.delete_after_commit((u.filename for u in doomed), self.request.tm)
        return doomed

    @staticmethod
    def _hours(value):
        if value in (None, ""):
            return Decimal("0")
        try:
            hours = Decimal(str(value)).quantize(Decimal("0.01"))
        except (InvalidOperation, ValueError):
            raise TicketError(_("Hours must be a number, such as 1.5.")) from None
        if not hours.is_finite() or abs(hours) >= Decimal("100000000"):
            raise TicketError(_("Hours must be a number below 100,000,000."))
        return hours

    def _apply_status(self, ticket, actor, status):
        if status is None or ticket.status_id == status.id:
            return False
        previous = ticket.status
        ticket.status = status
        self._action(ticket, actor, "status", {"status_id": status.id, "status": status.status})
        self._notify(
            events.TicketStatusChanged(self.request, ticket, actor, previous_status=previous)
        )
        return True

    def _apply_priority(self, ticket, actor, priority):
        if priority is None or ticket.ticket_priority_id == priority.id:
            return False
        previous = ticket.ticket_priority
        ticket.ticket_priority = priority
        self._action(
            ticket, actor, "priority", {"priority_id": priority.id, "priority": priority.priority}
        )
        self._notify(
            events.TicketPriorityChanged(self.request, ticket, actor, previous_priority=previous)
        )
        return True

    def _apply_category(self, ticket, actor, category):
        if category is None or ticket.category_id == category.id:
            return False
        previous = ticket.category
        ticket.category = category
        department = category.department
        self._action(
            ticket,
            actor,
            "department_category",
            {
                "department_category": category.department_category,
                "category_id": category.id,
                "category": category.category,
                "department_id": department.id if department else None,
                "department": department.department if department else None,
            },
        )
        self._notify(
            events.TicketCategoryChanged(self.request, ticket, actor, previous_category=previous)
        )
        return True

    # -- operations -------------------------------------------------------------------------

    def _spend_limits(self, actor, kind, files=()):
        """Count one ``kind`` ("tickets" or "replies") and ``files`` against ``actor``'s
        business limits, or raise LimitReached (checked all first: a refusal costs nothing)."""
        limits = self.request.registry["ratelimits"]
        wanted = [(kind, 1)]
        if files:
            wanted += [("uploads", len(files)), ("upload_mib", sum(map(_mebibytes, files)))]
        for name, amount in wanted:
            wait = limits[name].retry_after(self.request, actor.id, amount)
            if wait:
                message = _(LIMIT_MESSAGES[name], mapping={"minutes": -(-wait // 60)})
                raise LimitReached(message, wait)
        for name, amount in wanted:
            limits[name].hit(self.request, actor.id, amount)

    def _same_submission(self, actor, title, content, category):
        """The ticket this one repeats, if the person just created it (REL-5). The person's
        row is locked first, so two copies sent at once are checked one after the other."""
        self.db.execute(sa.select(User.id).where(User.id == actor.id).with_for_update())
        since = clock.utcnow() - timedelta(seconds=SAME_SUBMISSION_SECONDS)
        return self.db.scalars(
            sa.select(Ticket)
            .where(
                Ticket.started_id == actor.id,
                Ticket.date_added >= since,
                Ticket.title == title,
                Ticket.content == content,
                Ticket.category_id == category.id,
            )
            .order_by(Ticket.id)
            .limit(1)
        ).first()

    def create(
        self, actor, *, title, content, category, priority, hours=0, files=(), from_form=False
    ):
        """A new ticket. ``from_form``: the ticket page's form, where the same ticket sent
        twice in a row is a double click, created once (the first is returned); an API client
        may mean two identical tickets."""
        if from_form:
            repeated = self._same_submission(actor, title, content, category)
            if repeated is not None:
                return repeated
        self._spend_limits(actor, "tickets", files)
        now = clock.utcnow()
        if files:
            self.request.uploads.check(files, self.request.flicket_config)
        ticket = Ticket(
            title=title,
            content=content,
            user=actor,
            date_added=now,
            last_updated=now,
            status=self.status(OPEN),
            category=category,
            ticket_priority=priority,
            hours=self._hours(hours),
            reply_count=0,
            total_hours=self._hours(hours),
        )
        self.db.add(ticket)
        self.db.flush()
        self._save_files(files, ticket=ticket)
        self._ensure_subscribed(ticket, actor)
        self.db.execute(_bump(actor.id, "total_posts", +1))
        self.db.flush()
        self._notify(events.TicketCreated(self.request, ticket, actor))
        return ticket

    def reply(self, ticket, actor, *, content, hours=0, status=None, priority=None, files=()):
        """Add a reply; a status other than Closed may be set with it (a Closed ticket is
        reopened: the reply form never offers Closed)."""
        self._spend_limits(actor, "replies", files)
        self._lock(ticket)
        if status is not None and status.status == CLOSED:
            raise TicketError(_("Use “reply and close” to close the ticket."))
        if files:
            self.request.uploads.check(files, self.request.flicket_config)
        now = clock.utcnow()
        post = Post(
            ticket=ticket, user=actor, content=content, date_added=now, hours=self._hours(hours)
        )
        self.db.add(post)
        self.db.flush()
        self._count(ticket, replies=1, hours=post.hours)
        self._save_files(files, post=post)
        if status is None and self.is_closed(ticket):
            status = self.status(OPEN)
        self._apply_status(ticket, actor, status)
        self._apply_priority(ticket, actor, priority)
        self._ensure_subscribed(ticket, actor)
        self.db.execute(_bump(actor.id, "total_posts", +1))
        self._touch(ticket)
        self.db.flush()
        self._notify(events.TicketReplied(self.request, ticket, actor, post=post))
        return post

    def quote(self, author, date_added, content):
        """The reply box text that quotes a ticket body or a reply."""
        localizer = self.request.localizer
        name = author.name if author else translate(_("Someone"), localizer)
        when = date_added.strftime("%Y-%m-%d %H:%M") if date_added else ""
        quoted = "\n".join(f"> {line}" for line in (content or "").splitlines())
        intro = translate(
            _("${name} wrote on ${when}", mapping={"name": name, "when": when}), localizer
        )
        return f"{intro}\n\n{quoted}\n\n"

    def close(self, ticket, actor):
        self._lock(ticket)
        if self.is_closed(ticket):
            raise TicketError(
                _("Ticket ${number} is already closed.", mapping={"number": ticket.id_zfill})
            )
        previous_status, previous_assignee = ticket.status, ticket.assigned
        self._action(ticket, actor, "close")
        ticket.status = self.status(CLOSED)
        self._set_assignee(ticket, None)
        self._touch(ticket)
        self.db.flush()
        self._notify(
            events.TicketClosed(
                self.request,
                ticket,
                actor,
                previous_status=previous_status,
                previous_assignee=previous_assignee,
            )
        )

    def claim(self, ticket, actor, *, seen_assignee_id=None, check_seen=False):
        """Take the ticket. With ``check_seen`` the claim only goes ahead if the ticket is
        still assigned as the person saw it (``seen_assignee_id``, None: nobody), so that of
        several people claiming the same ticket at once exactly one gets it (REL-5)."""
        self._lock(ticket)
        if self.is_closed(ticket):
            raise TicketError(_("A closed ticket cannot be claimed; reply to reopen it first."))
        if ticket.assigned_id == actor.id:
            raise TicketError(_("You have already claimed this ticket."), "info")
        if check_seen and ticket.assigned_id != seen_assignee_id:
            raise TicketError(
                _(
                    "Someone else claimed this ticket or had it assigned in the meantime, so "
                    "it was not claimed. Look at it again before claiming it."
                )
            )
        previous = ticket.assigned
        self._set_assignee(ticket, actor)
        ticket.status = self.status(IN_WORK)
        self._action(ticket, actor, "claim")
        self._ensure_subscribed(ticket, actor)
        self._touch(ticket)
        self.db.flush()
        self._notify(events.TicketClaimed(self.request, ticket, actor, previous_assignee=previous))

    def release(self, ticket, actor):
        self._lock(ticket)
        if ticket.assigned_id is None:
            raise TicketError(_("This ticket is not assigned to anyone."))
        previous = ticket.assigned
        self._set_assignee(ticket, None)
        ticket.status = self.status(OPEN)
        self._action(ticket, actor, "release")
        self._touch(ticket)
        self.db.flush()
        self._notify(
            events.TicketReleased(self.request, ticket, actor, previous_assignee=previous)
        )

    def assign(self, ticket, actor, assignee):
        self._lock(ticket)
        if self.is_closed(ticket):
            raise TicketError(_("A closed ticket cannot be assigned; reply to reopen it first."))
        if assignee is None:
            raise TicketError(_("There is no user with that username."), "danger")
        if assignee.disabled:
            raise TicketError(
                _(
                    "${username} is disabled and cannot be assigned tickets.",
                    mapping={"username": assignee.username},
                )
            )
        if ticket.assigned_id == assignee.id:
            raise TicketError(
                _("The ticket is already assigned to ${name}.", mapping={"name": assignee.name})
            )
        previous = ticket.assigned
        self._set_assignee(ticket, assignee)
        ticket.status = self.status(IN_WORK)
        self._action(ticket, actor, "assign", recipient=assignee)
        self._ensure_subscribed(ticket, assignee)
        self._touch(ticket)
        self.db.flush()
        self._notify(
            events.TicketAssigned(
                self.request, ticket, actor, assignee=assignee, previous_assignee=previous
            )
        )

    def change_status(self, ticket, actor, status):
        """Set any status; Closed goes through ``close`` (assignee released, counters)."""
        if status.status == CLOSED:
            return self.close(ticket, actor)
        if not self._apply_status(ticket, actor, status):
            raise TicketError(
                _("The status is already ${status}.", mapping={"status": _named(status.status)})
            )
        self._touch(ticket)
        self.db.flush()

    def change_priority(self, ticket, actor, priority):
        if not self._apply_priority(ticket, actor, priority):
            raise TicketError(
                _(
                    "The priority is already ${priority}.",
                    mapping={"priority": _named(priority.priority)},
                )
            )
        self._touch(ticket)
        self.db.flush()

    def change_category(self, ticket, actor, category):
        if self.is_closed(ticket):
            raise TicketError(_("The category of a closed ticket cannot be changed."))
        if not self._apply_category(ticket, actor, category):
            raise TicketError(
                _(
                    "The ticket is already in ${category}.",
                    mapping={"category": category.department_category},
                )
            )
        self._touch(ticket)
        self.db.flush()

    def subscribe(self, ticket, actor, user):
        if user is None:
            raise TicketError(_("There is no user with that username."), "danger")
        limit = self.request.registry.settings["flicket.limits.subscribers_per_ticket"]
        subscribed = self.db.scalar(
            sa.select(sa.func.count(sa.distinct(Subscription.user_id))).where(
                Subscription.ticket_id == ticket.id
            )
        )
        if subscribed >= limit:
            raise TicketError(
                _(
                    "This ticket already has ${limit} subscribers, the most it may have.",
                    mapping={"limit": limit},
                )
            )
        if not self._ensure_subscribed(ticket, user):
            raise TicketError(_("${name} is already subscribed.", mapping={"name": user.name}))
        self._action(ticket, actor, "subscribe", recipient=user)
        self._touch(ticket)
        self.db.flush()
        self._notify(events.TicketSubscribed(self.request, ticket, actor, subscriber=user))

    def unsubscribe(self, ticket, actor, user):
        subscriptions = list(
            self.db.scalars(
                sa.select(Subscription).where(
                    Subscription.ticket_id == ticket.id, Subscription.user_id == user.id
                )
            )
        )
        if not subscriptions:
            raise TicketError(
                _("${name} is not subscribed to this ticket.", mapping={"name": user.name})
            )
        for subscription in subscriptions:
            self.db.delete(subscription)
        self._action(ticket, actor, "unsubscribe", recipient=user)
        self._touch(ticket)
        self.db.flush()
        self._notify(events.TicketUnsubscribed(self.request, ticket, actor, subscriber=user))

    def _record_history(self, *, ticket=None, post=None, content, author_id):
        self.db.add(
            History(
                topic_id=ticket.id if ticket is not None else None,
                post_id=post.id if post is not None else None,
                date_modified=clock.utcnow(),
                original_content=content,
                user_id=author_id,
            )
        )

    def edit_ticket(
        self,
        ticket,
        actor,
        *,
        title,
        content,
        priority,
        category,
        hours,
        remove_upload_ids=(),
        files=(),
        fingerprint=None,
    ):
        """Save the edit form. ``fingerprint`` is ``ticket_fingerprint`` of the ticket as the
        form was loaded: if the ticket has been changed since, ``EditConflict`` (None: no
        check)."""
        self._lock(ticket)
        if self.is_closed(ticket):
            raise TicketError(_("Closed tickets cannot be edited."))
        if fingerprint is not None and fingerprint != ticket_fingerprint(ticket):
            raise EditConflict(_("Someone else changed this ticket while you were editing it."))
        if files:
            self.request.uploads.check(files, self.request.flicket_config)
        changes = []
        if content != ticket.content:
            self._record_history(
                ticket=ticket,
                content=ticket.content,
                author_id=ticket.modified_id or ticket.started_id,
            )
            ticket.content = content
            changes.append("content")
        if title != ticket.title:
            ticket.title = title
            changes.append("title")
        new_hours = self._hours(hours)
        if new_hours != (ticket.hours or Decimal("0")):
            self._count(ticket, hours=new_hours - (ticket.hours or Decimal("0")))
            ticket.hours = new_hours
            changes.append("hours")
        if self._apply_priority(ticket, actor, priority):
            changes.append("priority")
        if self._apply_category(ticket, actor, category):
            changes.append("category")
        if self._remove_uploads(ticket.uploads, remove_upload_ids):
            changes.append("attachments")
        if files:
            self._save_files(files, ticket=ticket)
            changes.append("attachments")
        now = clock.utcnow()
        ticket.modified = actor
        ticket.date_modified = now
        ticket.last_updated = now
        self.db.flush()
        self._notify(events.TicketEdited(self.request, ticket, actor, changes=changes))
        return changes

    def edit_post(
        self,
        post,
        actor,
        *,
        content,
        hours,
        status=None,
        priority=None,
        remove_upload_ids=(),
        files=(),
        fingerprint=None,
    ):
        """Save the reply edit form; ``fingerprint`` as for ``edit_ticket``
        (``post_fingerprint``)."""
        self._lock(post)
        ticket = post.ticket
        if self.is_closed(ticket):
            raise TicketError(_("Replies to a closed ticket cannot be edited."))
        if fingerprint is not None and fingerprint != post_fingerprint(post):
            raise EditConflict(_("Someone else changed this reply while you were editing it."))
        if status is not None and status.status == CLOSED:
            raise TicketError(_("A reply cannot close the ticket when edited."))
        if files:
            self.request.uploads.check(files, self.request.flicket_config)
        if content != post.content:
            self._record_history(
                post=post, content=post.content, author_id=post.modified_id or post.user_id
            )
            post.content = content
        new_hours = self._hours(hours)
        self._count(ticket, hours=new_hours - (post.hours or Decimal("0")))
        post.hours = new_hours
        self._remove_uploads(post.uploads, remove_upload_ids)
        if files:
            self._save_files(files, post=post)
        now = clock.utcnow()
        post.modified = actor
        post.date_modified = now
        self._apply_status(ticket, actor, status)
        self._apply_priority(ticket, actor, priority)
        ticket.last_updated = now
        self.db.flush()
        self._notify(events.PostEdited(self.request, ticket, actor, post=post))

    def delete_ticket(self, ticket, actor):
        """Remove the ticket and everything attached to it; files go after the commit."""
        post_ids = sa.select(Post.id).where(Post.ticket_id == ticket.id)
        uploads = list(
            self.db.scalars(
                sa.select(Upload).where(
                    sa.or_(Upload.topic_id == ticket.id, Upload.posts_id.in_(post_ids))
                )
            )
        )
        self.request.uploads.delete_after_commit((u.filename for u in uploads), self.request.tm)
        authors = self.db.execute(
            sa.select(Post.user_id, sa.func.count())
            .where(Post.ticket_id == ticket.id, Post.user_id.is_not(None))
            .group_by(Post.user_id)
        ).all()
        for user_id, count in authors:
            self.db.execute(_bump(user_id, "total_posts", -count))
        if ticket.started_id:
            self.db.execute(_bump(ticket.started_id, "total_posts", -1))
        if ticket.assigned_id:
            self.db.execute(_bump(ticket.assigned_id, "total_assigned", -1))
        for statement in (
            sa.delete(Upload).where(
                sa.or_(Upload.topic_id == ticket.id, Upload.posts_id.in_(post_ids))
            ),
            sa.delete(History).where(
                sa.or_(History.topic_id == ticket.id, History.post_id.in_(post_ids))
            ),
            sa.delete(Action).where(Action.ticket_id == ticket.id),
            sa.delete(Action).where(Action.post_id.in_(post_ids)),
            sa.delete(Subscription).where(Subscription.ticket_id == ticket.id),
        ):
            self.db.execute(statement.execution_options(synchronize_session=False))
        self.db.execute(
            sa.delete(Post)
            .where(Post.ticket_id == ticket.id)
            .execution_options(synchronize_session=False)
        )
        self._notify(events.TicketDeleted(self.request, ticket, actor))
        self.db.execute(sa.delete(Ticket).where(Ticket.id == ticket.id))
        self.db.expunge(ticket)

    def delete_post(self, post, actor):
        ticket = post.ticket
        self.request.uploads.delete_after_commit(
            (u.filename for u in post.uploads), self.request.tm
        )
        previous_post_id = self.db.scalar(
            sa.select(sa.func.max(Post.id)).where(Post.ticket_id == ticket.id, Post.id < post.id)
        )
        # Action lines shown under this reply move to the reply before it.
        self.db.execute(
            sa.update(Action).where(Action.post_id == post.id).values(post_id=previous_post_id)
        )
        self.db.execute(sa.delete(Upload).where(Upload.posts_id == post.id))
        self.db.execute(sa.delete(History).where(History.post_id == post.id))
        if post.user_id:
            self.db.execute(_bump(post.user_id, "total_posts", -1))
        self._count(ticket, replies=-1, hours=-(post.hours or Decimal("0")))
        self._touch(ticket)
        self._notify(events.PostDeleted(self.request, ticket, actor, post=post))
        self.db.execute(sa.delete(Post).where(Post.id == post.id))
        self.db.expunge(post)
        self.db.flush()


def get_ticket_service(request):
    return TicketService(request)
