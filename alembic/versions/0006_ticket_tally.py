"""The home page at any size: ticket counts by category, status and priority kept by the
database, and an index for its newest high-priority tickets.

The home dashboard's totals and department charts were one grouped count over every ticket:
cheap at a thousand tickets, a scan of the whole index at a million. ``flicket_ticket_tally``
holds that count, one row per (category, status, priority) with its tickets and how many of
them are assigned (0 stands for a ticket without one), so the dashboard reads a few dozen
rows at any size.

Triggers on ``flicket_topic`` keep it right on insert, delete and every update of those
four columns, whoever writes (the application, flicket-populate, a hand-made UPDATE). A
ticket that moves between two rows touches them in key order, so two moves in opposite
directions wait for each other instead of deadlocking. The rows of existing tickets are
counted here, after the triggers exist.

The index on (ticket_priority_id, date_added) gives the newest open tickets of a priority
by reading the index from its end, a page's worth of entries, instead of sorting them all.

Revision ID: 0006_ticket_tally
Revises: 0005_ticket_search
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_ticket_tally"
down_revision = "0005_ticket_search"
branch_labels = None
depends_on = None

TABLE = "flicket_ticket_tally"
KEY = ("category_id", "status_id", "ticket_priority_id")
TRIGGERS = (
    "flicket_ticket_tally_insert",
    "flicket_ticket_tally_delete",
    "flicket_ticket_tally_update",
)
PG_FUNCTION = "flicket_ticket_tally_count"
PRIORITY_DATE_INDEX = "ix_flicket_topic_priority_date_added"


def _key(row):
    """The tally key of ``row`` (``new``/``old``), 0 for a missing value."""
    return [f"COALESCE({row}.{column}, 0)" for column in KEY]


def _where(row):
    return " AND ".join(
        f"{column} = {value}" for column, value in zip(KEY, _key(row), strict=True)
    )


def _assigned(row):
    return f"(CASE WHEN {row}.assigned_id IS NULL THEN 0 ELSE 1 END)"


def _remove(row):
    return (
        f"UPDATE {TABLE} SET tickets = tickets - 1, assigned = assigned - {_assigned(row)} "
        f"WHERE {_where(row)}"
    )


def _changed(old, new, same):
    """SQL true when the update moved the ticket to another row or changed whether it is
    assigned; ``same`` is the dialect's null-safe equality (``IS``, ``<=>``...)."""
    moved = " OR ".join(f"NOT ({old}.{c} {same} {new}.{c})" for c in KEY)
    return f"{moved} OR ({old}.assigned_id IS NULL) <> ({new}.assigned_id IS NULL)"


def _sqlite_upgrade():
    # SQLite has one writer at a time: no lock order to keep.
    def add(row):
        return (
            f"INSERT OR IGNORE INTO {TABLE} ({', '.join(KEY)}, tickets, assigned) "
            f"VALUES ({', '.join(_key(row))}, 0, 0); "
            f"UPDATE {TABLE} SET tickets = tickets + 1, assigned = assigned + {_assigned(row)} "
            f"WHERE {_where(row)};"
        )

    op.execute(
        f"CREATE TRIGGER {TRIGGERS[0]} AFTER INSERT ON flicket_topic BEGIN {add('new')} END"
    )
    op.execute(
        f"CREATE TRIGGER {TRIGGERS[1]} AFTER DELETE ON flicket_topic BEGIN {_remove('old')}; END"
    )
    op.execute(
        f"CREATE TRIGGER {TRIGGERS[2]} AFTER UPDATE OF {', '.join(KEY)}, assigned_id "
        f"ON flicket_topic WHEN {_changed('old', 'new', 'IS')} "
        f"BEGIN {_remove('old')}; {add('new')} END"
    )


def _mysql_add(row):
    return (
        f"INSERT INTO {TABLE} ({', '.join(KEY)}, tickets, assigned) "
        f"VALUES ({', '.join(_key(row))}, 1, {_assigned(row)}) "
        f"ON DUPLICATE KEY UPDATE tickets = tickets + 1, assigned = assigned + {_assigned(row)}"
    )


