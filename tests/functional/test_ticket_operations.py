"""Every ticket operation through the real application (WebTest, real forms with the page's
CSRF token): what it writes (status, assignee, counters, action rows, history,
subscriptions, ``last_updated``), every refusal that depends on the ticket's state, and the
400 answers for bad input, which must write nothing (reference §3.6–§3.12, §3.14;
SECURITY-TESTS VAL-1, VAL-2)."""

from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from flicket import clock
from flicket.accounts.models import User
from flicket.admin.models import Config
from flicket.tickets.models import Action, History, Post, Subscription, Ticket, Upload
from tests.conftest import PASSWORD, csrf_token_from, login, make_user
from tests.factories import category, make_post, make_ticket, priority, status

TICKET_TABLES = (Ticket, Post, Upload, History, Subscription, Action)


# -- helpers (also used by the permission, XSS and upload suites) -------------------------------


def yesterday():
    return clock.utcnow() - timedelta(days=1)


def old_ticket(dbsession, creator, title="Printer on fire", **kw):
    """A ticket created a day ago, so that any operation visibly moves ``last_updated``
    (MariaDB keeps whole seconds only)."""
    kw.setdefault("when", yesterday())
    return make_ticket(dbsession, creator, title, **kw)


def fresh(dbsession, model, ident):
    """The row as the database has it now (the application committed in its own session)."""
    dbsession.expire_all()
    return dbsession.get(model, ident)


def rows_of(dbsession, model):
    columns = list(model.__table__.columns)
    return [tuple(row) for row in dbsession.execute(sa.select(*columns).order_by(model.id))]


def snapshot(dbsession):
    """Every row an operation on a ticket could change, and every user's counters."""
    dbsession.expire_all()
    state = {model.__tablename__: rows_of(dbsession, model) for model in TICKET_TABLES}
    state["counters"] = [
        tuple(row)
        for row in dbsession.execute(
            sa.select(User.id, User.total_posts, User.total_assigned).order_by(User.id)
        )
    ]
    return state


def row_count(dbsession, model, *where):
    dbsession.expire_all()
    return dbsession.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def actions_of(dbsession, ticket_id):
    """(action, actor id, recipient id, data, post id) of a ticket's action rows, in order."""
    dbsession.expire_all()
    return [
        (a.action, a.user_id, a.recipient_id, a.data, a.post_id)
        for a in dbsession.scalars(
            sa.select(Action).where(Action.ticket_id == ticket_id).order_by(Action.id)
        )
    ]


def subscriber_ids(dbsession, ticket_id):
    dbsession.expire_all()
    return sorted(
        dbsession.scalars(
            sa.select(Subscription.user_id).where(Subscription.ticket_id == ticket_id)
        )
    )


def counters(dbsession, user):
    dbsession.expire_all()
    row = dbsession.execute(
        sa.select(User.total_posts, User.total_assigned).where(User.id == user.id)
    ).one()
    return tuple(row)


def set_counters(dbsession, user, posts=None, assigned=None):
    if posts is not None:
        user.total_posts = posts
    if assigned is not None:
        user.total_assigned = assigned
    dbsession.flush()


def site_config(dbsession):
    return dbsession.scalars(sa.select(Config).order_by(Config.id)).first()


def configure(dbsession, **values):
    config = site_config(dbsession)
    for name, value in values.items():
        setattr(config, name, value)
    dbsession.flush()


def form_posting_to(page, path):
    """The form of ``page`` whose action is ``path``."""
    for form in page.forms.values():
        if urlsplit(form.action or page.request.path).path == path:
            return form
    raise AssertionError(
        f"no form posts to {path}; forms: {[f.action for f in page.forms.values()]}"
    )


def confirm(app, path, **kw):
    """GET the confirmation page of ``path`` and press its button."""
    page = app.get(path)
    assert page.status_int == 200
    return form_posting_to(page, path).submit(**kw)


def delete_ticket(app, ticket_id):
    """Delete the ticket through its confirmation page, typing the password."""
    path = f"/delete_ticket/{ticket_id}/"
    form = form_posting_to(app.get(path), path)
    form["password"] = PASSWORD
    return form.submit(status=302)


def flashes(response):
    """The flash messages of the page a redirect lands on."""
    page = response.follow()
    alert = page.html.select_one("main .alert")
    return alert.get_text(" ", strip=True) if alert else ""


def ticket_path(ticket):
    return f"/ticket_view/{ticket.id}/"


def option_value(select_field, text):
    """The value of the option of a WebTest select field whose text is ``text``."""
    for value, _selected, label in select_field.options:
        if label == text:
            return value
    raise AssertionError(f"no option {text!r} in {select_field.options}")


def category_id(dbsession, department, name):
    return category(dbsession, department, name).id


def another_client(make_client, username):
    client = make_client()
    login(client, username)
    return client


@pytest.fixture
def alice_ticket(dbsession, users):
    """Alice's ticket, a day old, assigned to bob (whose counter says so), both subscribed."""
    bob = users["bob"]
    ticket = old_ticket(
        dbsession, users["alice"], assigned=bob, status_name="In Work", hours="2.5"
    )
    dbsession.add(Subscription(ticket_id=ticket.id, user_id=bob.id))
    set_counters(dbsession, users["alice"], posts=1)
    set_counters(dbsession, bob, assigned=1)
    return ticket


def assert_moved(dbsession, ticket_id, before):
    ticket = fresh(dbsession, Ticket, ticket_id)
    assert ticket.last_updated > before


# -- create -------------------------------------------------------------------------------------


def create_form(app):
    page = app.get("/ticket_create/")
    return form_posting_to(page, "/ticket_create/")


def test_create_ticket_through_the_form(login_as, dbsession, users):
    app = login_as("alice")
    form = create_form(app)
    form["title"] = "  The coffee machine leaks  "
    form["content"] = "Water *everywhere*."
    form["priority"] = option_value(form["priority"], "high")
    form["category"] = str(category_id(dbsession, "IT", "Intranet"))
    form["hours"] = "1.25"
    before = clock.utcnow() - timedelta(seconds=1)
    response = form.submit(status=302)

    ticket_id = int(urlsplit(response.location).path.split("/")[2])
    ticket = fresh(dbsession, Ticket, ticket_id)
    assert ticket.title == "The coffee machine leaks"
    assert ticket.content == "Water *everywhere*."
    assert ticket.started_id == users["alice"].id
    assert ticket.status.status == "Open"
    assert ticket.ticket_priority.priority == "high"
    assert ticket.category.department_category == "IT / Intranet"
    assert ticket.hours == Decimal("1.25")
    assert ticket.assigned_id is None
    assert ticket.date_added >= before.replace(microsecond=0)
    assert ticket.last_updated == ticket.date_added
    assert subscriber_ids(dbsession, ticket_id) == [users["alice"].id]
    assert counters(dbsession, users["alice"]) == (1, 0)
    # As in Flicket, creating writes no action row.
    assert actions_of(dbsession, ticket_id) == []
    assert f"Ticket {ticket.id_zfill} created" in flashes(response)


