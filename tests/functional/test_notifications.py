"""Ticket e-mail notifications (reference §6; PRODUCT §4; SECURITY-TESTS REL-2d, REL-6):
who gets each notice, its subject, both its parts (plain text and HTML), escaping of user
data, no header injection, links from the configured base URL, and nothing sent when the
request's transaction does not commit.

The application here runs with ``flicket.mail.mode = dummy``: messages land in ``outbox``
only after the request committed.
"""

import email
import email.policy
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from flicket.admin.models import Config
from flicket.tickets.models import Post, Subscription, Ticket
from flicket.tickets.services import TicketError, TicketService
from tests.conftest import make_user
from tests.factories import category, make_ticket

BASE_URL = "https://desk.example.org/help"
SENDER = "helpdesk@example.org"


# -- helpers --------------------------------------------------------------------------------------


def site_config(dbsession):
    return dbsession.scalars(sa.select(Config).order_by(Config.id)).first()


def configure(dbsession, **values):
    config = site_config(dbsession)
    for name, value in values.items():
        setattr(config, name, value)
    dbsession.flush()


def subscribe(dbsession, ticket, *users):
    for user in users:
        dbsession.add(Subscription(ticket_id=ticket.id, user_id=user.id))
    dbsession.flush()


def form_posting_to(page, path):
    for form in page.forms.values():
        if urlsplit(form.action or page.request.path).path == path:
            return form
    raise AssertionError(f"no form posts to {path}")


def confirm(app, path, **kw):
    """GET the confirmation page of ``path`` and press its button."""
    return form_posting_to(app.get(path), path).submit(**kw)


def reply_form(app, ticket, content):
    path = f"/ticket_view/{ticket.id}/"
    form = form_posting_to(app.get(path), path)
    form["content"] = content
    return form


def reply(app, ticket, content="Have you tried turning it off and on again?", **kw):
    kw.setdefault("status", 302)
    return reply_form(app, ticket, content).submit("reply", **kw)


def by_recipient(outbox):
    """{address: message}; every message has exactly one recipient."""
    result = {}
    for message in outbox:
        assert len(message.recipients) == 1, message.recipients
        assert message.recipients[0] not in result, "two messages to one address"
        result[message.recipients[0]] = message
    return result


def parsed(message):
    """The message as a mail client would receive it."""
    return email.message_from_string(str(message.to_message()), policy=email.policy.default)


def parts(message):
    """(plain text, HTML) as decoded from the MIME structure that is really sent."""
    mime = parsed(message)
    text = mime.get_body(preferencelist=("plain",))
    html = mime.get_body(preferencelist=("html",))
    assert text is not None and html is not None, "a plain-text and an HTML part"
    return text.get_content(), html.get_content()


def subject_of(ticket, ending):
    return f'Ticket #{str(ticket.id).zfill(5)} - "{ticket.title}" {ending}'


def link_of(ticket):
    return f"{BASE_URL}/ticket_view/{ticket.id}/"


def assert_details(message, *, status, priority, assigned, content):
    """The details block is in both parts."""
    text, html = parts(message)
    assert f"Status:   {status}" in text
    assert f"Priority: {priority}" in text
    assert f"Assigned: {assigned}" in text
    assert content in text
    shown = "<em>Not claimed yet</em>" if assigned == "Not claimed yet" else assigned
    assert f"Status</th><td>{status}</td>" in html
    assert f"Priority</th><td>{priority}</td>" in html
    assert f"Assigned</th><td>{shown}</td>" in html
    assert content in html


@pytest.fixture
def site(dbsession):
    configure(dbsession, base_url=BASE_URL, mail_default_sender=SENDER)
    return site_config(dbsession)


@pytest.fixture
def ticket(dbsession, users, site):
    """Alice's ticket, assigned to bob, with bob, carol, dave (disabled) and carol again
    subscribed."""
    t = make_ticket(
        dbsession,
        users["alice"],
        "Printer on fire",
        "The printer on floor 2 is on fire.",
        status_name="In Work",
        priority_name="high",
        assigned=users["bob"],
    )
    subscribe(dbsession, t, users["bob"], users["carol"], users["dave"], users["carol"])
    return t


def fresh_ticket(dbsession, ticket_id):
    dbsession.expire_all()
    return dbsession.get(Ticket, ticket_id)


# -- reply ----------------------------------------------------------------------------------------


