"""Languages: the locale of each request and each e-mail, and French everywhere.

A French user (profile locale ``fr``) or a browser asking for French must see no English:
every page, flash message, form error, error page and e-mail is checked against the English
messages of the catalogue (any English sentence of the catalogue that shows up in a French
page is a string someone forgot to mark or translate). English stays the default.
"""

import html.parser
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from flicket.i18n import DOMAIN, LOCALE_DIR
from tests.conftest import csrf_token_from, login
from tests.factories import make_post, make_ticket

FRENCH = {"HTTP_ACCEPT_LANGUAGE": "fr-FR,fr;q=0.9,en;q=0.5"}
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|\$\{[a-z_]+\}|%%")


def english_sentences():
    """Literal English pieces of the catalogue that French never contains: each message
    split at its placeholders, keeping pieces of 2+ words, and single words of 4+ letters
    that are whole messages, unless the French catalogue uses them too ("Ticket")."""
    path = Path(LOCALE_DIR) / "fr" / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as po_file:
        catalogue = read_po(po_file, locale="fr")
    french_text = " ".join(
        string
        for message in catalogue
        if message.id
        for string in (message.string if isinstance(message.string, tuple) else (message.string,))
    )
    french_words = set(re.findall(r"\w+", french_text))
    pieces = set()
    for message in catalogue:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        french = " ".join(strings)
        for english in ids:
            if message.context:
                continue
            for piece in PLACEHOLDER.split(re.sub(r"<[^>]+>", " ", english)):
                piece = " ".join(piece.split()).strip(" .,:;!?()\"'“”-–#|/·…")
                words = piece.split()
                if not words or piece in french or piece in french_text:
                    continue
                if len(words) >= 2:
                    pieces.add(piece)
                elif message.id == english and len(piece) >= 4 and piece not in french_words:
                    pieces.add(piece)
    return pieces


ENGLISH = sorted(english_sentences(), key=len, reverse=True)
SINGLE_WORD = re.compile(r"^\w+$")


class VisibleText(html.parser.HTMLParser):
    """What a person reads or hears: text, and the attributes shown or spoken."""

    SPOKEN = ("title", "aria-label", "placeholder", "alt")

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self._skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        attrs = dict(attrs)
        for name in self.SPOKEN:
            if attrs.get(name):
                self.parts.append(attrs[name])
        if tag == "input" and attrs.get("type") in ("submit", "button") and attrs.get("value"):
            self.parts.append(attrs["value"])

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def visible_text(markup):
    parser = VisibleText()
    parser.feed(markup)
    return " ".join(" ".join(parser.parts).split())


def english_in(text):
    found = []
    for piece in ENGLISH:
        if SINGLE_WORD.match(piece):
            if re.search(rf"(?<![\w-]){re.escape(piece)}(?![\w-])", text):
                found.append(piece)
        elif piece in text:
            found.append(piece)
    return found


def assert_french(response):
    if "html" in response.content_type:
        assert '<html lang="fr"' in response.text
        text = visible_text(response.text)
    else:
        text = response.text
    leftovers = english_in(text)
    assert not leftovers, f"English on {response.request.path}: {leftovers}\n{text[:3000]}"


# -- data with nothing English in it ----------------------------------------------------------


@pytest.fixture
def french_desk(dbsession, users):
    """Alice and the admin read French; a ticket with replies, actions and history."""
    for name in ("alice", "admin", "super"):
        users[name].locale = "fr"
    ticket = make_ticket(
        dbsession, users["alice"], title="Imprimante en panne", content="Elle **fume**."
    )
    make_post(dbsession, ticket, users["bob"], content="Avez-vous essayé de la redémarrer ?")
    dbsession.flush()
    return ticket


def french_client(testapp, name):
    login(testapp, name)
    return testapp


# -- locale negotiation -----------------------------------------------------------------------


def test_english_is_the_default(testapp):
    page = testapp.get("/login")
    assert '<html lang="en"' in page.text
    assert "Log in" in page.text


def test_browser_language_chooses_french_before_login(testapp):
    page = testapp.get("/login", extra_environ=FRENCH)
    assert_french(page)
    assert "Se connecter" in page.text or "Connexion" in page.text


def test_unknown_browser_language_falls_back_to_english(testapp):
    page = testapp.get("/login", extra_environ={"HTTP_ACCEPT_LANGUAGE": "de-DE,de;q=0.9"})
    assert '<html lang="en"' in page.text


