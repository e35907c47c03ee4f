"""Two people editing the same ticket or reply (REL-4, optimistic locking).

The edit forms carry a fingerprint (sha256) of the editable fields as they were loaded. On
save the row is locked and its fingerprint compared: if someone else saved in between, the
save is refused with 409, the form comes back with the person's own text and a link to the
current version, and nothing is written. A reply or a claim by someone else changes none of
the edited fields, so it is no conflict. Saving the re-shown form again is a deliberate
overwrite, and works.
"""

from decimal import Decimal
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from flicket.accounts.models import Group
from flicket.tickets.models import History, Post, Ticket
from tests.conftest import login
from tests.factories import make_post, make_ticket, priority
from tests.reliability.committed import CommittedSite, run_together

CONFLICT = "Someone else changed this ticket while you were editing it."
POST_CONFLICT = "Someone else changed this reply while you were editing it."
KEPT = "Your changes have not been saved; they are still in the form below."


def edit_form(app, path):
    page = app.get(path)
    return next(f for f in page.forms.values() if urlsplit(f.action).path == path)


def stored(dbsession, model, row_id):
    dbsession.expire_all()
    return dbsession.get(model, row_id)


def history_count(dbsession):
    return dbsession.scalar(sa.select(sa.func.count()).select_from(History))


@pytest.fixture
def ticket(dbsession, users):
    return make_ticket(dbsession, users["alice"], "Printer on fire", "It is on fire.")


@pytest.fixture
def two(login_as, make_client):
    """alice (the creator) and admin, each in a browser of their own."""
    alice = login_as("alice")
    admin = make_client(remote_addr="192.0.2.20")
    login(admin, "admin")
    return alice, admin


def test_the_second_save_of_a_ticket_is_refused_and_keeps_its_text(two, dbsession, ticket):
    alice, admin = two
    path = f"/edit_ticket/{ticket.id}"
    first, second = edit_form(admin, path), edit_form(alice, path)
    assert first["fingerprint"].value == second["fingerprint"].value

    first["content"] = "The fire is out; the printer is gone."
    first.submit(status=302)
    second["title"] = "Printer on fire (floor 2)"
    second["content"] = "Alice's own long description, which must not be lost."
    histories = history_count(dbsession)
    response = second.submit(status=409)

    alert = response.html.select_one("#edit-conflict")
    assert CONFLICT in alert.get_text() and KEPT in alert.get_text()
    link = alert.select_one("a")
    assert urlsplit(link["href"]).path == f"/ticket_view/{ticket.id}/"
    again = next(f for f in response.forms.values() if urlsplit(f.action).path == path)
    assert again["content"].value == "Alice's own long description, which must not be lost."
    assert again["title"].value == "Printer on fire (floor 2)"
    saved = stored(dbsession, Ticket, ticket.id)
    assert (saved.title, saved.content) == (
        "Printer on fire",
        "The fire is out; the printer is gone.",
    )
    assert history_count(dbsession) == histories  # nothing of the refused save was written

    # Having seen the message, saving the form again replaces the other version on purpose.
    again.submit(status=302)
    saved = stored(dbsession, Ticket, ticket.id)
    assert saved.content == "Alice's own long description, which must not be lost."
    assert saved.title == "Printer on fire (floor 2)"


@pytest.mark.parametrize(
    "change",
    [
        {"title": "Another title"},
        {"hours": "2.5"},
        {"priority": "high"},
    ],
)
def test_any_edited_field_changed_meanwhile_is_a_conflict(two, dbsession, ticket, change):
    alice, admin = two
    path = f"/edit_ticket/{ticket.id}"
    first, second = edit_form(admin, path), edit_form(alice, path)
    for name, value in change.items():
        if name == "priority":
            value = str(priority(dbsession, value).id)
        first[name] = value
    first.submit(status=302)
    second["content"] = "Only the content changed here."
    response = second.submit(status=409)
    assert CONFLICT in response.text
    assert stored(dbsession, Ticket, ticket.id).content == "It is on fire."


def test_a_reply_or_a_claim_meanwhile_is_no_conflict(two, dbsession, users, ticket, make_client):
    alice, admin = two
    path = f"/edit_ticket/{ticket.id}"
    form = edit_form(alice, path)
    reply_page = admin.get(f"/ticket_view/{ticket.id}/")
    reply = next(
        f
        for f in reply_page.forms.values()
        if urlsplit(f.action).path == f"/ticket_view/{ticket.id}/"
    )
    reply["content"] = "Somebody else's reply."
    reply.submit("reply", status=302)
    edit_form(admin, f"/ticket_claim/{ticket.id}/").submit(status=302)

    form["content"] = "Edited after the reply and the claim."
    form.submit(status=302)
    saved = stored(dbsession, Ticket, ticket.id)
    assert saved.content == "Edited after the reply and the claim."
    assert saved.assigned_id == users["admin"].id