def test_create_remembers_the_last_category_in_the_session(login_as, dbsession, make_client):
    app = login_as("alice")
    manuals = str(category_id(dbsession, "Quality", "Manuals"))
    form = create_form(app)
    assert form["category"].value != manuals
    form["title"] = "First"
    form["content"] = "First ticket."
    form["category"] = manuals
    form.submit(status=302)

    assert create_form(app)["category"].value == manuals
    # Another session (another browser of the same user) does not inherit it.
    assert create_form(another_client(make_client, "alice"))["category"].value != manuals


VALID_TICKET = {"title": "A valid title", "content": "Valid content.", "hours": "0"}

# (field changes, a message the 400 page shows)
BAD_TICKET_INPUT = [
    ({"title": "ab"}, "The title must be 3 to 128 characters long."),
    ({"title": "x" * 129}, "The title must be 3 to 128 characters long."),
    ({"title": "          "}, "The title must be 3 to 128 characters long."),
    ({"title": None}, "This field is required."),
    ({"content": "abcd"}, "The text must be 5 to 5000 characters long."),
    ({"content": "x" * 5001}, "The text must be 5 to 5000 characters long."),
    ({"content": " \n\t " * 5}, "The text cannot be only white space."),
    ({"content": None}, "This field is required."),
    ({"hours": "abc"}, "Not a valid decimal value"),
    ({"hours": "1e999"}, "Hours must be a number such as 1.5."),
    ({"hours": "123456789012"}, "Hours must be a number such as 1.5."),
    ({"hours": "-1e9"}, "Hours must be a number such as 1.5."),
    ({"hours": "NaN"}, "Hours must be a number such as 1.5."),
    ({"hours": "Infinity"}, "Hours must be a number such as 1.5."),
    ({"category": "999999"}, "Not a valid choice"),
    ({"category": "abc"}, "Invalid Choice: could not coerce."),
    ({"category": None}, "This field is required."),
    ({"priority": "999999"}, "Not a valid choice"),
    ({"priority": "-1"}, "Not a valid choice"),
    ({"priority": None}, "This field is required."),
]


def ticket_fields(dbsession, changes):
    fields = dict(VALID_TICKET)
    fields["priority"] = str(priority(dbsession, "low").id)
    fields["category"] = str(category_id(dbsession, "IT", "Other"))
    for name, value in changes.items():
        if value is None:
            fields.pop(name)
        else:
            fields[name] = value
    return fields


def post_form_fields(app, page_path, action_path, fields, **kw):
    """POST ``fields`` to ``action_path`` with the session's CSRF token read from ``page_path``
    (for requests no form on the page makes: refused ones, or bad values)."""
    fields = dict(fields, csrf_token=csrf_token_from(app.get(page_path)))
    return app.post(action_path, fields, **kw)


@pytest.mark.parametrize(("changes", "message"), BAD_TICKET_INPUT)
def test_create_refuses_bad_input_and_writes_nothing(login_as, dbsession, changes, message):
    app = login_as("alice")
    before = snapshot(dbsession)
    response = post_form_fields(
        app, "/ticket_create/", "/ticket_create/", ticket_fields(dbsession, changes), status=400
    )
    assert message in response.text
    assert snapshot(dbsession) == before


def test_create_with_valid_fields_posted_directly_works(login_as, dbsession):
    """The control for the table above: the same request with nothing wrong is accepted."""
    app = login_as("alice")
    post_form_fields(
        app, "/ticket_create/", "/ticket_create/", ticket_fields(dbsession, {}), status=302
    )
    assert row_count(dbsession, Ticket) == 1


def test_create_ignores_fields_it_does_not_own(login_as, dbsession, users):
    """Mass assignment (ACL-6): extra fields cannot set the assignee, status or creator."""
    app = login_as("alice")
    fields = ticket_fields(dbsession, {})
    fields.update(
        assigned_id=str(users["bob"].id),
        status_id=str(status(dbsession, "Closed").id),
        started_id=str(users["carol"].id),
        user_id=str(users["carol"].id),
    )
    post_form_fields(app, "/ticket_create/", "/ticket_create/", fields, status=302)
    ticket = dbsession.scalars(sa.select(Ticket)).one()
    assert (ticket.assigned_id, ticket.status.status, ticket.started_id) == (
        None,
        "Open",
        users["alice"].id,
    )


# -- reply --------------------------------------------------------------------------------------


def reply_form(app, ticket, query=""):
    page = app.get(ticket_path(ticket) + query)
    return form_posting_to(page, ticket_path(ticket))


def test_reply_through_the_form(login_as, dbsession, users, alice_ticket):
    app = login_as("carol")
    before = alice_ticket.last_updated
    form = reply_form(app, alice_ticket)
    assert form["status"].value == str(status(dbsession, "In Work").id)
    assert form["priority"].value == str(priority(dbsession, "medium").id)
    form["content"] = "I have seen this before."
    form["status"] = option_value(form["status"], "Awaiting Information")
    form["priority"] = option_value(form["priority"], "high")
    form["hours"] = "0.75"
    response = form.submit("reply", status=302)

    post = dbsession.scalars(sa.select(Post).where(Post.ticket_id == alice_ticket.id)).one()
    assert (post.content, post.hours, post.user_id) == (
        "I have seen this before.",
        Decimal("0.75"),
        users["carol"].id,
    )
    location = urlsplit(response.location)
    assert (location.path, location.fragment) == (
        f"/ticket_view/{alice_ticket.id}/1/",
        f"post-{post.id}",
    )
    ticket = fresh(dbsession, Ticket, alice_ticket.id)
    assert ticket.status.status == "Awaiting Information"
    assert ticket.ticket_priority.priority == "high"
    assert ticket.last_updated > before
    waiting, high = status(dbsession, "Awaiting Information"), priority(dbsession, "high")
    carol = users["carol"].id
    assert actions_of(dbsession, alice_ticket.id) == [
        (
            "status",
            carol,
            None,
            {"status_id": waiting.id, "status": "Awaiting Information"},
            post.id,
        ),
        ("priority", carol, None, {"priority_id": high.id, "priority": "high"}, post.id),
    ]
    assert carol in subscriber_ids(dbsession, alice_ticket.id)
    assert counters(dbsession, users["carol"]) == (1, 0)
    assert "You replied to ticket" in flashes(response)


