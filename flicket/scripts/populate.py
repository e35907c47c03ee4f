"""``flicket-populate``: fill a Flicket database with realistic demo data, for demonstrations
and benchmarks.

It adds demo users (about a fifth of them agents who claim, answer and close tickets; a
few super users; a few disabled), optionally more departments, and tickets spread over the
last two years with replies, subscriptions, an activity log (claim, assign, release,
status, priority, subscribe, close) and hours. Older tickets are mostly closed; recent ones are
open, in work or awaiting information. The data follow the application's own rules: the
creator, the assignee and every replier are subscribed, a closed ticket has no assignee,
``last_updated`` is the time of the last reply or action, and the users' counters are
recomputed at the end with the SQL of flicket-update-user-posts/-assigned.

Rows are written with SQLAlchemy Core bulk inserts (executemany; COPY on PostgreSQL), one
transaction per batch of tickets, so 100,000 tickets with 1,000,000 replies take about a
minute on SQLite, MariaDB or PostgreSQL. Ticket and reply ids are allocated from the
current maximum: do not run it while people use the site.
"""

import bisect
import json
import math
import random
import secrets
import sys
import time
from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa

from flicket import clock
from flicket.accounts.models import SUPER_USER_GROUP_NAME, Group, User, user_groups
from flicket.accounts.passwords import hash_password
from flicket.departments.models import Category, Department
from flicket.i18n import _
from flicket.scripts import counters
from flicket.scripts.common import (
    CommandError,
    bootstrapped,
    make_parser,
    number,
    pluralize,
    require_schema,
    run_main,
    say,
)
from flicket.tickets.models import Action, Post, Priority, Status, Subscription, Ticket

OPEN, CLOSED, IN_WORK, AWAITING = "Open", "Closed", "In Work", "Awaiting Information"
DEMO_EMAIL_DOMAIN = "example.com"  # reserved for examples (RFC 2606): no mail ever arrives
DEFAULT_BATCH = 500

# -- word lists -------------------------------------------------------------------------------

