"""My profile /user_details and avatars: each field's rules, the current password checked
against the logged-in user, the password change that keeps this session and ends the
others, notices to the old address, and avatar uploads checked by content and served as
images only (SECURITY-TESTS AUTH-4, AUTH-6, AUTH-9, AUTH-11, SESS-3, UP-2, UP-3, UP-4,
XSS-1; reference §3.12, §3.14)."""

import os
import re
import struct
import zlib
from pathlib import Path

import pytest
import sqlalchemy as sa

from flicket.accounts.avatars import DEFAULT_AVATAR, avatar_directory, default_avatar_bytes
from flicket.accounts.models import ApiToken, User
from flicket.accounts.passwords import hash_password
from tests.conftest import (
    BCRYPT_TEST_ROUNDS,
    PASSWORD,
    assert_login_page,
    bearer,
    csrf_token_from,
    issue_api_token,
    login,
)

NEW_PASSWORD = "violet harbour lantern"
XSS = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>")
STORED_NAME = re.compile(r"^[0-9a-f]{32}\.(png|jpg|gif|webp)$")


# -- images ---------------------------------------------------------------------------------------


def png(width=2, height=2, padding=b""):
    def chunk(kind, data):
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    raw = b"".join(b"\x00" + b"\x80\x80\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + (chunk(b"tEXt", padding) if padding else b"")
        + chunk(b"IEND", b"")
    )


JPEG = (
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    + b"\xff\xdb\x00\x43\x00"
    + bytes(range(1, 65))
    + b"\xff\xd9"
)
GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00"
    b"\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
WEBP = (
    b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00"
    b"/\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"
)

NOT_IMAGES = {
    "html": b"<!doctype html><html><body><script>alert(1)</script></body></html>",
    "svg": b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><circle r="5"/></svg>',
    "text": b"just some text, not a picture at all",
    "gif-polyglot": b"GIF89a/*\x00\x00" + b"<html><script>alert(1)</script></html>" + b";",
    "png-with-html": png(padding=b"Comment\x00<html><script>alert(1)</script>"),
    "empty": b"",
}


# -- helpers --------------------------------------------------------------------------------------


def user_named(dbsession, username):
    dbsession.expire_all()
    return dbsession.scalars(sa.select(User).where(User.username == username)).first()


def field_errors(response):
    return [e.get_text(" ", strip=True) for e in response.html.select(".invalid-feedback")]


def flashes(response):
    return " ".join(a.get_text(" ", strip=True) for a in response.html.select("main .alert"))


def save_profile(client, status="*", avatar=None, **overrides):
    """POST the profile form as a browser would: the page's values plus ``overrides``."""
    page = client.get("/user_details")
    form = page.html.select_one("main form")
    data = {"csrf_token": csrf_token_from(page)}
    for element in form.select("input[name], select[name]"):
        name = element["name"]
        if element.name == "select":
            selected = element.select_one("option[selected]") or element.select_one("option")
            data[name] = selected["value"]
        elif element.get("type") not in ("file", "password") and name != "csrf_token":
            data[name] = element.get("value", "")
    data.update(overrides)
    data = {k: v for k, v in data.items() if v is not None}
    files = [("avatar", avatar[0], avatar[1])] if avatar else []
    return client.post("/user_details", data, upload_files=files, status=status)


def avatar_files(registry):
    directory = Path(avatar_directory(registry.settings))
    return {p.name for p in directory.iterdir()} if directory.exists() else set()


def all_files(root):
    return {os.path.join(dirpath, name) for dirpath, _, names in os.walk(root) for name in names}


@pytest.fixture
def alice(login_as):
    return login_as("alice")


# -- the page ------------------------------------------------------------------------------------


