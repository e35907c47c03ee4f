"""A request that fails part-way leaves nothing behind (REL-6; UP-7 and REL-2d for files
and mail).

Each step of creating a ticket and of replying is made to fail in turn, after the first
row has been flushed: the answer is a 500 and the database, the upload folder and the
outbox are as before. A request that *returns* a 4xx after writing (a refusal found late)
is rolled back too: ``flicket.db.commit_veto``. Runs on every configured database.
"""

from urllib.parse import urlsplit

import pytest

from flicket.tickets import services
from flicket.tickets.services import TicketError, TicketService
from tests.factories import category, make_ticket
from tests.functional.test_ticket_operations import snapshot


class Boom(RuntimeError):
    pass


def files_in(registry):
    directory = registry["upload_storage"].directory
    return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []


def form_to(app, page_path, action_path):
    page = app.get(page_path)
    return next(f for f in page.forms.values() if urlsplit(f.action).path == action_path)


def failing(monkeypatch, name, error=None):
    """Make ``TicketService.<name>`` (or a module function) raise once it has run."""
    if name == "_bump":
        # The counter update is the last write of both operations.
        def bump_then_fail(*args, **kwargs):
            raise error or Boom("the counter update failed")

        monkeypatch.setattr(services, "_bump", bump_then_fail)
        return
    original = getattr(TicketService, name)

    def run_then_fail(self, *args, **kwargs):
        original(self, *args, **kwargs)
        raise error or Boom(f"{name} failed after its writes")

    monkeypatch.setattr(TicketService, name, run_then_fail)


def notifier_fails(monkeypatch):
    """The notification subscriber fails after composing its messages."""
    from flicket import notifications

    original = notifications.notify

    def notify_then_fail(*args, **kwargs):
        original(*args, **kwargs)
        raise Boom("notification failed")

    monkeypatch.setattr(notifications, "notify", notify_then_fail)


#: The steps after the ticket/post row is flushed, in the order the service runs them.
CREATE_STEPS = ["_save_files", "_ensure_subscribed", "_bump", "_notify", "notifier"]
REPLY_STEPS = [
    "_save_files",
    "_apply_status",
    "_ensure_subscribed",
    "_bump",
    "_notify",
    "notifier",
]


def break_step(monkeypatch, step):
    if step == "notifier":
        notifier_fails(monkeypatch)
    else:
        failing(monkeypatch, step)


@pytest.mark.parametrize("step", CREATE_STEPS)
def test_a_failure_at_any_step_of_creating_a_ticket_leaves_nothing(
    login_as, dbsession, registry, outbox, monkeypatch, step
):
    app = login_as("alice")
    form = form_to(app, "/ticket_create/", "/ticket_create/")
    form["title"] = "Half-made ticket"
    form["content"] = "This ticket must not exist afterwards."
    form["category"] = str(category(dbsession).id)
    form["file"] = [("notes.txt", b"attached notes")]
    before, before_files = snapshot(dbsession), files_in(registry)
    break_step(monkeypatch, step)

    response = form.submit(expect_errors=True)

    assert response.status_int == 500
    assert snapshot(dbsession) == before
    assert files_in(registry) == before_files
    assert outbox == []


@pytest.mark.parametrize("step", REPLY_STEPS)
def test_a_failure_at_any_step_of_a_reply_leaves_nothing(
    login_as, dbsession, users, registry, outbox, monkeypatch, step
):
    ticket = make_ticket(dbsession, users["alice"], status_name="Closed")  # the reply reopens
    app = login_as("bob")
    path = f"/ticket_view/{ticket.id}/"
    form = form_to(app, path, path)
    form["content"] = "This reply must not exist afterwards."
    form["file"] = [("reply.txt", b"reply file")]
    before, before_files = snapshot(dbsession), files_in(registry)
    break_step(monkeypatch, step)

    response = form.submit("reply", expect_errors=True)

    assert response.status_int == 500
    assert snapshot(dbsession) == before
    assert files_in(registry) == before_files
    assert outbox == []


def test_a_refusal_found_after_the_reply_was_written_is_rolled_back(
    login_as, dbsession, users, registry, outbox, monkeypatch
):
    """The service refuses (TicketError) after the reply row and its file were written;
    the view *returns* the form with 400 rather than raising. The commit veto
    (``flicket.db.commit_veto``) rolls the reply back all the same."""
    ticket = make_ticket(dbsession, users["alice"], status_name="Closed")
    failing(monkeypatch, "_ensure_subscribed", TicketError("refused after writing"))
    app = login_as("bob")
    path = f"/ticket_view/{ticket.id}/"
    form = form_to(app, path, path)
    form["content"] = "A reply written before the refusal."
    form["file"] = [("late.txt", b"late refusal")]
    before, before_files = snapshot(dbsession), files_in(registry)

    response = form.submit("reply", status=400)

    assert "refused after writing" in response.text
    assert snapshot(dbsession) == before
    assert files_in(registry) == before_files
    assert outbox == []


def test_a_refusal_returned_after_an_edit_was_written_is_rolled_back(
    login_as, dbsession, users, registry, outbox, monkeypatch
):
    """Any TicketError the edit raises after changing the row ends in a 400 answer with
    nothing saved (the edit's history row, content and action rows included)."""
    ticket = make_ticket(dbsession, users["alice"])
    failing(monkeypatch, "_apply_priority", TicketError("refused late"))
    app = login_as("alice")
    path = f"/edit_ticket/{ticket.id}"
    form = form_to(app, path, path)
    form["content"] = "Changed, then refused."
    form["title"] = "Changed title, then refused"
    before = snapshot(dbsession)

    response = form.submit(status=400)

    assert "refused late" in response.text
    assert snapshot(dbsession) == before
    assert outbox == []