FIRST_NAMES = (
    "Alice Amir Ana Anders Aoife Arjun Beatriz Ben Bianca Carlos Chen Chloe Daniel Dara "
    "David Elena Emeka Emma Farah Felix Fatima Gabriel Grace Hana Hugo Ines Isaac Ivan "
    "Jamal Jana Javier Julia Kai Karin Kenji Lars Laura Leila Liam Lucia Mads Maria Marta "
    "Mateo Maya Mehmet Mia Nadia Nils Noah Nora Omar Olivia Pablo Priya Rafael Rosa Ruth "
    "Sami Sara Sofia Tariq Teresa Tom Uma Victor Yara Yusuf Zoe"
).split()
LAST_NAMES = (
    "Abbott Adeyemi Almeida Andersen Baker Bauer Becker Bianchi Brennan Castro Chen Costa "
    "Dubois Dufour Eriksen Fischer Fontaine Garcia Gomez Haddad Hansen Hughes Ibrahim Ito "
    "Jansen Jensen Kaur Keller Kim Kowalski Larsen Laurent Lopez Martin Meyer Moreau Murphy "
    "Nakamura Nguyen Novak O'Brien Okafor Olsen Park Patel Pereira Petrov Quinn Rossi Sato "
    "Schmidt Silva Singh Smith Sousa Tanaka Torres Varga Wagner Walsh Weber Wong Yilmaz Zhang"
).split()
AGENT_TITLES = (
    "Support Engineer",
    "IT Technician",
    "Service Desk Analyst",
    "Systems Administrator",
    "Quality Engineer",
    "HR Advisor",
    "Facilities Coordinator",
)
STAFF_TITLES = (
    "Design Engineer",
    "Production Planner",
    "Machinist",
    "Buyer",
    "Accountant",
    "Project Manager",
    "Quality Inspector",
    "Sales Manager",
    "Technical Writer",
    "Logistics Coordinator",
    "Analyst",
    None,
)
EXTRA_DEPARTMENTS = {
    "Facilities": ("Heating", "Cleaning", "Parking", "Meeting Rooms", "Other"),
    "Finance": ("Invoices", "Expenses", "Budgets", "Other"),
    "Logistics": ("Shipping", "Receiving", "Warehouse", "Other"),
    "Legal": ("Contracts", "Compliance", "Other"),
    "Marketing": ("Website", "Events", "Brochures", "Other"),
    "Research": ("Lab Equipment", "Test Reports", "Other"),
    "Sales": ("Quotes", "Customers", "CRM", "Other"),
    "Security": ("Badges", "Access Control", "CCTV", "Other"),
    "Training": ("Courses", "Certificates", "Other"),
    "Customer Service": ("Complaints", "Returns", "Other"),
}
THINGS = (
    "printer",
    "laptop",
    "VPN connection",
    "badge reader",
    "projector",
    "CAD licence",
    "intranet page",
    "shared drive",
    "email account",
    "label printer",
    "torque wrench",
    "CNC machine",
    "coffee machine",
    "docking station",
    "phone",
    "ERP report",
    "timesheet",
    "drawing template",
    "calibration record",
    "expense claim",
    "holiday request",
    "purchase order",
    "supplier approval",
    "wifi",
    "monitor",
    "spreadsheet macro",
)
PLACES = (
    "floor 2",
    "meeting room B",
    "the workshop",
    "building 3",
    "the main office",
    "the warehouse",
    "reception",
    "the lab",
    "the canteen",
    "site North",
)
SYSTEMS = ("the ERP", "the intranet", "Outlook", "the CAD vault", "the HR portal", "SharePoint")
PEOPLE = ("a new starter", "the night shift", "the design team", "our visitors", "my manager")
ERRORS = (
    "Access denied",
    "Connection timed out",
    "File is locked by another user",
    "Licence server not found",
    "Error 500",
    "Disk quota exceeded",
    "Certificate expired",
)
TITLE_TEMPLATES = (
    "The {thing} in {place} is not working",
    "{thing_cap} keeps disconnecting",
    "Cannot open {system}",
    "Request: new {thing} for {people}",
    "{system_cap} is very slow since this morning",
    "Error '{error}' when saving in {system}",
    "Please update the {thing} in {place}",
    "Question about the {thing}",
    "{thing_cap} broken again",
    "Access to {system} for {people}",
    "Replace the {thing} in {place}",
    "'{error}' on the {thing}",
)
BODY_SENTENCES = (
    "Since this morning the {thing} in {place} does not respond.",
    "I get the message **{error}** every time I try.",
    "This blocks {people}, so it is fairly urgent.",
    "It worked fine yesterday afternoon.",
    "I have already restarted it twice, without success.",
    "Could someone have a look at the {thing} when possible?",
    "The problem started after the update of {system}.",
    "Steps to reproduce:\n\n1. Open {system}\n2. Select the {thing}\n3. Click *Save*",
    "We need this before the audit next week.",
    "Other colleagues in {place} see the same thing.",
    "Attached is the reference number from the form: `REF-{number}`.",
    "Thanks in advance for your help.",
)
AGENT_REPLIES = (
    "I have restarted the {thing}; please try again and let me know.",
    "Could you send a screenshot of the error message?",
    "This is a known problem with {system}; a fix is planned for Friday.",
    "I have ordered a replacement {thing}. It should arrive in two or three days.",
    "Your access to {system} has been granted. You may need to log out and in again.",
    "I'll come to {place} this afternoon to look at it.",
    "Which version of {system} are you using?",
    "The {thing} was misconfigured. It is corrected now.",
    "I have escalated this to the supplier and will update the ticket when they answer.",
    "Logged **{hours} h** on this so far. Still investigating.",
    "Please check that the {thing} is plugged in and switched on.",
    "Done. Closing this ticket if there is nothing else.",
)
USER_REPLIES = (
    "Thanks, it works now!",
    "Still the same problem, I'm afraid.",
    "Here is the screenshot you asked for. The message is *{error}*.",
    "I'm using the latest version, as far as I know.",
    "Any news on this? It is blocking {people}.",
    "That fixed it, thank you very much.",
    "I'll be in {place} all afternoon.",
    "It happened again this morning at 9:15.",
    "OK, I'll wait for the replacement.",
    "Great, thanks for the quick answer.",
)
REPLY_HOURS = tuple(Decimal(h) for h in ("0.25", "0.50", "0.75", "1.00", "1.50", "2.00", "3.00"))
TICKET_HOURS = tuple(Decimal(h) for h in ("0.25", "0.50", "1.00", "2.00"))
ZERO = Decimal("0.00")
EIGHT_HOURS = timedelta(hours=8)
ZERO_TIME = timedelta(0)


