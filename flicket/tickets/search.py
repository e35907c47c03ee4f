"""Free-text search of tickets (the lists' ``content`` filter and the API's ``q``), on the
database's own full-text index.

What a search means, the same on SQLite, MariaDB and PostgreSQL (tested on the three):

- the text is cut into words, runs of letters and digits (anything else parts words:
  ``O'Brien's 100%`` is ``o``, ``brien``, ``s``, ``100``); a text without words matches
  nothing;
- a ticket matches when *every* word is found in its title, its text or any of its replies
  (not necessarily the same one), ignoring case and accents;
- a word of three characters or more is found as a word or the start of a word (``print``
  finds "printer", not "blueprint"): that is the full-text index;
- a shorter word (``IT``, ``2``), which no index here stores, is found anywhere inside the
  text (``it`` finds "wait"), as is every word where the index is unavailable (SQLite built
  without FTS5, or ``flicket.search.fulltext = false``): the substring fallback.

The indexes (migration 0005): SQLite FTS5 tables ``flicket_topic_fts`` (title, content)
and ``flicket_post_fts`` (reply content, keyed by ticket and reply so that the tickets of
the matching replies come from the index alone), kept in sync by triggers;
MariaDB/MySQL FULLTEXT indexes on the same columns (InnoDB keeps them; stop words off);
PostgreSQL GIN indexes on ``to_tsvector('flicket_search', ...)``, a text search
configuration that lower-cases and removes accents (``unaccent``) without stemming. The
three databases cut words the same way, except that MariaDB keeps ``_`` and an inner
``'`` inside a word: there ``brien`` finds "O'Brien" only when searched as ``o'brien`` or
``O'Brien`` (the whole word), which the other two find either way.
"""

import re
import weakref

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from flicket.tickets.models import Post, Ticket

#: No ticket field is longer than this, so a longer search text cannot match anything.
MAX_SEARCH = 5000
#: Words shorter than this are not in MariaDB's index (innodb_ft_min_token_size, 3 by
#: default): everywhere they are looked for as substrings, so results are the same.
MIN_INDEXED_WORD = 3
#: More words than this are ignored (each word is one more condition).
MAX_WORDS = 12
#: The PostgreSQL text search configuration of migration 0005.
PG_CONFIGURATION = "flicket_search"

_WORD = re.compile(r"[^\W_]+")
#: Punctuation PostgreSQL's parser would keep inside a token (e-mail addresses, URLs, file
#: paths, version numbers): replaced by spaces in the indexed expression, as the other
#: databases cut there. The index expressions of migration 0005 are exactly these.
PG_PUNCTUATION = "[[:punct:]]+"

#: engine -> whether its SQLite database has the FTS5 tables (a schema fact, read once).
_sqlite_fts = weakref.WeakKeyDictionary()
#: engine -> MariaDB's smallest indexed word (a server setting, read once).
_mysql_min_word = weakref.WeakKeyDictionary()


def words(text):
    """The search words of ``text``, lower-cased, each once, in order."""
    seen = []
    for word in _WORD.findall(text.lower()):
        if word not in seen:
            seen.append(word)
    return seen[:MAX_WORDS]


def pg_document(*columns):
    """The PostgreSQL indexed expression over ``columns``, exactly as migration 0005 wrote
    it (constants inline, not bound, so that the planner matches it to the index)."""
    empty, space = sa.literal_column("''"), sa.literal_column("' '")
    text = sa.func.coalesce(columns[0], empty)
    for column in columns[1:]:
        text = text.op("||")(space).op("||")(sa.func.coalesce(column, empty))
    cleaned = sa.func.regexp_replace(
        text, sa.literal_column(f"'{PG_PUNCTUATION}'"), space, sa.literal_column("'g'")
    )
    return sa.func.to_tsvector(sa.literal_column(f"'{PG_CONFIGURATION}'::regconfig"), cleaned)


