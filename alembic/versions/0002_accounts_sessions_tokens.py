"""Accounts: a session generation per user, hashed API tokens, rate-limit hits.

Revision ID: 0002_accounts
Revises: 0001_flicket_0_3_5
Create Date: 2026-11-28 14:25:43.492113
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_accounts"
down_revision = "0001_flicket_0_3_5"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "flicket_rate_limit_hit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=191), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flicket_rate_limit_hit")),
    )
    with op.batch_alter_table("flicket_rate_limit_hit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_flicket_rate_limit_hit_at"), ["at"], unique=False)
        batch_op.create_index("ix_flicket_rate_limit_hit_key_at", ["key", "at"], unique=False)

    op.create_table(
        "flicket_api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("expires", sa.DateTime(), nullable=False),
        sa.Column("last_used", sa.DateTime(), nullable=True),
        sa.Column("revoked", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["flicket_users.id"],
            name=op.f("fk_flicket_api_token_user_id_flicket_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flicket_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_flicket_api_token_token_hash")),
    )
    with op.batch_alter_table("flicket_api_token", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_flicket_api_token_user_id"), ["user_id"], unique=False
        )

    # A plain ADD COLUMN (no table copy), so existing users keep their rows untouched.
    op.add_column(
        "flicket_users",
        sa.Column("auth_generation", sa.Integer(), server_default="0", nullable=False),
    )


def downgrade():
    # A plain DROP COLUMN (SQLite 3.35+ has it): a batch copy of flicket_users would fail
    # on SQLite with foreign keys on as soon as any row refers to a user.
    op.drop_column("flicket_users", "auth_generation")

    # Dropping the table drops its indexes; MariaDB/MySQL refuse to drop the user_id index
    # on its own while the foreign key needs it.
    op.drop_table("flicket_api_token")
    with op.batch_alter_table("flicket_rate_limit_hit", schema=None) as batch_op:
        batch_op.drop_index("ix_flicket_rate_limit_hit_key_at")
        batch_op.drop_index(batch_op.f("ix_flicket_rate_limit_hit_at"))

    op.drop_table("flicket_rate_limit_hit")
