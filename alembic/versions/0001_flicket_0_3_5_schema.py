"""The Flicket 0.3.5 schema, table for table and column for column.

A Flicket 0.3.x database already has exactly these tables: ``flicket-setup`` recognises it
by its own alembic revision and stamps it at this revision instead of running it.

Revision ID: 0001_flicket_0_3_5
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_flicket_0_3_5"
down_revision = None
branch_labels = None
depends_on = None


def _id():
    return sa.Column("id", sa.Integer(), nullable=False, primary_key=True)


def _fk(name, target):
    return sa.Column(name, sa.Integer(), sa.ForeignKey(target), nullable=True)


def upgrade():
    op.create_table(
        "flicket_config",
        _id(),
        sa.Column("mail_server", sa.String(128)),
        sa.Column("mail_port", sa.Integer()),
        sa.Column("mail_use_tls", sa.Boolean()),
        sa.Column("mail_use_ssl", sa.Boolean()),
        sa.Column("mail_debug", sa.Boolean()),
        sa.Column("mail_username", sa.String(128)),
        sa.Column("mail_password", sa.String(256)),
        sa.Column("mail_default_sender", sa.String(128)),
        sa.Column("mail_max_emails", sa.Integer()),
        sa.Column("mail_suppress_send", sa.Boolean()),
        sa.Column("mail_ascii_attachments", sa.Boolean()),
        sa.Column("posts_per_page", sa.Integer()),
        sa.Column("allowed_extensions", sa.String(256)),
        sa.Column("ticket_upload_folder", sa.String(256)),
        sa.Column("avatar_upload_folder", sa.String(256)),
        sa.Column("application_title", sa.String(32)),
        sa.Column("base_url", sa.String(128)),
        sa.Column("auth_domain", sa.String(64)),
        sa.Column("use_auth_domain", sa.Boolean()),
        sa.Column("csv_dump_limit", sa.Integer()),
        sa.Column("change_category", sa.Boolean()),
        sa.Column("change_category_only_admin_or_super_user", sa.Boolean()),
    )
    op.create_table("flicket_department", _id(), sa.Column("department", sa.String(30)))
    op.create_table("flicket_group", _id(), sa.Column("group_name", sa.String(64)))
    op.create_table("flicket_priorities", _id(), sa.Column("priority", sa.String(12)))
    op.create_table("flicket_status", _id(), sa.Column("status", sa.String(20)))
    op.create_table(
        "flicket_users",
        _id(),
        sa.Column("username", sa.String(24)),
        sa.Column("name", sa.String(60)),
        sa.Column("password", sa.LargeBinary(60)),
        sa.Column("email", sa.String(60)),
        sa.Column("date_added", sa.DateTime()),
        sa.Column("date_modified", sa.DateTime()),
        sa.Column("job_title", sa.String(64)),
        sa.Column("avatar", sa.String(64)),
        sa.Column("total_posts", sa.Integer()),
        sa.Column("total_assigned", sa.Integer()),
        sa.Column("token", sa.String(32)),
        sa.Column("token_expiration", sa.DateTime()),
        sa.Column("locale", sa.String(10)),
        sa.Column("disabled", sa.Boolean()),
        sa.UniqueConstraint("email"),
    )
    op.create_index("ix_flicket_users_token", "flicket_users", ["token"], unique=True)
    op.create_index("ix_flicket_users_username", "flicket_users", ["username"], unique=True)
    op.create_table(
        "flicket_category",
        _id(),
        sa.Column("category", sa.String(30)),
        _fk("department_id", "flicket_department.id"),
    )
    op.create_table(
        "flicket_groups",
        _fk("user_id", "flicket_users.id"),
        _fk("group_id", "flicket_group.id"),
    )
    op.create_table(
        "flicket_topic",
        _id(),
        sa.Column("title", sa.String(128)),
        sa.Column("content", sa.String(5000)),
        _fk("started_id", "flicket_users.id"),
        sa.Column("date_added", sa.DateTime()),
        sa.Column("date_modified", sa.DateTime()),
        _fk("modified_id", "flicket_users.id"),
        _fk("status_id", "flicket_status.id"),
        _fk("category_id", "flicket_category.id"),
        _fk("assigned_id", "flicket_users.id"),
        _fk("ticket_priority_id", "flicket_priorities.id"),
        sa.Column("hours", sa.Numeric(10, 2), server_default="0"),
        # Flicket's migration fixed this default to the day it was generated.
        sa.Column("last_updated", sa.DateTime(), server_default="2025-01-28"),
    )
    op.create_index("ix_flicket_topic_title", "flicket_topic", ["title"], unique=False)
    op.create_table(
        "flicket_post",
        _id(),
        _fk("ticket_id", "flicket_topic.id"),
        sa.Column("content", sa.String(5000)),
        _fk("user_id", "flicket_users.id"),
        sa.Column("date_added", sa.DateTime()),
        sa.Column("date_modified", sa.DateTime()),
        _fk("modified_id", "flicket_users.id"),
        sa.Column("hours", sa.Numeric(10, 2), server_default="0"),
    )
    op.create_table(
        "flicket_ticket_subscription",
        _id(),
        _fk("ticket_id", "flicket_topic.id"),
        _fk("user_id", "flicket_users.id"),
    )
    op.create_table(
        "flicket_history",
        _id(),
        _fk("post_id", "flicket_post.id"),
        _fk("topic_id", "flicket_topic.id"),
        sa.Column("date_modified", sa.DateTime()),
        sa.Column("original_content", sa.String(5000)),
        _fk("user_id", "flicket_users.id"),
    )
    op.create_table(
        "flicket_ticket_action",
        _id(),
        _fk("ticket_id", "flicket_topic.id"),
        _fk("post_id", "flicket_post.id"),
        sa.Column("action", sa.String(30)),
        sa.Column("data", sa.JSON(none_as_null=True)),
        _fk("user_id", "flicket_users.id"),
        _fk("recipient_id", "flicket_users.id"),
        sa.Column("date", sa.DateTime()),
    )
    op.create_table(
        "flicket_uploads",
        _id(),
        _fk("posts_id", "flicket_post.id"),
        _fk("topic_id", "flicket_topic.id"),
        sa.Column("filename", sa.String(128)),
        sa.Column("original_filename", sa.String(128)),
    )


def downgrade():
    for table in (
        "flicket_uploads",
        "flicket_ticket_action",
        "flicket_history",
        "flicket_ticket_subscription",
        "flicket_post",
        "flicket_topic",
        "flicket_groups",
        "flicket_category",
        "flicket_users",
        "flicket_status",
        "flicket_priorities",
        "flicket_group",
        "flicket_department",
        "flicket_config",
    ):
        op.drop_table(table)