def test_reply_that_keeps_status_and_priority_writes_no_action(
    login_as, dbsession, users, alice_ticket
):
    app = login_as("bob")
    form = reply_form(app, alice_ticket)
    form["content"] = "Still on it."
    form.submit("reply", status=302)
    assert actions_of(dbsession, alice_ticket.id) == []
    assert row_count(dbsession, Post, Post.ticket_id == alice_ticket.id) == 1
    # bob was subscribed already: no second subscription row.
    assert subscriber_ids(dbsession, alice_ticket.id) == sorted(
        [users["alice"].id, users["bob"].id]
    )
    assert counters(dbsession, users["bob"]) == (1, 1)


def test_reply_to_a_closed_ticket_reopens_it(login_as, dbsession, users):
    ticket = old_ticket(dbsession, users["alice"], status_name="Closed")
    app = login_as("carol")
    page = app.get(ticket_path(ticket))
    assert "replying reopens this closed ticket" in page.text
    form = form_posting_to(page, ticket_path(ticket))
    assert "Closed" not in [label for _, _, label in form["status"].options]
    assert form["status"].value == str(status(dbsession, "Open").id)
    form["content"] = "This is back."
    form.submit("reply", status=302)

    ticket = fresh(dbsession, Ticket, ticket.id)
    assert ticket.status.status == "Open"
    post_id = dbsession.scalar(sa.select(Post.id).where(Post.ticket_id == ticket.id))
    opened = status(dbsession, "Open")
    assert actions_of(dbsession, ticket.id) == [
        ("status", users["carol"].id, None, {"status_id": opened.id, "status": "Open"}, post_id)
    ]


def test_reply_and_close(login_as, dbsession, users, alice_ticket):
    app = login_as("alice")
    form = reply_form(app, alice_ticket)
    form["content"] = "Fixed, thanks."
    response = form.submit("reply_close", status=302)
    assert urlsplit(response.location).path == "/tickets/"

    ticket = fresh(dbsession, Ticket, alice_ticket.id)
    assert ticket.status.status == "Closed"
    assert ticket.assigned_id is None
    assert counters(dbsession, users["bob"]) == (0, 0)
    assert counters(dbsession, users["alice"]) == (2, 0)
    post_id = dbsession.scalar(sa.select(Post.id).where(Post.ticket_id == ticket.id))
    assert actions_of(dbsession, ticket.id) == [("close", users["alice"].id, None, None, post_id)]


def reply_fields(dbsession, changes):
    fields = {
        "content": "A valid reply.",
        "status": str(status(dbsession, "Open").id),
        "priority": str(priority(dbsession, "low").id),
        "hours": "0",
    }
    for name, value in changes.items():
        if value is None:
            fields.pop(name)
        else:
            fields[name] = value
    return fields


BAD_REPLY_INPUT = [
    ({"content": "abcd"}, "The text must be 5 to 5000 characters long."),
    ({"content": "x" * 5001}, "The text must be 5 to 5000 characters long."),
    ({"content": " " * 20}, "The text cannot be only white space."),
    ({"content": None}, "This field is required."),
    ({"hours": "abc"}, "Not a valid decimal value"),
    ({"hours": "1e999"}, "Hours must be a number such as 1.5."),
    ({"hours": "99999999999999999999"}, "Hours must be a number such as 1.5."),
    ({"hours": "NaN"}, "Hours must be a number such as 1.5."),
    ({"status": "999999"}, "Not a valid choice"),
    ({"status": "CLOSED"}, "Not a valid choice"),
    ({"status": None}, "This field is required."),
    ({"priority": "999999"}, "Not a valid choice"),
    ({"priority": None}, "This field is required."),
]


@pytest.mark.parametrize(("changes", "message"), BAD_REPLY_INPUT)
def test_reply_refuses_bad_input_and_writes_nothing(
    login_as, dbsession, alice_ticket, changes, message
):
    app = login_as("carol")
    path = ticket_path(alice_ticket)
    if changes.get("status") == "CLOSED":  # Closed is not on offer in the reply form
        changes = dict(changes, status=str(status(dbsession, "Closed").id))
    before = snapshot(dbsession)
    response = post_form_fields(app, path, path, reply_fields(dbsession, changes), status=400)
    assert message in response.text
    assert snapshot(dbsession) == before


def test_reply_numbering_and_redirect_across_pages(login_as, dbsession, users, alice_ticket):
    configure(dbsession, posts_per_page=2)
    posts = [
        make_post(dbsession, alice_ticket, users["bob"], f"Reply text number {n}")
        for n in range(1, 5)
    ]
    app = login_as("carol")

    def headings(page):
        return [a.get_text(strip=True) for a in page.html.select("article.post h2 a")]

    page1 = app.get(ticket_path(alice_ticket))
    assert headings(page1)[:3] == ["Ticket", "Reply #1", "Reply #2"]
    page2 = app.get(f"/ticket_view/{alice_ticket.id}/2/")
    assert headings(page2)[:3] == ["Ticket", "Reply #3", "Reply #4"]
    assert page2.html.select_one(f"#post-{posts[3].id}") is not None
    assert "Reply text number 3" in page2.text and "Reply text number 1" not in page2.text

    form = form_posting_to(page2, ticket_path(alice_ticket))
    form["content"] = "The fifth reply."
    response = form.submit("reply", status=302)
    new_id = dbsession.scalar(sa.select(sa.func.max(Post.id)))
    location = urlsplit(response.location)
    assert location.path == f"/ticket_view/{alice_ticket.id}/3/"
    assert location.fragment == f"post-{new_id}"
    page3 = app.get(location.path)
    assert headings(page3)[:2] == ["Ticket", "Reply #5"]
    assert page3.html.select_one(f"#post-{new_id}") is not None


# -- quote --------------------------------------------------------------------------------------


def test_quote_the_ticket_body(login_as, dbsession, users):
    ticket = old_ticket(dbsession, users["alice"], content="Line one.\nLine two.")
    app = login_as("carol")
    text = reply_form(app, ticket, f"?ticket_rid={ticket.id}")["content"].value
    when = ticket.date_added.strftime("%Y-%m-%d %H:%M")
    assert text.startswith(f"Alice Example wrote on {when}\n")
    assert "> Line one.\n> Line two." in text.replace("\r\n", "\n")


def test_quote_a_reply(login_as, dbsession, users, alice_ticket):
    post = make_post(dbsession, alice_ticket, users["bob"], "Did you try\nturning it off?")
    app = login_as("carol")
    text = reply_form(app, alice_ticket, f"?post_id={post.id}")["content"].value
    assert text.startswith("Bob Example wrote on ")
    assert "> Did you try\n> turning it off?" in text.replace("\r\n", "\n")


