"""The site configuration: the single row of ``flicket_config``, edited in the admin panel."""

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from flicket.db import Base

DEFAULT_ALLOWED_EXTENSIONS = (
    "txt, log, pdf, png, jpg, jpeg, gif, msg, doc, docx, ppt, pptx, xls, xlsx"
)


class Config(Base):
    __tablename__ = "flicket_config"

    id: Mapped[int] = mapped_column(primary_key=True)
    mail_server: Mapped[str | None] = mapped_column(sa.String(128))
    mail_port: Mapped[int | None] = mapped_column(sa.Integer)
    mail_use_tls: Mapped[bool | None] = mapped_column(sa.Boolean, default=False)
    mail_use_ssl: Mapped[bool | None] = mapped_column(sa.Boolean, default=False)
    mail_debug: Mapped[bool | None] = mapped_column(sa.Boolean, default=False)
    mail_username: Mapped[str | None] = mapped_column(sa.String(128))
    mail_password: Mapped[str | None] = mapped_column(sa.String(256))
    mail_default_sender: Mapped[str | None] = mapped_column(sa.String(128))
    mail_max_emails: Mapped[int | None] = mapped_column(sa.Integer)
    mail_suppress_send: Mapped[bool | None] = mapped_column(sa.Boolean, default=False)
    mail_ascii_attachments: Mapped[bool | None] = mapped_column(sa.Boolean, default=False)
    posts_per_page: Mapped[int | None] = mapped_column(sa.Integer)
    allowed_extensions: Mapped[str | None] = mapped_column(sa.String(256))
    ticket_upload_folder: Mapped[str | None] = mapped_column(sa.String(256))
    avatar_upload_folder: Mapped[str | None] = mapped_column(sa.String(256))
    application_title: Mapped[str | None] = mapped_column(sa.String(32))
    base_url: Mapped[str | None] = mapped_column(sa.String(128))
    auth_domain: Mapped[str | None] = mapped_column(sa.String(64))
    use_auth_domain: Mapped[bool | None] = mapped_column(sa.Boolean, default=False)
    csv_dump_limit: Mapped[int | None] = mapped_column(sa.Integer, default=1000)
    change_category: Mapped[bool | None] = mapped_column(sa.Boolean, default=False)
    change_category_only_admin_or_super_user: Mapped[bool | None] = mapped_column(
        sa.Boolean, default=False
    )
