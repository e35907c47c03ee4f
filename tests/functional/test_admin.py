"""The admin panel /flicket_admin/: who may use it (every route and method), the
configuration and its validation, the encrypted mail password, the test email, users
(add, edit, disable, delete, the last-admin rules) and groups
(SECURITY-TESTS ACL-2, ACL-3, ACL-7, SESS-3, AUTH-4/6/10/11, XSS-1; reference §4)."""

import smtplib
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from flicket.accounts.models import ApiToken, Group, User, user_groups
from flicket.accounts.services import AccountService
from flicket.accounts.users import UserService
from flicket.admin.models import Config
from flicket.admin.services import MAIL_PASSWORD_PREFIX, decrypt_mail_password
from flicket.tickets.models import Action, Subscription
from tests import factories as f
from tests.conftest import (
    PASSWORD,
    assert_login_page,
    bearer,
    csrf_token_from,
    issue_api_token,
    login,
    make_user,
)

NEW_PASSWORD = "violet harbour lantern"
XSS = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>")


# -- helpers ------------------------------------------------------------------------------------


def token_of(client):
    """The CSRF token of ``client``'s session (from any page it may open)."""
    page = client.get("/user_details", status="*")
    if page.status_int != 200:
        page = client.get("/login")
    return csrf_token_from(page)


def post(client, url, data, status="*", token=None):
    return client.post(url, {**data, "csrf_token": token or token_of(client)}, status=status)


def config_row(dbsession):
    dbsession.expire_all()
    return dbsession.scalars(sa.select(Config).order_by(Config.id).limit(1)).one()


def user_named(dbsession, username):
    dbsession.expire_all()
    return dbsession.scalars(sa.select(User).where(User.username == username)).first()


def group_named(dbsession, name):
    dbsession.expire_all()
    return dbsession.scalars(sa.select(Group).where(Group.group_name == name)).first()


def group_id(dbsession, name):
    return group_named(dbsession, name).id