def test_reply_notifies_every_subscriber_but_the_replier(login_as, users, ticket, outbox):
    app = login_as("bob")
    reply(app, ticket, "It was the toner.\nAll good now.")

    messages = by_recipient(outbox)
    # dave is disabled; carol is subscribed twice but gets one message; bob replied.
    assert sorted(messages) == ["alice@example.com", "carol@example.com"]
    for message in messages.values():
        assert message.subject == subject_of(ticket, "has new replies.")
        assert message.sender == SENDER
        text, html = parts(message)
        assert "Bob Example replied:" in text and "Bob Example replied:" in html
        assert '"It was the toner.\nAll good now."' in text
        assert "It was the toner.\nAll good now." in html
        assert link_of(ticket) in text
        assert f'href="{link_of(ticket)}"' in html
        assert_details(
            message,
            status="In Work",
            priority="high",
            assigned="Bob Example",
            content="The printer on floor 2 is on fire.",
        )
        assert "Flicket" in text.rsplit("--", 1)[-1]  # the footer


def test_each_message_names_only_its_own_recipient(login_as, ticket, outbox):
    reply(login_as("bob"), ticket)
    assert len(outbox) == 2
    for message in outbox:
        mime = parsed(message)
        assert mime["To"] == message.recipients[0]
        assert mime["Cc"] is None and mime["Bcc"] is None
        other = ({"alice@example.com", "carol@example.com"} - set(message.recipients)).pop()
        assert other not in str(message.to_message())


def test_reply_by_the_only_subscriber_sends_nothing(login_as, dbsession, users, site, outbox):
    lonely = make_ticket(dbsession, users["alice"], "Only me here")
    reply(login_as("alice"), lonely)
    assert dbsession.scalar(sa.select(sa.func.count()).select_from(Post)) == 1
    assert outbox == []


def test_subscribers_without_an_address_are_skipped(login_as, dbsession, users, site, outbox):
    erin = make_user(dbsession, "erin")
    erin.email = None
    frank = make_user(dbsession, "frank", email="frank@example.com")
    frank.email = "frank@example.com, evil@example.net"  # as an old import could have left it
    dbsession.flush()
    t = make_ticket(dbsession, users["alice"], "Who gets this")
    subscribe(dbsession, t, erin, frank, users["carol"])
    reply(login_as("bob"), t)
    assert sorted(by_recipient(outbox)) == ["alice@example.com", "carol@example.com"]


def test_reply_and_close_sends_the_reply_then_the_close_notice(login_as, users, ticket, outbox):
    app = login_as("bob")
    reply_form(app, ticket, "Fixed, closing.").submit("reply_close", status=302)
    subjects = [(m.recipients[0], m.subject) for m in outbox]
    replied, closed = (
        subject_of(ticket, "has new replies."),
        subject_of(ticket, "has been closed."),
    )
    assert subjects == [
        ("alice@example.com", replied),
        ("carol@example.com", replied),
        ("alice@example.com", closed),
        ("bob@example.com", closed),
        ("carol@example.com", closed),
    ]


# -- create ---------------------------------------------------------------------------------------


def test_creating_a_ticket_notifies_the_creator(login_as, dbsession, users, site, outbox):
    app = login_as("alice")
    page = app.get("/ticket_create/")
    form = form_posting_to(page, "/ticket_create/")
    form["title"] = "The coffee machine leaks"
    form["content"] = "Water everywhere."
    form["category"] = str(category(dbsession, "IT", "Intranet").id)
    response = form.submit(status=302)
    ticket_id = int(urlsplit(response.location).path.split("/")[2])
    created = fresh_ticket(dbsession, ticket_id)

    assert [m.recipients for m in outbox] == [["alice@example.com"]]
    message = outbox[0]
    assert (
        message.subject
        == f'Ticket #{str(ticket_id).zfill(5)} - "The coffee machine leaks" has been created.'
    )
    text, html = parts(message)
    assert "has been created" in text and "has been created" in html
    assert link_of(created) in text and f'href="{link_of(created)}"' in html
    assert_details(
        message,
        status="Open",
        priority="low",
        assigned="Not claimed yet",
        content="Water everywhere.",
    )


# -- claim, assign, release -----------------------------------------------------------------------


def test_claim_notifies_the_subscribers_and_the_claimer(
    login_as, dbsession, users, ticket, outbox
):
    app = login_as("carol")
    confirm(app, f"/ticket_claim/{ticket.id}/", status=302)

    messages = by_recipient(outbox)
    assert sorted(messages) == ["alice@example.com", "bob@example.com", "carol@example.com"]
    message = messages["bob@example.com"]
    assert message.subject == subject_of(ticket, "has been assigned to Carol Example.")
    text, html = parts(message)
    assert "Carol Example claimed ticket" in text
    assert "(it was assigned to Bob Example)" in text
    assert "Carol Example claimed ticket" in html
    assert link_of(ticket) in text
    assert_details(
        message,
        status="In Work",
        priority="high",
        assigned="Carol Example",
        content="The printer on floor 2 is on fire.",
    )


