"""What people do with Flicket, in a real browser, found by role and label as a person
finds them: logging in and out, resetting a password from the mailed link, a ticket's whole
life (create with preview and attachments, search, filter, reply, status, claim, release,
assign, subscribe, CSV, edit with history, close) in English and in French, an admin at
the config and users pages, a super user managing departments.
"""

import csv
import email
import email.policy
import io
import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.support import (
    ADMIN_PASSWORD,
    BROWSER_LOCALES,
    ENGLISH,
    PASSWORD,
    PEOPLE,
    Words,
    log_in,
    screenshot,
)


def flash(page):
    return page.locator(".flash")


def open_user_menu(page, name, words=ENGLISH):
    page.get_by_role("navigation", name=words("Main")).get_by_role("button", name=name).click()


# -- logging in and out ---------------------------------------------------------------------


def test_log_in_and_out(browsing):
    page = browsing.new_page()
    page.goto("/tickets/")
    expect(page).to_have_url(re.compile(r"/login"))
    page.get_by_label("Username or email").fill("bruno")
    page.get_by_label("Password", exact=True).fill("not the password at all")
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page.get_by_role("alert")).to_have_text("Invalid username, email or password.")

    page.get_by_label("Username or email").fill("BRUNO@example.com")  # email, any case
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()
    # Back where the login was asked for.
    expect(page).to_have_url(re.compile(r"/tickets/$"))
    expect(page.get_by_role("heading", name="Tickets", exact=True)).to_be_visible()

    open_user_menu(page, "Bruno Baker")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login"))


# -- a forgotten password -------------------------------------------------------------------


def _mailed_link(server, address):
    """The link of the newest message to ``address`` in the server's mail folder."""
    messages = []
    for path in server.mail_dir.iterdir():
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if address in str(message["To"]):
            messages.append((path.stat().st_mtime, message))
    assert messages, f"no mail to {address}"
    message = max(messages, key=lambda m: m[0])[1]
    text = message.get_body(preferencelist=("plain",)).get_content()
    return re.search(r"https?://\S+/password_reset/\S+", text).group(0)


def test_reset_the_password_from_the_mailed_link(browsing, live_server):
    page = browsing.new_page()
    page.goto("/login")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email address").fill("erin@example.com")
    page.get_by_role("button", name="Send the link").click()
    expect(flash(page)).to_contain_text("we have sent it a link")

    page.goto(_mailed_link(live_server, "erin@example.com"))
    new_password = "a brand new reception passphrase"
    page.get_by_label("New password", exact=True).fill(new_password)
    page.get_by_label("Repeat the new password").fill(new_password)
    page.get_by_role("button", name="Save the new password").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()

    log_in(page, "erin", PASSWORD)
    expect(page.get_by_role("alert")).to_have_text("Invalid username, email or password.")
    log_in(page, "erin", new_password)
    expect(page.get_by_role("heading", name="Welcome, Erin Evans")).to_be_visible()


# -- a ticket's whole life, in English and in French ----------------------------------------

#: language -> (creator, the colleague it is assigned to, someone subscribed).
TICKET_CAST = {"en": ("agnes", "bruno", "sam"), "fr": ("camille", "dora", "bruno")}


