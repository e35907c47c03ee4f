"""Stored XSS: a corpus of hostile strings goes into every user-controlled field that ticket
pages show (title, content, replies, user names and job titles, e-mail addresses, attachment
names, department and category names, action data) and every page that shows them is
parsed: no script, no event handler, no javascript:/data: URL, no frame, style, svg or
foreign form comes out (reference §3.7, §3.12, §3.15; SECURITY-TESTS XSS-1, XSS-3, XSS-6)."""

import re
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from flicket.departments.models import Category, Department
from flicket.tickets.models import Action, History, Subscription, Ticket, Upload
from tests.conftest import csrf_token_from, login, make_user
from tests.factories import make_post
from tests.functional.test_ticket_operations import (
    configure,
    create_form,
    form_posting_to,
    old_ticket,
)

CORPUS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    '<a href="javascript:alert(1)">x</a>',
    "<svg onload=alert(1)>",
    '<iframe src="https://evil.example/"></iframe>',
    "<style>body{display:none}</style>",
    '<form action="https://evil.example/"><input name=p></form>',
    '"><script>alert(1)</script>',
    "[d](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    '<a href="data:text/html,<script>alert(1)</script>">d</a>',
    "</textarea><script>alert(1)</script>",
    "'><body onload=alert(1)>",
    "{{7*7}}${7*7}<%= 7*7 %>",
]
#: Fits the 30-character department and category names when a payload does not.
SHORT = '"><svg onload=alert(1)>'

URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "background", "poster"}
BANNED_TAGS = {
    "iframe",
    "frame",
    "frameset",
    "object",
    "embed",
    "applet",
    "style",
    "base",
}
OUR_STATIC = "/flicket/static/"


