"""Attachments: several files on a ticket or a reply, downloads only through the login-checked
view with safe headers, refusals that leave nothing behind (no row, no file), hostile file
names, the size limit, and removal of files with their rows (reference §3.12; PRODUCT §3;
SECURITY-TESTS UP-1, UP-2, UP-4, UP-5, UP-7)."""

import re
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa

import flicket
from flicket.tickets.models import Post, Ticket, Upload
from flicket.tickets.services import TicketService
from flicket.uploads import clean_original_name
from tests.conftest import PASSWORD, assert_login_page, login
from tests.functional.test_ticket_operations import (
    configure,
    create_form,
    fresh,
    old_ticket,
    reply_form,
    snapshot,
)

STORED_NAME = re.compile(r"^[0-9a-f]{32}\.[a-z0-9]+$", re.IGNORECASE)
ALLOWED_LIST = "doc, docx, gif, jpeg, jpg, log, msg, pdf, png, ppt, pptx, txt, xls, xlsx"


@pytest.fixture
def storage(registry):
    storage = registry["upload_storage"]
    storage.directory.mkdir(parents=True, exist_ok=True)
    return storage


def files_in(storage):
    """Every file under the upload folder (and below it, should anything escape into one)."""
    return {p for p in storage.directory.rglob("*") if p.is_file()}


def tree_of(root):
    return {p for p in Path(root).rglob("*") if p.is_file()}


def uploads_of(dbsession, **where):
    dbsession.expire_all()
    statement = sa.select(Upload).order_by(Upload.id)
    for column, value in where.items():
        statement = statement.where(getattr(Upload, column) == value)
    return list(dbsession.scalars(statement))


def create_with_files(app, files, title="With attachments", **kw):
    form = create_form(app)
    form["title"] = title
    form["content"] = "See the attached files."
    form["file"] = files
    return form.submit(**kw)


def created_ticket(dbsession):
    dbsession.expire_all()
    return dbsession.scalars(sa.select(Ticket).order_by(Ticket.id.desc())).first()


# -- several files on a ticket and on a reply -----------------------------------------------------


def test_two_files_on_a_new_ticket(login_as, dbsession, storage):
    app = login_as("alice")
    before = files_in(storage)
    create_with_files(
        app, [("notes.txt", b"some notes"), ("scan.pdf", b"%PDF-1.4 a scan")], status=302
    )
    ticket = created_ticket(dbsession)
    uploads = uploads_of(dbsession, topic_id=ticket.id)
    assert [u.original_filename for u in uploads] == ["notes.txt", "scan.pdf"]
    assert all(u.posts_id is None for u in uploads)
    assert all(STORED_NAME.match(u.filename) for u in uploads)
    assert len({u.filename for u in uploads}) == 2
    new_files = files_in(storage) - before
    assert new_files == {storage.directory / u.filename for u in uploads}
    assert (storage.directory / uploads[0].filename).read_bytes() == b"some notes"
    # The ticket page links both, by their original names.
    page = app.get(f"/ticket_view/{ticket.id}/")
    for upload in uploads:
        link = page.html.select_one(f'a[href="/flicket_uploads/{upload.filename}"]')
        assert link is not None and link["title"] == upload.original_filename


def test_two_files_on_a_reply(login_as, dbsession, users, storage):
    ticket = old_ticket(dbsession, users["alice"])
    app = login_as("bob")
    form = reply_form(app, ticket)
    form["content"] = "Logs attached."
    form["file"] = [("first.log", b"line 1"), ("second.log", b"line 2")]
    form.submit("reply", status=302)
    post = dbsession.scalars(sa.select(Post).where(Post.ticket_id == ticket.id)).one()
    uploads = uploads_of(dbsession, posts_id=post.id)
    assert [(u.original_filename, u.topic_id) for u in uploads] == [
        ("first.log", None),
        ("second.log", None),
    ]
    assert [(storage.directory / u.filename).read_bytes() for u in uploads] == [
        b"line 1",
        b"line 2",
    ]


def test_upper_case_extensions_are_accepted(login_as, dbsession, storage):
    app = login_as("alice")
    create_with_files(app, [("REPORT.PDF", b"%PDF"), ("Photo.JpG", b"\xff\xd8\xff")], status=302)
    uploads = uploads_of(dbsession, topic_id=created_ticket(dbsession).id)
    assert [u.original_filename for u in uploads] == ["REPORT.PDF", "Photo.JpG"]
    assert all((storage.directory / u.filename).exists() for u in uploads)


# -- downloads ------------------------------------------------------------------------------------


def one_upload(app, dbsession, name, content):
    create_with_files(app, [(name, content)], status=302)
    return uploads_of(dbsession, topic_id=created_ticket(dbsession).id)[0]