@pytest.mark.parametrize("query", ["abc", "99999999", "-1", "1" * 40, "", "1.5", "%00"])
def test_quote_with_a_bad_post_id_just_shows_the_page(login_as, dbsession, users, query):
    ticket = old_ticket(dbsession, users["alice"])
    app = login_as("carol")
    page = app.get(ticket_path(ticket) + f"?post_id={query}&ticket_rid={query}", status=200)
    assert form_posting_to(page, ticket_path(ticket))["content"].value == ""


def test_quote_of_a_reply_of_another_ticket_is_ignored(login_as, dbsession, users, alice_ticket):
    other = old_ticket(dbsession, users["carol"], "Other")
    post = make_post(dbsession, other, users["carol"], "Secret words of another ticket.")
    app = login_as("bob")
    form = reply_form(app, alice_ticket, f"?post_id={post.id}&ticket_rid={other.id}")
    assert form["content"].value == ""


def test_deeply_nested_markdown_does_not_break_the_ticket_page(login_as, dbsession, users):
    """Python-Markdown recurses per nesting level; 1000 "- " must not make the page a 500."""
    ticket = old_ticket(dbsession, users["alice"])
    app = login_as("bob")
    form = reply_form(app, ticket)
    form["content"] = "- " * 1000 + "x"
    form.submit("reply", status=302)
    page = app.get(ticket_path(ticket), status=200)
    assert "- - - - " in page.html.select("article.post")[1].get_text()


# -- claim --------------------------------------------------------------------------------------


def test_claim_takes_the_ticket_from_the_assignee(login_as, dbsession, users, alice_ticket):
    app = login_as("carol")
    before = alice_ticket.last_updated
    response = confirm(app, f"/ticket_claim/{alice_ticket.id}/", status=302)
    assert "You claimed ticket" in flashes(response)

    ticket = fresh(dbsession, Ticket, alice_ticket.id)
    assert ticket.assigned_id == users["carol"].id
    assert ticket.status.status == "In Work"
    assert ticket.last_updated > before
    assert counters(dbsession, users["carol"]) == (0, 1)
    assert counters(dbsession, users["bob"]) == (0, 0)
    assert users["carol"].id in subscriber_ids(dbsession, ticket.id)
    assert actions_of(dbsession, ticket.id) == [("claim", users["carol"].id, None, None, None)]


def test_claim_an_unassigned_open_ticket(login_as, dbsession, users):
    ticket = old_ticket(dbsession, users["alice"])
    app = login_as("bob")
    confirm(app, f"/ticket_claim/{ticket.id}/", status=302)
    ticket = fresh(dbsession, Ticket, ticket.id)
    assert (ticket.assigned_id, ticket.status.status) == (users["bob"].id, "In Work")
    assert counters(dbsession, users["bob"]) == (0, 1)


def assert_refused(response, dbsession, before, message):
    """A refusal: back to the ticket with a flash saying why, and nothing written."""
    assert response.status_int == 302
    assert message in flashes(response)
    assert snapshot(dbsession) == before


def test_claim_a_closed_ticket_is_refused(login_as, dbsession, users):
    ticket = old_ticket(dbsession, users["alice"], status_name="Closed")
    app = login_as("carol")
    page = app.get(ticket_path(ticket))
    assert f"/ticket_claim/{ticket.id}/" not in page.text
    before = snapshot(dbsession)
    response = post_form_fields(app, ticket_path(ticket), f"/ticket_claim/{ticket.id}/", {})
    assert_refused(response, dbsession, before, "A closed ticket cannot be claimed")


def test_claim_your_own_ticket_again_is_refused(login_as, dbsession, users, alice_ticket):
    app = login_as("bob")
    before = snapshot(dbsession)
    response = post_form_fields(
        app, ticket_path(alice_ticket), f"/ticket_claim/{alice_ticket.id}/", {}
    )
    assert_refused(response, dbsession, before, "You have already claimed this ticket.")


# -- release ------------------------------------------------------------------------------------


def test_release_by_the_assignee(login_as, dbsession, users, alice_ticket):
    app = login_as("bob")
    before = alice_ticket.last_updated
    response = confirm(app, f"/release/{alice_ticket.id}/", status=302)
    assert "released" in flashes(response)
    ticket = fresh(dbsession, Ticket, alice_ticket.id)
    assert (ticket.assigned_id, ticket.status.status) == (None, "Open")
    assert ticket.last_updated > before
    assert counters(dbsession, users["bob"]) == (0, 0)
    assert actions_of(dbsession, ticket.id) == [("release", users["bob"].id, None, None, None)]


def test_release_an_unassigned_ticket_is_refused(login_as, dbsession, users):
    ticket = old_ticket(dbsession, users["alice"])
    app = login_as("admin")
    before = snapshot(dbsession)
    response = post_form_fields(app, ticket_path(ticket), f"/release/{ticket.id}/", {})
    assert_refused(response, dbsession, before, "This ticket is not assigned to anyone.")


# -- assign -------------------------------------------------------------------------------------


def assign_form(app, ticket):
    path = f"/ticket_assign/{ticket.id}/"
    return form_posting_to(app.get(path), path)


def test_assign_to_a_named_user(login_as, dbsession, users, alice_ticket):
    app = login_as("alice")
    before = alice_ticket.last_updated
    form = assign_form(app, alice_ticket)
    form["username"] = " Carol "
    response = form.submit(status=302)
    assert "assigned to Carol Example" in flashes(response)

    ticket = fresh(dbsession, Ticket, alice_ticket.id)
    carol = users["carol"].id
    assert (ticket.assigned_id, ticket.status.status) == (carol, "In Work")
    assert ticket.last_updated > before
    assert counters(dbsession, users["carol"]) == (0, 1)
    assert counters(dbsession, users["bob"]) == (0, 0)
    assert carol in subscriber_ids(dbsession, ticket.id)
    assert actions_of(dbsession, ticket.id) == [("assign", users["alice"].id, carol, None, None)]


def test_assign_a_closed_ticket_is_refused(login_as, dbsession, users):
    ticket = old_ticket(dbsession, users["alice"], status_name="Closed")
    app = login_as("alice")
    before = snapshot(dbsession)
    response = post_form_fields(
        app, ticket_path(ticket), f"/ticket_assign/{ticket.id}/", {"username": "carol"}
    )
    assert_refused(response, dbsession, before, "A closed ticket cannot be assigned")


def test_assign_to_a_disabled_user_is_refused(login_as, dbsession, users, alice_ticket):
    app = login_as("alice")
    form = assign_form(app, alice_ticket)
    form["username"] = "dave"
    before = snapshot(dbsession)
    assert_refused(form.submit(), dbsession, before, "dave is disabled")


