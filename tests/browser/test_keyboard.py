"""Keyboard use, visible focus, and meaning that never rests on colour alone."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.support import ADMIN_PASSWORD, PASSWORD, log_in

#: Pages whose focus order is walked with Tab (as admin: every control is there).
FOCUS_PAGES = [
    "/",
    "/tickets/",
    "/ticket_view/{open_ticket}/",
    "/ticket_create/",
    "/departments/",
    "/users/",
    "/user_details",
    "/flicket_admin/config/",
    "/flicket_admin/users/",
]
#: How many Tab presses per page (enough to reach the forms below the menu).
TABS = 45

FOCUS_STYLE = """() => {
    const e = document.activeElement;
    if (!e || e === document.body) return null;
    const s = getComputedStyle(e);
    const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0;
    const shadow = s.boxShadow && s.boxShadow !== 'none';
    return {what: e.outerHTML.slice(0, 100), visible: outline || shadow};
}"""


def test_a_ticket_handled_with_the_keyboard_only(browsing, ids):
    page = browsing.new_page()
    page.goto("/login")
    # The username field has the focus already; Tab moves to the password, Enter submits.
    page.keyboard.type("agnes")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Welcome, Agnes Agent")).to_be_visible()

    # The first Tab shows the skip link; it moves the focus past the menu.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()

    # The menu's dropdown opens and is walked with the keyboard.
    page.get_by_role("button", name="My Tickets").focus()
    page.keyboard.press("Enter")
    page.keyboard.press("ArrowDown")
    expect(page.get_by_role("link", name="My Tickets", exact=True)).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="My Tickets")).to_be_visible()

    # A reply typed and sent without the mouse.
    page.goto(f"/ticket_view/{ids['open_ticket']}/")
    page.get_by_label("Your reply").focus()
    page.keyboard.type("Typed without a mouse.")
    reply = page.get_by_role("button", name="Reply", exact=True)
    for _ in range(12):  # status, priority, hours, attachments, then the button
        page.keyboard.press("Tab")
        if reply.evaluate("e => e === document.activeElement"):
            break
    expect(reply).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("article.post").last).to_contain_text("Typed without a mouse.")


def test_the_confirmation_dialog_with_the_keyboard(browsing, live_server):
    page = browsing.new_page()
    log_in(page, "admin", ADMIN_PASSWORD)
    page.goto("/ticket_create/")
    page.get_by_label("Title").fill("Keyboard dialog check")
    page.get_by_label("Content").fill("A ticket to close with the keyboard.")
    page.get_by_role("button", name="Create ticket").click()
    close = page.get_by_role("group", name="Ticket actions").get_by_role("link", name="Close")

    # Escape cancels and gives the focus back to the button that opened the dialog.
    close.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Close ticket")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(close).to_be_focused()
    expect(page.locator(".ticket-glance")).to_contain_text("Open")

    # Tab moves inside the dialog; Enter on its button closes the ticket.
    page.keyboard.press("Enter")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Close ticket")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(".flash")).to_contain_text(re.compile(r"Ticket \d+ closed\."))


@pytest.mark.parametrize("path", FOCUS_PAGES)
def test_focus_is_always_visible(browsing, ids, path):
    page = browsing.new_page()
    log_in(page, "admin", ADMIN_PASSWORD)
    page.goto(path.format(**ids))
    seen, invisible = 0, []
    for _ in range(TABS):
        page.keyboard.press("Tab")
        focus = page.evaluate(FOCUS_STYLE)
        if focus is None:
            continue
        seen += 1
        if not focus["visible"]:
            invisible.append(focus["what"])
    assert seen >= 10, f"{path}: only {seen} elements took the focus"
    assert not invisible, f"{path}: focus not visible on {invisible}"


def test_colour_is_never_the_only_carrier(browsing, ids):
    """Priority and status badges carry words; names coloured by role carry a marked,
    spoken role; chart colours come with a legend of words and numbers."""
    page = browsing.new_page()
    log_in(page, "admin", ADMIN_PASSWORD)
    for path in ("/", "/tickets/", f"/ticket_view/{ids['open_ticket']}/"):
        page.goto(path)
        problems = page.evaluate(
            """() => {
                const out = [];
                document.querySelectorAll('.priority-badge, .status-badge').forEach(b => {
                    if (!b.textContent.trim()) out.push('empty badge ' + b.outerHTML);
                });
                document.querySelectorAll('.user-name.role-admin, .user-name.role-super-user')
                    .forEach(n => {
                        const said = n.querySelector('.visually-hidden');
                        if (!n.querySelector('.role-mark') || !said || !said.textContent.trim())
                            out.push('role by colour only ' + n.outerHTML);
                    });
                document.querySelectorAll('.chart-swatch').forEach(s => {
                    const row = s.closest('tr');
                    if (!row || !/\\d/.test(row.textContent) || !row.textContent.trim())
                        out.push('swatch without words ' + s.outerHTML);
                });
                return out;
            }"""
        )
        assert not problems, f"{path}: {problems}"
        assert page.locator(".priority-badge").count(), f"{path} shows no priority"