def test_download_as_a_logged_in_user(login_as, dbsession, make_client, storage):
    app = login_as("alice")
    upload = one_upload(app, dbsession, "notes.txt", b"some notes")
    carol = make_client()
    login(carol, "carol")
    response = carol.get(f"/flicket_uploads/{upload.filename}", status=200)
    assert response.body == b"some notes"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="notes.txt"')
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.content_type == "text/plain"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("page.html", b"<script>alert(1)</script>"),
        ("page.HTM", b"<script>alert(1)</script>"),
        ("page.xhtml", b"<html xmlns='http://www.w3.org/1999/xhtml'><script>1</script></html>"),
        ("drawing.svg", b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>"),
        ("feed.xml", b"<?xml version='1.0'?><x/>"),
        ("code.js", b"alert(1)"),
    ],
)
def test_active_types_are_never_served_as_such(login_as, dbsession, storage, name, content):
    """Even if an administrator allows html or svg, they are downloaded as plain bytes."""
    configure(dbsession, allowed_extensions="txt, html, htm, xhtml, svg, xml, js")
    app = login_as("alice")
    upload = one_upload(app, dbsession, name, content)
    response = app.get(f"/flicket_uploads/{upload.filename}", status=200)
    assert response.content_type == "application/octet-stream"
    assert response.content_type not in ("text/html", "image/svg+xml")
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.body == content


def test_anonymous_download_goes_to_login(login_as, dbsession, make_client, storage):
    upload = one_upload(login_as("alice"), dbsession, "notes.txt", b"private notes")
    response = make_client().get(f"/flicket_uploads/{upload.filename}")
    assert_login_page(response)
    assert b"private notes" not in response.body


@pytest.mark.parametrize(
    "name",
    [
        "0123456789abcdef0123456789abcdef.txt",
        "..%2F..%2Fsecret",
        "..",
        "%2e%2e",
        ".hidden",
        "a" * 300,
    ],
)
def test_download_of_an_unknown_name_is_404(login_as, name):
    login_as("alice").get(f"/flicket_uploads/{name}", status=404)


def test_download_of_a_row_whose_file_is_missing_is_404(login_as, dbsession, storage):
    app = login_as("alice")
    upload = one_upload(app, dbsession, "notes.txt", b"x")
    (storage.directory / upload.filename).unlink()
    app.get(f"/flicket_uploads/{upload.filename}", status=404)


def test_uploads_are_not_reachable_as_static_files(login_as, dbsession, storage):
    app = login_as("alice")
    upload = one_upload(app, dbsession, "notes.txt", b"some notes")
    for prefix in ("", "uploads/", "flicket_uploads/", "../uploads/", "%2e%2e/uploads/"):
        response = app.get(f"/flicket/static/{prefix}{upload.filename}", expect_errors=True)
        assert response.status_int == 404, prefix
        assert b"some notes" not in response.body
    # The folder is not inside the package's static folder at all.
    static = Path(flicket.__file__).parent / "static"
    assert not storage.directory.resolve().is_relative_to(static.resolve())


# -- refusals leave nothing behind ----------------------------------------------------------------


def nothing_written(dbsession, storage, before_rows, before_files):
    assert snapshot(dbsession) == before_rows
    assert files_in(storage) == before_files


@pytest.mark.parametrize("bad", [0, 1, 2])
def test_a_disallowed_file_anywhere_refuses_the_whole_ticket(login_as, dbsession, storage, bad):
    app = login_as("alice")
    files = [("a.txt", b"a"), ("b.pdf", b"b"), ("c.png", b"c")]
    files[bad] = ("evil.exe", b"MZ")
    before_rows, before_files = snapshot(dbsession), files_in(storage)
    response = create_with_files(app, files, status=400)
    alert = response.html.select_one("main .alert-danger").get_text()
    assert alert == f"'evil.exe' cannot be attached. Allowed file types: {ALLOWED_LIST}."
    nothing_written(dbsession, storage, before_rows, before_files)


@pytest.mark.parametrize("name", ["noextension", ".txt", "x.txt.exe", "x.", "x.html", "x.php"])
def test_a_disallowed_file_refuses_the_reply(login_as, dbsession, users, storage, name):
    ticket = old_ticket(dbsession, users["alice"])
    app = login_as("bob")
    form = reply_form(app, ticket)
    form["content"] = "Here is a file."
    form["file"] = [("fine.txt", b"fine"), (name, b"bad")]
    before_rows, before_files = snapshot(dbsession), files_in(storage)
    response = form.submit("reply", status=400)
    assert "cannot be attached" in response.text
    nothing_written(dbsession, storage, before_rows, before_files)