def test_user_choice_beats_the_browser(testapp, users, dbsession):
    users["bob"].locale = "fr"
    dbsession.flush()
    login(testapp, "bob")
    page = testapp.get("/", extra_environ={"HTTP_ACCEPT_LANGUAGE": "en"})
    assert_french(page)
    users["alice"].locale = "en"
    dbsession.flush()


def test_english_user_with_french_browser_sees_english(testapp, users):
    login(testapp, "alice")
    page = testapp.get("/", extra_environ=FRENCH)
    assert '<html lang="en"' in page.text


def test_profile_language_choice_switches_the_pages(testapp, users):
    login(testapp, "carol")
    page = testapp.get("/user_details")
    form = next(f for f in page.forms.values() if "locale" in f.fields)
    form["locale"] = "fr"
    saved = form.submit().maybe_follow()
    assert '<html lang="fr"' in saved.text
    assert_french(saved)


# -- every main page in French ----------------------------------------------------------------


MAIN_PAGES = [
    "/",
    "/tickets/",
    "/tickets/?status=Closed",
    "/my_tickets/",
    "/subscribed/",
    "/ticket_create/",
    "/ticket_view/{ticket}/",
    "/edit_ticket/{ticket}",
    "/history/topic/{ticket}/",
    "/ticket_assign/{ticket}/",
    "/ticket_claim/{ticket}/",
    "/delete_ticket/{ticket}/",
    "/markdown_primer/",
    "/departments/",
    "/users/",
    "/user/{alice}/",
    "/user_details",
    "/flicket_admin/",
    "/flicket_admin/config/",
    "/flicket_admin/test_email/",
    "/flicket_admin/users/",
    "/flicket_admin/add_user/",
    "/flicket_admin/edit_user/?id={alice}",
    "/flicket_admin/groups/",
]


@pytest.mark.parametrize("path", MAIN_PAGES)
def test_main_pages_in_french_for_a_french_user(testapp, users, french_desk, path):
    french_client(testapp, "admin")
    url = path.format(ticket=french_desk.id, alice=users["alice"].id)
    assert_french(testapp.get(url))


@pytest.mark.parametrize("path", ["/", "/tickets/", "/ticket_view/{ticket}/", "/user_details"])
def test_main_pages_in_french_for_accept_language(testapp, users, dbsession, french_desk, path):
    users["bob"].locale = None
    dbsession.flush()
    testapp.extra_environ.update(FRENCH)  # a browser set to French, from the login on
    login(testapp, "bob")
    page = testapp.get(path.format(ticket=french_desk.id))
    assert_french(page)


def test_department_pages_in_french(testapp, users, french_desk):
    french_client(testapp, "super")
    listing = testapp.get("/departments/")
    assert_french(listing)
    link = re.search(r'href="(/categories/\d+/)"', listing.text).group(1)
    assert_french(testapp.get(link))


def test_error_pages_in_french(testapp, users, french_desk):
    french_client(testapp, "alice")
    html = {"Accept": "text/html"}
    assert_french(testapp.get("/ticket_view/999999/", headers=html, status=404))
    assert_french(testapp.get("/flicket_admin/", headers=html, status=403))
    assert_french(testapp.post("/ticket_create/", {"title": "x"}, headers=html, status=400))


def test_form_errors_and_flashes_in_french(testapp, users, french_desk):
    french_client(testapp, "alice")
    page = testapp.get("/ticket_create/")
    form = page.forms["ticket-form"] if "ticket-form" in page.forms else page.forms[1]
    refused = form.submit(status=400)
    assert_french(refused)
    view = testapp.get(f"/ticket_view/{french_desk.id}/")
    claim = testapp.get(f"/ticket_claim/{french_desk.id}/")
    token = csrf_token_from(claim)
    done = testapp.post(f"/ticket_claim/{french_desk.id}/", {"csrf_token": token})
    assert_french(done.maybe_follow())
    assert view.status_int == 200


def test_login_failure_in_french(testapp, users):
    page = testapp.get("/login", extra_environ=FRENCH)
    form = page.forms[0]
    form["username"] = "alice"
    form["password"] = "not the password at all"
    refused = form.submit(extra_environ=FRENCH)
    assert_french(refused)


# -- e-mails in the recipient's language ------------------------------------------------------


