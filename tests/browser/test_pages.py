"""Every main page, as a person sees it: axe-core finds no serious or critical violation,
every form field has a label, the title says where you are, nothing is wider than a 375 px
phone; and a screenshot of each, desktop and phone, English and French.

The axe results of every page (all impacts) are written to ``axe-report.json`` beside the
screenshots, for the record.
"""

import json
from dataclasses import dataclass

import pytest

from tests.browser.support import (
    ADMIN_PASSWORD,
    BROWSER_LOCALES,
    DESKTOP,
    PHONE,
    SCREENSHOTS,
    Words,
    log_in,
    screenshot,
)

#: axe impacts that fail a page.
BLOCKING = ("serious", "critical")


@dataclass(frozen=True)
class MainPage:
    name: str
    path: str  # formatted with the ids fixture
    who: str  # "anonymous", "admin", or a username (locale from PEOPLE)
    #: Heading or text the page must show, by its English message.
    heading: str


MAIN_PAGES = [
    MainPage("login", "/login", "anonymous", "Log in"),
    MainPage("password-reset", "/password_reset", "anonymous", "Reset your password"),
    MainPage("home", "/", "admin", "At a glance"),
    MainPage("tickets", "/tickets/", "admin", "Tickets"),
    MainPage(
        "tickets-empty", "/tickets/?content=zzyzx-nothing-matches", "admin", "No tickets match."
    ),
    MainPage("my-tickets", "/my_tickets/", "agent", "My Tickets"),
    MainPage("subscribed", "/subscribed/", "agent", "Subscribed"),
    MainPage("ticket", "/ticket_view/{open_ticket}/", "admin", "Reply"),
    MainPage("ticket-create", "/ticket_create/", "admin", "Create Ticket"),
    MainPage("ticket-edit", "/edit_ticket/{open_ticket}", "admin", "Save"),
    MainPage(
        "ticket-history", "/history/topic/{open_ticket}/", "admin", "Back to ticket #%(number)s"
    ),
    MainPage("ticket-assign", "/ticket_assign/{open_ticket}/", "admin", "Assign"),
    MainPage("ticket-category", "/ticket_department_category/{open_ticket}/", "admin", "Category"),
    MainPage("ticket-delete", "/delete_ticket/{open_ticket}/", "admin", "Your password"),
    MainPage("markdown-help", "/markdown_primer/", "admin", "Markdown"),
    MainPage("departments", "/departments/", "super", "Add a department"),
    MainPage("categories", "/categories/{department}/", "super", "Category"),
    MainPage("department-edit", "/department_edit/{department}/", "super", "Department"),
    MainPage("users", "/users/", "admin", "Users"),
    MainPage("user", "/user/{agent}/", "admin", "Posts"),
    MainPage("profile", "/user_details", "agent", "Language"),
    MainPage("admin", "/flicket_admin/", "admin", "Admin Home"),
    MainPage("admin-config", "/flicket_admin/config/", "admin", "Flicket Config"),
    MainPage("admin-test-email", "/flicket_admin/test_email/", "admin", "Test Email"),
    MainPage("admin-users", "/flicket_admin/users/", "admin", "Users"),
    MainPage("admin-add-user", "/flicket_admin/add_user/", "admin", "Add User"),
    MainPage("admin-edit-user", "/flicket_admin/edit_user/?id={agent}", "admin", "Groups"),
    MainPage("admin-delete-user", "/flicket_admin/delete_user/?id={agent}", "admin", "Delete"),
    MainPage("admin-groups", "/flicket_admin/groups/", "admin", "Add a group"),
    MainPage("admin-edit-group", "/flicket_admin/edit_group/?id={group}", "admin", "Rename"),
    MainPage("admin-delete-group", "/flicket_admin/delete_group/?id={group}", "admin", "Delete"),
    MainPage("not-found", "/ticket_view/999999/", "admin", "Not Found"),
]

#: Who visits, per language: the cast's members with that locale and role.
VISITORS = {
    "en": {"admin": "admin", "agent": "agnes", "super": "sam"},
    "fr": {"admin": "dora", "agent": "camille", "super": "dora"},
}

