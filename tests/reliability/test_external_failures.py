"""What happens when something outside the application fails (REL-13).

The decisions, which these tests pin down:

- rate-limit store: the limits live in the database (``flicket.ratelimit.store =
  database``), in Redis (``redis``) or in process memory; when the store cannot be read the
  login **fails closed**: 503 "try again in a moment", nobody is logged in without the limit being
  checked, and no 500;
- SMTP: mail goes through the queue (or is sent after the commit); an SMTP server that is
  down, refusing or hanging never loses or duplicates a ticket (tests/functional/
  test_mail_delivery.py and tests/reliability/test_mail_burst.py);
- upload folder unwritable (permissions, disk full): the ticket or reply is not saved, the
  form comes back with the person's text and 503 "could not be stored just now"; no 500.
"""

import errno
from urllib.parse import urlsplit

import pytest
from sqlalchemy.exc import OperationalError

from flicket.ratelimit import MemoryStore, StoreUnavailable
from flicket.uploads import UploadStorage
from tests.factories import make_ticket
from tests.functional.test_ticket_operations import snapshot


def store_down(*args, **kwargs):
    raise OperationalError("SELECT ... FROM ratelimit_hit", {}, ConnectionError("store down"))


def redis_down(*args, **kwargs):
    raise StoreUnavailable("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


@pytest.mark.parametrize(
    ("method", "failure"),
    [("window", store_down), ("add", store_down), ("window", redis_down)],
)
def test_login_fails_closed_when_the_rate_limit_store_is_unavailable(
    testapp, users, monkeypatch, method, failure
):
    monkeypatch.setattr(MemoryStore, method, failure)
    page = testapp.get("/login")
    form = page.forms[0]
    form["username"] = "alice"
    form["password"] = "not the password"  # a failed attempt is what gets recorded
    response = form.submit(expect_errors=True)
    assert response.status_int == 503
    assert response.headers["Retry-After"] == "5"
    assert "Please try again in a moment" in response.text
    assert "Traceback" not in response.text
    # Nobody got in: the home page still sends to the login.
    assert urlsplit(testapp.get("/", expect_errors=True).location or "/login").path == "/login"


@pytest.mark.parametrize(
    "error",
    [
        PermissionError(errno.EACCES, "Permission denied"),
        OSError(errno.ENOSPC, "No space left on device"),
    ],
    ids=["permission-denied", "disk-full"],
)
def test_an_unwritable_upload_folder_saves_nothing_and_is_no_500(
    login_as, dbsession, users, registry, outbox, monkeypatch, error
):
    def cannot_write(self, item, transaction_manager=None):
        raise error

    monkeypatch.setattr(UploadStorage, "save", cannot_write)
    ticket = make_ticket(dbsession, users["alice"])
    app = login_as("bob")
    path = f"/ticket_view/{ticket.id}/"
    page = app.get(path)
    form = next(f for f in page.forms.values() if urlsplit(f.action).path == path)
    form["content"] = "A reply whose attachment cannot be stored."
    form["file"] = [("notes.txt", b"notes")]
    before = snapshot(dbsession)
    response = form.submit("reply", expect_errors=True)
    assert response.status_int == 503
    assert "The attachment could not be stored just now, so nothing was saved." in response.text
    # The reply form comes back with the person's text.
    again = next(f for f in response.forms.values() if urlsplit(f.action).path == path)
    assert again["content"].value == "A reply whose attachment cannot be stored."
    assert snapshot(dbsession) == before
    assert outbox == []


def test_an_unwritable_upload_folder_refuses_a_new_ticket_with_503(
    login_as, dbsession, users, monkeypatch
):
    def cannot_write(self, item, transaction_manager=None):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(UploadStorage, "save", cannot_write)
    app = login_as("alice")
    page = app.get("/ticket_create/")
    form = next(f for f in page.forms.values() if urlsplit(f.action).path == "/ticket_create/")
    form["title"] = "With an attachment"
    form["content"] = "The attachment cannot be stored."
    form["file"] = [("notes.txt", b"notes")]
    before = snapshot(dbsession)
    response = form.submit(status=503)
    assert "The attachment could not be stored just now" in response.text
    assert snapshot(dbsession) == before
