"""Users, groups and API tokens (Flicket tables ``flicket_users``, ``flicket_group``,
``flicket_groups``) plus our additions ``flicket_api_token`` and ``flicket_rate_limit_hit``."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from flicket.clock import utcnow
from flicket.db import Base

ADMIN_GROUP_NAME = "flicket_admin"
SUPER_USER_GROUP_NAME = "super_user"

user_groups = sa.Table(
    "flicket_groups",
    Base.metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("flicket_users.id")),
    sa.Column("group_id", sa.Integer, sa.ForeignKey("flicket_group.id")),
)


class User(Base):
    __tablename__ = "flicket_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str | None] = mapped_column(sa.String(24), unique=True, index=True)
    name: Mapped[str | None] = mapped_column(sa.String(60))
    password: Mapped[bytes | None] = mapped_column(sa.LargeBinary(60))
    email: Mapped[str | None] = mapped_column(sa.String(60), unique=True)
    date_added: Mapped[datetime | None] = mapped_column(sa.DateTime, default=utcnow)
    date_modified: Mapped[datetime | None] = mapped_column(sa.DateTime, onupdate=utcnow)
    job_title: Mapped[str | None] = mapped_column(sa.String(64))
    avatar: Mapped[str | None] = mapped_column(sa.String(64))
    total_posts: Mapped[int | None] = mapped_column(sa.Integer, default=0)
    total_assigned: Mapped[int | None] = mapped_column(sa.Integer, default=0)
    # Flicket's clear-text API token columns: kept for compatibility, never used.
    token: Mapped[str | None] = mapped_column(sa.String(32), unique=True, index=True)
    token_expiration: Mapped[datetime | None] = mapped_column(sa.DateTime)
    locale: Mapped[str | None] = mapped_column(sa.String(10), default="en")
    disabled: Mapped[bool | None] = mapped_column(sa.Boolean, default=False)
    # Addition: bumped on logout, password change and disabling; every session remembers
    # the value it was created with, so a bump ends all of that user's sessions at once.
    auth_generation: Mapped[int] = mapped_column(
        sa.Integer, nullable=False, default=0, server_default="0"
    )

    groups: Mapped[list["Group"]] = relationship(
        secondary=user_groups, back_populates="users", order_by="Group.group_name"
    )
    api_tokens: Mapped[list["ApiToken"]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    @property
    def group_names(self):
        return {group.group_name for group in self.groups}

    @property
    def is_admin(self):
        return ADMIN_GROUP_NAME in self.group_names

    @property
    def is_super_user(self):
        return SUPER_USER_GROUP_NAME in self.group_names

    @property
    def is_active(self):
        return not self.disabled

    def __repr__(self):
        return f"<User {self.id} {self.username!r}>"


class Group(Base):
    __tablename__ = "flicket_group"

    id: Mapped[int] = mapped_column(primary_key=True)
    group_name: Mapped[str | None] = mapped_column(sa.String(64))

    users: Mapped[list[User]] = relationship(secondary=user_groups, back_populates="groups")


class ApiToken(Base):
    """An API bearer token. Only its SHA-256 digest is stored."""

    __tablename__ = "flicket_api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("flicket_users.id"), nullable=False, index=True
    )
    token_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False, unique=True)
    created: Mapped[datetime] = mapped_column(sa.DateTime, nullable=False, default=utcnow)
    expires: Mapped[datetime] = mapped_column(sa.DateTime, nullable=False)
    last_used: Mapped[datetime | None] = mapped_column(sa.DateTime)
    revoked: Mapped[datetime | None] = mapped_column(sa.DateTime)

    user: Mapped[User] = relationship(back_populates="api_tokens")


class RateLimitHit(Base):
    """One counted attempt for the database rate-limit store (shared by all processes)."""

    __tablename__ = "flicket_rate_limit_hit"
    __table_args__ = (sa.Index("ix_flicket_rate_limit_hit_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(191), nullable=False)
    at: Mapped[datetime] = mapped_column(sa.DateTime, nullable=False, index=True)