def test_assign_to_the_current_assignee_is_refused(login_as, dbsession, users, alice_ticket):
    app = login_as("alice")
    form = assign_form(app, alice_ticket)
    form["username"] = "bob"
    before = snapshot(dbsession)
    assert_refused(form.submit(), dbsession, before, "already assigned to Bob Example")


@pytest.mark.parametrize(
    ("username", "message"),
    [
        ("nobody", "There is no user with that username."),
        ("", "This field is required."),
        ("x" * 25, "A username has at most 24 characters."),
    ],
)
def test_assign_to_an_unknown_username_is_a_form_error(
    login_as, dbsession, users, alice_ticket, username, message
):
    app = login_as("alice")
    form = assign_form(app, alice_ticket)
    form["username"] = username
    before = snapshot(dbsession)
    response = form.submit(status=400)
    assert message in response.html.select_one("main form").get_text()
    assert snapshot(dbsession) == before


# -- close --------------------------------------------------------------------------------------


def test_close_by_the_creator(login_as, dbsession, users, alice_ticket):
    app = login_as("alice")
    before = alice_ticket.last_updated
    response = confirm(app, f"/change_status/{alice_ticket.id}/Closed/", status=302)
    assert urlsplit(response.location).path == "/tickets/"
    ticket = fresh(dbsession, Ticket, alice_ticket.id)
    assert (ticket.status.status, ticket.assigned_id) == ("Closed", None)
    assert ticket.last_updated > before
    assert counters(dbsession, users["bob"]) == (0, 0)
    assert actions_of(dbsession, ticket.id) == [("close", users["alice"].id, None, None, None)]


def test_close_a_closed_ticket_is_refused(login_as, dbsession, users):
    ticket = old_ticket(dbsession, users["alice"], status_name="Closed")
    app = login_as("alice")
    before = snapshot(dbsession)
    response = post_form_fields(
        app, ticket_path(ticket), f"/change_status/{ticket.id}/Closed/", {}
    )
    assert_refused(response, dbsession, before, "is already closed")


@pytest.mark.parametrize("name", ["Open", "In Work", "Nonsense", "closed"])
def test_other_status_names_in_the_close_url_are_404(
    login_as, dbsession, users, alice_ticket, name
):
    app = login_as("admin")
    before = snapshot(dbsession)
    path = f"/change_status/{alice_ticket.id}/{name}/"
    app.get(path, status=404)
    post_form_fields(app, ticket_path(alice_ticket), path, {}, status=404)
    assert snapshot(dbsession) == before


# -- subscribe and unsubscribe ------------------------------------------------------------------


def subscribe_form(app, ticket):
    return form_posting_to(app.get(ticket_path(ticket)), f"/ticket_subscribe/{ticket.id}/")


def test_subscribe_someone_else(login_as, dbsession, users, alice_ticket):
    app = login_as("alice")
    before = alice_ticket.last_updated
    form = subscribe_form(app, alice_ticket)
    form["username"] = "carol"
    response = form.submit(status=302)
    assert "Carol Example is subscribed" in flashes(response)
    assert users["carol"].id in subscriber_ids(dbsession, alice_ticket.id)
    assert actions_of(dbsession, alice_ticket.id) == [
        ("subscribe", users["alice"].id, users["carol"].id, None, None)
    ]
    assert fresh(dbsession, Ticket, alice_ticket.id).last_updated > before


@pytest.mark.parametrize(
    ("username", "message"),
    [
        ("bob", "Bob Example is already subscribed."),
        ("nobody", "There is no user with that username."),
        ("", "Give the username of the person to subscribe."),
    ],
)
def test_subscribe_refusals(login_as, dbsession, users, alice_ticket, username, message):
    app = login_as("alice")
    form = subscribe_form(app, alice_ticket)
    form["username"] = username
    before = snapshot(dbsession)
    assert_refused(form.submit(), dbsession, before, message)


def test_unsubscribe_yourself(login_as, dbsession, users, alice_ticket):
    app = login_as("bob")
    bob = users["bob"].id
    response = confirm(app, f"/unsubscribe/{alice_ticket.id}/{bob}", status=302)
    assert "Bob Example is no longer subscribed." in flashes(response)
    assert subscriber_ids(dbsession, alice_ticket.id) == [users["alice"].id]
    assert fresh(dbsession, Ticket, alice_ticket.id).last_updated > alice_ticket.date_added
    assert actions_of(dbsession, alice_ticket.id) == [("unsubscribe", bob, bob, None, None)]


def test_unsubscribe_when_not_subscribed_is_refused(login_as, dbsession, users, alice_ticket):
    app = login_as("carol")
    before = snapshot(dbsession)
    response = post_form_fields(
        app,
        ticket_path(alice_ticket),
        f"/unsubscribe/{alice_ticket.id}/{users['carol'].id}",
        {},
    )
    assert_refused(response, dbsession, before, "Carol Example is not subscribed")


@pytest.mark.parametrize("user_id", ["999999", "abc", "0", "1" * 30])
def test_unsubscribe_an_unknown_user_is_404(login_as, dbsession, users, alice_ticket, user_id):
    app = login_as("admin")
    before = snapshot(dbsession)
    post_form_fields(
        app,
        ticket_path(alice_ticket),
        f"/unsubscribe/{alice_ticket.id}/{user_id}",
        {},
        status=404,
    )
    assert snapshot(dbsession) == before


# -- department and category --------------------------------------------------------------------


def test_change_category(login_as, dbsession, users, alice_ticket):
    configure(dbsession, change_category=True)
    app = login_as("carol")
    path = f"/ticket_department_category/{alice_ticket.id}/"
    page = app.get(path)
    form = form_posting_to(page, path)
    assert form["category"].value == str(alice_ticket.category_id)
    manuals = category(dbsession, "Quality", "Manuals")
    form["category"] = str(manuals.id)
    before = alice_ticket.last_updated
    response = form.submit(status=302)
    assert "moved to Quality / Manuals" in flashes(response)

    ticket = fresh(dbsession, Ticket, alice_ticket.id)
    assert ticket.category_id == manuals.id
    assert ticket.last_updated > before
    payload = {
        "department_category": "Quality / Manuals",
        "category_id": manuals.id,
        "category": "Manuals",
        "department_id": manuals.department_id,
        "department": "Quality",
    }
    assert actions_of(dbsession, ticket.id) == [
        ("department_category", users["carol"].id, None, payload, None)
    ]


def test_change_to_the_same_category_is_refused(login_as, dbsession, users, alice_ticket):
    configure(dbsession, change_category=True)
    app = login_as("carol")
    path = f"/ticket_department_category/{alice_ticket.id}/"
    before = snapshot(dbsession)
    response = post_form_fields(app, path, path, {"category": str(alice_ticket.category_id)})
    assert_refused(response, dbsession, before, "The ticket is already in IT / Other")