def test_a_damaged_fingerprint_is_a_conflict_not_an_error(two, dbsession, ticket):
    alice, _admin = two
    path = f"/edit_ticket/{ticket.id}"
    form = edit_form(alice, path)
    form["fingerprint"] = "0" * 64
    form["content"] = "With a fingerprint that matches nothing."
    response = form.submit(status=409)
    assert CONFLICT in response.text
    assert stored(dbsession, Ticket, ticket.id).content == "It is on fire."
    form["fingerprint"] = "not even hex \u2603"
    assert CONFLICT in form.submit(status=409).text


def test_an_invalid_form_keeps_the_fingerprint_it_was_loaded_with(two, dbsession, ticket):
    """A form refused for bad input (400) and corrected later still detects a save made
    by someone else in between."""
    alice, admin = two
    path = f"/edit_ticket/{ticket.id}"
    mine = edit_form(alice, path)
    mine["title"] = "x"
    shown = mine.submit(status=400)
    theirs = edit_form(admin, path)
    theirs["content"] = "Saved by the admin meanwhile."
    theirs.submit(status=302)
    corrected = next(f for f in shown.forms.values() if urlsplit(f.action).path == path)
    corrected["title"] = "A valid title"
    assert CONFLICT in corrected.submit(status=409).text
    assert stored(dbsession, Ticket, ticket.id).content == "Saved by the admin meanwhile."


def test_the_second_save_of_a_reply_is_refused(two, dbsession, users, ticket):
    alice, admin = two
    post = make_post(dbsession, ticket, users["alice"], "First version of the reply.", hours="1")
    path = f"/edit_post/{post.id}/"
    first, second = edit_form(admin, path), edit_form(alice, path)
    first["content"] = "The admin's correction."
    first.submit(status=302)
    second["content"] = "Alice's own correction."
    response = second.submit(status=409)
    alert = response.html.select_one("#edit-conflict")
    assert POST_CONFLICT in alert.get_text() and KEPT in alert.get_text()
    href = alert.select_one("a")["href"]
    assert urlsplit(href).path == f"/ticket_view/{ticket.id}/1/"
    assert urlsplit(href).fragment == f"post-{post.id}"
    again = next(f for f in response.forms.values() if urlsplit(f.action).path == path)
    assert again["content"].value == "Alice's own correction."
    saved = stored(dbsession, Post, post.id)
    assert (saved.content, saved.hours) == ("The admin's correction.", Decimal("1.00"))
    again.submit(status=302)
    assert stored(dbsession, Post, post.id).content == "Alice's own correction."


def test_another_reply_meanwhile_is_no_conflict_for_a_reply_edit(two, dbsession, users, ticket):
    alice, admin = two
    post = make_post(dbsession, ticket, users["alice"], "First version of the reply.")
    form = edit_form(alice, f"/edit_post/{post.id}/")
    make_post(dbsession, ticket, users["bob"], "A later reply by bob.")
    other = edit_form(admin, f"/edit_ticket/{ticket.id}")
    other["content"] = "The ticket itself was edited."
    other.submit(status=302)
    form["content"] = "Second version of the reply."
    form.submit(status=302)
    assert stored(dbsession, Post, post.id).content == "Second version of the reply."


# -- two saves at the same moment, on a committed database ----------------------------------


@pytest.fixture(scope="module")
def site(db_url, tmp_path_factory):
    committed = CommittedSite(db_url, tmp_path_factory.mktemp("edits"))
    yield committed
    committed.close()


def test_two_simultaneous_saves_one_wins_one_gets_409(site):
    """Both forms were loaded from the same version and are saved at the same moment: the
    row lock makes one wait for the other, which then sees the changed fingerprint."""
    creator, editor = site.add_users(2, prefix="e")
    with site.session() as session:
        admin_group = session.scalars(
            sa.select(Group).where(Group.group_name == "flicket_admin")
        ).one()
        editing_admin = site.user(session, editor)
        editing_admin.groups.append(admin_group)
    ticket_id = site.add_ticket(creator, content="Original text.")
    path = f"/edit_ticket/{ticket_id}"
    forms = []
    for n, name in enumerate((creator, editor)):
        form = edit_form(site.client(name, address=f"192.0.2.{50 + n}"), path)
        form["content"] = f"Version saved by {name}."
        forms.append(form)

    responses = run_together([lambda f=f: f.submit(expect_errors=True) for f in forms])

    assert sorted(r.status_int for r in responses) == [302, 409]
    winner = forms[[r.status_int for r in responses].index(302)]
    assert site.ticket(ticket_id).content == winner["content"].value
    with site.session() as session:
        kept = session.scalars(
            sa.select(History.original_content).where(History.topic_id == ticket_id)
        ).all()
    assert kept == ["Original text."]  # one edit happened, so one history row
