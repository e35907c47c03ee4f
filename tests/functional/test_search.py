"""Full-text search: the same query gives the same tickets on SQLite, MariaDB and
PostgreSQL, through the index (FTS5, FULLTEXT, tsvector + GIN) and through the substring
fallback; the index follows every write.

The data is committed (``CommittedSite``): MariaDB's FULLTEXT index sees committed rows
only, so the rolled-back harness of the other tests cannot show it working.
"""

import pytest
import sqlalchemy as sa

from flicket.tickets import search
from flicket.tickets.models import Post, Subscription, Ticket
from tests.conftest import basic_auth
from tests.factories import make_post, make_ticket
from tests.reliability.committed import CommittedSite

A = "/flicket-api"


@pytest.fixture(scope="module")
def site(db_url, tmp_path_factory):
    committed = CommittedSite(db_url, tmp_path_factory.mktemp("search"))
    yield committed
    committed.close()


@pytest.fixture(scope="module")
def corpus(site):
    """name -> ticket id; every test reads this data and leaves it as it was."""
    (author,) = site.add_users(1, prefix="searcher")
    tickets = {}
    with site.session() as session:
        user = site.user(session, author)

        def ticket(name, title, content, replies=(), **kw):
            made = make_ticket(session, user, title, content, **kw)
            for text in replies:
                make_post(session, made, user, text)
            tickets[name] = made

        ticket("printer", "Printer on fire", "The printer on floor 2 is smoking.")
        ticket(
            "keyboard",
            "Keyboard",
            "Keys stick.",
            replies=["Ordered a new keyboard from the supplier."],
        )
        ticket("accents", "Café order", "The résumé of the meeting.")
        ticket(
            "vpn",
            "VPN",
            "Error REF-12345 when connecting to vpn.example.com",
            replies=["Contact alice@example.com about it"],
        )
        ticket("blueprint", "Blueprint scanner", "Scan the blueprints.")
        ticket("wait", "Wait for IT", "Nothing.", status_name="Closed")
        session.flush()
        ids = {name: t.id for name, t in tickets.items()}
    return ids


@pytest.fixture(scope="module")
def api(site, corpus):
    (name,) = site.add_users(1, prefix="reader")
    client = site.client()
    token = client.post(f"{A}/tokens", headers=basic_auth(name)).json["token"]
    client.authorization = ("Bearer", token)
    return client


def found(api, corpus, text):
    """The names of the corpus tickets the API's ``q`` finds (every status)."""
    items = api.get(f"{A}/tickets/", {"q": text, "per_page": 100}).json["items"]
    names = {ticket_id: name for name, ticket_id in corpus.items()}
    return sorted(names[item["id"]] for item in items if item["id"] in names)


#: query -> the tickets it finds, on every database, through the index.
INDEXED = {
    "printer": ["printer"],
    "PRINTER": ["printer"],
    # A word is found as a word or the start of one: not inside "blueprint".
    "print": ["printer"],
    "blueprint": ["blueprint"],
    # Every word, wherever it is in the ticket (title, text, replies).
    "keyboard supplier": ["keyboard"],
    "supplier": ["keyboard"],
    "keyboard fire": [],
    "fire floor": ["printer"],
    # Case and accents do not matter.
    "cafe": ["accents"],
    "CAFÉ": ["accents"],
    "resume": ["accents"],
    "résumé": ["accents"],
    # Punctuation parts words: e-mail addresses, host names, references.
    "12345": ["vpn"],
    "REF-12345": ["vpn"],
    "example": ["vpn"],
    "alice": ["vpn"],
    "vpn.example.com": ["vpn"],
    # Words an index would skip as too common are found.
    "the": ["accents", "blueprint", "keyboard", "printer"],
    "about": ["vpn"],
    # Words under three characters are looked for anywhere in the text.
    "it": ["vpn", "wait"],
    "2": ["printer", "vpn"],
    "floor 2": ["printer"],
    # No word, no match; wildcards are not wildcards.
    "%": [],
    "_": [],
    "*": [],
    '"': [],
    "print*": ["printer"],
    "nothing-like-this": [],
}


@pytest.mark.parametrize("text", list(INDEXED))
def test_the_index_finds_the_same_tickets_on_every_database(site, api, corpus, text):
    assert found(api, corpus, text) == INDEXED[text]


def test_the_index_is_used(site):
    with site.session() as session:
        assert search.index_available(session.connection())


def test_the_ticket_list_searches_the_same_way(site, corpus):
    (name,) = site.add_users(1, prefix="lister")
    page = site.client(name).get("/tickets/", {"content": "keyboard supplier"})
    assert f"/ticket_view/{corpus['keyboard']}/" in page.text
    assert f"/ticket_view/{corpus['printer']}/" not in page.text
    # Closed tickets stay hidden unless asked for, search or not.
    hidden = site.client(name).get("/tickets/", {"content": "wait"})
    assert f"/ticket_view/{corpus['wait']}/" not in hidden.text