def test_assign_notifies_the_subscribers_and_the_new_assignee(
    login_as, dbsession, users, site, outbox
):
    t = make_ticket(dbsession, users["alice"], "Broken chair")
    app = login_as("admin")
    path = f"/ticket_assign/{t.id}/"
    form = form_posting_to(app.get(path), path)
    form["username"] = "carol"
    form.submit(status=302)

    messages = by_recipient(outbox)
    # carol was subscribed by the assignment; the admin is not subscribed.
    assert sorted(messages) == ["alice@example.com", "carol@example.com"]
    message = messages["carol@example.com"]
    assert message.subject == subject_of(t, "has been assigned to Carol Example.")
    text, html = parts(message)
    assert "Admin Example assigned ticket" in text and "to Carol Example." in text
    assert "Admin Example assigned ticket" in html
    assert_details(
        message,
        status="In Work",
        priority="medium",
        assigned="Carol Example",
        content="The printer on floor 2 is on fire.",
    )


def test_release_says_nobody_is_assigned(login_as, users, ticket, outbox):
    app = login_as("bob")
    confirm(app, f"/release/{ticket.id}/", status=302)

    messages = by_recipient(outbox)
    assert sorted(messages) == ["alice@example.com", "bob@example.com", "carol@example.com"]
    message = messages["alice@example.com"]
    assert message.subject == subject_of(ticket, "has been released.")
    text, html = parts(message)
    assert "Bob Example released ticket" in text and "nobody is assigned to it now" in text
    assert "nobody is assigned to it now" in html
    assert_details(
        message,
        status="Open",
        priority="high",
        assigned="Not claimed yet",
        content="The printer on floor 2 is on fire.",
    )


# -- close ----------------------------------------------------------------------------------------


def test_close_notice_says_closed_and_shows_the_state_before(
    login_as, dbsession, users, ticket, outbox
):
    app = login_as("alice")
    confirm(app, f"/change_status/{ticket.id}/Closed/", status=302)
    assert fresh_ticket(dbsession, ticket.id).status.status == "Closed"

    messages = by_recipient(outbox)
    assert sorted(messages) == ["alice@example.com", "bob@example.com", "carol@example.com"]
    message = messages["carol@example.com"]
    assert message.subject == subject_of(ticket, "has been closed.")
    text, html = parts(message)
    assert "Alice Example closed ticket" in text and "It is now Closed." in text
    assert "It is now <strong>Closed</strong>." in html
    assert "Before it was closed:" in text and "Before it was closed:" in html
    # The details are those of the ticket before it was closed.
    assert_details(
        message,
        status="In Work",
        priority="high",
        assigned="Bob Example",
        content="The printer on floor 2 is on fire.",
    )


# -- department and category ----------------------------------------------------------------------


def test_category_change_is_notified(login_as, dbsession, users, ticket, outbox):
    configure(dbsession, change_category=True)
    app = login_as("carol")
    path = f"/ticket_department_category/{ticket.id}/"
    form = form_posting_to(app.get(path), path)
    form["category"] = str(category(dbsession, "Quality", "Manuals").id)
    form.submit(status=302)

    messages = by_recipient(outbox)
    assert sorted(messages) == ["alice@example.com", "bob@example.com", "carol@example.com"]
    message = messages["alice@example.com"]
    assert message.subject == subject_of(ticket, "has changed department and/or category.")
    text, html = parts(message)
    assert "from: IT / Other" in text and "to:   Quality / Manuals" in text
    assert "from <strong>IT / Other</strong> to <strong>Quality / Manuals</strong>" in html
    assert_details(
        message,
        status="In Work",
        priority="high",
        assigned="Bob Example",
        content="The printer on floor 2 is on fire.",
    )


# -- escaping and header injection ----------------------------------------------------------------

EVIL_TITLE = '<script>alert("t")</script> & co'
EVIL_CONTENT = '<img src=x onerror=alert(1)> "quoted" & <b>bold</b>'
EVIL_REPLY = "</blockquote><script>alert('r')</script>"


def test_user_data_is_escaped_in_html_and_plain_in_text(login_as, dbsession, users, site, outbox):
    users["bob"].name = "<i>Bob</i> & Sons"
    dbsession.flush()
    t = make_ticket(dbsession, users["alice"], EVIL_TITLE, EVIL_CONTENT)
    subscribe(dbsession, t, users["carol"])
    reply(login_as("bob"), t, EVIL_REPLY)

    assert len(outbox) == 2
    message = by_recipient(outbox)["carol@example.com"]
    assert message.subject == subject_of(t, "has new replies.")
    text, html = parts(message)
    # The plain-text part shows the text as typed, not HTML entities.
    for raw in (EVIL_TITLE, EVIL_CONTENT, EVIL_REPLY, "<i>Bob</i> & Sons replied:"):
        assert raw in text
    assert "&lt;" not in text and "&amp;" not in text
    # The HTML part escapes every piece of user data.
    for dangerous in ("<script", "<img", "onerror=alert(1)>", "<b>bold", "<i>Bob"):
        assert dangerous not in html
    assert "&lt;script&gt;alert(&#34;t&#34;)&lt;/script&gt; &amp; co" in html
    assert (
        "&lt;img src=x onerror=alert(1)&gt; &#34;quoted&#34; &amp; &lt;b&gt;bold&lt;/b&gt;" in html
    )
    assert "&lt;/blockquote&gt;&lt;script&gt;alert(&#39;r&#39;)&lt;/script&gt;" in html
    assert "&lt;i&gt;Bob&lt;/i&gt; &amp; Sons replied:" in html