def _mysql_upgrade():
    op.execute(
        f"CREATE TRIGGER {TRIGGERS[0]} AFTER INSERT ON flicket_topic FOR EACH ROW {_mysql_add('NEW')}"
    )
    op.execute(
        f"CREATE TRIGGER {TRIGGERS[1]} AFTER DELETE ON flicket_topic FOR EACH ROW {_remove('OLD')}"
    )
    old_key, new_key = ", ".join(_key("OLD")), ", ".join(_key("NEW"))
    op.execute(
        f"CREATE TRIGGER {TRIGGERS[2]} AFTER UPDATE ON flicket_topic FOR EACH ROW "
        f"BEGIN IF {_changed('OLD', 'NEW', '<=>')} THEN "
        f"IF ({old_key}) <= ({new_key}) THEN {_remove('OLD')}; {_mysql_add('NEW')}; "
        f"ELSE {_mysql_add('NEW')}; {_remove('OLD')}; END IF; "
        "END IF; END"
    )


def _pg_upgrade():
    add = (
        f"INSERT INTO {TABLE} ({', '.join(KEY)}, tickets, assigned) "
        f"VALUES ({', '.join(_key('NEW'))}, 1, {_assigned('NEW')}) "
        f"ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET tickets = {TABLE}.tickets + 1, "
        f"assigned = {TABLE}.assigned + EXCLUDED.assigned"
    )
    old_key, new_key = ", ".join(_key("OLD")), ", ".join(_key("NEW"))
    # OR REPLACE: a database emptied table by table keeps its functions.
    op.execute(
        f"CREATE OR REPLACE FUNCTION {PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN "
        f"IF TG_OP = 'INSERT' THEN {add}; "
        f"ELSIF TG_OP = 'DELETE' THEN {_remove('OLD')}; "
        f"ELSIF {_changed('OLD', 'NEW', 'IS NOT DISTINCT FROM')} THEN "
        f"IF ROW({old_key}) <= ROW({new_key}) THEN {_remove('OLD')}; {add}; "
        f"ELSE {add}; {_remove('OLD')}; END IF; "
        "END IF; "
        "RETURN NULL; "
        "END $$"
    )
    op.execute(
        f"CREATE TRIGGER {TRIGGERS[0]} AFTER INSERT ON flicket_topic "
        f"FOR EACH ROW EXECUTE FUNCTION {PG_FUNCTION}()"
    )
    op.execute(
        f"CREATE TRIGGER {TRIGGERS[1]} AFTER DELETE ON flicket_topic "
        f"FOR EACH ROW EXECUTE FUNCTION {PG_FUNCTION}()"
    )
    op.execute(
        f"CREATE TRIGGER {TRIGGERS[2]} AFTER UPDATE OF {', '.join(KEY)}, assigned_id "
        f"ON flicket_topic FOR EACH ROW EXECUTE FUNCTION {PG_FUNCTION}()"
    )


UPGRADES = {"sqlite": _sqlite_upgrade, "mysql": _mysql_upgrade, "postgresql": _pg_upgrade}


def upgrade():
    op.create_table(
        TABLE,
        *(sa.Column(column, sa.Integer(), autoincrement=False, nullable=False) for column in KEY),
        sa.Column("tickets", sa.Integer(), server_default="0", nullable=False),
        sa.Column("assigned", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint(*KEY, name=op.f("pk_flicket_ticket_tally")),
    )
    UPGRADES[op.get_bind().dialect.name]()
    op.execute(
        f"INSERT INTO {TABLE} ({', '.join(KEY)}, tickets, assigned) "
        "SELECT COALESCE(category_id, 0), COALESCE(status_id, 0), "
        "COALESCE(ticket_priority_id, 0), COUNT(*), COUNT(assigned_id) FROM flicket_topic "
        "GROUP BY COALESCE(category_id, 0), COALESCE(status_id, 0), "
        "COALESCE(ticket_priority_id, 0)"
    )
    op.create_index(PRIORITY_DATE_INDEX, "flicket_topic", ["ticket_priority_id", "date_added"])


def downgrade():
    dialect = op.get_bind().dialect.name
    op.drop_index(PRIORITY_DATE_INDEX, table_name="flicket_topic")
    for trigger in TRIGGERS:
        on = " ON flicket_topic" if dialect == "postgresql" else ""
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}{on}")
    if dialect == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {PG_FUNCTION}()")
    op.drop_table(TABLE)