@pytest.mark.parametrize("language", ["en", "fr"])
def test_a_ticket_from_creation_to_closing(browsing, live_server, tmp_path, language):
    w = Words(language)
    creator, colleague, subscriber = TICKET_CAST[language]
    creator_name, colleague_name, subscriber_name = (
        PEOPLE.get(u, (u,))[0] for u in (creator, colleague, subscriber)
    )
    word = "zebra" + uuid.uuid4().hex[:8]  # a word only this ticket has
    title = f"Projector {word} flickers"
    page = browsing.new_page(locale=BROWSER_LOCALES[language])
    log_in(page, creator, words=w)
    nav = page.get_by_role("navigation", name=w("Main"))

    # Create, with the live Markdown preview and two attachments.
    nav.get_by_role("link", name=w("Create Ticket")).click()
    expect(page).to_have_title(re.compile(re.escape(w("Create Ticket"))))
    page.get_by_label(w("Title")).fill(title)
    content = page.get_by_label(w("Content"))
    content.fill(f"The projector in room 4 **flickers** every {word} minute.")
    preview = page.get_by_label(w("Preview"))
    expect(preview.locator("strong")).to_have_text("flickers")
    toggle = page.get_by_role("button", name=w("Show / Hide Markdown preview"))
    toggle.click()
    expect(preview).to_be_hidden()
    toggle.click()
    expect(preview).to_be_visible()
    page.get_by_label(w("Priority")).select_option(label=w("high"))
    page.get_by_label(w("Department")).select_option(label="IT")
    page.get_by_label(w("Category")).select_option(label="IT - Intranet")
    (tmp_path / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    (tmp_path / "notes.txt").write_text("seen at 9:15 and 9:40\n")
    page.get_by_label(w("Attachments")).set_input_files(
        [tmp_path / "photo.png", tmp_path / "notes.txt"]
    )
    page.get_by_role("button", name=w("Create ticket")).click()
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text(title)
    ticket_url = page.url
    attachments = page.get_by_role("list", name=w("Attachments"))
    expect(attachments.get_by_role("link")).to_have_count(2)
    expect(attachments).to_contain_text("photo.png")
    expect(attachments).to_contain_text("notes.txt")

    # Find it again: by a word, then with a department and a status too.
    nav.get_by_role("link", name=w("Tickets"), exact=True).click()
    search = page.get_by_role("search", name=w("Search tickets"))
    search.get_by_label(w("Text")).fill(word)
    search.get_by_role("button", name=w("Search")).click()
    expect(page.get_by_role("link", name=title)).to_be_visible()
    search = page.get_by_role("search", name=w("Search tickets"))
    search.get_by_label(w("Department")).select_option(label="IT")
    search.get_by_label(w("Status")).select_option(label=w("Open"))
    search.get_by_role("button", name=w("Search")).click()
    expect(page.get_by_role("link", name=title)).to_be_visible()
    search = page.get_by_role("search", name=w("Search tickets"))
    search.get_by_label(w("Status")).select_option(label=w("Closed"))
    search.get_by_role("button", name=w("Search")).click()
    expect(page.get_by_text(w("No tickets match."))).to_be_visible()
    page.get_by_role("link", name=w("Reset the search")).first.click()
    expect(
        page.get_by_role("search", name=w("Search tickets")).get_by_label(w("Status"))
    ).to_have_value("")

    # Reply, moving it to In Work and logging time.
    page.goto(ticket_url)
    page.get_by_label(w("Your reply")).fill(f"Replaced the HDMI cable ({word}).")
    page.get_by_label(w("Status")).select_option(label=w("In Work"))
    page.get_by_label(w("Hours")).fill("1.5")
    page.get_by_role("button", name=w("Reply"), exact=True).click()
    expect(flash(page)).to_contain_text(
        w("You replied to ticket ${number}: ${title}", number=_number(page), title=title)
    )
    expect(page.locator("article.post").last).to_contain_text(f"Replaced the HDMI cable ({word}).")
    glance = page.locator(".ticket-glance")
    expect(glance).to_contain_text(w("In Work"))
    expect(page.locator("dl.ticket-summary")).to_contain_text(
        "1.50" if language == "en" else "1,50"
    )

    # Claim it (one click), release it (confirmed in a dialog), assign it to a colleague.
    actions = page.get_by_role("group", name=w("Ticket actions"))
    actions.get_by_role("button", name=w("Claim")).click()
    expect(flash(page)).to_contain_text(w("You claimed ticket ${number}.", number=_number(page)))
    expect(glance).to_contain_text(creator_name)
    actions.get_by_role("link", name=w("Release")).click()
    dialog = page.get_by_role("dialog", name=w("Release ticket"))
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name=w("Release")).click()
    expect(glance).to_contain_text(w("Not assigned"))
    actions.get_by_role("link", name=w("Assign")).click()
    page.get_by_label(w("Username")).fill(colleague)
    page.get_by_role("button", name=w("Assign")).click()
    expect(glance).to_contain_text(colleague_name)
    expect(page.locator(".ticket-latest-change")).to_contain_text(colleague_name)

    # Subscribe someone.
    page.get_by_label(w("Username to subscribe")).fill(subscriber)
    page.get_by_role("button", name=w("Subscribe user")).click()
    expect(page.locator("ul.subscribers")).to_contain_text(subscriber_name)

    # Export the list as CSV.
    page.goto(f"/tickets/?content={word}")
    with page.expect_download() as download:
        page.get_by_role("link", name=w("Export CSV")).click()
    rows = list(csv.reader(io.StringIO(open(download.value.path(), encoding="utf-8-sig").read())))
    assert any(title in row for row in rows[1:]), rows

    # Edit the ticket; the old text stays in its history.
    page.goto(ticket_url)
    page.locator("#ticket").get_by_role("link", name=w("Edit")).click()
    page.get_by_label(w("Content")).fill(
        f"The projector in room 4 flickers, {word}, since Monday."
    )
    page.get_by_role("button", name=w("Save")).click()
    expect(page.locator("#ticket")).to_contain_text("since Monday")
    page.locator("#ticket").get_by_role("link", name=w("edit history")).click()
    expect(page.locator("main")).to_contain_text(f"every {word} minute")
    screenshot(page, f"journey-history-{language}")

    # Close it, confirmed in the dialog; it leaves the default list.
    page.goto(ticket_url)
    page.get_by_role("group", name=w("Ticket actions")).get_by_role(
        "link", name=w("Close")
    ).click()
    dialog = page.get_by_role("dialog", name=w("Close ticket"))
    expect(dialog.get_by_role("button", name=w("Cancel"))).to_be_focused()
    dialog.get_by_role("button", name=w("Close ticket")).click()
    expect(flash(page)).to_contain_text(
        w("Ticket ${number} closed.", number=_number_of(ticket_url))
    )
    page.goto(f"/tickets/?content={word}")
    expect(page.get_by_text(w("No tickets match."))).to_be_visible()
    page.goto(ticket_url)
    expect(page.locator(".ticket-glance")).to_contain_text(w("Closed"))
    screenshot(page, f"journey-closed-ticket-{language}")


