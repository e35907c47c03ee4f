"""Output encoding checks that complement tests/functional/test_ticket_xss.py and
tests/unit/test_markdown.py (SECURITY-TESTS XSS-2, XSS-5, XSS-6, XSS-7):

* XSS-2: no HTML is built by string formatting — a static scan of the templates and the
  Python code, with every allowed ``Markup``/``|safe`` use listed here with its reason;
* XSS-5: the live preview is the server's own sanitiser, byte for byte;
* XSS-6: admin-editable texts are data, never templates;
* XSS-7: sort and filter parameters full of SQL change nothing and never reach the SQL.
"""

import ast
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

import flicket
from flicket.accounts.models import User
from flicket.departments.models import Category, Department
from flicket.markdown import render_markdown
from flicket.tickets.models import Post, Ticket
from tests.conftest import csrf_token_from, login
from tests.factories import make_ticket
from tests.functional.test_ticket_operations import configure
from tests.functional.test_ticket_xss import CORPUS

pytest_plugins = ["tests.api_helpers"]

PACKAGE = Path(flicket.__file__).parent
TEMPLATES = PACKAGE / "templates"

#: file -> reason, for every place allowed to mark a string as safe HTML.
ALLOWED_MARKUP = {
    "markdown.py": "render_markdown: the output of nh3.clean with the allowlist (XSS-3)",
}


# -- XSS-2: static check --------------------------------------------------------------------------


def template_files():
    return sorted(p for p in TEMPLATES.rglob("*") if p.is_file())


def test_there_are_templates_to_scan():
    assert len(template_files()) > 20


