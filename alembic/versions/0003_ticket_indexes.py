"""Indexes for every ticket filter, sort and foreign key.

Revision ID: 0003_ticket_indexes
Revises: 0002_accounts
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_ticket_indexes"
down_revision = "0002_accounts"
branch_labels = None
depends_on = None

#: (table, column, is the column a foreign key)
INDEXES = [
    ("flicket_category", "department_id", True),
    ("flicket_history", "post_id", True),
    ("flicket_history", "topic_id", True),
    ("flicket_post", "ticket_id", True),
    ("flicket_post", "user_id", True),
    ("flicket_ticket_action", "post_id", True),
    ("flicket_ticket_action", "ticket_id", True),
    ("flicket_ticket_subscription", "ticket_id", True),
    ("flicket_ticket_subscription", "user_id", True),
    ("flicket_topic", "assigned_id", True),
    ("flicket_topic", "category_id", True),
    ("flicket_topic", "date_added", False),
    ("flicket_topic", "last_updated", False),
    ("flicket_topic", "started_id", True),
    ("flicket_topic", "status_id", True),
    ("flicket_topic", "ticket_priority_id", True),
    ("flicket_uploads", "filename", False),
    ("flicket_uploads", "posts_id", True),
    ("flicket_uploads", "topic_id", True),
]


def upgrade():
    for table, column, _ in INDEXES:
        op.create_index(f"ix_{table}_{column}", table, [column], unique=False)


def _drop_index(table, column, is_foreign_key):
    name = f"ix_{table}_{column}"
    bind = op.get_bind()
    if not (is_foreign_key and bind.dialect.name == "mysql"):
        op.drop_index(name, table_name=table)
        return
    # MySQL uses our index for the foreign key (it dropped its own when we created ours)
    # and refuses to drop it: drop the key, then the index, and add the key back, which
    # makes MySQL create its own index again.
    keys = [
        fk
        for fk in sa.inspect(bind).get_foreign_keys(table)
        if fk["constrained_columns"] == [column]
    ]
    for fk in keys:
        op.drop_constraint(fk["name"], table, type_="foreignkey")
    op.drop_index(name, table_name=table)
    for fk in keys:
        op.create_foreign_key(
            fk["name"], table, fk["referred_table"], [column], fk["referred_columns"]
        )


def downgrade():
    for table, column, is_foreign_key in reversed(INDEXES):
        _drop_index(table, column, is_foreign_key)