def _fill(template, rng):
    thing = rng.choice(THINGS)
    system = rng.choice(SYSTEMS)
    return template.format(
        thing=thing,
        thing_cap=thing[0].upper() + thing[1:],
        place=rng.choice(PLACES),
        system=system,
        system_cap=system[0].upper() + system[1:],
        people=rng.choice(PEOPLE),
        error=rng.choice(ERRORS),
        number=rng.randint(10000, 99999),
        hours=rng.choice(REPLY_HOURS),
    )


class TextPools:
    """Pre-rendered titles and texts: picking from a pool is fast, and the pools are
    varied enough to look real and to give searches something to find."""

    def __init__(self, rng, size=600):
        self.titles = [_fill(rng.choice(TITLE_TEMPLATES), rng)[:128] for _index in range(size)]
        self.bodies = []
        for _index in range(size):
            sentences = rng.sample(BODY_SENTENCES, rng.randint(2, 5))
            paragraphs = " ".join(_fill(s, rng) for s in sentences)
            self.bodies.append(paragraphs.replace(" Steps", "\n\nSteps")[:5000])
        self.agent_replies = [_fill(rng.choice(AGENT_REPLIES), rng) for _index in range(size)]
        self.user_replies = [_fill(rng.choice(USER_REPLIES), rng) for _index in range(size)]


# -- progress ---------------------------------------------------------------------------------


class Progress:
    """A text progress bar on stderr; on a non-terminal, a line every 10 %."""

    def __init__(self, total, label, stream=None, enabled=True):
        self.total = max(total, 1)
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.done = 0
        self.started = time.monotonic()
        self.last_draw = 0.0
        self.last_decile = -1

    def update(self, count):
        self.done += count
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty:
            if now - self.last_draw >= 0.1 or self.done >= self.total:
                self.last_draw = now
                self._draw(now, end="")
        else:
            decile = int(10 * self.done / self.total)
            if decile != self.last_decile and (decile or self.done >= self.total):
                self.last_decile = decile
                self._draw(now, end="\n")

    def _draw(self, now, end):
        fraction = min(self.done / self.total, 1.0)
        width = 30
        filled = int(width * fraction)
        elapsed = now - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        remaining = (self.total - self.done) / rate if rate > 0 else 0.0
        line = (
            f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {fraction:4.0%} "
            f"{self.done:,}/{self.total:,}  {rate:,.0f}/s  "
            f"{'ETA ' + _duration(remaining) if self.done < self.total else _duration(elapsed)}"
        )
        prefix = "\r" if self.tty else ""
        self.stream.write(prefix + line + ("\x1b[K" if self.tty else "") + end)
        self.stream.flush()

    def finish(self):
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _duration(seconds):
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


# -- reading what is there --------------------------------------------------------------------


class Lookups:
    """The seeded statuses, priorities and categories the demo tickets use."""

    def __init__(self, conn, need_categories=True):
        statuses = dict(conn.execute(sa.select(Status.status, Status.id)).all())
        missing = [name for name in (OPEN, CLOSED, IN_WORK) if name not in statuses]
        if missing:
            raise CommandError(
                _(
                    "The status ${status} does not exist: run flicket-setup first.",
                    mapping={"status": repr(missing[0])},
                )
            )
        self.status = statuses
        self.awaiting = statuses.get(AWAITING)
        self.priorities = conn.execute(
            sa.select(Priority.id, Priority.priority).order_by(Priority.id)
        ).all()
        self.categories = list(conn.scalars(sa.select(Category.id).order_by(Category.id)))
        if not self.priorities:
            raise CommandError(_("There are no priorities: run flicket-setup first."))
        if need_categories and not self.categories:
            raise CommandError(
                _("There are no categories: run flicket-setup first (or use --departments).")
            )
        # Most tickets are low or medium; the last priority ("high") is the rarest.
        count = len(self.priorities)
        self.priority_weights = [count - i + (1 if i < count - 1 else 0) for i in range(count)]


