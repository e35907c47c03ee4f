"""Tickets and everything attached to them, on Flicket's tables.

"topic" means ticket in Flicket's table and column names (``flicket_topic``).
"""

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from flicket.accounts.models import User
from flicket.clock import utcnow
from flicket.db import Base
from flicket.departments.models import Category


class Status(Base):
    __tablename__ = "flicket_status"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str | None] = mapped_column(sa.String(20))


class Priority(Base):
    __tablename__ = "flicket_priorities"

    id: Mapped[int] = mapped_column(primary_key=True)
    priority: Mapped[str | None] = mapped_column(sa.String(12))


class Ticket(Base):
    __tablename__ = "flicket_topic"
    __table_args__ = (
        sa.Index("ix_flicket_topic_date_added", "date_added"),
        # The default list (open tickets by priority) and the department and status filters.
        sa.Index(
            "ix_flicket_topic_status_id_ticket_priority_id", "status_id", "ticket_priority_id"
        ),
        sa.Index(
            "ix_flicket_topic_category_status_priority_assigned",
            "category_id",
            "status_id",
            "ticket_priority_id",
            "assigned_id",
        ),
        # The home page's newest open high-priority tickets.
        sa.Index("ix_flicket_topic_priority_date_added", "ticket_priority_id", "date_added"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str | None] = mapped_column(sa.String(128), index=True)
    content: Mapped[str | None] = mapped_column(sa.String(5000))
    started_id: Mapped[int | None] = mapped_column(sa.ForeignKey("flicket_users.id"), index=True)
    date_added: Mapped[datetime | None] = mapped_column(sa.DateTime, default=utcnow)
    date_modified: Mapped[datetime | None] = mapped_column(sa.DateTime)
    modified_id: Mapped[int | None] = mapped_column(sa.ForeignKey("flicket_users.id"))
    status_id: Mapped[int | None] = mapped_column(sa.ForeignKey("flicket_status.id"), index=True)
    category_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("flicket_category.id"), index=True
    )
    assigned_id: Mapped[int | None] = mapped_column(sa.ForeignKey("flicket_users.id"), index=True)
    ticket_priority_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("flicket_priorities.id"), index=True
    )
    hours: Mapped[Decimal | None] = mapped_column(sa.Numeric(10, 2), server_default="0")
    last_updated: Mapped[datetime | None] = mapped_column(sa.DateTime, default=utcnow, index=True)
    #: Stored counters (not in Flicket 0.3.5), kept by the ticket service in SQL arithmetic
    #: and repaired by flicket-update-user-posts: the number of replies, and the ticket's
    #: hours plus its replies' hours. Lists read and sort them like any column.
    reply_count: Mapped[int] = mapped_column(
        sa.Integer, default=0, server_default="0", nullable=False, index=True
    )
    total_hours: Mapped[Decimal] = mapped_column(
        sa.Numeric(12, 2), default=0, server_default="0", nullable=False, index=True
    )

    user: Mapped[User | None] = relationship(foreign_keys=[started_id])
    modified: Mapped[User | None] = relationship(foreign_keys=[modified_id])
    assigned: Mapped[User | None] = relationship(foreign_keys=[assigned_id])
    status: Mapped[Status | None] = relationship()
    category: Mapped[Category | None] = relationship()
    ticket_priority: Mapped[Priority | None] = relationship()
    posts: Mapped[list["Post"]] = relationship(back_populates="ticket", order_by="Post.id")
    uploads: Mapped[list["Upload"]] = relationship(back_populates="ticket")
    subscribers: Mapped[list["Subscription"]] = relationship(back_populates="ticket")
    actions: Mapped[list["Action"]] = relationship(back_populates="ticket", order_by="Action.id")

    @property
    def id_zfill(self):
        return str(self.id).zfill(5)


