"""Full-text index of ticket titles, ticket text and replies (flicket.tickets.search).

- SQLite: FTS5 tables ``flicket_topic_fts`` (title, content) and ``flicket_post_fts``
  (content), external-content tables (the text is not stored twice), words folded for
  case and accents (``unicode61 remove_diacritics 2``), kept in sync by triggers on insert,
  update of the text and delete, so every writer (the application, flicket-populate, a
  hand-made UPDATE) keeps them right. Skipped when this SQLite has no FTS5 (the search then
  falls back to substrings).
- MariaDB/MySQL: FULLTEXT indexes on flicket_topic (title, content) and flicket_post
  (content), built without stop words (``innodb_ft_enable_stopword`` is read when an index
  is created), so "the", "com" or "will" are found like any word.
- PostgreSQL: a text search configuration ``flicket_search`` (the ``simple`` dictionary,
  no stemming, after ``unaccent`` when the extension can be created) and GIN indexes on
  ``to_tsvector('flicket_search', ...)`` of the same text, punctuation turned into spaces
  (the expressions of ``flicket.tickets.search.pg_document``).

Existing tickets and replies are indexed here. None of these objects can be described by
SQLAlchemy models: alembic/env.py leaves them out of ``alembic check``.

Revision ID: 0005_ticket_search
Revises: 0004_ticket_counters
Create Date: 2026-12-02
"""

from alembic import op

revision = "0005_ticket_search"
down_revision = "0004_ticket_counters"
branch_labels = None
depends_on = None

SQLITE_TOKENIZER = "unicode61 remove_diacritics 2"
#: FTS table -> (content table, indexed columns)
SQLITE_TABLES = {
    "flicket_topic_fts": ("flicket_topic", ("title", "content")),
    "flicket_post_fts": ("flicket_post", ("content",)),
}
MYSQL_INDEXES = {
    "ftx_flicket_topic_title_content": ("flicket_topic", "title, content"),
    "ftx_flicket_post_content": ("flicket_post", "content"),
}
PG_CONFIGURATION = "flicket_search"
PG_INDEXES = {
    "ftx_flicket_topic_text": (
        "flicket_topic",
        "coalesce(title, '') || ' ' || coalesce(content, '')",
    ),
    "ftx_flicket_post_content": ("flicket_post", "coalesce(content, '')"),
}


def _sqlite_has_fts5(bind):
    options = {row[0] for row in bind.exec_driver_sql("PRAGMA compile_options")}
    return "ENABLE_FTS5" in options


def _sqlite_upgrade(bind):
    if not _sqlite_has_fts5(bind):
        return
    for fts, (table, columns) in SQLITE_TABLES.items():
        names = ", ".join(columns)
        new = ", ".join(f"new.{c}" for c in columns)
        old = ", ".join(f"old.{c}" for c in columns)
        op.execute(
            f"CREATE VIRTUAL TABLE {fts} USING fts5({names}, content='{table}', "
            f"content_rowid='id', tokenize='{SQLITE_TOKENIZER}')"
        )
        op.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")
        op.execute(
            f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {table} BEGIN "
            f"INSERT INTO {fts}(rowid, {names}) VALUES (new.id, {new}); END"
        )
        op.execute(
            f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {table} BEGIN "
            f"INSERT INTO {fts}({fts}, rowid, {names}) VALUES ('delete', old.id, {old}); END"
        )
        op.execute(
            f"CREATE TRIGGER {fts}_update AFTER UPDATE OF {names} ON {table} BEGIN "
            f"INSERT INTO {fts}({fts}, rowid, {names}) VALUES ('delete', old.id, {old}); "
            f"INSERT INTO {fts}(rowid, {names}) VALUES (new.id, {new}); END"
        )


def _sqlite_downgrade(bind):
    for fts in SQLITE_TABLES:
        for event in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS {fts}_{event}")
        op.execute(f"DROP TABLE IF EXISTS {fts}")


def _mysql_upgrade(bind):
    bind.exec_driver_sql("SET SESSION innodb_ft_enable_stopword = OFF")
    for name, (table, columns) in MYSQL_INDEXES.items():
        op.execute(f"CREATE FULLTEXT INDEX {name} ON {table} ({columns})")


def _mysql_downgrade(bind):
    for name, (table, _columns) in MYSQL_INDEXES.items():
        op.execute(f"DROP INDEX {name} ON {table}")


def _pg_upgrade(bind):
    # unaccent is a trusted extension: the database's owner may create it. Without it the
    # configuration still folds case, not accents.
    savepoint = bind.begin_nested()
    try:
        bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS unaccent")
        savepoint.commit()
        unaccent = True
    except Exception:  # noqa: BLE001 - any refusal means: without unaccent
        savepoint.rollback()
        unaccent = False
    exists = bind.exec_driver_sql(
        f"SELECT 1 FROM pg_ts_config WHERE cfgname = '{PG_CONFIGURATION}'"
    ).first()
    if exists:
        # Left by a database emptied table by table (a configuration is no table): kept.
        unaccent = False
    else:
        op.execute(f"CREATE TEXT SEARCH CONFIGURATION {PG_CONFIGURATION} (COPY = simple)")
    if unaccent:
        op.execute(
            f"ALTER TEXT SEARCH CONFIGURATION {PG_CONFIGURATION} "
            "ALTER MAPPING FOR hword, hword_part, word WITH unaccent, simple"
        )
    for name, (table, text) in PG_INDEXES.items():
        op.execute(
            f"CREATE INDEX {name} ON {table} USING gin (to_tsvector("
            f"'{PG_CONFIGURATION}'::regconfig, regexp_replace({text}, '[[:punct:]]+', ' ', 'g')))"
        )


def _pg_downgrade(bind):
    for name in PG_INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.execute(f"DROP TEXT SEARCH CONFIGURATION IF EXISTS {PG_CONFIGURATION}")


UPGRADES = {"sqlite": _sqlite_upgrade, "mysql": _mysql_upgrade, "postgresql": _pg_upgrade}
DOWNGRADES = {"sqlite": _sqlite_downgrade, "mysql": _mysql_downgrade, "postgresql": _pg_downgrade}


def upgrade():
    bind = op.get_bind()
    UPGRADES[bind.dialect.name](bind)


def downgrade():
    bind = op.get_bind()
    DOWNGRADES[bind.dialect.name](bind)