def test_change_category_of_a_closed_ticket_is_refused(login_as, dbsession, users):
    configure(dbsession, change_category=True)
    ticket = old_ticket(dbsession, users["alice"], status_name="Closed")
    app = login_as("admin")
    path = f"/ticket_department_category/{ticket.id}/"
    page = app.get(ticket_path(ticket))
    assert path not in page.text  # no edit icon on a closed ticket
    before = snapshot(dbsession)
    manuals = category_id(dbsession, "Quality", "Manuals")
    response = post_form_fields(app, path, path, {"category": str(manuals)})
    assert_refused(
        response, dbsession, before, "The category of a closed ticket cannot be changed"
    )


@pytest.mark.parametrize("value", ["999999", "abc", None])
def test_change_category_to_an_unknown_category_is_400(
    login_as, dbsession, users, alice_ticket, value
):
    configure(dbsession, change_category=True)
    app = login_as("admin")
    path = f"/ticket_department_category/{alice_ticket.id}/"
    before = snapshot(dbsession)
    fields = {} if value is None else {"category": value}
    post_form_fields(app, path, path, fields, status=400)
    assert snapshot(dbsession) == before


# -- edit ticket --------------------------------------------------------------------------------


def edit_form(app, ticket):
    path = f"/edit_ticket/{ticket.id}"
    return form_posting_to(app.get(path), path)


def test_edit_ticket_keeps_history_and_hours(
    login_as, dbsession, users, alice_ticket, make_client
):
    app = login_as("alice")
    form = edit_form(app, alice_ticket)
    assert form["title"].value == "Printer on fire"
    assert form["content"].value == "The printer on floor 2 is on fire."
    assert Decimal(form["hours"].value) == Decimal("2.50")
    assert form["priority"].value == str(alice_ticket.ticket_priority_id)
    assert form["category"].value == str(alice_ticket.category_id)
    form["title"] = "Printer still on fire"
    form["content"] = "The printer on floor 2 is still on fire."
    before = alice_ticket.last_updated
    response = form.submit(status=302)
    assert "saved" in flashes(response)

    ticket = fresh(dbsession, Ticket, alice_ticket.id)
    assert ticket.title == "Printer still on fire"
    assert ticket.content == "The printer on floor 2 is still on fire."
    assert ticket.hours == Decimal("2.50")  # not reset (Flicket's bug)
    assert ticket.modified_id == users["alice"].id
    assert ticket.date_modified is not None
    assert ticket.last_updated > before
    assert actions_of(dbsession, ticket.id) == []  # same priority and category: no action

    # An admin edits it again: the replaced version is credited to its author, alice.
    admin = another_client(make_client, "admin")
    form = edit_form(admin, ticket)
    form["content"] = "Put out by the fire brigade."
    form.submit(status=302)
    dbsession.expire_all()
    history = list(
        dbsession.scalars(
            sa.select(History).where(History.topic_id == ticket.id).order_by(History.id)
        )
    )
    assert [(h.original_content, h.user_id, h.post_id) for h in history] == [
        ("The printer on floor 2 is on fire.", users["alice"].id, None),
        ("The printer on floor 2 is still on fire.", users["alice"].id, None),
    ]
    ticket = fresh(dbsession, Ticket, ticket.id)
    assert ticket.modified_id == users["admin"].id

    # The history page shows both versions and who wrote them.
    page = app.get(f"/history/topic/{ticket.id}/")
    assert page.text.count("Alice Example</span> originally wrote on") == 2
    assert "The printer on floor 2 is still on fire." in page.text
    # The ticket page links the history from the "modified by" note.
    view = app.get(ticket_path(ticket))
    assert "modified by" in view.text
    assert f"/history/topic/{ticket.id}/" in view.text


def test_edit_ticket_priority_and_category_changes_are_logged(
    login_as, dbsession, users, alice_ticket
):
    app = login_as("alice")
    form = edit_form(app, alice_ticket)
    form["priority"] = option_value(form["priority"], "high")
    manuals = category(dbsession, "Quality", "Manuals")
    form["category"] = str(manuals.id)
    form.submit(status=302)
    ticket = fresh(dbsession, Ticket, alice_ticket.id)
    assert (ticket.ticket_priority.priority, ticket.category_id) == ("high", manuals.id)
    assert [a[0] for a in actions_of(dbsession, ticket.id)] == ["priority", "department_category"]
    assert row_count(dbsession, History) == 0  # content unchanged: no history row


def test_edit_a_closed_ticket_is_refused(login_as, dbsession, users):
    ticket = old_ticket(dbsession, users["alice"], status_name="Closed")
    app = login_as("alice")
    page = app.get(ticket_path(ticket))
    assert f"/edit_ticket/{ticket.id}" not in page.text
    before = snapshot(dbsession)
    response = app.get(f"/edit_ticket/{ticket.id}", status=302)
    assert "Closed tickets cannot be edited." in flashes(response)
    fields = ticket_fields(dbsession, {"title": "Changed after closing"})
    response = post_form_fields(app, ticket_path(ticket), f"/edit_ticket/{ticket.id}", fields)
    assert_refused(response, dbsession, before, "Closed tickets cannot be edited.")


@pytest.mark.parametrize(("changes", "message"), BAD_TICKET_INPUT)
def test_edit_ticket_refuses_bad_input_and_writes_nothing(
    login_as, dbsession, alice_ticket, changes, message
):
    app = login_as("alice")
    path = f"/edit_ticket/{alice_ticket.id}"
    fields = ticket_fields(dbsession, dict({"content": "Changed content."}, **changes))
    before = snapshot(dbsession)
    response = post_form_fields(app, path, path, fields, status=400)
    assert message in response.text
    assert snapshot(dbsession) == before


# -- edit reply ---------------------------------------------------------------------------------


def test_edit_reply(login_as, dbsession, users, alice_ticket):
    post = make_post(dbsession, alice_ticket, users["bob"], "First version.", hours="1")
    app = login_as("bob")
    path = f"/edit_post/{post.id}/"
    form = form_posting_to(app.get(path), path)
    assert form["content"].value == "First version."
    assert Decimal(form["hours"].value) == Decimal("1")
    form["content"] = "Second version."
    form["hours"] = "1.5"
    form["status"] = option_value(form["status"], "Awaiting Information")
    before = alice_ticket.last_updated
    response = form.submit(status=302)
    assert "Reply saved." in flashes(response)

    dbsession.expire_all()
    post = dbsession.get(Post, post.id)
    assert (post.content, post.hours, post.modified_id) == (
        "Second version.",
        Decimal("1.50"),
        users["bob"].id,
    )
    history = dbsession.scalars(sa.select(History)).one()
    assert (history.post_id, history.topic_id, history.original_content, history.user_id) == (
        post.id,
        None,
        "First version.",
        users["bob"].id,
    )
    ticket = fresh(dbsession, Ticket, alice_ticket.id)
    assert ticket.status.status == "Awaiting Information"
    assert ticket.last_updated > before
    assert [a[0] for a in actions_of(dbsession, ticket.id)] == ["status"]
    page = app.get(f"/history/post/{post.id}/")
    assert "First version." in page.text