#: query -> the tickets the substring fallback finds, on every database.
FALLBACK = {
    "printer": ["printer"],
    # Inside words too: the difference from the index.
    "print": ["blueprint", "printer"],
    "keyboard supplier": ["keyboard"],
    "12345": ["vpn"],
    "it": ["vpn", "wait"],
    "%": [],
    "nothing-like-this": [],
}


@pytest.fixture
def without_index(site):
    settings = site.app.registry.settings
    settings["flicket.search.fulltext"] = False
    yield
    settings["flicket.search.fulltext"] = True


@pytest.mark.parametrize("text", list(FALLBACK))
def test_the_substring_fallback_finds_the_same_tickets_on_every_database(
    site, api, corpus, without_index, text
):
    assert found(api, corpus, text) == FALLBACK[text]


def test_the_index_follows_edits_and_deletions(site, api, corpus):
    (name,) = site.add_users(1, prefix="editor")
    with site.session() as session:
        ticket = make_ticket(session, site.user(session, name), "Projector flickers", "Room 4.")
        reply = make_post(session, ticket, site.user(session, name), "Replaced the lamp.")
        session.flush()
        ticket_id, reply_id = ticket.id, reply.id
    assert found_ids(api, "projector lamp") == [ticket_id]

    with site.session() as session:
        session.get(Ticket, ticket_id).title = "Beamer flickers"
        session.get(Post, reply_id).content = "Replaced the bulb."
    assert found_ids(api, "projector") == []
    assert found_ids(api, "lamp") == []
    assert found_ids(api, "beamer bulb") == [ticket_id]

    # A reply moved to another ticket (by hand: the application never does) is found there;
    # a reply without text, then given some, is found once it has it.
    with site.session() as session:
        other = make_ticket(session, site.user(session, name), "Whiteboard", "Room 5.")
        session.flush()
        other_id = other.id
        session.get(Post, reply_id).ticket_id = other_id
        empty = make_post(session, other, site.user(session, name), None)
        session.flush()
        empty_id = empty.id
    assert found_ids(api, "bulb") == [other_id]
    with site.session() as session:
        session.get(Post, empty_id).content = "Markers ordered."
        session.get(Post, reply_id).ticket_id = ticket_id
    assert found_ids(api, "markers") == [other_id]
    assert found_ids(api, "bulb") == [ticket_id]

    with site.session() as session:
        session.execute(sa.delete(Post).where(Post.id.in_([reply_id, empty_id])))
    assert found_ids(api, "bulb") == []
    assert found_ids(api, "markers") == []
    assert found_ids(api, "beamer") == [ticket_id]
    if site.kind == "sqlite":  # FTS5 checks its index against what the triggers gave it
        with site.session() as session:
            for fts in ("flicket_topic_fts", "flicket_post_fts"):
                check = f"INSERT INTO {fts}({fts}) VALUES ('integrity-check')"  # noqa: S608
                session.execute(sa.text(check))

    with site.session() as session:
        session.execute(sa.delete(Subscription).where(Subscription.ticket_id == ticket_id))
        session.execute(sa.delete(Ticket).where(Ticket.id == ticket_id))
    assert found_ids(api, "beamer") == []


def found_ids(api, text):
    return [item["id"] for item in api.get(f"{A}/tickets/", {"q": text}).json["items"]]


def test_words_are_runs_of_letters_and_digits():
    assert search.words("O'Brien's 100% printer, PRINTER!") == [
        "o",
        "brien",
        "s",
        "100",
        "printer",
    ]
    assert search.words("%_*\"'") == []
    assert search.words("Café résumé") == ["café", "résumé"]
    assert len(search.words(" ".join(f"w{n}" for n in range(50)))) == search.MAX_WORDS


def test_a_sqlite_database_without_the_fts_tables_falls_back_to_substrings(tmp_path):
    """A SQLite built without FTS5 gets no FTS tables from migration 0005: the search then
    matches substrings, with the same rules for words."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'no-fts.sqlite'}")
    Ticket.metadata.create_all(engine)
    try:
        with engine.begin() as conn:
            assert not search.index_available(conn)
            conn.execute(sa.insert(Ticket).values(id=1, title="Blueprint scanner"))
            conn.execute(sa.insert(Ticket).values(id=2, title="Printer"))
            condition = search.text_matches("print", conn)
            assert "LIKE" in str(condition.compile(conn))
            assert sorted(conn.scalars(sa.select(Ticket.id).where(condition))) == [1, 2]
            assert (
                list(conn.scalars(sa.select(Ticket.id).where(search.text_matches("%", conn))))
                == []
            )
    finally:
        engine.dispose()