INJECTIONS = [
    "Printer\r\nBcc: victim@example.net",
    "Printer\nBcc: victim@example.net",
    "Printer\rBcc: victim@example.net",
    "Printer\u2028Bcc: victim@example.net",
    "Printer\x85Bcc: victim@example.net",
]


@pytest.mark.parametrize("title", INJECTIONS)
def test_a_title_cannot_inject_headers(login_as, dbsession, users, site, outbox, title):
    t = make_ticket(dbsession, users["alice"], title)
    subscribe(dbsession, t, users["carol"])
    reply(login_as("bob"), t)

    assert len(outbox) == 2
    for message in outbox:
        assert message.subject == (
            f'Ticket #{t.id_zfill} - "Printer Bcc: victim@example.net" has new replies.'
        )
        raw = str(message.to_message())
        mime = parsed(message)
        assert mime["Bcc"] is None
        assert "victim@example.net" not in mime["To"]
        header_block = raw.split("\n\n", 1)[0]
        assert "\nBcc:" not in header_block
        assert mime["Subject"] == message.subject


def test_a_name_cannot_inject_headers(login_as, dbsession, users, site, outbox):
    users["carol"].name = "Carol\r\nBcc: victim@example.net\r\nX-Evil: 1"
    dbsession.flush()
    t = make_ticket(dbsession, users["alice"], "Chair")
    app = login_as("admin")
    path = f"/ticket_assign/{t.id}/"
    form = form_posting_to(app.get(path), path)
    form["username"] = "carol"
    form.submit(status=302)

    assert len(outbox) == 2
    for message in outbox:
        assert message.subject == subject_of(
            t, "has been assigned to Carol Bcc: victim@example.net X-Evil: 1."
        )
        mime = parsed(message)
        assert mime["Bcc"] is None and mime["X-Evil"] is None
        assert mime["Subject"] == message.subject


# -- links ----------------------------------------------------------------------------------------


def test_links_use_the_request_host_when_no_base_url_is_set(login_as, dbsession, ticket, outbox):
    configure(dbsession, base_url="")
    reply(login_as("bob"), ticket)
    text, html = parts(outbox[0])
    assert f"http://example.com/ticket_view/{ticket.id}/" in text
    assert f'href="http://example.com/ticket_view/{ticket.id}/"' in html
    assert BASE_URL not in text


# -- only after a commit --------------------------------------------------------------------------


def post_count(dbsession):
    dbsession.expire_all()
    return dbsession.scalar(sa.select(sa.func.count()).select_from(Post))


def test_nothing_is_sent_when_the_request_fails_after_the_event(
    login_as, dbsession, ticket, outbox, monkeypatch
):
    original = TicketService.reply

    def reply_then_fail(self, *args, **kwargs):
        original(self, *args, **kwargs)  # the reply event has been emitted
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(TicketService, "reply", reply_then_fail)
    reply(login_as("bob"), ticket, status=500)
    assert post_count(dbsession) == 0
    assert outbox == []


def test_nothing_is_sent_when_the_request_is_refused_after_the_event(
    login_as, dbsession, ticket, outbox, monkeypatch
):
    """The view answers 400 (and dooms the transaction) after the reply was written."""

    def refuse(self, ticket, actor):
        raise TicketError("Closing is not possible right now.")

    monkeypatch.setattr(TicketService, "close", refuse)
    app = login_as("bob")
    response = reply_form(app, ticket, "Fixed, closing.").submit("reply_close", status=400)
    assert "Closing is not possible right now." in response.text
    assert post_count(dbsession) == 0
    assert outbox == []


def test_a_failing_notice_never_loses_the_reply(
    login_as, dbsession, ticket, outbox, monkeypatch, caplog
):
    """A broken template or mail queue is logged; the reply itself is saved."""
    from flicket import notifications

    def broken(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(notifications, "send_templated_mail_to_each", broken)
    with caplog.at_level("ERROR", logger="flicket.notifications"):
        reply(login_as("bob"), ticket)
    assert post_count(dbsession) == 1
    assert outbox == []
    assert "ticket_replied notice for ticket" in caplog.text
    assert "No space left on device" in caplog.text