def test_profile_page_shows_the_user(alice, users):
    page = alice.get("/user_details")
    form = page.html.select_one("main form")
    assert page.html.select_one("#profile-username").get_text() == "alice"
    assert form.find("input", attrs={"name": "name"})["value"] == "Alice Example"
    assert form.find("input", attrs={"name": "email"})["value"] == "alice@example.com"
    assert not form.find(attrs={"name": "username"})  # the username cannot be changed here
    assert form["enctype"] == "multipart/form-data"
    assert (
        page.html.select_one("main img")["src"]
        == f"/flicket/static/flicket_avatars/{DEFAULT_AVATAR}"
    )
    options = [o["value"] for o in form.select("select[name=locale] option")]
    assert options == ["en", "fr"]


def test_profile_needs_a_login(testapp, users):
    assert_login_page(testapp.get("/user_details"))


def test_saving_name_job_title_and_language(alice, dbsession, outbox):
    response = save_profile(alice, name="Alice Liddell", job_title="Explorer", locale="fr")
    assert response.status_int == 302
    text = flashes(response.follow())
    for message in (  # said in the language just chosen
        "Votre nom a été enregistré.",
        "Votre fonction a été enregistrée.",
        "Votre langue a été enregistrée.",
    ):
        assert message in text
    user = user_named(dbsession, "alice")
    assert (user.name, user.job_title, user.locale) == ("Alice Liddell", "Explorer", "fr")
    assert outbox == []  # no notice for these
    save_profile(alice, locale="en")
    assert "Nothing was changed." in flashes(save_profile(alice).follow())


FIELD_CASES = [
    ("name", "abc", False),
    ("name", "abcd", True),
    ("name", "n" * 60, True),
    ("name", "n" * 61, False),
    ("name", "", False),
    ("name", "Ali\u202ece", False),
    ("job_title", "", True),
    ("job_title", "j" * 64, True),
    ("job_title", "j" * 65, False),
    ("locale", "en", True),
    ("locale", "de", False),
    ("locale", "", False),
]


@pytest.mark.parametrize("field,value,valid", FIELD_CASES)
def test_profile_field_rules(alice, dbsession, field, value, valid):
    before = user_named(dbsession, "alice")
    before = (before.name, before.job_title, before.locale)
    response = save_profile(alice, **{field: value})
    user = user_named(dbsession, "alice")
    if valid:
        assert response.status_int == 302, field_errors(response)
        expected = value or None if field == "job_title" else value
        assert getattr(user, field) == expected
    else:
        assert response.status_int == 400
        assert field_errors(response)
        assert (user.name, user.job_title, user.locale) == before


EMAIL_CASES = [
    ("", "Enter an email address."),
    ("not-an-address", "not a valid email address"),
    ("alice@", "not a valid email address"),
    ("BOB@EXAMPLE.COM", "already used by another account"),
    ("e" * 49 + "@example.com", "6 to 60 characters"),
]


@pytest.mark.parametrize("email,message", EMAIL_CASES)
def test_email_rules(alice, dbsession, email, message, outbox):
    response = save_profile(alice, email=email, password=PASSWORD, status=400)
    assert any(message in e for e in field_errors(response)), field_errors(response)
    assert user_named(dbsession, "alice").email == "alice@example.com"
    assert outbox == []


def test_email_change_needs_the_current_password(alice, dbsession, outbox):
    for password, message in (
        (None, "Enter your current password"),
        ("not my password", "That is not your current password."),
    ):
        response = save_profile(alice, email="liddell@example.com", password=password, status=400)
        assert message in " ".join(field_errors(response))
        assert user_named(dbsession, "alice").email == "alice@example.com"
    response = save_profile(alice, email="liddell@example.com", password=PASSWORD, status=302)
    assert "Your email address was changed." in flashes(response.follow())
    assert user_named(dbsession, "alice").email == "liddell@example.com"
    # The notice goes to the old address, and says what changed.
    assert [m.recipients for m in outbox] == [["alice@example.com"]]
    assert "email address" in outbox[0].body
    assert "liddell@example.com" not in outbox[0].recipients
    assert "&lt;" not in outbox[0].body  # plain text part, not escaped HTML


