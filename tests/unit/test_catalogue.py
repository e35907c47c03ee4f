"""The translation catalogues: complete, consistent with the code, compiled and loadable.

The French catalogue must translate every message (no empty or fuzzy entry), keep every
placeholder, and list exactly what Babel extracts from the Python code and the Jinja2
templates today (README, "Translations", gives the commands that bring it up to date).
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from pyramid.i18n import make_localizer

from flicket.catalogues import compile_catalogues
from flicket.i18n import DOMAIN, LOCALE_DIR, LOCALES, _, available_locales, console_locale

ROOT = Path(__file__).resolve().parents[2]
FRENCH_PO = Path(LOCALE_DIR) / "fr" / "LC_MESSAGES" / f"{DOMAIN}.po"
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|\$\{[a-z_]+\}")

#: Messages whose French is spelt like the English (checked by hand, kept short).
SAME_IN_FRENCH = {
    "Actions",
    "Description",
    "Total",
    "Tickets",
    "Ticket",
    "Version",
    "Notes",
    "Message",
    "Date",
    "Type",
    "E-mail",
    "Email",
    "Markdown",
    "Images",
    "Code",
    "Flicket",
    "Application",
    "Service",
    "Contact",
    "Expiration",
    "Modifications",
    "Options",
    "Source",
    "Format",
    "Page",
    "Question",
    "Client",
    "Info",
    "Article",
    "Surface",
    "Note",
    "Simple",
    "Administration",
    "Image",
    "Pages",
}


def french_catalogue():
    with FRENCH_PO.open("rb") as po_file:
        return read_po(po_file, locale="fr", domain=DOMAIN)


def messages(catalogue):
    return [message for message in catalogue if message.id]


def forms(message):
    """(English, French) pairs of a message: one pair, or one per plural form."""
    if isinstance(message.id, tuple):
        singular, plural = message.id
        strings = message.string
        return [(singular, strings[0])] + [(plural, string) for string in strings[1:]]
    return [(message.id, message.string)]


def test_french_catalogue_exists_and_is_offered():
    assert FRENCH_PO.is_file()
    assert LOCALES == {"en": "English", "fr": "Français"}
    assert len(messages(french_catalogue())) > 300


def test_every_french_message_is_translated_and_not_fuzzy():
    catalogue = french_catalogue()
    assert not catalogue.fuzzy, "the catalogue header is marked fuzzy"
    problems = []
    for message in messages(catalogue):
        if message.fuzzy:
            problems.append(f"fuzzy: {message.id!r}")
        for english, french in forms(message):
            if not (french or "").strip():
                problems.append(f"untranslated: {english!r}")
    assert not problems, "\n".join(problems)


def test_french_plural_rule_is_two_forms_singular_up_to_one():
    catalogue = french_catalogue()
    assert catalogue.num_plurals == 2
    assert catalogue.plural_expr.replace(" ", "") == "(n>1)"
    assert all(len(message.string) == 2 for message in messages(catalogue) if message.pluralizable)


def test_french_keeps_every_placeholder():
    problems = []
    for message in messages(french_catalogue()):
        for english, french in forms(message):
            if sorted(PLACEHOLDER.findall(english)) != sorted(PLACEHOLDER.findall(french)):
                problems.append(f"{english!r} -> {french!r}")
    assert not problems, "\n".join(problems)


def test_french_is_not_a_copy_of_the_english():
    copies = [
        message.id
        for message in messages(french_catalogue())
        if not message.pluralizable
        and message.string == message.id
        and PLACEHOLDER.sub("", message.id).strip(" .:…-#/%()") not in SAME_IN_FRENCH
        and re.search(r"[A-Za-z]{3}", PLACEHOLDER.sub("", message.id))
    ]
    assert not copies, copies


def test_french_typography():
    """Straight apostrophes and space-less high punctuation are English habits."""
    problems = []
    for message in messages(french_catalogue()):
        for _english, french in forms(message):
            text = PLACEHOLDER.sub("X", french)
            text = re.sub(r"https?://\S+|`[^`]*`", "", text)
            if "'" in text:
                problems.append(f"straight apostrophe: {french!r}")
            if re.search(r"\w[!?;:»](\s|$)", text) or re.search(r"«\w", text):
                problems.append(f"missing non-breaking space: {french!r}")
    assert not problems, "\n".join(problems)


def test_catalogue_lists_exactly_what_the_code_marks(tmp_path):
    """The extraction of README's commands finds nothing missing and nothing stale."""
    template = tmp_path / "flicket.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "--quiet",
            "extract",
            "-F",
            str(ROOT / "babel.cfg"),
            "-k",
            "pluralize:1,2",
            "-o",
            str(template),
            str(ROOT / "flicket"),
        ],
        check=True,
        cwd=ROOT,
    )
    with template.open("rb") as pot_file:
        extracted = {(message.context, message.id) for message in read_po(pot_file) if message.id}
    catalogued = {(message.context, message.id) for message in messages(french_catalogue())}
    assert not extracted - catalogued, f"missing from fr: {sorted(extracted - catalogued)}"
    assert not catalogued - extracted, f"no longer in the code: {sorted(catalogued - extracted)}"


@pytest.fixture(scope="module")
def french():
    compile_catalogues(LOCALE_DIR)  # as the application does when it starts
    return make_localizer("fr", [LOCALE_DIR])


def test_compiled_catalogue_translates(french):
    assert french.translate(_("Open")) == "Ouvert"
    assert french.translate(_("Someone")) == "Quelqu’un"
    subject = _(
        'Ticket #${number} - "${title}" has been closed.',
        mapping={"number": "00042", "title": "Imprimante"},
    )
    assert (
        french.translate(subject) == "Ticket n°\u00a000042 – «\u00a0Imprimante\u00a0» a été fermé."
    )


def test_english_needs_no_catalogue():
    english = make_localizer("en", [LOCALE_DIR])
    assert english.translate(_("Open")) == "Open"


def test_available_locales_follow_the_catalogues(tmp_path):
    (tmp_path / "de" / "LC_MESSAGES").mkdir(parents=True)
    (tmp_path / "de" / "LC_MESSAGES" / f"{DOMAIN}.po").write_text("")
    (tmp_path / "nl").mkdir()  # no catalogue: not offered
    assert available_locales(str(tmp_path)) == {"de": "Deutsch", "en": "English"}


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "en"),
        ({"LANG": "fr_FR.UTF-8"}, "fr"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LANGUAGE": "de:fr", "LANG": "en_GB.UTF-8"}, "fr"),
        ({"LC_ALL": "en_US.UTF-8", "LANG": "fr_FR.UTF-8"}, "en"),
        ({"LC_MESSAGES": "fr_CA"}, "fr"),
    ],
)
def test_console_language_follows_the_terminal(environ, expected):
    assert console_locale(environ) == expected
