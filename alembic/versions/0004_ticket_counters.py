"""Reply count and total hours stored on each ticket, and indexes for the lists at size.

``flicket_topic.reply_count`` (its replies) and ``flicket_topic.total_hours`` (its own
hours plus its replies' hours) were computed for every ticket of every list page and sort;
stored, they are read like any column and sorted through an index. They are computed here
for the tickets already there; the ticket service keeps them right from then on, and
``flicket-update-user-posts`` repairs them.

Two composite indexes: (status_id, ticket_priority_id) for the default list (open tickets
by priority) and (category_id, status_id, ticket_priority_id, assigned_id) for the
dashboard's counts per department, status and priority, read from the index alone.

Revision ID: 0004_ticket_counters
Revises: 0003_ticket_indexes
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_ticket_counters"
down_revision = "0003_ticket_indexes"
branch_labels = None
depends_on = None

COMPOSITE_INDEXES = {
    "ix_flicket_topic_status_id_ticket_priority_id": ["status_id", "ticket_priority_id"],
    "ix_flicket_topic_category_status_priority_assigned": [
        "category_id",
        "status_id",
        "ticket_priority_id",
        "assigned_id",
    ],
}


def upgrade():
    # Plain ADD COLUMN (no table copy on SQLite), then the values for existing tickets.
    op.add_column(
        "flicket_topic",
        sa.Column("reply_count", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column(
        "flicket_topic",
        sa.Column("total_hours", sa.Numeric(12, 2), server_default="0", nullable=False),
    )
    op.execute(
        "UPDATE flicket_topic SET "
        "reply_count = (SELECT COUNT(*) FROM flicket_post p WHERE p.ticket_id = flicket_topic.id), "
        "total_hours = COALESCE(hours, 0) + (SELECT COALESCE(SUM(p.hours), 0) "
        "FROM flicket_post p WHERE p.ticket_id = flicket_topic.id)"
    )
    op.create_index("ix_flicket_topic_reply_count", "flicket_topic", ["reply_count"])
    op.create_index("ix_flicket_topic_total_hours", "flicket_topic", ["total_hours"])
    for name, columns in COMPOSITE_INDEXES.items():
        op.create_index(name, "flicket_topic", columns)


def _drop_index(name, columns):
    bind = op.get_bind()
    if bind.dialect.name != "mysql":
        op.drop_index(name, table_name="flicket_topic")
        return
    # MySQL may have adopted the composite index for the foreign key of its first column
    # (and dropped its own); it refuses to drop it then. Put a plain index there first.
    single = f"ix_flicket_topic_{columns[0]}"
    existing = {index["name"] for index in sa.inspect(bind).get_indexes("flicket_topic")}
    if single not in existing:
        op.create_index(single, "flicket_topic", [columns[0]])
    op.drop_index(name, table_name="flicket_topic")


def downgrade():
    for name, columns in COMPOSITE_INDEXES.items():
        _drop_index(name, columns)
    op.drop_index("ix_flicket_topic_total_hours", table_name="flicket_topic")
    op.drop_index("ix_flicket_topic_reply_count", table_name="flicket_topic")
    # Plain DROP COLUMN (SQLite 3.35+), as 0002 does.
    op.drop_column("flicket_topic", "total_hours")
    op.drop_column("flicket_topic", "reply_count")