def test_a_disallowed_file_refuses_the_edit(login_as, dbsession, users, storage):
    ticket = old_ticket(dbsession, users["alice"])
    app = login_as("alice")
    path = f"/edit_ticket/{ticket.id}"
    form = next(f for f in app.get(path).forms.values() if f.action == path)
    form["content"] = "Edited, with a bad file."
    form["file"] = [("fine.txt", b"fine"), ("bad.exe", b"MZ")]
    before_rows, before_files = snapshot(dbsession), files_in(storage)
    response = form.submit(status=400)
    assert "cannot be attached" in response.text
    nothing_written(dbsession, storage, before_rows, before_files)


def test_a_file_over_the_size_limit_refuses_the_ticket(login_as, dbsession, storage, monkeypatch):
    monkeypatch.setattr(storage, "max_size", 10)
    app = login_as("alice")
    before_rows, before_files = snapshot(dbsession), files_in(storage)
    response = create_with_files(
        app, [("small.txt", b"0123456789"), ("big.txt", b"0123456789x")], status=400
    )
    assert "'big.txt' is larger than 1 MB." in response.html.select_one("main .alert").get_text()
    nothing_written(dbsession, storage, before_rows, before_files)


def test_a_file_over_the_size_limit_refuses_the_reply(
    login_as, dbsession, users, storage, monkeypatch
):
    ticket = old_ticket(dbsession, users["alice"], status_name="Closed")
    monkeypatch.setattr(storage, "max_size", 10)
    app = login_as("bob")
    form = reply_form(app, ticket)
    form["content"] = "A reply with a big file."
    form["file"] = [("small.txt", b"small"), ("big.txt", b"x" * 11)]
    before_rows, before_files = snapshot(dbsession), files_in(storage)
    response = form.submit("reply", status=400)
    assert "'big.txt' is larger than 1 MB." in response.html.select_one("main .alert").get_text()
    nothing_written(dbsession, storage, before_rows, before_files)
    assert fresh(dbsession, Ticket, ticket.id).status.status == "Closed"


def test_a_failure_after_the_files_were_written_leaves_no_file(
    login_as, dbsession, storage, monkeypatch
):
    """UP-7: files written by a request that then fails are removed with its transaction."""

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(TicketService, "_ensure_subscribed", broken)
    app = login_as("alice")
    before_rows, before_files = snapshot(dbsession), files_in(storage)
    create_with_files(app, [("a.txt", b"a"), ("b.txt", b"b")], status=500)
    nothing_written(dbsession, storage, before_rows, before_files)


# -- hostile file names ---------------------------------------------------------------------------


HOSTILE_NAMES = [
    ("../../x.txt", "x.txt"),
    ("..\\..\\windows\\x.txt", "x.txt"),
    ("/etc/passwd.txt", "passwd.txt"),
    ("a" * 300 + ".txt", "a" * 124 + ".txt"),
    ("invoice\u202etxt.exe.txt", "invoicetxt.exe.txt"),
    ('say "hi".txt', 'say "hi".txt'),
    ("<img src=x onerror=alert(1)>.txt", "<img src=x onerror=alert(1)>.txt"),
    ("r\u00e9sum\u00e9 \u2014 \u65e5\u672c.txt", "r\u00e9sum\u00e9 \u2014 \u65e5\u672c.txt"),
]


@pytest.mark.parametrize(("name", "shown"), HOSTILE_NAMES)
def test_hostile_names_are_stored_safely(login_as, dbsession, storage, name, shown):
    app = login_as("alice")
    data_dir = storage.directory.parent
    before_tree = tree_of(data_dir)
    create_with_files(app, [(name, b"content")], status=302)
    upload = uploads_of(dbsession, topic_id=created_ticket(dbsession).id)[0]
    assert STORED_NAME.match(upload.filename), upload.filename
    assert upload.original_filename == shown
    assert len(upload.original_filename) <= 128
    # The only new file in the whole data folder is the random name in the upload folder.
    assert tree_of(data_dir) - before_tree == {storage.directory / upload.filename}

    page = app.get(f"/ticket_view/{created_ticket(dbsession).id}/")
    link = page.html.select_one(f'a[href="/flicket_uploads/{upload.filename}"]')
    assert link["title"] == shown  # shown as text: parsed back, it is the same string
    assert "<img src=x" not in page.text

    response = app.get(f"/flicket_uploads/{upload.filename}", status=200)
    disposition = response.headers["Content-Disposition"]
    assert "\n" not in disposition and "\r" not in disposition
    assert disposition.endswith("filename*=UTF-8''" + quote(shown, safe=""))
    ascii_part = re.match(r'attachment; filename="([^"]*)";', disposition)
    assert ascii_part and all(32 <= ord(c) < 127 for c in ascii_part.group(1))


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("line\nbreak.txt", "linebreak.txt"),
        ("carriage\r\nreturn.txt", "carriagereturn.txt"),
        ("nul\x00byte.txt", "nulbyte.txt"),
        ("tab\there.txt", "tabhere.txt"),
        ("\u202egnp.exe", "gnp.exe"),
        ("...", "file"),
        ("", "file"),
        ("C:\\Users\\me\\x.txt", "x.txt"),
    ],
)
def test_control_characters_never_reach_the_stored_name(raw, clean):
    """Browsers cannot send a raw line break in a part header; the cleaner removes them
    (and every other control or direction character) wherever a name comes from."""
    assert clean_original_name(raw) == clean