@pytest.mark.parametrize("path", template_files(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_templates_never_turn_escaping_off(path):
    text = path.read_text(encoding="utf-8")
    for pattern in (
        r"\|\s*safe\b",
        r"autoescape\s+false",
        r"\{%-?\s*autoescape\b",
        r"\bMarkup\s*\(",
        r"structure:",
        r"\|\s*safe_markdown",
    ):
        assert not re.search(pattern, text), (path.name, pattern)


def python_files():
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


def test_markup_is_built_only_where_listed():
    """``Markup(...)``, ``Markup.format``-less f-strings and ``__html__`` appear only in
    the listed modules; ``Markup`` is never given an f-string, a ``%`` or ``.format``."""
    found = {}
    for path in python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = getattr(func, "id", None) or getattr(func, "attr", None)
                if name == "Markup":
                    found.setdefault(path.name, []).append(node.lineno)
                    for argument in node.args:
                        assert not isinstance(argument, ast.JoinedStr), (path, node.lineno)
                        assert not (
                            isinstance(argument, ast.BinOp) and isinstance(argument.op, ast.Mod)
                        ), (path, node.lineno)
                        assert not (
                            isinstance(argument, ast.Call)
                            and getattr(argument.func, "attr", None) == "format"
                        ), (path, node.lineno)
            if isinstance(node, ast.FunctionDef) and node.name == "__html__":
                found.setdefault(path.name, []).append(node.lineno)
    assert set(found) <= set(ALLOWED_MARKUP), found


def test_jinja_autoescapes_every_template(registry):
    from pyramid_jinja2 import IJinja2Environment

    environment = registry.queryUtility(IJinja2Environment, name=".jinja2")
    assert environment is not None
    for path in template_files():
        name = str(path.relative_to(TEMPLATES))
        if name.endswith(".jinja2"):
            autoescape = environment.autoescape
            enabled = autoescape(name) if callable(autoescape) else autoescape
            if "/email/" in "/" + name and name.endswith(".txt.jinja2"):
                continue  # plain-text mail bodies are text
            assert enabled, name


# -- XSS-5: the preview is the stored render ------------------------------------------------------


@pytest.mark.parametrize("source", CORPUS + ["# T\n\n**b** [l](https://example.com)"])
def test_the_preview_is_exactly_the_server_render(testapp, users, source):
    login(testapp, "alice")
    token = csrf_token_from(testapp.get("/ticket_create/"))
    response = testapp.post(
        "/markdown_preview", {"content": source, "csrf_token": token}, status=200
    )
    assert response.text == str(render_markdown(source))


# -- XSS-6: no template injection -----------------------------------------------------------------

SSTI = "{{7*7}}${7*7}<%=7*7%>"


def test_the_application_title_is_data_not_a_template(testapp, dbsession, users):
    configure(dbsession, application_title=SSTI)
    pages = [testapp.get("/login", status=200)]
    login(testapp, "alice")
    pages += [testapp.get(path, status=200) for path in ("/", "/tickets/")]
    for path, page in zip(("/login", "/", "/tickets/"), pages, strict=True):
        assert "{{7*7}}${7*7}&lt;%=7*7%&gt;" in page.text, path
        assert SSTI in page.html.title.get_text(), path


def test_ticket_texts_are_data_not_templates(testapp, dbsession, users):
    ticket = make_ticket(dbsession, users["alice"], title=SSTI, content=SSTI + " body")
    login(testapp, "alice")
    page = testapp.get(f"/ticket_view/{ticket.id}/")
    assert "{{7*7}}${7*7}&lt;%=7*7%&gt;" in page.text
    assert ">49<" not in page.text


# -- XSS-7: SQL in parameters ---------------------------------------------------------------------

SQL = [
    "title;DROP TABLE flicket_topic",
    "id desc--",
    "' OR 1=1 --",
    "1) OR (1=1",
    "title_desc; DELETE FROM flicket_users",
    "\\'; DROP TABLE flicket_users; --",
    "%' UNION SELECT password FROM flicket_users --",
]


def row_counts(dbsession):
    dbsession.expire_all()
    return tuple(
        dbsession.scalar(sa.select(sa.func.count()).select_from(model))
        for model in (Ticket, Post, User, Department, Category)
    )


@pytest.fixture
def tickets(dbsession, users):
    return [
        make_ticket(dbsession, users["alice"], "Alpha printer"),
        make_ticket(dbsession, users["bob"], "Beta scanner"),
    ]


@pytest.mark.parametrize("value", SQL)
@pytest.mark.parametrize(
    "template",
    [
        "/tickets/?sort={}",
        "/tickets/?status={}",
        "/tickets/?department={}&category={}",
        "/tickets/?content={}",
        "/tickets/?user_id={}",
        "/tickets_csv/?sort={}&content={}",
        "/users/?filter={}",
        "/users/complete?q={}",
    ],
)
def test_sql_in_page_parameters_changes_nothing(login_as, dbsession, tickets, template, value):
    app = login_as("admin")
    before = row_counts(dbsession)
    response = app.get(template.format(value, value), status="*")
    assert response.status_int in (200, 400), response.status
    assert row_counts(dbsession) == before


@pytest.mark.parametrize("value", SQL)
@pytest.mark.parametrize(
    "query",
    ["sort={}", "status={}", "department={}", "category={}", "q={}", "assigned_id={}", "name={}"],
)
def test_sql_in_api_parameters_is_400_or_matches_nothing(api_as, dbsession, tickets, query, value):
    before = row_counts(dbsession)
    response = api_as("admin").get("/flicket-api/tickets/?" + query.format(value), status="*")
    assert response.status_int in (200, 400), response.status
    if response.status_int == 200 and not query.startswith("name="):
        # An injected "OR 1=1" would list every ticket; a value that is only data lists none
        # (sort values outside the allowlist are refused or ignored, never interpolated).
        if not query.startswith("sort="):
            assert response.json["items"] == []
    assert row_counts(dbsession) == before


def test_a_search_for_a_quote_finds_the_ticket_that_has_it(api_as, dbsession, users):
    """The search term is a bound value: quotes and wildcards match themselves."""
    wanted = make_ticket(dbsession, users["alice"], "O'Brien's 100% printer")
    make_ticket(dbsession, users["alice"], "Another printer")
    client = api_as("admin")
    for term in ["O'Brien", "100%", "'s 1"]:
        items = client.get("/flicket-api/tickets/", params={"q": term}).json["items"]
        assert [item["id"] for item in items] == [wanted.id], term
    assert client.get("/flicket-api/tickets/", params={"q": "%%"}).json["items"] == []
    assert client.get("/flicket-api/tickets/", params={"q": "_"}).json["items"] == []