def test_edit_reply_of_a_closed_ticket_is_refused(login_as, dbsession, users):
    ticket = old_ticket(dbsession, users["alice"], status_name="Closed")
    post = make_post(dbsession, ticket, users["bob"], "Reply to a closed ticket.")
    app = login_as("bob")
    before = snapshot(dbsession)
    response = app.get(f"/edit_post/{post.id}/", status=302)
    assert "Replies to closed tickets cannot be edited." in flashes(response)
    response = post_form_fields(
        app,
        ticket_path(ticket),
        f"/edit_post/{post.id}/",
        reply_fields(dbsession, {"content": "Changed after closing."}),
    )
    assert_refused(response, dbsession, before, "Replies to closed tickets cannot be edited.")


@pytest.mark.parametrize(("changes", "message"), BAD_REPLY_INPUT)
def test_edit_reply_refuses_bad_input_and_writes_nothing(
    login_as, dbsession, users, alice_ticket, changes, message
):
    post = make_post(dbsession, alice_ticket, users["bob"], "First version.")
    app = login_as("bob")
    path = f"/edit_post/{post.id}/"
    if changes.get("status") == "CLOSED":
        changes = dict(changes, status=str(status(dbsession, "Closed").id))
    fields = reply_fields(dbsession, dict({"content": "Changed version."}, **changes))
    before = snapshot(dbsession)
    response = post_form_fields(app, path, path, fields, status=400)
    assert message in response.text
    assert snapshot(dbsession) == before


# -- delete -------------------------------------------------------------------------------------


def stored_file(registry, dbsession, name, ticket=None, post=None, content=b"attached"):
    """An attachment row with its file in the upload folder (as a finished upload leaves it)."""
    directory = registry["upload_storage"].directory
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(content)
    upload = Upload(
        filename=name,
        original_filename="original-" + name,
        topic_id=ticket.id if ticket else None,
        posts_id=post.id if post else None,
    )
    dbsession.add(upload)
    dbsession.flush()
    return directory / name


def busy_ticket(dbsession, registry, users, alice_ticket):
    """alice_ticket with replies by bob and carol, history, actions and attachments."""
    bob_post = make_post(dbsession, alice_ticket, users["bob"], "Bob's reply.")
    carol_post = make_post(dbsession, alice_ticket, users["carol"], "Carol's reply.")
    set_counters(dbsession, users["bob"], posts=1)
    set_counters(dbsession, users["carol"], posts=1)
    dbsession.add_all(
        [
            History(topic_id=alice_ticket.id, original_content="old", user_id=users["alice"].id),
            History(post_id=bob_post.id, original_content="old reply", user_id=users["bob"].id),
            Action(ticket_id=alice_ticket.id, action="claim", user_id=users["bob"].id),
            Action(
                ticket_id=alice_ticket.id,
                post_id=carol_post.id,
                action="subscribe",
                user_id=users["carol"].id,
                recipient_id=users["carol"].id,
            ),
            Subscription(ticket_id=alice_ticket.id, user_id=users["carol"].id),
        ]
    )
    files = [
        stored_file(
            registry, dbsession, "0a1b2c3d4e5f60718293a4b5c6d7e8f9.txt", ticket=alice_ticket
        ),
        stored_file(registry, dbsession, "1a1b2c3d4e5f60718293a4b5c6d7e8f9.pdf", post=bob_post),
        stored_file(registry, dbsession, "2a1b2c3d4e5f60718293a4b5c6d7e8f9.png", post=carol_post),
    ]
    dbsession.flush()
    return bob_post, carol_post, files


def test_delete_ticket_removes_everything(login_as, dbsession, registry, users, alice_ticket):
    bob_post, carol_post, files = busy_ticket(dbsession, registry, users, alice_ticket)
    other = old_ticket(dbsession, users["carol"], "Unrelated")
    make_post(dbsession, other, users["bob"], "A reply elsewhere.")
    other_file = stored_file(
        registry, dbsession, "9a1b2c3d4e5f60718293a4b5c6d7e8f9.txt", ticket=other
    )
    other_state = (
        rows_of(dbsession, Ticket)[-1],
        row_count(dbsession, Post, Post.ticket_id == other.id),
    )
    tid, post_ids = alice_ticket.id, [bob_post.id, carol_post.id]
    app = login_as("admin")
    response = delete_ticket(app, tid)
    assert urlsplit(response.location).path == "/tickets/"
    assert "were deleted" in flashes(response)

    assert fresh(dbsession, Ticket, tid) is None
    assert row_count(dbsession, Post, Post.ticket_id == tid) == 0
    assert row_count(dbsession, Upload, Upload.topic_id == tid) == 0
    assert row_count(dbsession, Upload, Upload.posts_id.in_(post_ids)) == 0
    assert row_count(dbsession, History) == 0
    assert row_count(dbsession, Action) == 0
    assert row_count(dbsession, Subscription, Subscription.ticket_id == tid) == 0
    assert not any(path.exists() for path in files)
    assert counters(dbsession, users["alice"]) == (0, 0)
    assert counters(dbsession, users["bob"]) == (0, 0)  # its reply and its assignment
    assert counters(dbsession, users["carol"]) == (0, 0)
    # The other ticket is untouched.
    assert other_file.exists()
    assert (
        rows_of(dbsession, Ticket)[-1],
        row_count(dbsession, Post, Post.ticket_id == other.id),
    ) == other_state
    assert app.get(f"/ticket_view/{tid}/", status=404)


@pytest.mark.parametrize("password", ["wrong password", "", PASSWORD.upper()])
def test_delete_ticket_with_a_wrong_password_deletes_nothing(
    login_as, dbsession, registry, users, alice_ticket, password
):
    _, _, files = busy_ticket(dbsession, registry, users, alice_ticket)
    app = login_as("admin")
    path = f"/delete_ticket/{alice_ticket.id}/"
    form = form_posting_to(app.get(path), path)
    form["password"] = password
    before = snapshot(dbsession)
    response = form.submit(status=400)
    assert "That is not your password." in response.text or "required" in response.text
    assert snapshot(dbsession) == before
    assert all(path.exists() for path in files)