def test_a_longest_email_is_accepted(alice, dbsession):
    address = "e" * 48 + "@example.com"  # 60 characters
    save_profile(alice, email=address, password=PASSWORD, status=302)
    assert user_named(dbsession, "alice").email == address


def test_current_password_is_checked_against_the_logged_in_user(alice, users, dbsession):
    """A submitted ``username`` is ignored: bob's password does not unlock alice's profile."""
    users["alice"].password = hash_password("alice's own passphrase", BCRYPT_TEST_ROUNDS)
    dbsession.flush()
    before = user_named(dbsession, "alice").password
    for extra in ({"username": "bob"}, {"username": "nobody-at-all"}, {}):
        response = save_profile(
            alice, email="taken@example.com", password=PASSWORD, **extra, status=400
        )
        assert "That is not your current password." in field_errors(response)
        response = save_profile(
            alice,
            new_password=NEW_PASSWORD,
            confirm=NEW_PASSWORD,
            password=PASSWORD,
            **extra,
            status=400,
        )
        assert "That is not your current password." in field_errors(response)
    user = user_named(dbsession, "alice")
    assert user.email == "alice@example.com" and user.password == before
    save_profile(alice, email="taken@example.com", password="alice's own passphrase", status=302)
    assert user_named(dbsession, "alice").email == "taken@example.com"


def test_wrong_current_passwords_are_rate_limited(alice, dbsession):
    for _ in range(10):  # flicket.login.max_attempts_per_account
        save_profile(alice, email="new@example.com", password="wrong password", status=400)
    response = save_profile(alice, email="new@example.com", password=PASSWORD, status=429)
    assert "Too many wrong passwords" in " ".join(field_errors(response))
    assert user_named(dbsession, "alice").email == "alice@example.com"


# -- password change ------------------------------------------------------------------------------


PASSWORD_CASES = [
    ("short pw", "short pw", "at least 12 characters"),
    ("password123456", "password123456", "too common"),
    ("alice2024!!!", "alice2024!!!", "too common"),  # made of the username
    (NEW_PASSWORD, NEW_PASSWORD + "x", "The two new passwords differ."),
]


@pytest.mark.parametrize("new,confirm,message", PASSWORD_CASES)
def test_new_password_rules(alice, dbsession, new, confirm, message, outbox):
    before = user_named(dbsession, "alice").password
    response = save_profile(
        alice, new_password=new, confirm=confirm, password=PASSWORD, status=400
    )
    assert any(message in e for e in field_errors(response)), field_errors(response)
    assert user_named(dbsession, "alice").password == before
    assert outbox == []


def test_new_password_needs_the_current_one(alice, dbsession):
    before = user_named(dbsession, "alice").password
    response = save_profile(alice, new_password=NEW_PASSWORD, confirm=NEW_PASSWORD, status=400)
    assert "Enter your current password" in " ".join(field_errors(response))
    assert user_named(dbsession, "alice").password == before


def test_password_change_keeps_this_session_and_ends_the_others(
    alice, users, dbsession, make_client, outbox
):
    phone = make_client(remote_addr="198.51.100.70")
    login(phone, "alice")
    token = issue_api_token(phone, "alice")
    bob = make_client(remote_addr="198.51.100.71")
    login(bob, "bob")
    response = save_profile(
        alice, new_password=NEW_PASSWORD, confirm=NEW_PASSWORD, password=PASSWORD, status=302
    )
    page = response.follow()
    assert "Your password was changed." in flashes(page)
    # This browser goes on...
    assert alice.get("/user_details", status=200).html.select_one("#profile-username")
    save_profile(alice, job_title="Still here", status=302)
    assert user_named(dbsession, "alice").job_title == "Still here"
    # ... the other session and the API token do not; other users are untouched.
    assert_login_page(phone.get("/"))
    phone.delete("/flicket-api/tokens", headers=bearer(token), status=401)
    tokens = dbsession.scalars(sa.select(ApiToken).where(ApiToken.user_id == users["alice"].id))
    assert all(t.revoked is not None for t in tokens)
    bob.get("/", status=200)
    # The new password works, the old one does not.
    fresh = make_client(remote_addr="198.51.100.72")
    login(fresh, "alice", PASSWORD, status=200)
    login(fresh, "alice", NEW_PASSWORD)
    fresh.get("/", status=200)
    # The owner is told at their address.
    assert [m.recipients for m in outbox] == [["alice@example.com"]]
    assert "password" in outbox[0].body