def _number_of(url):
    return re.search(r"/ticket_view/(\d+)/", url).group(1).zfill(5)


def _number(page):
    return _number_of(page.url)


# -- an administrator -----------------------------------------------------------------------


def _set_title(page, title):
    page.goto("/flicket_admin/config/")
    page.get_by_label("Application title").fill(title)
    page.get_by_role("button", name="Save").click()
    expect(flash(page)).to_be_visible()


def test_admin_changes_the_config_and_adds_a_user(browsing):
    page = browsing.new_page()
    log_in(page, "admin", ADMIN_PASSWORD)
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Admin View").click()
    page.get_by_role("navigation", name="Admin").get_by_role("link", name="Flicket Config").click()
    try:
        _set_title(page, "Service Desk")
        expect(nav.get_by_role("link", name="Service Desk")).to_be_visible()
        expect(page).to_have_title(re.compile(r"· Service Desk$"))
        # A bad value is refused with its reason, and nothing is saved.
        page.get_by_label("Posts per page").fill("5")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_text("Posts per page must be a number from 10 to 200.")).to_be_visible()
        page.goto("/flicket_admin/config/")
        expect(page.get_by_label("Posts per page")).not_to_have_value("5")
    finally:
        _set_title(page, "Flicket")

    page.get_by_role("navigation", name="Admin").get_by_role("link", name="Add User").click()
    page.get_by_label("Username").fill("fiona")
    page.get_by_label("Name", exact=True).fill("Fiona Field")
    page.get_by_label("Email address").fill("fiona@example.com")
    page.get_by_label("Job title").fill("Night porter")
    page.get_by_label("Password", exact=True).fill("fiona's first passphrase")
    page.get_by_label("Repeat the password").fill("fiona's first passphrase")
    page.get_by_role("button", name="Add user").click()
    expect(flash(page)).to_contain_text("fiona")
    page.get_by_role("navigation", name="Admin").get_by_role("link", name="Users").click()
    expect(page.get_by_role("row", name=re.compile("fiona"))).to_be_visible()

    newcomer = browsing.new_page()
    log_in(newcomer, "fiona", "fiona's first passphrase")
    expect(newcomer.get_by_role("heading", name="Welcome, Fiona Field")).to_be_visible()


# -- a super user ---------------------------------------------------------------------------


def _department_row(page, name):
    return page.locator(".department-row", has=page.get_by_role("heading", name=name))


def _to_departments(page):
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Departments").click()


def test_super_user_manages_departments(browsing):
    page = browsing.new_page()
    log_in(page, "sam")
    _to_departments(page)
    page.get_by_label("Department name").fill("Warehouse")
    page.get_by_role("button", name="Add department").click()
    expect(_department_row(page, "Warehouse")).to_be_visible()

    _department_row(page, "Warehouse").get_by_role("link", name="Categories of Warehouse").click()
    page.get_by_label("Category name").fill("Forklifts")
    page.get_by_role("button", name="Add category").click()
    expect(page.locator(".category-list")).to_contain_text("Forklifts")

    _to_departments(page)
    _department_row(page, "Warehouse").get_by_role(
        "link", name="Rename department Warehouse"
    ).click()
    page.get_by_label("Department name").fill("Logistics hub")
    page.get_by_role("button", name="Save").click()
    department = _department_row(page, "Logistics hub")
    expect(department).to_contain_text("Forklifts")

    # A department with categories cannot go; deleting asks for one's own password.
    department.get_by_role("link", name="Delete department Logistics hub").click()
    expect(page.locator(".delete-problem")).to_be_visible()
    _to_departments(page)
    for link in ("Delete category Forklifts", "Delete department Logistics hub"):
        _department_row(page, "Logistics hub").get_by_role("link", name=link).click()
        page.get_by_label("Your password").fill(PASSWORD)
        page.get_by_role("button", name="Delete").click()
        expect(flash(page)).to_be_visible()
        _to_departments(page)
    expect(_department_row(page, "Logistics hub")).to_have_count(0)