class MarkupAudit(HTMLParser):
    """Collects everything executable or page-altering in a document."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems = []
        self.in_script = False

    def handle_starttag(self, tag, attrs):
        self.check(tag, attrs)
        if tag == "script":
            self.in_script = True

    def handle_startendtag(self, tag, attrs):
        self.check(tag, attrs)

    def handle_endtag(self, tag):
        if tag == "script":
            self.in_script = False

    def handle_data(self, data):
        if self.in_script and data.strip():
            self.problems.append(f"inline script: {data[:60]!r}")

    def check(self, tag, attrs):
        values = dict(attrs)
        if tag in BANNED_TAGS:
            self.problems.append(f"<{tag}>")
        if tag == "script" and not (values.get("src") or "").startswith(OUR_STATIC):
            self.problems.append(f"script {values}")
        if tag == "link" and not (values.get("href") or "").startswith(OUR_STATIC):
            self.problems.append(f"link {values}")
        if tag == "meta" and "http-equiv" in values:
            self.problems.append(f"meta {values}")
        if tag == "form":
            action = values.get("action") or ""
            if not action.startswith("/") or action.startswith("//"):
                self.problems.append(f"form posting to {action!r}")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}={value!r}>")
            if name == "style":
                self.problems.append(f"<{tag} style={value!r}>")
            if name in URL_ATTRIBUTES and value:
                url = re.sub(r"[\x00-\x20]", "", value).lower()
                if url.startswith(("javascript:", "vbscript:", "data:")):
                    self.problems.append(f"<{tag} {name}={value!r}>")


def assert_safe(response, where=""):
    """No executable markup in the page, and no raw (unescaped) HTML payload."""
    audit = MarkupAudit()
    audit.feed(response.text)
    audit.close()
    assert audit.problems == [], f"{where}: {audit.problems}"
    for payload in CORPUS + [SHORT]:
        if "<" in payload:
            assert payload not in response.text, f"{where}: raw {payload!r}"
    assert "alert(1)</script>" not in response.text.replace("&lt;/script&gt;", "")


def fit(payload, size):
    return payload if len(payload) <= size else SHORT


# -- the hostile world ----------------------------------------------------------------------------


@pytest.fixture(params=CORPUS, ids=[f"payload{n}" for n in range(len(CORPUS))])
def payload(request):
    return request.param


@pytest.fixture
def hostile(dbsession, users, payload):
    """A ticket in which every field a user controls holds the payload (or the corpus)."""
    corpus = "\n\n".join(CORPUS)
    mallory = make_user(dbsession, "mallory", email=fit(payload, 40) + "@example.com")
    mallory.name = fit(payload, 60)
    mallory.job_title = fit(payload, 64)
    trudy = make_user(dbsession, "trudy")
    trudy.name = fit(payload, 60) + " 2"
    trudy.job_title = fit(payload, 64)
    department = Department(department=fit(payload, 30))
    dbsession.add(department)
    dbsession.flush()
    hostile_category = Category(category=fit(payload, 29) + "!", department=department)
    dbsession.add(hostile_category)
    dbsession.flush()

    ticket = old_ticket(dbsession, mallory, payload, content=corpus, assigned=trudy)
    ticket.category = hostile_category
    ticket.modified = trudy
    ticket.date_modified = ticket.date_added
    post = make_post(dbsession, ticket, mallory, corpus)
    post.modified = trudy
    post.date_modified = ticket.date_added
    for user in (users["alice"], users["admin"], trudy):
        dbsession.add(Subscription(ticket_id=ticket.id, user_id=user.id))
    for n, name in enumerate([payload[:120] + ".txt", SHORT + ".pdf"]):
        dbsession.add(
            Upload(
                filename=f"{n}abcdef0123456789abcdef01234567.txt",
                original_filename=name,
                topic_id=ticket.id,
            )
        )
        dbsession.add(
            Upload(
                filename=f"{n}bbcdef0123456789abcdef01234567.txt",
                original_filename=name,
                posts_id=post.id,
            )
        )
    data = {"status": payload, "priority": payload, "department_category": payload}
    for action, extra in [
        ("assign", {"recipient_id": trudy.id}),
        ("subscribe", {"recipient_id": trudy.id}),
        ("unsubscribe", {"recipient_id": mallory.id}),
        ("claim", {}),
        ("status", {"data": data}),
        ("priority", {"data": data}),
        ("department_category", {"data": data}),
        (fit(payload, 30), {}),  # an action name nobody knows is shown as text
    ]:
        dbsession.add(Action(ticket_id=ticket.id, action=action, user_id=mallory.id, **extra))
    dbsession.add(Action(ticket_id=ticket.id, post_id=post.id, action="close", user_id=trudy.id))
    dbsession.add_all(
        [
            History(topic_id=ticket.id, original_content=corpus, user_id=mallory.id),
            History(post_id=post.id, original_content=corpus, user_id=trudy.id),
        ]
    )
    dbsession.flush()
    return ticket, post, mallory, trudy


def test_ticket_page_is_safe_and_shows_the_text(testapp, dbsession, hostile, payload):
    ticket, post, mallory, trudy = hostile
    login(testapp, "admin")  # the admin sees every button and link
    page = testapp.get(f"/ticket_view/{ticket.id}/")
    assert_safe(page, "ticket page")
    # The hostile strings are shown as text, not dropped and not run.
    assert payload in page.html.select_one("h1").get_text()
    assert payload in page.html.title.get_text()
    lines = [li.get_text(" ", strip=True) for li in page.html.select("li.action-line")]
    assert any(line.startswith(f"assigned to {trudy.name} by {mallory.name}") for line in lines)
    assert any(line.startswith(f"{trudy.name} subscribed by {mallory.name}") for line in lines)
    assert any(f"status changed to “{payload}” by" in line for line in lines)
    assert any(f"category changed to “{payload}” by" in line for line in lines)
    links = page.html.select("ul.attachments a")
    assert {a["title"] for a in links} == {payload[:120] + ".txt", SHORT + ".pdf"}
    summary = page.html.select_one("dl.ticket-summary").get_text()
    assert (
        fit(payload, 30) in summary and fit(payload, 29) + "!" in summary
    )  # department, category
    author = page.html.select_one("article.post .author").get_text()
    assert mallory.name in author and mallory.job_title in author
    # Template syntax in the data is never evaluated.
    if "{{7*7}}" in payload:
        assert "{{7*7}}${7*7}<%= 7*7 %>" in page.html.select_one("h1").get_text()


def test_quoting_hostile_content_is_safe(testapp, dbsession, hostile):
    ticket, post, *_ = hostile
    login(testapp, "alice")
    for query in (f"?post_id={post.id}", f"?ticket_rid={ticket.id}"):
        page = testapp.get(f"/ticket_view/{ticket.id}/{query}")
        assert_safe(page, query)
        quoted = form_posting_to(page, f"/ticket_view/{ticket.id}/")["content"].value
        assert "> </textarea><script>alert(1)</script>" in quoted  # kept, as text


def test_every_other_ticket_page_is_safe(testapp, dbsession, hostile):
    ticket, post, mallory, trudy = hostile
    configure(dbsession, change_category=True)
    login(testapp, "admin")
    tid, pid = ticket.id, post.id
    for path in (
        f"/history/topic/{tid}/",
        f"/history/post/{pid}/",
        f"/edit_ticket/{tid}",
        f"/edit_post/{pid}/",
        f"/ticket_claim/{tid}/",
        f"/release/{tid}/",
        f"/change_status/{tid}/Closed/",
        f"/ticket_assign/{tid}/",
        f"/ticket_department_category/{tid}/",
        f"/unsubscribe/{tid}/{trudy.id}",
        f"/delete_ticket/{tid}/",
        f"/delete_post/{pid}/",
    ):
        assert_safe(testapp.get(path, status=200), path)


def test_edit_forms_show_hostile_values_escaped(testapp, dbsession, hostile, payload):
    ticket, post, *_ = hostile
    login(testapp, "admin")
    path = f"/edit_ticket/{ticket.id}"
    form = form_posting_to(testapp.get(path), path)
    assert form["title"].value == payload
    labels = [
        label.get_text(strip=True)
        for label in testapp.get(path).html.select("fieldset .form-check-label")
    ]
    assert payload[:120] + ".txt" in labels  # attachment names as checkbox labels, as text


def test_ticket_lists_are_safe(testapp, dbsession, hostile):
    login(testapp, "alice")
    for path in ("/tickets/", "/my_tickets/", "/subscribed/", "/"):
        response = testapp.get(path, expect_errors=True)
        if response.status_int == 200:
            assert_safe(response, path)


def test_history_shows_old_content_sanitised(testapp, dbsession, hostile):
    ticket, *_ = hostile
    login(testapp, "alice")
    page = testapp.get(f"/history/topic/{ticket.id}/")
    body = page.html.select_one("article .markdown-body")
    assert body is not None and body.select("script, iframe, svg, style, form") == []
    assert body.find("a", href=re.compile("^(javascript|data):", re.I)) is None


# -- through the forms: flash messages and re-shown forms -------------------------------------


def test_hostile_title_in_flash_and_refused_form(testapp, dbsession, users, payload):
    login(testapp, "alice")
    form = create_form(testapp)
    form["title"] = payload
    form["content"] = "abc"  # too short: the form comes back with the title in it
    page = form.submit(status=400)
    assert_safe(page, "refused create form")
    assert form_posting_to(page, "/ticket_create/")["title"].value == payload.strip()

    form = form_posting_to(page, "/ticket_create/")
    form["content"] = "\n\n".join(CORPUS)
    landed = form.submit(status=302).follow()
    assert_safe(landed, "page after create")
    assert payload.strip() in landed.html.select_one("main .alert").get_text()


def test_hostile_names_in_assign_and_subscribe_flashes(testapp, dbsession, users, payload):
    ticket = old_ticket(dbsession, users["alice"])
    second = old_ticket(dbsession, users["alice"], "Second")
    mallory = make_user(dbsession, "mallory")
    mallory.name = fit(payload, 60)
    dbsession.flush()
    login(testapp, "alice")
    path = f"/ticket_assign/{ticket.id}/"
    form = form_posting_to(testapp.get(path), path)
    form["username"] = "mallory"
    landed = form.submit(status=302).follow()
    assert_safe(landed, "after assign")
    assert f"assigned to {mallory.name}" in landed.html.select_one("main .alert").get_text()
    line = landed.html.select_one("li.action-line").get_text(" ", strip=True)
    assert line.startswith(f"assigned to {mallory.name} by Alice Example")

    page = testapp.get(f"/ticket_view/{second.id}/")
    form = form_posting_to(page, f"/ticket_subscribe/{second.id}/")
    form["username"] = "mallory"
    landed = form.submit(status=302).follow()
    assert_safe(landed, "after subscribe")
    assert f"{mallory.name} is subscribed" in landed.html.select_one("main .alert").get_text()


def test_hostile_attachment_name_through_a_real_upload(testapp, dbsession, users):
    login(testapp, "alice")
    form = create_form(testapp)
    form["title"] = "A hostile file name"
    form["content"] = "See the file."
    form["file"] = [
        ('"><img src=x onerror=alert(1)>.txt', b"x"),
        ("<svg onload=alert(1)>.pdf", b"y"),
    ]
    landed = form.submit(status=302).follow()
    assert_safe(landed, "ticket with hostile file names")
    ticket = dbsession.scalars(sa.select(Ticket)).one()
    edit = testapp.get(f"/edit_ticket/{ticket.id}")
    assert_safe(edit, "edit form with hostile file names")
    names = {a["title"] for a in landed.html.select("ul.attachments a")}
    assert names == {'"><img src=x onerror=alert(1)>.txt', "<svg onload=alert(1)>.pdf"}


def test_markdown_preview_is_sanitised(testapp, users):
    login(testapp, "alice")
    token = csrf_token_from(testapp.get("/ticket_create/"))
    response = testapp.post(
        "/markdown_preview", {"content": "\n\n".join(CORPUS), "csrf_token": token}, status=200
    )
    assert_safe(response, "preview")
    assert "<script" not in response.text and "onerror" not in response.text
    assert "javascript:" not in response.text