def test_changing_email_and_password_together_sends_one_notice(alice, dbsession, outbox):
    save_profile(
        alice,
        email="liddell@example.com",
        new_password=NEW_PASSWORD,
        confirm=NEW_PASSWORD,
        password=PASSWORD,
        status=302,
    )
    assert [m.recipients for m in outbox] == [["alice@example.com"]]
    assert "email address and password" in outbox[0].body


def test_a_user_without_email_is_asked_for_one(testapp, users, dbsession, make_client):
    users["carol"].email = None
    dbsession.flush()
    response = login(testapp, "carol")
    assert response.location.endswith("/user_details")
    page = response.follow()
    assert "Please add your email address" in flashes(page)
    assert page.html.select_one("main .alert-danger")
    # Saving without an address is refused; with one (and the password) it is saved.
    response = save_profile(testapp, name="Carol Example", status=400)
    assert "Enter an email address." in field_errors(response)
    save_profile(testapp, email="carol@example.org", password=PASSWORD, status=302)
    assert user_named(dbsession, "carol").email == "carol@example.org"
    # With an address, logging in lands on the home page again.
    response = login(make_client(remote_addr="198.51.100.73"), "carol")
    assert not response.location.endswith("/user_details")


# -- avatars --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "filename,content,kind",
    [
        ("me.png", png(), "png"),
        ("me.jpg", JPEG, "jpg"),
        ("me.gif", GIF, "gif"),
        ("me.webp", WEBP, "webp"),
        ("photo.jpg", png(), "png"),  # the content decides, not the name
        ("holiday.txt", GIF, "gif"),
        ("noextension", JPEG, "jpg"),
    ],
)
def test_images_are_accepted_by_content(alice, dbsession, registry, filename, content, kind):
    before = avatar_files(registry)
    response = save_profile(alice, avatar=(filename, content), status=302)
    assert "Your avatar was changed." in flashes(response.follow())
    name = user_named(dbsession, "alice").avatar
    assert STORED_NAME.match(name) and name.endswith("." + kind)
    assert avatar_files(registry) - before == {name}
    served = alice.get(f"/flicket/static/flicket_avatars/{name}", status=200)
    assert served.body == content
    assert (
        served.content_type
        == {"png": "image/png", "jpg": "image/jpeg", "gif": "image/gif", "webp": "image/webp"}[
            kind
        ]
    )
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in served.headers["Content-Security-Policy"]
    # The profile now shows it.
    page = alice.get("/user_details")
    assert page.html.select_one("main img")["src"] == f"/flicket/static/flicket_avatars/{name}"


@pytest.mark.parametrize("kind", sorted(NOT_IMAGES))
def test_files_that_are_not_images_are_refused(alice, dbsession, registry, kind):
    save_profile(alice, avatar=("first.png", png()), status=302)
    old = user_named(dbsession, "alice").avatar
    before = avatar_files(registry)
    response = save_profile(alice, avatar=("innocent.png", NOT_IMAGES[kind]), status=400)
    reasons = ("PNG, JPEG, GIF or WebP image", "web page code", "The file is empty.")
    assert any(r in e for e in field_errors(response) for r in reasons), field_errors(response)
    assert user_named(dbsession, "alice").avatar == old
    assert old in avatar_files(registry)  # the old avatar is kept
    assert avatar_files(registry) == before  # nothing new written