def test_ticket_mail_goes_out_in_each_recipients_language(
    testapp, users, dbsession, french_desk, outbox
):
    from tests.functional.test_notifications import subscribe

    subscribe(dbsession, french_desk, users["carol"])  # carol reads English
    login(testapp, "bob")
    view = testapp.get(f"/ticket_view/{french_desk.id}/")
    form = next(f for f in view.forms.values() if "content" in f.fields)
    form["content"] = "C’est réparé."
    form.submit().maybe_follow()
    by_address = {message.recipients[0]: message for message in outbox}
    french, english = by_address["alice@example.com"], by_address["carol@example.com"]
    assert "has new replies" in english.subject
    for text in (french.subject, french.body, french.html):
        leftovers = english_in(visible_text(text) if text.lstrip().startswith("<") else text)
        assert not leftovers, leftovers


def assert_french_mail(message):
    """Subject, text and HTML of ``message`` carry no English sentence of the catalogue."""
    assert '<html lang="fr"' in message.html
    for text in (message.subject, message.body, visible_text(message.html)):
        leftovers = english_in(text)
        assert not leftovers, f"English in {message.subject!r}: {leftovers}\n{text}"


def test_every_ticket_notice_in_french(testapp, users, dbsession, outbox):
    from tests.factories import category
    from tests.functional.test_notifications import configure, confirm, form_posting_to

    users["alice"].locale = "fr"
    configure(dbsession, change_category=True)
    testapp.extra_environ.update({"HTTP_ACCEPT_LANGUAGE": "en"})  # the actors read English
    login(testapp, "alice")
    create = testapp.get("/ticket_create/")
    form = form_posting_to(create, "/ticket_create/")
    form["title"] = "Imprimante en panne"
    form["content"] = "Elle fume depuis ce matin."
    form.submit(status=302)
    ticket_id = int(re.search(r"Ticket n°\xa0(\d+)", outbox[-1].subject).group(1))
    testapp.reset()

    login(testapp, "admin")
    path = f"/ticket_assign/{ticket_id}/"
    form = form_posting_to(testapp.get(path), path)
    form["username"] = "bob"
    form.submit(status=302)
    confirm(testapp, f"/release/{ticket_id}/", status=302)
    confirm(testapp, f"/ticket_claim/{ticket_id}/", status=302)
    path = f"/ticket_department_category/{ticket_id}/"
    form = form_posting_to(testapp.get(path), path)
    form["category"] = str(category(dbsession, "Quality", "Manuals").id)
    form.submit(status=302)
    path = f"/ticket_view/{ticket_id}/"
    form = form_posting_to(testapp.get(path), path)
    form["content"] = "Réparée, je ferme."
    form.submit("reply_close", status=302)

    to_alice = [message for message in outbox if message.recipients == ["alice@example.com"]]
    subjects = [message.subject for message in to_alice]
    endings = [
        "créé",
        "attribué à Bob Example",
        "libéré",
        "attribué à Admin Example",
        "changé de service",
        "nouvelles réponses",
        "fermé",
    ]
    assert len(subjects) == len(endings), subjects
    for subject, ending in zip(subjects, endings, strict=True):
        assert ending in subject, subjects
    for message in to_alice:
        assert_french_mail(message)
    to_bob = [message for message in outbox if message.recipients == ["bob@example.com"]]
    assert to_bob, "bob (English) is subscribed by the assignment"
    for message in to_bob:
        assert message.subject.startswith("Ticket #") and '<html lang="en"' in message.html


def test_password_reset_mail_in_the_users_language(testapp, users, dbsession, outbox):
    users["alice"].locale = "fr"
    dbsession.flush()
    page = testapp.get("/password_reset")  # asked from an English browser
    page.forms[0]["email"] = "alice@example.com"
    page.forms[0].submit(status=302)
    (message,) = outbox
    assert_french_mail(message)


def test_account_changed_mail_in_the_users_language(testapp, users, dbsession, outbox):
    users["alice"].locale = "fr"
    dbsession.flush()
    login(testapp, "admin")
    page = testapp.get(f"/flicket_admin/edit_user/?id={users['alice'].id}")
    form = next(f for f in page.forms.values() if "email" in f.fields)
    form["email"] = "alice.liddell@example.com"
    form.submit(status=302)
    (message,) = [m for m in outbox if m.recipients == ["alice@example.com"]]
    assert_french_mail(message)


def test_test_email_in_french(testapp, users, dbsession, outbox):
    from tests.functional.test_notifications import configure

    configure(dbsession, mail_suppress_send=False)
    users["admin"].locale = "fr"
    dbsession.flush()
    login(testapp, "admin")
    page = testapp.get("/flicket_admin/test_email/")
    form = next(f for f in page.forms.values() if "email_address" in f.fields)
    form["email_address"] = "ops@example.com"
    assert_french(form.submit(status=302).maybe_follow())
    (message,) = outbox
    assert_french_mail(message)