def _substring(word):
    """The fallback: ``word`` anywhere in the title, the text or a reply (``%`` and ``_``
    taken literally)."""
    in_reply = (
        sa.exists()
        .where(Post.ticket_id == Ticket.id, Post.content.icontains(word, autoescape=True))
        .correlate(Ticket)
    )
    return sa.or_(
        Ticket.title.icontains(word, autoescape=True),
        Ticket.content.icontains(word, autoescape=True),
        in_reply,
    )


def _sqlite_indexed(word):
    query = '"' + word.replace('"', '""') + '"*'
    in_ticket = (
        sa.select(sa.literal_column("rowid"))
        .select_from(sa.table("flicket_topic_fts"))
        .where(sa.literal_column("flicket_topic_fts").op("MATCH")(query))
    )
    # A reply's rowid there is its ticket's id times 2**32 plus its own (migration 0005).
    in_reply = (
        sa.select(sa.literal_column("rowid").op(">>")(32))
        .select_from(sa.table("flicket_post_fts"))
        .where(sa.literal_column("flicket_post_fts").op("MATCH")(query))
    )
    return sa.or_(Ticket.id.in_(in_ticket), Ticket.id.in_(in_reply))


def _mysql_indexed(word):
    query = word + "*"
    topic = sa.orm.aliased(Ticket, name="ticket_words")
    in_ticket = sa.select(topic.id).where(
        mysql.match(topic.title, topic.content, against=query).in_boolean_mode()
    )
    in_reply = sa.select(Post.ticket_id).where(
        mysql.match(Post.content, against=query).in_boolean_mode()
    )
    return sa.or_(Ticket.id.in_(in_ticket), Ticket.id.in_(in_reply))


def _pg_indexed(word):
    query = sa.func.to_tsquery(sa.literal_column(f"'{PG_CONFIGURATION}'::regconfig"), word + ":*")
    topic = sa.orm.aliased(Ticket, name="ticket_words")
    in_ticket = sa.select(topic.id).where(pg_document(topic.title, topic.content).op("@@")(query))
    in_reply = sa.select(Post.ticket_id).where(pg_document(Post.content).op("@@")(query))
    return sa.or_(Ticket.id.in_(in_ticket), Ticket.id.in_(in_reply))


INDEXED = {"sqlite": _sqlite_indexed, "mysql": _mysql_indexed, "postgresql": _pg_indexed}


def index_available(connection):
    """Whether the database of ``connection`` has the full-text index of migration 0005."""
    dialect = connection.dialect.name
    if dialect == "sqlite":
        engine = connection.engine
        if engine not in _sqlite_fts:
            _sqlite_fts[engine] = bool(
                connection.exec_driver_sql(
                    "SELECT 1 FROM sqlite_master WHERE name = 'flicket_post_fts'"
                ).first()
            )
        return _sqlite_fts[engine]
    return dialect in INDEXED


def smallest_indexed_word(connection):
    if connection.dialect.name != "mysql":
        return MIN_INDEXED_WORD
    engine = connection.engine
    if engine not in _mysql_min_word:
        value = connection.exec_driver_sql("SELECT @@innodb_ft_min_token_size").scalar()
        _mysql_min_word[engine] = max(MIN_INDEXED_WORD, int(value or MIN_INDEXED_WORD))
    return _mysql_min_word[engine]


def searcher(request):
    """``text -> condition`` for the request's database and settings."""
    use_index = request.registry.settings["flicket.search.fulltext"]
    return lambda text: text_matches(text, request.dbsession.connection(), use_index)


def text_matches(text, connection, use_index=True):
    """The condition on ``Ticket`` that ``text`` matches (see the module's docstring).
    ``connection``: the session or connection the statement will run on."""
    if len(text) > MAX_SEARCH:
        return sa.false()
    found = words(text)
    if not found:
        return sa.false()
    indexed = None
    if use_index and index_available(connection):
        indexed = INDEXED[connection.dialect.name]
        shortest = smallest_indexed_word(connection)
    conditions = [
        indexed(word) if indexed is not None and len(word) >= shortest else _substring(word)
        for word in found
    ]
    return sa.and_(*conditions)