def test_avatar_size_limit(alice, dbsession, registry):
    limit = 1024 * 1024
    base = png()
    exactly = png(padding=b"c\x00" + b"x" * (limit - len(base) - 14))
    assert len(exactly) == limit
    save_profile(alice, avatar=("big.png", exactly), status=302)
    kept = user_named(dbsession, "alice").avatar
    before = avatar_files(registry)
    too_big = png(padding=b"c\x00" + b"x" * (limit - len(base) - 13))
    assert len(too_big) == limit + 1
    response = save_profile(alice, avatar=("bigger.png", too_big), status=400)
    assert any("too large" in e for e in field_errors(response))
    assert user_named(dbsession, "alice").avatar == kept
    assert avatar_files(registry) == before


@pytest.mark.parametrize(
    "filename",
    [
        "../../x.png",
        "..\\..\\x.png",
        "a/b/c.png",
        "evil\u202egnp.exe",
        "x" * 300 + ".png",
        ".htaccess",
        "x\x00.png",
    ],
)
def test_hostile_file_names_are_stored_under_random_names(alice, dbsession, registry, filename):
    data_dir = registry.settings["flicket.data_dir"]
    before = all_files(data_dir)
    save_profile(alice, avatar=(filename, png()), status=302)
    name = user_named(dbsession, "alice").avatar
    assert STORED_NAME.match(name)
    created = all_files(data_dir) - before
    assert created == {os.path.join(avatar_directory(registry.settings), name)}


def test_replaced_avatar_file_is_removed(alice, dbsession, registry):
    save_profile(alice, avatar=("one.png", png()), status=302)
    first = user_named(dbsession, "alice").avatar
    save_profile(alice, avatar=("two.gif", GIF), status=302)
    second = user_named(dbsession, "alice").avatar
    assert first != second
    files = avatar_files(registry)
    assert second in files and first not in files
    alice.get(f"/flicket/static/flicket_avatars/{first}", status=404)


def test_a_refused_form_keeps_the_new_image_out(alice, dbsession, registry):
    before = avatar_files(registry)
    response = save_profile(alice, name="x", avatar=("me.png", png()), status=400)
    assert field_errors(response)
    assert user_named(dbsession, "alice").avatar is None
    assert avatar_files(registry) == before


def test_avatars_need_a_login(alice, dbsession, make_client):
    save_profile(alice, avatar=("me.png", png()), status=302)
    name = user_named(dbsession, "alice").avatar
    anonymous = make_client(remote_addr="198.51.100.74")
    assert_login_page(anonymous.get(f"/flicket/static/flicket_avatars/{name}"))
    assert_login_page(anonymous.get(f"/flicket/static/flicket_avatars/{DEFAULT_AVATAR}"))


def test_the_default_avatar_is_served_from_the_package(alice):
    response = alice.get(f"/flicket/static/flicket_avatars/{DEFAULT_AVATAR}", status=200)
    assert response.content_type == "image/png"
    assert response.body == default_avatar_bytes()
    assert response.body.startswith(b"\x89PNG\r\n\x1a\n")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "name",
    [
        "0" * 32 + ".png",  # our form, but no such file
        "__default_robot.png",
        "x.html",
        "avatar.svg",
        "..%2F..%2Fsecret",
        "%2e%2e",
        "0" * 32 + ".html",
    ],
)
def test_unknown_avatars_are_404(alice, name):
    response = alice.get(f"/flicket/static/flicket_avatars/{name}", status=404)
    assert "image" not in response.content_type


def test_names_in_the_profile_are_escaped(alice, users, dbsession):
    save_profile(alice, name=XSS[0], job_title=XSS[1], status=302)
    user = user_named(dbsession, "alice")
    assert (user.name, user.job_title) == XSS  # stored as typed
    page = alice.get("/user_details")
    assert not [s for s in page.html.find_all("script") if "alert" in (s.string or "")]
    assert not page.html.find(attrs={"onerror": True})
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
    # The navigation bar shows the name too.
    assert not page.html.select("nav script")