def test_delete_reply(login_as, dbsession, registry, users, alice_ticket):
    bob_post, carol_post, files = busy_ticket(dbsession, registry, users, alice_ticket)
    carol_post_id = carol_post.id
    app = login_as("admin")
    path = f"/delete_post/{carol_post_id}/"
    form = form_posting_to(app.get(path), path)
    form["password"] = PASSWORD
    response = form.submit(status=302)
    assert urlsplit(response.location).path == ticket_path(alice_ticket)
    assert "The reply was deleted." in flashes(response)

    assert fresh(dbsession, Post, carol_post_id) is None
    assert fresh(dbsession, Ticket, alice_ticket.id).last_updated > alice_ticket.date_added
    assert fresh(dbsession, Post, bob_post.id) is not None
    assert not files[2].exists()
    assert files[0].exists() and files[1].exists()
    assert row_count(dbsession, Upload, Upload.posts_id == carol_post_id) == 0
    assert counters(dbsession, users["carol"]) == (0, 0)
    assert counters(dbsession, users["bob"]) == (1, 1)
    # The action line that hung under the deleted reply moves to the reply before it.
    assert [(a[0], a[4]) for a in actions_of(dbsession, alice_ticket.id)] == [
        ("claim", None),
        ("subscribe", bob_post.id),
    ]


def test_delete_reply_with_a_wrong_password_deletes_nothing(
    login_as, dbsession, registry, users, alice_ticket
):
    _, carol_post, files = busy_ticket(dbsession, registry, users, alice_ticket)
    app = login_as("admin")
    path = f"/delete_post/{carol_post.id}/"
    form = form_posting_to(app.get(path), path)
    form["password"] = "not my password"
    before = snapshot(dbsession)
    response = form.submit(status=400)
    assert "That is not your password." in response.text
    assert snapshot(dbsession) == before
    assert all(path.exists() for path in files)


# -- a GET never changes anything ---------------------------------------------------------------


def test_get_on_every_state_changing_route_changes_nothing(
    login_as, dbsession, registry, users, alice_ticket
):
    configure(dbsession, change_category=True)
    bob_post, _, files = busy_ticket(dbsession, registry, users, alice_ticket)
    tid = alice_ticket.id
    app = login_as("admin")
    before = snapshot(dbsession)
    for path, expected in [
        (f"/ticket_claim/{tid}/", 200),
        (f"/release/{tid}/", 200),
        (f"/change_status/{tid}/Closed/", 200),
        (f"/ticket_assign/{tid}/?username=carol", 200),
        (f"/ticket_subscribe/{tid}/?username=carol", 404),
        (f"/unsubscribe/{tid}/{users['bob'].id}", 200),
        (f"/ticket_department_category/{tid}/?category=1", 200),
        (f"/edit_ticket/{tid}?title=Changed+by+GET&content=Changed+by+GET", 200),
        (f"/edit_post/{bob_post.id}/?content=Changed+by+GET", 200),
        (f"/delete_ticket/{tid}/?password={PASSWORD}", 200),
        (f"/delete_post/{bob_post.id}/?password={PASSWORD}", 200),
        (f"/ticket_view/{tid}/?content=Replied+by+GET&reply_close=1", 200),
        (f"/history/topic/{tid}/", 200),
    ]:
        response = app.get(path, status=expected)
        assert "Changed by GET" not in response.text  # query strings do not fill the forms
        assert snapshot(dbsession) == before, path
    assert all(path.exists() for path in files)


# -- a constant number of queries on the ticket page ------------------------------------------


def ticket_page_queries(app, ticket, count_queries):
    app.get(ticket_path(ticket))  # warm-up: first-request work is not the page's
    with count_queries() as counter:
        page = app.get(ticket_path(ticket))
    assert page.status_int == 200
    return counter.count, page


def busy_page_ticket(dbsession, registry, creator, people, replies, actions, subscribers):
    ticket = old_ticket(dbsession, creator, f"{replies} replies", assigned=people[0])
    posts = [
        make_post(dbsession, ticket, people[n % len(people)], f"Reply {n}.")
        for n in range(replies)
    ]
    for n, post in enumerate(posts):
        post.modified = people[(n + 1) % len(people)]
        stored_file(registry, dbsession, f"{ticket.id:04d}{n:04d}aaaabbbbccccdddd.txt", post=post)
    stored_file(registry, dbsession, f"{ticket.id:04d}ffffaaaabbbbccccdddd.txt", ticket=ticket)
    for n in range(actions):
        dbsession.add(
            Action(
                ticket_id=ticket.id,
                post_id=posts[n % len(posts)].id if n % 3 else None,
                action=["assign", "subscribe", "claim"][n % 3],
                user_id=people[n % len(people)].id,
                recipient_id=people[(n + 2) % len(people)].id,
                date=clock.utcnow(),
            )
        )
    for person in people[: subscribers - 1]:  # the creator is the first subscriber
        dbsession.add(Subscription(ticket_id=ticket.id, user_id=person.id))
    dbsession.add(History(topic_id=ticket.id, original_content="before", user_id=creator.id))
    ticket.modified = people[-1]
    dbsession.flush()
    return ticket


def test_ticket_page_runs_a_constant_number_of_queries(
    login_as, dbsession, registry, users, count_queries
):
    configure(dbsession, posts_per_page=50)
    crowd = [make_user(dbsession, f"person{n:02d}") for n in range(12)]
    crowd[1].groups.extend(users["admin"].groups)
    crowd[2].groups.extend(users["super"].groups)
    people = [users["bob"], users["carol"], users["admin"], users["super"], *crowd]
    small = busy_page_ticket(dbsession, registry, users["alice"], people[:2], 2, 2, 1)
    big = busy_page_ticket(dbsession, registry, users["alice"], people, 40, 30, 10)
    app = login_as("alice")

    small_count, small_page = ticket_page_queries(app, small, count_queries)
    big_count, big_page = ticket_page_queries(app, big, count_queries)
    assert len(small_page.html.select("article.post")) == 3
    assert len(big_page.html.select("article.post")) == 41
    assert len(big_page.html.select("li.action-line")) == 30
    assert len(big_page.html.select("ul.subscribers > li")) == 10
    assert big_count == small_count, (small_count, big_count)
    # Roles shown from groups loaded in one query for everyone on the page.
    assert big_page.html.select("article.post .user-name.role-admin .role-mark")
    assert big_page.html.select("article.post .user-name.role-super-user .role-mark")
    # 21 before the reply count and hours were stored on the ticket (migration 0004), 20
    # with one eager-load query of groups per relationship; the "last change" line costs
    # one (the newest reply).
    assert big_count == 14, big_count
