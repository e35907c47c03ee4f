"""Departments and their categories (``flicket_department``, ``flicket_category``)."""

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from flicket.db import Base


class Department(Base):
    __tablename__ = "flicket_department"

    id: Mapped[int] = mapped_column(primary_key=True)
    department: Mapped[str | None] = mapped_column(sa.String(30))

    categories: Mapped[list["Category"]] = relationship(
        back_populates="department", order_by="Category.category"
    )


class Category(Base):
    __tablename__ = "flicket_category"

    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[str | None] = mapped_column(sa.String(30))
    department_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("flicket_department.id"), index=True
    )

    department: Mapped[Department | None] = relationship(back_populates="categories")

    @property
    def department_category(self):
        department = self.department.department if self.department else ""
        return f"{department} / {self.category}"
