"""Upload hardening beyond tests/functional/test_uploads.py: files and the folder are private
to the application's user whatever the umask (UP-9), archives are stored as opaque bytes and
never unpacked (UP-6), stored names are random 128-bit names that nothing the user sends can
steer (UP-2), content sent under an allowed extension is only ever served as an attachment
with nosniff and the server's own type (UP-3, UP-4), and downloads are checked on every
request (UP-1) (SECURITY-TESTS §7)."""

import io
import itertools
import os
import stat
import zipfile

import pytest
import sqlalchemy as sa
import transaction

from flicket.tickets.models import Upload
from flicket.tweens import SERVED_FILE_CSP
from flicket.uploads import DIRECTORY_MODE, FILE_MODE, UploadStorage
from tests.functional.test_ticket_operations import configure, create_form, snapshot

STORED_HEX_DIGITS = 32  # secrets.token_hex(16): 128 bits


@pytest.fixture
def storage(registry):
    storage = registry["upload_storage"]
    storage.directory.mkdir(parents=True, exist_ok=True)
    return storage


def files_in(storage):
    return {p for p in storage.directory.rglob("*") if p.is_file()}


_TICKETS = itertools.count(1)


def upload_one(app, dbsession, name, content, status=302):
    form = create_form(app)
    # A new title each time: the same ticket sent again at once would be a double click.
    form["title"] = f"With an attachment ({next(_TICKETS)})"
    form["content"] = "See the attached file."
    form["file"] = [(name, content)]
    response = form.submit(status=status)
    dbsession.expire_all()
    return response, dbsession.scalars(sa.select(Upload).order_by(Upload.id.desc())).first()


class FakeField:
    def __init__(self, filename, content):
        self.filename = filename
        self.file = io.BytesIO(content)


# -- UP-9: permissions ----------------------------------------------------------------------------


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o002])
def test_new_files_and_folder_are_private_whatever_the_umask(tmp_path, umask):
    storage = UploadStorage(tmp_path / "data" / "uploads", 1024 * 1024)
    manager = transaction.TransactionManager(explicit=True)
    old = os.umask(umask)
    try:
        with manager:
            stored, original = storage.save(FakeField("notes.txt", b"secret notes"), manager)
    finally:
        os.umask(old)
    path = storage.directory / stored
    assert path.read_bytes() == b"secret notes"
    assert stat.S_IMODE(path.stat().st_mode) == FILE_MODE == 0o600
    folder_mode = stat.S_IMODE(storage.directory.stat().st_mode)
    assert folder_mode == DIRECTORY_MODE == 0o700
    assert path.stat().st_uid == os.getuid()


def test_an_uploaded_file_is_private_and_nothing_is_world_writable(login_as, dbsession, storage):
    app = login_as("alice")
    _, upload = upload_one(app, dbsession, "notes.txt", b"private notes")
    path = storage.directory / upload.filename
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for item in [storage.directory, *storage.directory.rglob("*")]:  # other tests' files too
        mode = stat.S_IMODE(item.stat().st_mode)
        assert not mode & stat.S_IWOTH, (item, oct(mode))


# -- UP-6: archives are opaque --------------------------------------------------------------------


def zip_bomb():
    """A small zip that would expand to 50 MB, with an entry that escapes the folder."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.bin", b"\0" * (50 * 1024 * 1024))
        archive.writestr("../../escape.txt", b"escaped")
    return buffer.getvalue()


def test_an_archive_is_stored_and_served_as_it_came_never_unpacked(login_as, dbsession, storage):
    configure(dbsession, allowed_extensions="txt, zip")
    bomb = zip_bomb()
    assert len(bomb) < 200 * 1024
    app = login_as("alice")
    before = files_in(storage)
    data_dir = storage.directory.parent
    tree_before = {p for p in data_dir.rglob("*") if p.is_file()}
    _, upload = upload_one(app, dbsession, "bomb.zip", bomb)
    assert files_in(storage) - before == {storage.directory / upload.filename}
    assert {p for p in data_dir.rglob("*") if p.is_file()} - tree_before == {
        storage.directory / upload.filename
    }
    assert (storage.directory / upload.filename).read_bytes() == bomb
    response = app.get(f"/flicket_uploads/{upload.filename}", status=200)
    assert response.body == bomb
    assert response.headers["Content-Disposition"].startswith('attachment; filename="bomb.zip"')
    assert not (data_dir.parent / "escape.txt").exists()


# -- UP-2: random names -----------------------------------------------------------------------


def test_stored_names_are_random_128_bit_names_the_client_cannot_steer(
    login_as, dbsession, storage
):
    app = login_as("alice")
    names = set()
    for name in ["same.txt", "same.txt", "../same.txt", "SAME.TXT", "x" * 40 + ".txt"]:
        _, upload = upload_one(app, dbsession, name, b"same bytes")
        stem, _, extension = upload.filename.partition(".")
        assert len(stem) == STORED_HEX_DIGITS and int(stem, 16) >= 0
        assert extension == "txt"
        assert name.split("/")[-1].split(".")[0].lower() not in stem
        names.add(stem)
    assert len(names) == 5


# -- UP-3 / UP-4: content under an allowed extension ---------------------------------------------

POLYGLOTS = {
    "png-with-html.png": b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>",
    "gif-with-html.gif": b"GIF89a/*<html><script>alert(1)</script></html>*/",
    "html-as-text.txt": b"<!doctype html><script>alert(1)</script>",
    "html-as-pdf.pdf": b"<html><body onload=alert(1)>",
}


@pytest.mark.parametrize("name", list(POLYGLOTS))
def test_content_that_is_not_what_its_name_says_is_only_ever_a_download(
    login_as, dbsession, storage, name
):
    """No sniffing of the stored bytes is trusted: each download is an attachment with the
    server's type for the (allowlisted) extension and nosniff, so no browser renders it."""
    app = login_as("alice")
    _, upload = upload_one(app, dbsession, name, POLYGLOTS[name])
    response = app.get(f"/flicket_uploads/{upload.filename}", status=200)
    assert response.body == POLYGLOTS[name]
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.content_type in {
        "image/png",
        "image/gif",
        "text/plain",
        "application/pdf",
    }
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "name", ["page.html", "drawing.svg", "x.exe", "script.js", "x.php", "noextension", ".htaccess"]
)
def test_types_outside_the_default_allowlist_are_refused(login_as, dbsession, storage, name):
    app = login_as("alice")
    before = snapshot(dbsession)
    files_before = files_in(storage)
    upload_one(app, dbsession, name, b"<script>alert(1)</script>", status=400)
    assert snapshot(dbsession) == before
    assert files_in(storage) == files_before


def test_a_download_is_sandboxed(login_as, dbsession, storage):
    app = login_as("alice")
    _, upload = upload_one(app, dbsession, "page.txt", b"<script>alert(1)</script>")
    response = app.get(f"/flicket_uploads/{upload.filename}")
    assert response.headers["Content-Security-Policy"] == SERVED_FILE_CSP
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
