"""What the browser tests share: the cast, viewports, the words people read, logging in,
screenshots and the axe-core check."""

import os
import re
from pathlib import Path

from pyramid.i18n import TranslationString, make_localizer

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("FLICKET_SCREENSHOTS") or ROOT / "var" / "screenshots")

ADMIN_PASSWORD = "browser admin passphrase 42"
PASSWORD = "browser people passphrase 42"
#: username -> (name, groups, locale, job title); everyone has PASSWORD.
PEOPLE = {
    "agnes": ("Agnes Agent", (), "en", "IT technician"),
    "bruno": ("Bruno Baker", (), "en", "Accountant"),
    "sam": ("Sam Super", ("super_user",), "en", "Service manager"),
    "camille": ("Camille Chevalier", (), "fr", "Technicienne"),
    "dora": ("Dora Dupont", ("flicket_admin",), "fr", "Administratrice"),
    "erin": ("Erin Evans", (), "en", "Receptionist"),
}
#: A group of the site's own (the built-in ones cannot be renamed or deleted).
EXTRA_GROUP = "night shift"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 740}
#: Browser languages of the two catalogues.
BROWSER_LOCALES = {"en": "en-GB", "fr": "fr-FR"}


class Words:
    """``words("Log in")`` is the text a person reads for that message in this language,
    from the application's own catalogue, so one journey serves English and French.
    Placeholders (``%(name)s`` or ``${name}``) are filled from keyword arguments."""

    def __init__(self, locale):
        self.locale = locale
        self._localizer = make_localizer(locale, [str(ROOT / "flicket" / "locale")])

    def __call__(self, message, context=None, **mapping):
        text = self._localizer.translate(
            TranslationString(message, domain="flicket", context=context)
        )
        for name, value in mapping.items():
            text = text.replace(f"%({name})s", str(value)).replace("${" + name + "}", str(value))
        return text

    def exactly(self, message, **kw):
        """A pattern matching the whole text (spaces around it allowed)."""
        return re.compile(r"^\s*" + re.escape(self(message, **kw)) + r"\s*$")


ENGLISH = Words("en")


def log_in(page, username, password=PASSWORD, words=ENGLISH):
    page.goto("/login")
    page.get_by_label(words("Username or email")).fill(username)
    page.get_by_label(words("Password"), exact=True).fill(password)
    page.get_by_role("button", name=words("Log in"), exact=True).click()
    page.wait_for_load_state()
    return page


def screenshot(page, name):
    """Write ``<name>.png`` (the whole page) into the screenshot folder."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