# -- removal --------------------------------------------------------------------------------------


def test_removing_an_attachment_in_edit_deletes_row_and_file(login_as, dbsession, storage):
    app = login_as("alice")
    create_with_files(app, [("keep.txt", b"keep"), ("drop.txt", b"drop")], status=302)
    ticket = created_ticket(dbsession)
    keep, drop = uploads_of(dbsession, topic_id=ticket.id)
    keep_id, drop_id, drop_file = keep.id, drop.id, storage.directory / drop.filename
    path = f"/edit_ticket/{ticket.id}"
    form = next(f for f in app.get(path).forms.values() if f.action == path)
    boxes = form.fields["remove_uploads"]
    assert sorted(box._value for box in boxes) == sorted([str(keep_id), str(drop_id)])
    next(box for box in boxes if box._value == str(drop_id)).checked = True
    form.submit(status=302)

    assert [u.id for u in uploads_of(dbsession, topic_id=ticket.id)] == [keep_id]
    assert not drop_file.exists()
    assert (storage.directory / keep.filename).exists()


def test_removing_an_attachment_of_another_ticket_is_refused(login_as, dbsession, storage):
    app = login_as("alice")
    create_with_files(app, [("mine.txt", b"mine")], title="Mine", status=302)
    mine = created_ticket(dbsession)
    create_with_files(app, [("other.txt", b"other")], title="Other", status=302)
    other_upload = uploads_of(dbsession, topic_id=created_ticket(dbsession).id)[0]
    path = f"/edit_ticket/{mine.id}"
    form = next(f for f in app.get(path).forms.values() if f.action == path)
    before_rows = snapshot(dbsession)
    fields = dict(form.submit_fields())
    fields["remove_uploads"] = str(other_upload.id)
    app.post(path, fields, status=400)
    assert snapshot(dbsession) == before_rows
    assert (storage.directory / other_upload.filename).exists()


def test_removing_an_attachment_of_a_reply(login_as, dbsession, users, storage):
    ticket = old_ticket(dbsession, users["alice"])
    app = login_as("bob")
    form = reply_form(app, ticket)
    form["content"] = "With a file."
    form["file"] = [("reply.txt", b"reply file")]
    form.submit("reply", status=302)
    post = dbsession.scalars(sa.select(Post).where(Post.ticket_id == ticket.id)).one()
    stored = storage.directory / uploads_of(dbsession, posts_id=post.id)[0].filename
    assert stored.read_bytes() == b"reply file"
    path = f"/edit_post/{post.id}/"
    form = next(f for f in app.get(path).forms.values() if f.action == path)
    form.fields["remove_uploads"][0].checked = True
    form.submit(status=302)
    assert uploads_of(dbsession, posts_id=post.id) == []
    assert not stored.exists()


def test_deleting_a_ticket_deletes_its_files(login_as, dbsession, users, storage, make_client):
    app = login_as("alice")
    create_with_files(app, [("one.txt", b"1"), ("two.txt", b"2")], status=302)
    ticket = created_ticket(dbsession)
    ticket_id = ticket.id
    form = reply_form(app, ticket)
    form["content"] = "And a reply file."
    form["file"] = [("three.txt", b"3")]
    form.submit("reply", status=302)
    stored = [storage.directory / u.filename for u in uploads_of(dbsession)]
    assert len(stored) == 3 and all(p.exists() for p in stored)

    admin = make_client()
    login(admin, "admin")
    path = f"/delete_ticket/{ticket_id}/"
    form = next(f for f in admin.get(path).forms.values() if f.action == path)
    form["password"] = PASSWORD
    form.submit(status=302)
    assert uploads_of(dbsession) == []
    assert not any(p.exists() for p in stored)
    app.get(f"/flicket_uploads/{stored[0].name}", status=404)