def next_id(conn, table):
    return (conn.scalar(sa.select(sa.func.max(table.c.id))) or 0) + 1


def create_departments(conn, count, rng):
    """Add up to ``count`` departments (with categories) that do not exist yet."""
    existing = {name.lower() for name in conn.scalars(sa.select(Department.department)) if name}
    created = []
    for name, categories in EXTRA_DEPARTMENTS.items():
        if len(created) >= count:
            break
        if name.lower() in existing:
            continue
        result = conn.execute(sa.insert(Department).values(department=name))
        department_id = result.inserted_primary_key[0]
        conn.execute(
            sa.insert(Category),
            [{"category": c, "department_id": department_id} for c in categories],
        )
        created.append(name)
    return created


# -- users ------------------------------------------------------------------------------------


def _username_candidates(rng):
    """Endless ``(username, first, last)`` candidates: name pairs, then numbered ones."""
    pairs = [(first, last) for first in FIRST_NAMES for last in LAST_NAMES]
    rng.shuffle(pairs)
    round_number = 0
    while True:
        for first, last in pairs:
            base = f"{first}.{last}".lower().replace("'", "")
            suffix = "" if round_number == 0 else str(round_number + 1)
            yield (base[: 24 - len(suffix)] + suffix, first, last)
        round_number += 1