def config_data(**overrides):
    """A complete, valid configuration form (checkboxes given are on)."""
    data = {
        "mail_server": "smtp.example.com",
        "mail_port": "587",
        "mail_use_tls": "y",
        "mail_username": "flicket",
        "mail_password": "",
        "mail_default_sender": "Flicket <flicket@example.com>",
        "mail_max_emails": "10",
        "application_title": "Flicket",
        "posts_per_page": "50",
        "allowed_extensions": "txt, pdf, png",
        "ticket_upload_folder": "flicket_uploads",
        "base_url": "https://tickets.example.com",
        "auth_domain": "",
        "csv_dump_limit": "1000",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def user_data(**overrides):
    data = {
        "username": "newbie",
        "name": "New Person",
        "email": "newbie@example.com",
        "job_title": "Analyst",
        "locale": "en",
        "password": NEW_PASSWORD,
        "confirm": NEW_PASSWORD,
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def edit_data(user, **overrides):
    data = {
        "username": user.username,
        "name": user.name,
        "email": user.email,
        "job_title": user.job_title or "",
        "locale": user.locale or "en",
        "groups": [g.id for g in user.groups],
    }
    if user.disabled:
        data["disabled"] = "y"
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def field_errors(response):
    return [e.get_text(" ", strip=True) for e in response.html.select(".invalid-feedback")]


def flashes(response):
    return " ".join(a.get_text(" ", strip=True) for a in response.html.select("main .alert"))


def main_form(page):
    """The page's own form (not the log-out form of the navigation bar)."""
    forms = [form for key, form in page.forms.items() if isinstance(key, int)]
    return next(form for form in forms if form.action != "/logout")


def followed(response):
    assert response.status_int == 302, response.status
    return response.follow()


@pytest.fixture
def admin(login_as):
    return login_as("admin")


@pytest.fixture
def helpdesk(dbsession):
    group = Group(group_name="Helpdesk")
    dbsession.add(group)
    dbsession.flush()
    return group


@pytest.fixture
def dave_session(users, dbsession, make_client):
    """A client dave logged in with before he was disabled (with a CSRF token from then)."""
    dave = users["dave"]
    dave.disabled = False
    dbsession.flush()
    client = make_client(remote_addr="198.51.100.40")
    login(client, "dave")
    token = token_of(client)
    dave.disabled = True
    dbsession.flush()
    return client, token


# -- who may use the panel: every route and method ------------------------------------------------


def _table(dbsession, users, helpdesk):
    """(name, url, form data for POST, check(changed)) for every admin route."""
    carol = users["carol"]

    def config_changed(changed):
        assert (config_row(dbsession).application_title == "Changed Title") is changed

    def user_added(changed):
        assert (user_named(dbsession, "newbie") is not None) is changed

    def carol_renamed(changed):
        assert (user_named(dbsession, "carol").name == "Carol Changed") is changed

    def carol_deleted(changed):
        assert (user_named(dbsession, "carol") is None) is changed

    def group_added(changed):
        assert (group_named(dbsession, "Facilities") is not None) is changed

    def helpdesk_renamed(changed):
        assert (group_named(dbsession, "Service Desk") is not None) is changed
        assert (group_named(dbsession, "Helpdesk") is None) is changed

    def helpdesk_deleted(changed):
        assert (group_named(dbsession, "Helpdesk") is None) is changed

    def nothing(changed):
        pass

    carol_edit = {
        "username": "carol",
        "name": "Carol Changed",
        "email": carol.email,
        "locale": "en",
    }
    return [
        ("home", "/flicket_admin/", {}, nothing),
        (
            "config",
            "/flicket_admin/config/",
            config_data(application_title="Changed Title"),
            config_changed,
        ),
        ("test_email", "/flicket_admin/test_email/", {"email_address": "x@example.com"}, nothing),
        ("users", "/flicket_admin/users/", {}, nothing),
        ("users_page", "/flicket_admin/users/1", {}, nothing),
        ("add_user", "/flicket_admin/add_user/", user_data(), user_added),
        ("edit_user", f"/flicket_admin/edit_user/?id={carol.id}", carol_edit, carol_renamed),
        (
            "delete_user",
            f"/flicket_admin/delete_user/?id={carol.id}",
            {"password": PASSWORD},
            carol_deleted,
        ),
        ("groups", "/flicket_admin/groups/", {"group_name": "Facilities"}, group_added),
        (
            "edit_group",
            f"/flicket_admin/edit_group/?id={helpdesk.id}",
            {"group_name": "Service Desk"},
            helpdesk_renamed,
        ),
        (
            "delete_group",
            f"/flicket_admin/delete_group/?id={helpdesk.id}",
            {"password": PASSWORD},
            helpdesk_deleted,
        ),
    ]


ROUTE_NAMES = [
    "home",
    "config",
    "test_email",
    "users",
    "users_page",
    "add_user",
    "edit_user",
    "delete_user",
    "groups",
    "edit_group",
    "delete_group",
]


@pytest.mark.parametrize("route", ROUTE_NAMES)
@pytest.mark.parametrize("actor", ["super", "alice"])
def test_non_admins_get_403_and_change_nothing(
    route, actor, login_as, users, dbsession, helpdesk, outbox
):
    name, url, data, check = next(r for r in _table(dbsession, users, helpdesk) if r[0] == route)
    client = login_as(actor)
    response = client.get(url, status=403)
    assert "You are not allowed to do this." in response.text
    response = post(client, url, data, status=403)
    check(False)
    assert outbox == []


@pytest.mark.parametrize("route", ROUTE_NAMES)
def test_anonymous_and_disabled_sessions_are_sent_to_login(
    route, testapp, users, dbsession, helpdesk, dave_session, outbox
):
    name, url, data, check = next(r for r in _table(dbsession, users, helpdesk) if r[0] == route)
    dave, dave_token = dave_session
    anonymous_token = csrf_token_from(testapp.get("/login"))
    # Anonymous, with a valid CSRF token: the permission decides, and sends to login.
    assert_login_page(post(testapp, url, data, token=anonymous_token))
    # Dave's session ended when he was disabled, and its CSRF token with it: refused either
    # as a dead session's form (400) or as anonymous (login).
    response = post(dave, url, data, token=dave_token)
    if response.status_int != 400:
        assert_login_page(response)
    for client in (testapp, dave):
        response = client.get(url)
        assert_login_page(response)
        assert parse_qs(urlsplit(response.location).query)["next"] == [url]
    check(False)
    assert outbox == []


@pytest.mark.parametrize("route", ROUTE_NAMES)
def test_admin_may_use_every_route(route, admin, users, dbsession, helpdesk, outbox):
    name, url, data, check = next(r for r in _table(dbsession, users, helpdesk) if r[0] == route)
    page = admin.get(url, status=200)
    menu = [a.get_text(strip=True) for a in page.html.select("nav[aria-label=Admin] a")]
    assert menu == ["Admin Home", "Flicket Config", "Users", "Add User", "Groups"]
    if name == "test_email":
        config = config_row(dbsession)
        config.mail_suppress_send = False
        dbsession.flush()
    response = post(admin, url, data)
    assert response.status_int in (200, 302), response.status
    if data:
        assert response.status_int == 302, field_errors(response)
    check(True)
    if name == "test_email":
        assert [m.subject for m in outbox] == ["Flicket Test Email"]


def test_posts_without_a_csrf_token_are_refused(admin, dbsession):
    admin.post("/flicket_admin/groups/", {"group_name": "Facilities"}, status=400)
    admin.post("/flicket_admin/config/", config_data(application_title="Forged"), status=400)
    assert group_named(dbsession, "Facilities") is None
    assert config_row(dbsession).application_title == "Flicket"


@pytest.mark.parametrize("path", ["edit_user", "delete_user", "edit_group", "delete_group"])
@pytest.mark.parametrize(
    "query", ["", "?id=", "?id=999999", "?id=abc", "?id=-1", "?id=1e3", "?id=99999999999999999999"]
)
def test_unknown_or_bad_ids_are_404(admin, path, query):
    response = admin.get(f"/flicket_admin/{path}/{query}", status=404)
    assert "does not exist" in response.text or "no such" in response.text.lower()
    post(admin, f"/flicket_admin/{path}/{query}", {"password": PASSWORD}, status=404)


def test_the_admin_menu_link_is_shown_to_admins_only(admin, make_client, users):
    assert admin.get("/").html.find("a", href="/flicket_admin/")
    alice = make_client()
    login(alice, "alice")
    assert not alice.get("/").html.find("a", href="/flicket_admin/")


# -- configuration --------------------------------------------------------------------------------


def test_config_page_shows_every_field(admin):
    form = main_form(admin.get("/flicket_admin/config/"))
    for name in (
        "mail_server",
        "mail_port",
        "mail_use_tls",
        "mail_use_ssl",
        "mail_debug",
        "mail_username",
        "mail_password",
        "mail_default_sender",
        "mail_max_emails",
        "mail_suppress_send",
        "mail_ascii_attachments",
        "application_title",
        "posts_per_page",
        "allowed_extensions",
        "ticket_upload_folder",
        "base_url",
        "use_auth_domain",
        "auth_domain",
        "csv_dump_limit",
        "change_category",
        "change_category_only_admin_or_super_user",
    ):
        assert name in form.fields, name


def test_config_saves_every_field_and_applies_at_once(admin, dbsession):
    data = config_data(
        mail_server="mail.example.org",
        mail_port="465",
        mail_use_tls=None,
        mail_use_ssl="y",
        mail_debug="y",
        mail_suppress_send="y",
        mail_ascii_attachments="y",
        mail_max_emails="25",
        application_title="Help Desk",
        posts_per_page="10",
        allowed_extensions="TXT, .pdf".replace(".", ""),
        ticket_upload_folder="uploads",
        base_url="https://desk.example.org/flicket",
        use_auth_domain="y",
        auth_domain="CORP",
        csv_dump_limit="500",
        change_category="y",
        change_category_only_admin_or_super_user="y",
    )
    response = post(admin, "/flicket_admin/config/", data, status=302)
    assert "The configuration was saved." in flashes(response.follow())
    config = config_row(dbsession)
    assert (config.mail_server, config.mail_port, config.mail_max_emails) == (
        "mail.example.org",
        465,
        25,
    )
    assert config.mail_use_ssl is True and config.mail_use_tls is False
    assert config.mail_debug and config.mail_suppress_send and config.mail_ascii_attachments
    assert config.application_title == "Help Desk"
    assert config.posts_per_page == 10
    assert config.allowed_extensions == "txt, pdf"
    assert config.ticket_upload_folder == "uploads"
    assert config.base_url == "https://desk.example.org/flicket"
    assert config.use_auth_domain is True and config.auth_domain == "CORP"
    assert config.csv_dump_limit == 500
    assert config.change_category and config.change_category_only_admin_or_super_user
    # The very next page uses the new title.
    assert " · Help Desk</title>" in admin.get("/").text
    # Unticked boxes are saved as off (never NULL), and an empty domain stays empty.
    post(admin, "/flicket_admin/config/", config_data(), status=302)
    config = config_row(dbsession)
    assert config.change_category is False and config.use_auth_domain is False
    assert config.mail_debug is False and config.mail_suppress_send is False
    assert config.auth_domain == ""


def test_config_form_shows_the_stored_values(admin, dbsession):
    post(admin, "/flicket_admin/config/", config_data(application_title="Desk"), status=302)
    form = main_form(admin.get("/flicket_admin/config/"))
    assert form["application_title"].value == "Desk"
    assert form["mail_port"].value == "587"
    assert form["mail_use_tls"].checked is True
    assert form["change_category"].checked is False


CONFIG_CASES = [
    ("mail_port", "0", False),
    ("mail_port", "1", True),
    ("mail_port", "65535", True),
    ("mail_port", "65536", False),
    ("mail_port", "-25", False),
    ("mail_port", "abc", False),
    ("mail_port", "", False),
    ("application_title", "ab", False),
    ("application_title", "abc", True),
    ("application_title", "x" * 32, True),
    ("application_title", "x" * 33, False),
    ("application_title", "   ", False),
    ("posts_per_page", "9", False),
    ("posts_per_page", "10", True),
    ("posts_per_page", "200", True),
    ("posts_per_page", "201", False),
    ("posts_per_page", "ten", False),
    ("allowed_extensions", "", False),
    ("allowed_extensions", "txt pdf", False),
    ("allowed_extensions", "txt, .pdf", False),
    ("allowed_extensions", "txt, ../x", False),
    ("allowed_extensions", ",", False),
    ("allowed_extensions", "txt, pdf,", True),
    ("ticket_upload_folder", "", False),
    ("base_url", "", True),
    ("base_url", "https://tickets.example.com", True),
    ("base_url", "http://localhost:6543/", True),
    ("base_url", "https://" + "a" * 116 + ".com", True),  # 128 characters
    ("base_url", "https://" + "a" * 117 + ".com", False),  # 129 characters
    ("base_url", "tickets.example.com", False),
    ("base_url", "ftp://tickets.example.com", False),
    ("base_url", "javascript:alert(1)", False),
    ("base_url", "http://", False),
    ("base_url", "https://exa mple.com", False),
    ("base_url", "https://example.com:99999", False),
    ("csv_dump_limit", "0", False),
    ("csv_dump_limit", "1", True),
    ("csv_dump_limit", "-1", False),
    ("csv_dump_limit", "many", False),
    ("csv_dump_limit", "", False),
    ("csv_dump_limit", str(2**31), False),
    ("mail_max_emails", "", True),
    ("mail_max_emails", "0", False),
    ("mail_default_sender", "", True),
    ("mail_default_sender", "not an address", False),
    ("mail_default_sender", "Desk <desk@example.com>", True),
    ("mail_server", "x" * 129, False),
    ("mail_server", "smtp.example.com\r\nX: y", False),
    ("auth_domain", "x" * 65, False),
]


@pytest.mark.parametrize("field,value,valid", CONFIG_CASES)
def test_config_field_validation(admin, dbsession, field, value, valid):
    before = config_row(dbsession).application_title
    data = config_data(**{field: value, "application_title": "Valid Title"})
    if field == "application_title":
        data["application_title"] = value
    response = post(admin, "/flicket_admin/config/", data)
    config = config_row(dbsession)
    if valid:
        assert response.status_int == 302, field_errors(response)
        assert config.application_title == data["application_title"].strip()
    else:
        assert response.status_int == 400
        assert field_errors(response), "the page says what is wrong"
        assert config.application_title == before  # nothing saved


def test_tls_and_ssl_together_are_refused(admin, dbsession):
    response = post(
        admin, "/flicket_admin/config/", config_data(mail_use_ssl="y", mail_use_tls="y"), 400
    )
    assert any("not both" in e for e in field_errors(response))


# -- the mail password ---------------------------------------------------------------------------


def test_mail_password_is_encrypted_and_never_shown(admin, dbsession, registry):
    secret = "smtp-Pa55word-zebra"
    post(admin, "/flicket_admin/config/", config_data(mail_password=secret), status=302)
    stored = config_row(dbsession).mail_password
    assert stored.startswith(MAIL_PASSWORD_PREFIX)
    assert secret not in stored
    assert decrypt_mail_password(registry.settings, stored) == secret
    page = admin.get("/flicket_admin/config/")
    assert secret not in page.text
    assert stored not in page.text and stored[len(MAIL_PASSWORD_PREFIX) :] not in page.text
    assert main_form(page)["mail_password"].value == ""
    assert "A password is stored" in page.text
    # Saved again with the field empty: the stored password stays as it was.
    post(admin, "/flicket_admin/config/", config_data(application_title="Desk"), status=302)
    assert config_row(dbsession).mail_password == stored
    # A failed save shows the form again without the typed password either.
    response = post(
        admin, "/flicket_admin/config/", config_data(mail_password=secret, posts_per_page="1")
    )
    assert response.status_int == 400 and secret not in response.text
    # "Remove" clears it.
    post(admin, "/flicket_admin/config/", config_data(mail_password_clear="y"), status=302)
    assert config_row(dbsession).mail_password is None
    assert "No password is stored" in admin.get("/flicket_admin/config/").text


def test_mail_password_length_limit(admin, dbsession, registry):
    longest = "p" * 127
    post(admin, "/flicket_admin/config/", config_data(mail_password=longest), status=302)
    stored = config_row(dbsession).mail_password
    assert len(stored) <= 256
    assert decrypt_mail_password(registry.settings, stored) == longest
    response = post(admin, "/flicket_admin/config/", config_data(mail_password="p" * 128))
    assert response.status_int == 400
    assert any("too long" in e for e in field_errors(response))
    assert config_row(dbsession).mail_password == stored


def test_new_and_clear_together_are_refused(admin, dbsession):
    post(admin, "/flicket_admin/config/", config_data(mail_password="first secret"), 302)
    stored = config_row(dbsession).mail_password
    response = post(
        admin,
        "/flicket_admin/config/",
        config_data(mail_password="second secret", mail_password_clear="y"),
        status=400,
    )
    assert field_errors(response)
    assert config_row(dbsession).mail_password == stored


# -- test email -----------------------------------------------------------------------------------


@pytest.fixture
def sending(dbsession):
    config = config_row(dbsession)
    config.mail_suppress_send = False
    dbsession.flush()
    return config


def test_test_email_is_sent_at_once(admin, sending, outbox):
    page = admin.get("/flicket_admin/test_email/")
    assert main_form(page)["email_address"].value == "admin@example.com"
    response = post(admin, "/flicket_admin/test_email/", {"email_address": "ops@example.com"})
    assert len(outbox) == 1
    message = outbox[0]
    assert message.subject == "Flicket Test Email"
    assert message.recipients == ["ops@example.com"]
    assert "test message" in message.body
    text = flashes(followed(response))
    assert "A test email was sent to ops@example.com." in text
    assert "check the mail settings" in text


@pytest.mark.parametrize(
    "address", ["", "not-an-address", "a@b@example.com", "x" * 250 + "@e.com"]
)
def test_test_email_needs_a_valid_address(admin, sending, outbox, address):
    response = post(admin, "/flicket_admin/test_email/", {"email_address": address}, status=400)
    assert field_errors(response)
    assert outbox == []


def test_test_email_reports_suppressed_sending(admin, dbsession, outbox):
    config = config_row(dbsession)
    config.mail_suppress_send = True
    dbsession.flush()
    response = post(admin, "/flicket_admin/test_email/", {"email_address": "ops@example.com"})
    assert "Suppress sending" in flashes(followed(response))
    assert outbox == []


def test_test_email_reports_an_unreachable_smtp_server(
    admin, sending, dbsession, registry, monkeypatch, outbox
):
    monkeypatch.setitem(registry.settings, "flicket.mail.mode", "smtp")
    sending.mail_server = "127.0.0.1"
    sending.mail_port = 1
    sending.mail_use_ssl = False
    sending.mail_use_tls = False
    dbsession.flush()
    response = post(admin, "/flicket_admin/test_email/", {"email_address": "ops@example.com"})
    page = followed(response)
    assert page.status_int == 200
    assert "Could not connect to 127.0.0.1:1:" in flashes(page)
    assert page.html.select_one("main .alert-danger")
    assert outbox == []


def test_test_email_reports_smtp_refusals_in_words(
    admin, sending, dbsession, registry, monkeypatch
):
    """An SMTP server that refuses the login: the admin reads why, no 500."""
    monkeypatch.setitem(registry.settings, "flicket.mail.mode", "smtp")
    sending.mail_server = "smtp.example.com"
    sending.mail_port = 587
    dbsession.flush()

    def refuse(self, message, fail_silently=False):
        raise smtplib.SMTPAuthenticationError(535, b"5.7.8 Authentication credentials invalid")

    monkeypatch.setattr("pyramid_mailer.mailer.Mailer.send_immediately", refuse)
    response = post(admin, "/flicket_admin/test_email/", {"email_address": "ops@example.com"})
    text = flashes(followed(response))
    assert "smtp.example.com:587 refused the user name or password" in text
    assert "535" in text


# -- users: list ---------------------------------------------------------------------------------


def test_user_list_sorted_paginated_with_roles(admin, users, dbsession):
    for n in range(8):
        make_user(dbsession, f"zz{n:02d}user")
    config = config_row(dbsession)
    config.posts_per_page = 10
    dbsession.flush()
    first = admin.get("/flicket_admin/users/")
    names = [a.get_text(strip=True) for a in first.html.select("tbody tr td:first-child a")]
    assert len(names) == 10
    assert names == sorted(names, key=str.lower)
    second = admin.get("/flicket_admin/users/2")
    more = [a.get_text(strip=True) for a in second.html.select("tbody tr td:first-child a")]
    assert len(more) == 4
    assert set(names).isdisjoint(more)
    assert names[-1].lower() < more[0].lower()
    assert first.html.find("a", href="/flicket_admin/users/2")
    # Role by colour and in words.
    admin_row = first.html.select_one(f"#user-{users['admin'].id}")
    assert "role-admin" in admin_row.select_one("td a")["class"]
    assert "Admin" in admin_row.get_text()
    super_row = first.html.select_one(f"#user-{users['super'].id}")
    assert "role-super-user" in super_row.select_one("td a")["class"]
    assert "Super user" in super_row.get_text()
    dave_row = first.html.select_one(f"#user-{users['dave'].id}")
    assert "Disabled" in dave_row.get_text()
    assert admin.get("/flicket_admin/users/?page=2").html.select("tbody tr")


# -- users: add -----------------------------------------------------------------------------------


def add_user(client, status="*", **overrides):
    return post(client, "/flicket_admin/add_user/", user_data(**overrides), status=status)


def test_add_user(admin, users, dbsession, helpdesk, make_client):
    response = add_user(
        admin,
        groups=[helpdesk.id, group_id(dbsession, "super_user")],
        locale="fr",
        job_title="Night shift",
    )
    assert "The user newbie was added." in flashes(followed(response))
    user = user_named(dbsession, "newbie")
    assert (user.name, user.email, user.job_title, user.locale) == (
        "New Person",
        "newbie@example.com",
        "Night shift",
        "fr",
    )
    assert user.group_names == {"Helpdesk", "super_user"}
    assert user.disabled is False
    client = make_client(remote_addr="198.51.100.50")
    login(client, "newbie", NEW_PASSWORD)
    client.get("/", status=200)


def test_add_user_disabled(admin, dbsession, make_client):
    add_user(admin, disabled="y", status=302)
    assert user_named(dbsession, "newbie").disabled is True
    client = make_client(remote_addr="198.51.100.51")
    login(client, "newbie", NEW_PASSWORD, status=200)  # refused


USER_CASES = [
    ("username", "abc", False),
    ("username", "abcd", True),
    ("username", "u" * 24, True),
    ("username", "u" * 25, False),
    ("username", "", False),
    ("username", "new@bie", False),
    ("username", "carol@example.com", False),  # another user's email
    ("username", "ALICE", False),  # case-insensitive duplicate
    ("username", "ａｌｉｃｅ", False),  # full-width alice
    ("username", "ali\u202ece", False),  # right-to-left override
    ("name", "abc", False),
    ("name", "abcd", True),
    ("name", "n" * 60, True),
    ("name", "n" * 61, False),
    ("name", "", False),
    ("email", "", False),
    ("email", "not-an-email", False),
    ("email", "a@b", False),
    ("email", "ALICE@EXAMPLE.COM", False),  # case-insensitive duplicate
    ("email", "e" * 48 + "@example.com", True),  # 60 characters
    ("email", "e" * 49 + "@example.com", False),  # 61 characters
    ("job_title", "", True),
    ("job_title", "j" * 64, True),
    ("job_title", "j" * 65, False),
    ("locale", "fr", True),
    ("locale", "de", False),
    ("password", "short pw", False),
    ("password", "password123456", False),  # common
    ("password", "flicketflicket", False),  # context word
    ("password", "newbie2024!!", False),  # made of the username
    ("password", "all lowercase passphrase", True),  # no composition rules
    ("password", "", False),
]


@pytest.mark.parametrize("field,value,valid", USER_CASES)
def test_add_user_validation(admin, users, dbsession, field, value, valid):
    overrides = {field: value}
    if field == "password":
        overrides["confirm"] = value
    response = add_user(admin, **overrides)
    username = value if field == "username" and valid else "newbie"
    if valid:
        assert response.status_int == 302, field_errors(response)
        assert user_named(dbsession, username) is not None
    else:
        assert response.status_int == 400
        assert field_errors(response)
        count = dbsession.scalar(sa.select(sa.func.count()).select_from(User))
        assert count == len(users)


def test_add_user_password_confirmation_must_match(admin, users, dbsession):
    response = add_user(admin, confirm="something else entirely", status=400)
    assert "The two passwords differ." in field_errors(response)
    assert user_named(dbsession, "newbie") is None


def test_add_user_lists_every_problem_at_once(admin, users):
    response = add_user(
        admin,
        username="ab",
        name="x",
        email="bad-address",
        password="short",
        confirm="short",
        status=400,
    )
    errors = " ".join(field_errors(response))
    for text in (
        "username must be 4 to 24",
        "name must be 4 to 60",
        "not a valid email",
        "at least 12",
    ):
        assert text in errors


# -- users: edit ----------------------------------------------------------------------------------


def edit_user(client, user, status="*", **overrides):
    url = f"/flicket_admin/edit_user/?id={user.id}"
    return post(client, url, edit_data(user, **overrides), status=status)


def test_edit_user_saves_every_field(admin, users, dbsession, helpdesk):
    bob = users["bob"]
    response = edit_user(
        admin,
        bob,
        username="robert",
        name="Robert Example",
        email="robert@example.com",
        job_title="Engineer",
        locale="fr",
        groups=[helpdesk.id],
    )
    page = followed(response)
    assert urlsplit(response.location).query == f"id={bob.id}"
    assert "Saved the" in flashes(page)
    bob = user_named(dbsession, "robert")
    assert (bob.name, bob.email, bob.job_title, bob.locale) == (
        "Robert Example",
        "robert@example.com",
        "Engineer",
        "fr",
    )
    assert bob.group_names == {"Helpdesk"}
    # The form shows what was saved, groups and language included.
    form = main_form(page)
    assert form["locale"].value == "fr"
    assert page.html.find("input", attrs={"name": "groups", "value": str(helpdesk.id)}).has_attr(
        "checked"
    )
    # Groups can be emptied again.
    edit_user(admin, bob, groups=None)
    assert user_named(dbsession, "robert").group_names == set()


def test_edit_user_keeps_the_password_when_empty(admin, users, dbsession):
    before = user_named(dbsession, "bob").password
    edit_user(admin, users["bob"], password="", confirm="")
    assert user_named(dbsession, "bob").password == before


@pytest.mark.parametrize(
    "field,value",
    [
        ("username", "ALICE"),
        ("username", "abc"),
        ("username", "b@b"),
        ("name", "abc"),
        ("email", "ALICE@example.com"),
        ("email", "nope"),
        ("job_title", "j" * 65),
        ("locale", "xx"),
        ("password", "short"),
    ],
)
def test_edit_user_validation(admin, users, dbsession, field, value):
    bob = users["bob"]
    before = (bob.username, bob.name, bob.email, bob.job_title, bob.locale, bob.password)
    overrides = {field: value, "name": "Bobby Example"}
    if field == "name":
        overrides["name"] = value
    if field == "password":
        overrides["confirm"] = value
    response = edit_user(admin, bob, **overrides, status=400)
    assert field_errors(response)
    bob = user_named(dbsession, "bob")
    assert (bob.username, bob.name, bob.email, bob.job_title, bob.locale, bob.password) == before


def test_edit_user_keeps_own_username_and_email(admin, users, dbsession):
    bob = users["bob"]
    response = edit_user(admin, bob, status=302)
    assert "Nothing was changed." in flashes(response.follow())
    # Its own username and address in other letter case are not "already used".
    edit_user(admin, users["carol"], email="Carol@Example.com", username="CAROL", status=302)
    assert user_named(dbsession, "CAROL").email == "Carol@Example.com"
    # An old username shorter than today's rules does not block other changes...
    edit_user(admin, user_named(dbsession, "bob"), job_title="Plumber", status=302)
    assert user_named(dbsession, "bob").job_title == "Plumber"
    # ... but a new one must follow them.
    edit_user(admin, user_named(dbsession, "bob"), username="BOB", status=400)


def test_disabling_a_user_ends_their_sessions_and_tokens(
    admin, users, dbsession, make_client, outbox
):
    alice = make_client(remote_addr="198.51.100.60")
    login(alice, "alice")
    token = issue_api_token(alice, "alice")
    alice.get("/", status=200)
    response = edit_user(admin, users["alice"], disabled="y")
    assert "All sessions and API tokens of alice have ended." in flashes(followed(response))
    assert user_named(dbsession, "alice").disabled is True
    assert_login_page(alice.get("/"))
    alice.delete("/flicket-api/tokens", headers=bearer(token), status=401)
    revoked = dbsession.scalars(sa.select(ApiToken).where(ApiToken.user_id == users["alice"].id))
    assert all(t.revoked is not None for t in revoked)
    login(alice, "alice", status=200)  # a disabled user cannot log in
    # Enabled again, the old session stays dead; a new login works.
    copied = make_client(remote_addr="198.51.100.61")
    edit_user(admin, user_named(dbsession, "alice"), disabled=None)
    assert user_named(dbsession, "alice").disabled is False
    assert_login_page(alice.get("/"))
    login(copied, "alice")
    copied.get("/", status=200)


def test_admin_password_change_ends_the_users_sessions(
    admin, users, dbsession, make_client, outbox
):
    alice = make_client(remote_addr="198.51.100.62")
    login(alice, "alice")
    response = edit_user(admin, users["alice"], password=NEW_PASSWORD, confirm=NEW_PASSWORD)
    assert response.status_int == 302
    assert_login_page(alice.get("/"))
    login(alice, "alice", PASSWORD, status=200)  # the old password no longer works
    login(alice, "alice", NEW_PASSWORD)
    alice.get("/", status=200)
    # The owner hears of it at their address.
    assert [m.recipients for m in outbox] == [["alice@example.com"]]
    assert "password" in outbox[0].body
    admin.get("/flicket_admin/", status=200)  # the admin's own session is untouched


def test_admin_changing_own_password_stays_logged_in(admin, users, dbsession, make_client):
    other = make_client(remote_addr="198.51.100.63")
    login(other, "admin")
    edit_user(admin, users["admin"], password=NEW_PASSWORD, confirm=NEW_PASSWORD, status=302)
    admin.get("/flicket_admin/", status=200)
    assert_login_page(other.get("/"))


def test_admin_changing_an_email_notifies_the_old_address(admin, users, dbsession, outbox):
    edit_user(admin, users["bob"], email="bobby@example.com", status=302)
    assert user_named(dbsession, "bob").email == "bobby@example.com"
    assert [m.recipients for m in outbox] == [["bob@example.com"]]
    assert "email address" in outbox[0].body


def test_nobody_disables_themselves(admin, users, dbsession):
    make_user(dbsession, "admin2", groups=["flicket_admin"])
    response = edit_user(admin, users["admin"], disabled="y", status=400)
    assert any("your own account" in e for e in field_errors(response))
    assert user_named(dbsession, "admin").disabled is False


# -- the last administrator ---------------------------------------------------------------------


def test_last_admin_cannot_be_disabled_or_leave_the_group(admin, users, dbsession):
    admin_user = users["admin"]
    response = edit_user(admin, admin_user, groups=[], status=400)
    assert any("last administrator" in e for e in field_errors(response))
    assert user_named(dbsession, "admin").is_admin
    # A disabled second admin does not count.
    make_user(dbsession, "admin2", groups=["flicket_admin"], disabled=True)
    edit_user(admin, admin_user, groups=[], status=400)
    assert user_named(dbsession, "admin").is_admin
    page = admin.get(f"/flicket_admin/edit_user/?id={admin_user.id}")
    assert "last enabled administrator" in page.text


def test_last_admin_rules_with_a_second_admin(admin, users, dbsession, make_client):
    admin2 = make_user(dbsession, "admin2", groups=["flicket_admin"])
    # With two enabled admins, one may leave the group...
    edit_user(admin, admin2, groups=[], status=302)
    assert not user_named(dbsession, "admin2").is_admin
    edit_user(
        admin,
        user_named(dbsession, "admin2"),
        groups=[group_id(dbsession, "flicket_admin")],
        status=302,
    )
    # ... or be disabled by the other, who is then the last one.
    other = make_client(remote_addr="198.51.100.64")
    login(other, "admin2")
    edit_user(other, users["admin"], disabled="y", status=302)
    assert user_named(dbsession, "admin").disabled is True
    response = edit_user(other, user_named(dbsession, "admin2"), groups=[], status=400)
    assert any("last administrator" in e for e in field_errors(response))


def test_last_admin_cannot_be_deleted(dbsession, users, registry):
    service = UserService(dbsession, AccountService(dbsession, registry.settings))
    problem = service.delete_problem(users["admin"], actor=None)
    assert "last administrator" in problem.message
    make_user(dbsession, "admin2", groups=["flicket_admin"])
    assert service.delete_problem(users["admin"], actor=None) is None


def test_set_groups_refuses_to_drop_the_last_admin(dbsession, users, registry):
    from flicket.accounts.users import UserValidationError

    service = UserService(dbsession, AccountService(dbsession, registry.settings))
    with pytest.raises(UserValidationError) as caught:
        service.set_groups(users["admin"], [])
    assert "groups" in caught.value.errors
    assert service.set_groups(users["alice"], [group_named(dbsession, "super_user")]) is True
    assert users["alice"].is_super_user


# -- users: delete -------------------------------------------------------------------------------


def test_delete_user(admin, users, dbsession):
    carol = users["carol"]
    carol_id = carol.id
    page = admin.get(f"/flicket_admin/delete_user/?id={carol_id}")
    assert "carol" in page.text and page.html.find("input", attrs={"name": "password"})
    response = post(admin, f"/flicket_admin/delete_user/?id={carol_id}", {"password": PASSWORD})
    assert "The user carol was deleted." in flashes(followed(response))
    assert user_named(dbsession, "carol") is None
    assert not dbsession.execute(
        sa.select(user_groups).where(user_groups.c.user_id == carol_id)
    ).all()


def test_delete_user_needs_the_admins_password(admin, users, dbsession):
    carol_id = users["carol"].id
    for password in ("", "wrong password", PASSWORD + " "):
        response = post(
            admin,
            f"/flicket_admin/delete_user/?id={carol_id}",
            {"password": password},
            status=400,
        )
        assert field_errors(response)
    assert user_named(dbsession, "carol") is not None


def test_nobody_deletes_themselves(admin, users, dbsession):
    make_user(dbsession, "admin2", groups=["flicket_admin"])
    url = f"/flicket_admin/delete_user/?id={users['admin'].id}"
    assert "You cannot delete your own account." in admin.get(url).text
    response = post(admin, url, {"password": PASSWORD}, status=409)
    assert "You cannot delete your own account." in response.text
    assert user_named(dbsession, "admin") is not None


def _ticket_reference(kind, dbsession, users):
    alice, bob = users["alice"], users["bob"]
    if kind == "created":
        f.make_ticket(dbsession, alice, subscribe=False)
    elif kind == "assigned":
        f.make_ticket(dbsession, bob, assigned=alice, subscribe=False)
    elif kind == "reply":
        f.make_post(dbsession, f.make_ticket(dbsession, bob, subscribe=False), alice)
    elif kind == "subscription":
        ticket = f.make_ticket(dbsession, bob, subscribe=False)
        dbsession.add(Subscription(ticket_id=ticket.id, user_id=alice.id))
    elif kind == "action":
        ticket = f.make_ticket(dbsession, bob, subscribe=False)
        dbsession.add(
            Action(ticket_id=ticket.id, action="assign", user_id=bob.id, recipient_id=alice.id)
        )
    dbsession.flush()


@pytest.mark.parametrize("kind", ["created", "assigned", "reply", "subscription", "action"])
def test_a_user_with_ticket_data_is_not_deleted(admin, users, dbsession, kind):
    _ticket_reference(kind, dbsession, users)
    alice_id = users["alice"].id
    url = f"/flicket_admin/delete_user/?id={alice_id}"
    page = admin.get(url)
    assert "cannot be deleted" in page.text
    disable = page.html.select_one("#disable-instead")
    assert disable["href"] == f"/flicket_admin/edit_user/?id={alice_id}"
    assert not page.html.find("input", attrs={"name": "password"})
    response = post(admin, url, {"password": PASSWORD}, status=409)
    assert "Disable the account instead" in response.text
    assert dbsession.get(User, alice_id) is not None


# -- groups ---------------------------------------------------------------------------------------


def test_groups_list_add_rename_delete(admin, users, dbsession, make_client):
    page = admin.get("/flicket_admin/groups/")
    text = page.text
    assert "flicket_admin" in text and "super_user" in text
    response = post(admin, "/flicket_admin/groups/", {"group_name": "Facilities"})
    assert "The group Facilities was added." in flashes(followed(response))
    gid = group_id(dbsession, "Facilities")
    alice = users["alice"]
    dbsession.execute(sa.insert(user_groups).values(user_id=alice.id, group_id=gid))
    dbsession.flush()
    response = post(admin, f"/flicket_admin/edit_group/?id={gid}", {"group_name": "Estates"})
    assert "renamed to Estates" in flashes(followed(response))
    assert group_id(dbsession, "Estates") == gid
    delete_url = f"/flicket_admin/delete_group/?id={gid}"
    assert "1 member" in admin.get(delete_url).text
    post(admin, delete_url, {"password": "not mine"}, status=400)
    assert group_named(dbsession, "Estates") is not None
    response = post(admin, delete_url, {"password": PASSWORD})
    assert "The group Estates was deleted." in flashes(followed(response))
    assert group_named(dbsession, "Estates") is None
    assert not dbsession.execute(sa.select(user_groups).where(user_groups.c.group_id == gid)).all()
    assert user_named(dbsession, "alice") is not None


GROUP_CASES = [
    ("ab", False),
    ("abc", True),
    ("g" * 64, True),
    ("g" * 65, False),
    ("", False),
    ("HELPDESK", False),
    ("Flicket_Admin", False),
    ("   ", False),
]


@pytest.mark.parametrize("name,valid", GROUP_CASES)
def test_group_name_validation(admin, dbsession, helpdesk, name, valid):
    before = dbsession.scalar(sa.select(sa.func.count()).select_from(Group))
    response = post(admin, "/flicket_admin/groups/", {"group_name": name})
    after = dbsession.scalar(sa.select(sa.func.count()).select_from(Group))
    if valid:
        assert response.status_int == 302
        assert after == before + 1
    else:
        assert response.status_int == 400 and field_errors(response)
        assert after == before


def test_rename_group_validation(admin, dbsession, helpdesk):
    url = f"/flicket_admin/edit_group/?id={helpdesk.id}"
    assert main_form(admin.get(url))["group_name"].value == "Helpdesk"
    for bad in ("ab", "super_user", "SUPER_USER", "g" * 65):
        post(admin, url, {"group_name": bad}, status=400)
    assert group_named(dbsession, "Helpdesk") is not None
    post(admin, url, {"group_name": "helpdesk"}, status=302)  # a change of case is fine
    assert group_named(dbsession, "helpdesk") is not None


@pytest.mark.parametrize("name", ["flicket_admin", "super_user"])
def test_builtin_groups_cannot_be_renamed_or_deleted(admin, dbsession, name):
    group = group_named(dbsession, name)
    members = dbsession.execute(
        sa.select(user_groups).where(user_groups.c.group_id == group.id)
    ).all()
    edit = f"/flicket_admin/edit_group/?id={group.id}"
    delete = f"/flicket_admin/delete_group/?id={group.id}"
    assert "keeps its name" in admin.get(edit).text
    assert "cannot be deleted" in admin.get(delete).text
    post(admin, edit, {"group_name": "renamed group"}, status=409)
    post(admin, delete, {"password": PASSWORD}, status=409)
    assert group_named(dbsession, name) is not None
    assert group_named(dbsession, "renamed group") is None
    assert (
        dbsession.execute(sa.select(user_groups).where(user_groups.c.group_id == group.id)).all()
        == members
    )
    listing = admin.get("/flicket_admin/groups/").html.select_one(f"#group-{group.id}")
    assert not listing.find("a")


# -- escaping -------------------------------------------------------------------------------------


def assert_no_markup_from(response, payloads=XSS):
    """No element or attribute came from user data: it is all text."""
    assert response.status_int == 200
    html = response.html
    assert not [s for s in html.find_all("script") if "alert" in (s.string or "")]
    assert not html.find(attrs={"onerror": True})
    assert not html.find(attrs={"onload": True})
    assert not html.find("img", src="x")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text


def test_user_and_group_names_are_escaped_on_every_admin_page(admin, users, dbsession):
    victim = make_user(dbsession, '"><svg onload=alert(1)>')
    victim.name = XSS[0]
    victim.job_title = XSS[1]
    group = Group(group_name=XSS[0])
    dbsession.add(group)
    dbsession.flush()
    dbsession.execute(sa.insert(user_groups).values(user_id=victim.id, group_id=group.id))
    dbsession.flush()
    for url in (
        "/flicket_admin/users/",
        f"/flicket_admin/edit_user/?id={victim.id}",
        f"/flicket_admin/delete_user/?id={victim.id}",
        "/flicket_admin/groups/",
        f"/flicket_admin/edit_group/?id={group.id}",
        f"/flicket_admin/delete_group/?id={group.id}",
    ):
        assert_no_markup_from(admin.get(url))
    # Flash messages carry the names too.
    response = post(
        admin, f"/flicket_admin/edit_group/?id={group.id}", {"group_name": XSS[1]}, status=302
    )
    page = response.follow()
    assert not page.html.find(attrs={"onerror": True})
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text


def test_markup_submitted_through_the_forms_is_stored_as_text(admin, users, dbsession):
    add_user(admin, name=XSS[0], job_title=XSS[1], status=302)
    user = user_named(dbsession, "newbie")
    assert (user.name, user.job_title) == XSS
    assert_no_markup_from(admin.get("/flicket_admin/users/"))


# -- the service on its own (as the API and the import command use it) -------------------------


@pytest.fixture
def service(dbsession, registry):
    return UserService(dbsession, AccountService(dbsession, registry.settings))


def test_create_user_from_an_exported_hash(service, users, dbsession):
    from flicket.accounts.passwords import hash_password, verify_password
    from flicket.accounts.users import UserValidationError

    hashed = hash_password("an imported passphrase", 4)
    service.create_user(
        username="imported",
        name="Imported Person",
        email="imp@example.com",
        password_hash=hashed.decode("ascii"),
    )
    assert verify_password("an imported passphrase", user_named(dbsession, "imported").password)
    with pytest.raises(UserValidationError) as caught:
        service.create_user(
            username="imported2",
            name="Imported Person",
            email="imp2@example.com",
            password_hash="plain text",
        )
    assert "bcrypt" in caught.value.errors["password"][0]


def test_update_user_refuses_unknown_fields(service, users):
    with pytest.raises(TypeError):
        service.update_user(users["bob"], is_admin=True)


def test_delete_user_removes_memberships_and_tokens(service, users, dbsession, registry):
    alice = users["alice"]
    alice_id = alice.id
    service.set_groups(alice, [group_named(dbsession, "super_user")])
    AccountService(dbsession, registry.settings).issue_api_token(alice)
    service.delete_user(user_named(dbsession, "alice"), actor=users["admin"])
    dbsession.flush()
    assert user_named(dbsession, "alice") is None
    assert not dbsession.execute(
        sa.select(user_groups).where(user_groups.c.user_id == alice_id)
    ).all()
    assert not dbsession.scalars(sa.select(ApiToken).where(ApiToken.user_id == alice_id)).all()


def test_delete_refusal_suggests_disabling(service, users, dbsession):
    from flicket.accounts.users import UserRefused
    from flicket.i18n import english

    f.make_ticket(dbsession, users["alice"])
    with pytest.raises(UserRefused) as caught:
        service.delete_user(users["alice"], actor=users["admin"])
    assert caught.value.suggest_disable
    assert "tickets created" in english(caught.value.message)
    assert user_named(dbsession, "alice") is not None