class TicketTally(Base):
    """How many tickets each (category, status, priority) holds, and how many of them are
    assigned: the home dashboard's numbers, read in a few rows at any size. Triggers on
    ``flicket_topic`` (migration 0006) keep it right whoever writes; 0 stands for a ticket
    without a category, status or priority."""

    __tablename__ = "flicket_ticket_tally"

    category_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    status_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    ticket_priority_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    tickets: Mapped[int] = mapped_column(sa.Integer, server_default="0", nullable=False)
    assigned: Mapped[int] = mapped_column(sa.Integer, server_default="0", nullable=False)


class Post(Base):
    """A reply to a ticket."""

    __tablename__ = "flicket_post"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("flicket_topic.id"), index=True)
    content: Mapped[str | None] = mapped_column(sa.String(5000))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("flicket_users.id"), index=True)
    date_added: Mapped[datetime | None] = mapped_column(sa.DateTime, default=utcnow)
    date_modified: Mapped[datetime | None] = mapped_column(sa.DateTime)
    modified_id: Mapped[int | None] = mapped_column(sa.ForeignKey("flicket_users.id"))
    hours: Mapped[Decimal | None] = mapped_column(sa.Numeric(10, 2), server_default="0")

    ticket: Mapped[Ticket | None] = relationship(back_populates="posts")
    user: Mapped[User | None] = relationship(foreign_keys=[user_id])
    modified: Mapped[User | None] = relationship(foreign_keys=[modified_id])
    uploads: Mapped[list["Upload"]] = relationship(back_populates="post")


class Upload(Base):
    """An attachment of a ticket (``topic_id``) or of a reply (``posts_id``)."""

    __tablename__ = "flicket_uploads"

    id: Mapped[int] = mapped_column(primary_key=True)
    posts_id: Mapped[int | None] = mapped_column(sa.ForeignKey("flicket_post.id"), index=True)
    topic_id: Mapped[int | None] = mapped_column(sa.ForeignKey("flicket_topic.id"), index=True)
    filename: Mapped[str | None] = mapped_column(sa.String(128), index=True)
    original_filename: Mapped[str | None] = mapped_column(sa.String(128))

    post: Mapped[Post | None] = relationship(back_populates="uploads")
    ticket: Mapped[Ticket | None] = relationship(back_populates="uploads")


class History(Base):
    """The content of a ticket or reply before one of its edits."""

    __tablename__ = "flicket_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int | None] = mapped_column(sa.ForeignKey("flicket_post.id"), index=True)
    topic_id: Mapped[int | None] = mapped_column(sa.ForeignKey("flicket_topic.id"), index=True)
    date_modified: Mapped[datetime | None] = mapped_column(sa.DateTime)
    original_content: Mapped[str | None] = mapped_column(sa.String(5000))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("flicket_users.id"))

    user: Mapped[User | None] = relationship()


class Subscription(Base):
    __tablename__ = "flicket_ticket_subscription"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("flicket_topic.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("flicket_users.id"), index=True)

    ticket: Mapped[Ticket | None] = relationship(back_populates="subscribers")
    user: Mapped[User | None] = relationship()


class Action(Base):
    """One line of a ticket's activity log (assign, claim, release, close, status, ...)."""

    __tablename__ = "flicket_ticket_action"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("flicket_topic.id"), index=True)
    post_id: Mapped[int | None] = mapped_column(sa.ForeignKey("flicket_post.id"), index=True)
    action: Mapped[str | None] = mapped_column(sa.String(30))
    data: Mapped[dict | None] = mapped_column(sa.JSON(none_as_null=True))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("flicket_users.id"))
    recipient_id: Mapped[int | None] = mapped_column(sa.ForeignKey("flicket_users.id"))
    date: Mapped[datetime | None] = mapped_column(sa.DateTime, default=utcnow)

    ticket: Mapped[Ticket | None] = relationship(back_populates="actions")
    user: Mapped[User | None] = relationship(foreign_keys=[user_id])
    recipient: Mapped[User | None] = relationship(foreign_keys=[recipient_id])