def create_users(conn, count, password_hash, rng, now, days):
    """Insert ``count`` demo users; returns ``(agents, staff, disabled)`` lists of ids."""
    taken = set()
    for username, email in conn.execute(sa.select(User.username, User.email)):
        taken.update(value.lower() for value in (username, email) if value)
    agent_count = max(1, round(count * 0.2)) if count else 0
    disabled_count = int((count - agent_count) * 0.03)
    rows = []
    candidates = _username_candidates(rng)
    while len(rows) < count:
        username, first, last = next(candidates)
        email = f"{username}@{DEMO_EMAIL_DOMAIN}"
        if username in taken or email in taken:
            continue
        taken.update((username, email))
        index = len(rows)
        is_agent = index < agent_count
        rows.append(
            {
                "username": username,
                "name": f"{first} {last}",
                "email": email,
                "password": password_hash,
                "date_added": now - timedelta(days=days + rng.uniform(1, 365)),
                "job_title": rng.choice(AGENT_TITLES if is_agent else STAFF_TITLES),
                "locale": "en",
                "disabled": count - index <= disabled_count,
                "total_posts": 0,
                "total_assigned": 0,
                "auth_generation": 0,
            }
        )
    for start in range(0, len(rows), 5000):
        conn.execute(sa.insert(User), rows[start : start + 5000])
    ids = {}
    names = [row["username"] for row in rows]
    for start in range(0, len(names), 500):
        chunk = names[start : start + 500]
        ids.update(
            conn.execute(sa.select(User.username, User.id).where(User.username.in_(chunk))).all()
        )
    agents = [ids[row["username"]] for row in rows[:agent_count]]
    staff = [ids[row["username"]] for row in rows[agent_count:] if not row["disabled"]]
    disabled = [ids[row["username"]] for row in rows if row["disabled"]]
    # A quarter of the agents are super users (they manage departments and categories).
    group_id = conn.scalar(sa.select(Group.id).where(Group.group_name == SUPER_USER_GROUP_NAME))
    supers = agents[: max(1, len(agents) // 4)] if agents else []
    if group_id is not None and supers:
        conn.execute(
            sa.insert(user_groups), [{"user_id": uid, "group_id": group_id} for uid in supers]
        )
    return agents, staff, disabled


def existing_users(conn):
    """``(agents, staff)`` from the users already there (admins and super users are the
    agents), for ``--users 0``."""
    rows = conn.execute(
        sa.select(User.id, sa.func.count(user_groups.c.group_id))
        .outerjoin(user_groups, user_groups.c.user_id == User.id)
        .where(sa.or_(User.disabled.is_(None), User.disabled.is_(False)))
        .group_by(User.id)
        .order_by(User.id)
    ).all()
    agents = [user_id for user_id, groups in rows if groups]
    staff = [user_id for user_id, groups in rows if not groups]
    if not rows:
        raise CommandError(_("There are no users: create some with --users N."))
    return agents or staff, staff or agents


# -- tickets ----------------------------------------------------------------------------------


class TicketFactory:
    """Builds the rows of one batch of tickets with their replies, subscriptions and
    actions, following the rules the application itself applies."""

    def __init__(self, rng, lookups, pools, agents, staff, disabled, now, days, replies):
        self.rng = rng
        self.lookups = lookups
        self.pools = pools
        self.agents = agents
        self.requesters = staff + agents[: max(1, len(agents) // 3)] + disabled
        self.now = now
        self.start = now - timedelta(days=days)
        self.span = (now - self.start).total_seconds()
        self.replies = replies

    def _final_status(self, age_days):
        rng, status = self.rng, self.lookups.status
        closed_probability = 0.97 if age_days > 30 else 0.75 if age_days > 7 else 0.3
        if rng.random() < closed_probability:
            return status[CLOSED]
        draw = rng.random()
        if draw < 0.4:
            return status[OPEN]
        if draw < 0.8 or self.lookups.awaiting is None:
            return status[IN_WORK]
        return self.lookups.awaiting

    def _later(self, moment, max_minutes):
        """A moment up to ``max_minutes`` after ``moment``, and never in the future."""
        step = timedelta(minutes=self.rng.uniform(1, max_minutes))
        return moment + min(step, max(self.now - moment, ZERO_TIME) * self.rng.random())

    def _reply_count(self):
        average = self.replies
        if average <= 0:
            return 0
        return int(self.rng.random() * (2 * average + 1))

    def batch(self, first_ticket_id, first_post_id, index, count, total):
        """The rows of tickets ``index`` to ``index + count - 1`` of ``total``."""
        rows = ([], [], [], [])  # tickets, posts, subscriptions, actions
        post_id = first_post_id
        for position in range(index, index + count):
            post_id = self._ticket(first_ticket_id + position, position, total, post_id, *rows)
        return rows

    def _ticket(self, ticket_id, position, total, post_id, tickets, posts, subscriptions, actions):
        """Append one ticket's rows; returns the next free reply id."""
        rng, lookups, pools = self.rng, self.lookups, self.pools
        status = lookups.status
        added = self.start + timedelta(seconds=self.span * (position + rng.random()) / total)
        age_days = (self.now - added).total_seconds() / 86400
        creator = rng.choice(self.requesters)
        handler = rng.choice(self.agents)
        final = self._final_status(age_days)
        priority_id, priority_name = rng.choices(
            lookups.priorities, weights=lookups.priority_weights
        )[0]
        worked = final != status[OPEN] or rng.random() < 0.3
        subscribers = {creator}

        # Replies, at increasing times after the ticket was raised (never in the future).
        reply_count = self._reply_count()
        window = min(
            timedelta(hours=rng.uniform(1, 24 * 21)),
            max(self.now - added - timedelta(minutes=1), timedelta(seconds=reply_count)),
        )
        offsets = sorted(rng.random() for _index in range(reply_count))
        first_reply_id, reply_times, last_time = post_id, [], added
        reply_hours = ZERO
        colleague = rng.choice(self.agents) if rng.random() < 0.1 else None
        for fraction in offsets:
            when = min(added + window * fraction, self.now)
            draw = rng.random()
            if worked and draw < 0.55:
                author, text = handler, rng.choice(pools.agent_replies)
            elif colleague is not None and draw < 0.65:
                author, text = colleague, rng.choice(pools.agent_replies)
            else:
                author, text = creator, rng.choice(pools.user_replies)
            is_agent = author != creator
            posts.append(
                {
                    "id": post_id,
                    "ticket_id": ticket_id,
                    "content": text,
                    "user_id": author,
                    "date_added": when,
                    "hours": rng.choice(REPLY_HOURS) if is_agent and rng.random() < 0.3 else ZERO,
                }
            )
            reply_hours += posts[-1]["hours"]
            subscribers.add(author)
            reply_times.append(when)
            last_time = when
            post_id += 1

        def post_at(when):
            """The ticket's latest reply at ``when`` (what the application records)."""
            index = bisect.bisect_right(reply_times, when)
            return first_reply_id + index - 1 if index else None

        def log(name, user, when, recipient=None, data=None):
            actions.append(
                {
                    "ticket_id": ticket_id,
                    "post_id": post_at(when),
                    "action": name,
                    "data": data,
                    "user_id": user,
                    "recipient_id": recipient,
                    "date": when,
                }
            )

        latest = last_time
        if worked:
            # Claimed or assigned before the first answer.
            until = reply_times[0] if reply_times else min(self.now, added + EIGHT_HOURS)
            when = added + (until - added) * rng.uniform(0.05, 0.9)
            if rng.random() < 0.5:
                log("claim", handler, when)
            else:
                log("assign", rng.choice(self.agents), when, recipient=handler)
            subscribers.add(handler)
            latest = max(latest, when)
        if colleague is not None and colleague not in subscribers:
            log("subscribe", creator, added + (latest - added) * rng.random(), colleague)
            subscribers.add(colleague)
        if worked and rng.random() < 0.1:
            when = added + (latest - added) * rng.uniform(0.5, 1.0)
            data = {"priority_id": priority_id, "priority": priority_name}
            log("priority", handler, when, data=data)
        if final == lookups.awaiting:
            when = self._later(last_time, 30)
            log("status", handler, when, data={"status_id": final, "status": AWAITING})
            latest = max(latest, when)
        if final == status[CLOSED]:
            when = self._later(latest, 600)
            log("close", handler, when)
            latest = max(latest, when)
        if final == status[OPEN] and worked:
            when = self._later(latest, 120)
            log("release", handler, when)
            latest = max(latest, when)

        assigned = handler if final in (status[IN_WORK], lookups.awaiting) else None
        tickets.append(
            {
                "id": ticket_id,
                "title": rng.choice(pools.titles),
                "content": rng.choice(pools.bodies),
                "started_id": creator,
                "date_added": added,
                "status_id": final,
                "category_id": rng.choice(lookups.categories),
                "assigned_id": assigned,
                "ticket_priority_id": priority_id,
                "hours": rng.choice(TICKET_HOURS) if rng.random() < 0.1 else ZERO,
                "last_updated": latest,
            }
        )
        # The stored counters, as the ticket service keeps them.
        tickets[-1]["reply_count"] = len(reply_times)
        tickets[-1]["total_hours"] = tickets[-1]["hours"] + reply_hours
        subscriptions.extend({"ticket_id": ticket_id, "user_id": u} for u in subscribers)
        return post_id


INSERT_CHUNK = 5000


def _insert(conn, table, rows):
    """Bulk-insert ``rows`` (dicts with the same keys): executemany in chunks, or COPY on
    PostgreSQL with psycopg 3, which is several times faster there."""
    if not rows:
        return
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        _copy(conn, table, rows)
        return
    for start in range(0, len(rows), INSERT_CHUNK):
        conn.execute(sa.insert(table), rows[start : start + INSERT_CHUNK])


def _copy(conn, table, rows):
    columns = list(rows[0])
    json_columns = {name for name in columns if isinstance(table.c[name].type, sa.JSON)}
    quote = conn.dialect.identifier_preparer.quote
    statement = (
        f"COPY {quote(table.name)} ({', '.join(quote(name) for name in columns)}) FROM STDIN"
    )
    cursor = conn.connection.driver_connection.cursor()
    try:
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(
                    [
                        json.dumps(row[name])
                        if name in json_columns and row[name] is not None
                        else row[name]
                        for name in columns
                    ]
                )
    finally:
        cursor.close()


def _fix_sequences(engine):
    """PostgreSQL: explicit ids do not move the sequences; move them past the new rows."""
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        for table in ("flicket_topic", "flicket_post"):  # fixed names, never user input
            sql = f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), GREATEST((SELECT MAX(id) FROM {table}), 1))"  # noqa: E501, S608  # nosec B608
            conn.execute(sa.text(sql))


#: The tables a run fills, whose planner statistics it then refreshes.
FILLED_TABLES = (
    "flicket_topic",
    "flicket_post",
    "flicket_ticket_subscription",
    "flicket_ticket_action",
)


def _refresh_statistics(engine):
    """After a bulk load the planners' statistics describe the empty tables (PostgreSQL
    then reads a 100,000-row table where an index would do): refresh them, and let
    PostgreSQL mark the new pages all-visible for index-only scans. Fixed names only.
    Not on SQLite: its statistics are averages per index, and the average number of
    tickets per status (most are Closed) makes it scan the whole table for the open ones."""
    dialect = engine.dialect.name
    if dialect not in ("postgresql", "mysql"):
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in FILLED_TABLES:
            if dialect == "postgresql":
                conn.exec_driver_sql(f"VACUUM ANALYZE {table}")
            else:
                conn.exec_driver_sql(f"ANALYZE TABLE {table}").all()


# -- the command ------------------------------------------------------------------------------


def populate(engine, args, rounds):
    """Add the demo data; returns a dict of what was created."""
    rng = random.Random(args.seed)
    now = clock.utcnow().replace(microsecond=0)
    report = dict.fromkeys(("users", "tickets", "replies", "subscriptions", "actions"), 0)
    report["departments"] = []
    with engine.begin() as conn:
        # Refuse before creating anything if set-up has not run.
        Lookups(conn, need_categories=not args.departments)
        if args.departments:
            report["departments"] = create_departments(conn, args.departments, rng)
    with engine.begin() as conn:
        lookups = Lookups(conn)
        if args.users:
            password_hash = hash_password(args.password, rounds)
            agents, staff, disabled = create_users(
                conn, args.users, password_hash, rng, now, args.days
            )
            report["users"] = args.users
        else:
            (agents, staff), disabled = existing_users(conn), []
        first_ticket_id = next_id(conn, Ticket.__table__)
        first_post_id = next_id(conn, Post.__table__)

    pools = TextPools(rng)
    factory = TicketFactory(
        rng,
        lookups,
        pools,
        agents,
        staff,
        disabled,
        now,
        args.days,
        args.replies_per_ticket,
    )
    progress = Progress(args.tickets, say(_("tickets")), enabled=not args.no_progress)
    post_id = first_post_id
    try:
        for index in range(0, args.tickets, args.batch_size):
            count = min(args.batch_size, args.tickets - index)
            tickets, posts, subscriptions, actions = factory.batch(
                first_ticket_id, post_id, index, count, args.tickets
            )
            with engine.begin() as conn:
                _insert(conn, Ticket.__table__, tickets)
                _insert(conn, Post.__table__, posts)
                _insert(conn, Subscription.__table__, subscriptions)
                _insert(conn, Action.__table__, actions)
            post_id += len(posts)
            report["tickets"] += len(tickets)
            report["replies"] += len(posts)
            report["subscriptions"] += len(subscriptions)
            report["actions"] += len(actions)
            progress.update(count)
    except KeyboardInterrupt:
        raise CommandError(
            _(
                "interrupted after ${tickets} (they are kept); the counters were not "
                "recomputed: run flicket-update-user-posts and flicket-update-user-assigned.",
                mapping={
                    "tickets": pluralize("${count} ticket", "${count} tickets", report["tickets"])
                },
            ),
            exit_code=130,
        ) from None
    finally:
        progress.finish()
        _fix_sequences(engine)

    # The same SQL as flicket-update-user-posts / -assigned.
    with engine.begin() as conn:
        report["counters"] = {
            column: len(counters.recompute(conn, column)) for column in counters.COUNTERS
        }
    _refresh_statistics(engine)
    return report


def run(args, out=print):
    if args.tickets < 0 or args.users < 0 or args.departments < 0 or args.replies_per_ticket < 0:
        raise CommandError(
            _("--tickets, --users, --departments and --replies-per-ticket must not be negative.")
        )
    if args.batch_size < 1 or args.days < 1:
        raise CommandError(_("--batch-size and --days must be 1 or more."))
    if not math.isfinite(args.replies_per_ticket):
        raise CommandError(_("--replies-per-ticket must be a number."))
    if args.password is not None and not args.password.strip():
        raise CommandError(_("--password must not be empty."))
    if args.seed is None:
        args.seed = secrets.randbelow(10**6)
    generated_password = args.password is None and args.users > 0
    if generated_password:
        args.password = secrets.token_urlsafe(12)
    started = time.monotonic()
    with bootstrapped(args.config_uri) as env:
        engine = env["registry"]["dbengine"]
        require_schema(engine, "flicket_users", "flicket_topic", "flicket_status")
        rounds = env["registry"].settings["flicket.bcrypt_rounds"]
        report = populate(engine, args, rounds)
    elapsed = time.monotonic() - started
    if report["departments"]:
        departments = report["departments"]
        out(
            say(
                _(
                    "Created ${departments}: ${names}.",
                    mapping={
                        "departments": pluralize(
                            "${count} department", "${count} departments", len(departments)
                        ),
                        "names": ", ".join(departments),
                    },
                )
            )
        )
    rows = sum(report[key] for key in ("users", "tickets", "replies", "subscriptions", "actions"))
    created = _(
        "Created ${users}, ${tickets}, ${replies}, ${subscriptions} and ${actions} in "
        "${seconds} s (${rate} rows/s; seed ${seed}).",
        mapping={
            "users": pluralize("${count} user", "${count} users", report["users"]),
            "tickets": pluralize("${count} ticket", "${count} tickets", report["tickets"]),
            "replies": pluralize("${count} reply", "${count} replies", report["replies"]),
            "subscriptions": pluralize(
                "${count} subscription", "${count} subscriptions", report["subscriptions"]
            ),
            "actions": pluralize("${count} action", "${count} actions", report["actions"]),
            "seconds": number(elapsed, "0.0"),
            "rate": number(rows / elapsed if elapsed else 0, "#,##0"),
            "seed": args.seed,
        },
    )
    out(say(created))
    changed = report["counters"]
    counted = _(
        "Counters recomputed: total_posts of ${posts}, total_assigned of ${assigned} updated.",
        mapping={
            "posts": pluralize("${count} user", "${count} users", changed["total_posts"]),
            "assigned": pluralize("${count} user", "${count} users", changed["total_assigned"]),
        },
    )
    out(say(counted))
    if report["users"] and generated_password:
        out(
            say(
                _(
                    "The demo users' password (generated; shown once): ${password}",
                    mapping={"password": args.password},
                )
            )
        )
    elif report["users"]:
        out(say(_("The demo users' password: ${password}", mapping={"password": args.password})))
    return report


def parser():
    parser = make_parser(
        "flicket-populate",
        "Add realistic demo data to a Flicket database: users, departments, tickets with "
        "replies, subscriptions, actions and hours spread over the last two years; the "
        "users' counters are recomputed at the end. Meant for demonstrations and "
        "benchmarks, on a database set up with flicket-setup; do not run it while people "
        "use the site. A progress bar is shown on standard error.\n\n"
        "Example (a benchmark database, about a minute on SQLite):\n"
        "  flicket-populate production.ini --tickets 100000 --replies-per-ticket 10 "
        "--users 1000",
    )
    parser.add_argument(
        "--tickets", type=int, default=1000, metavar="N", help="tickets (default: 1000)"
    )
    parser.add_argument(
        "--replies-per-ticket",
        type=float,
        default=10.0,
        metavar="M",
        help="average number of replies per ticket (default: 10)",
    )
    parser.add_argument(
        "--users",
        type=int,
        default=50,
        metavar="U",
        help="demo users to create, a fifth of them agents (default: 50; 0 uses the "
        "existing users)",
    )
    parser.add_argument(
        "--departments",
        type=int,
        default=0,
        metavar="D",
        help=f"extra departments with categories to add (default: 0, at most "
        f"{len(EXTRA_DEPARTMENTS)})",
    )
    parser.add_argument(
        "--days",
        type=int,
        default=730,
        metavar="DAYS",
        help="spread the tickets over this many past days (default: 730)",
    )
    parser.add_argument(
        "--seed", type=int, default=None, metavar="S", help="random seed, for repeatable data"
    )
    parser.add_argument(
        "--password",
        default=None,
        help="the demo users' password (default: a random one, printed at the end)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH,
        metavar="B",
        help=f"tickets written per transaction (default: {DEFAULT_BATCH})",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv=None):
    """``flicket-populate <ini> [--tickets N] [--replies-per-ticket M] [--users U] ...``"""
    return run_main("flicket-populate", parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