axe_report = {}
#: page name -> its <title>, per language (every page's own, checked at the end).
titles = {"en": {}, "fr": {}}
#: Pages that are the same page in another state.
SAME_PAGE = {"tickets-empty": "tickets"}


def _visit(browsing, storage, main_page, ids, *, viewport, language):
    who = VISITORS[language].get(main_page.who)
    page = browsing.new_page(
        viewport=viewport,
        locale=BROWSER_LOCALES[language],
        storage_state=storage(who) if who else None,
    )
    response = page.goto(main_page.path.format(**ids))
    expected = 404 if main_page.name == "not-found" else 200
    assert response.status == expected, f"{main_page.path}: {response.status}"
    return page


def _check_axe(page, where):
    results = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ['violations']});
            return r.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => n.target.join(' ') + ' : ' + n.failureSummary)
            }));
        }"""
    )
    axe_report[where] = {v["id"]: v["impact"] for v in results}
    blocking = [v for v in results if v["impact"] in BLOCKING]
    assert not blocking, f"{where}: axe found\n" + json.dumps(blocking, indent=1)


def _check_labels(page, where):
    """Every visible form control has an accessible name (axe checks this too; this
    states it plainly)."""
    unnamed = page.evaluate(
        """() => Array.from(document.querySelectorAll('input, select, textarea'))
            .filter(e => e.type !== 'hidden' && e.offsetParent !== null)
            .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                         && !e.getAttribute('aria-labelledby'))
            .map(e => e.outerHTML.slice(0, 120))"""
    )
    assert not unnamed, f"{where}: fields without a label: {unnamed}"


def _check_width(page, where):
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{where}: {overflow}px wider than the {PHONE['width']}px screen"


@pytest.mark.parametrize("main_page", MAIN_PAGES, ids=[p.name for p in MAIN_PAGES])
@pytest.mark.parametrize("language", ["en", "fr"])
def test_main_page(browsing, storage, ids, main_page, language):
    words = Words(language)
    # Desktop: title, heading, axe, labels, screenshot.
    page = _visit(browsing, storage, main_page, ids, viewport=DESKTOP, language=language)
    where = f"{main_page.name} ({language}, desktop)"
    site = "Flicket"
    title = page.title()
    assert title.endswith(site) and len(title) > len(site) + 3, f"{where}: title {title!r}"
    titles[language][main_page.name] = title
    text = words(main_page.heading, number=str(ids["open_ticket"]).zfill(5))
    shown = page.locator("main").get_by_text(text).filter(visible=True)
    assert shown.count(), f"{where}: {text!r} is not shown"
    assert page.locator("html").get_attribute("lang") == language
    _check_axe(page, where)
    _check_labels(page, where)
    screenshot(page, f"{main_page.name}-{language}-desktop")

    # Phone: nothing wider than the screen, axe again (the collapsed menu), screenshot.
    page = _visit(browsing, storage, main_page, ids, viewport=PHONE, language=language)
    where = f"{main_page.name} ({language}, 375 px)"
    _check_width(page, where)
    _check_axe(page, where)
    screenshot(page, f"{main_page.name}-{language}-phone")


def test_titles_tell_the_pages_apart_and_write_the_axe_report():
    """Runs after the pages (same module, later): no two pages share a title, and the
    record of every axe finding (all impacts) is written."""
    for language, seen in titles.items():
        by_title = {}
        for name, title in seen.items():
            by_title.setdefault(title, []).append(SAME_PAGE.get(name, name))
        shared = {title: names for title, names in by_title.items() if len(set(names)) > 1}
        assert not shared, f"{language}: pages with the same title: {shared}"
    if axe_report:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        report = json.dumps(axe_report, indent=1, sort_keys=True)
        (SCREENSHOTS / "axe-report.json").write_text(report)


@pytest.fixture(scope="module")
def storage(browser, live_server):
    """Signed-in browser state per user (cookies), made once: ``storage(username)``."""
    states = {}

    def _state(username):
        if username not in states:
            context = browser.new_context(base_url=live_server.url)
            page = context.new_page()
            if username == "admin":
                log_in(page, "admin", ADMIN_PASSWORD)
            else:
                log_in(page, username)
            assert "/login" not in page.url, f"{username} could not log in"
            states[username] = context.storage_state()
            context.close()
        return states[username]

    return _state
