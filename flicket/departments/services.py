"""Adding, renaming and deleting departments and categories (reference §3.13).

Every rule lives here, not in forms, so the pages and the API refuse the same things:
- names are 3 to 30 characters once trimmed, with no control characters;
- department names are unique, category names unique within their department, both
  compared trimmed and case-insensitively; saving a name unchanged is never an error (not
  even a seeded name shorter than the limit, such as "IT"), nor is changing only its case;
- a department with categories, and a category used by a ticket, cannot be deleted.
Who may do it is decided by the ACLs (``Permission.DEPARTMENT_MANAGE``), not here.
"""

import unicodedata

import sqlalchemy as sa
from sqlalchemy.orm import joinedload, selectinload

from flicket.departments.models import Category, Department
from flicket.tickets.models import Ticket

NAME_MIN_LENGTH = 3
NAME_MAX_LENGTH = 30


class DepartmentError(Exception):
    """A refused change; ``message`` is shown to the user as it is."""

    def __init__(self, message, kind="warning"):
        super().__init__(message)
        self.message = message
        self.kind = kind


def name_key(name):
    """What two names are compared by: trimmed, Unicode-normalised, case-folded."""
    return unicodedata.normalize("NFKC", (name or "").strip()).casefold()


def clean_name(name, what):
    """``name`` trimmed, or a ``DepartmentError`` saying what is wrong with it."""
    name = name.strip() if isinstance(name, str) else ""
    if not NAME_MIN_LENGTH <= len(name) <= NAME_MAX_LENGTH:
        raise DepartmentError(
            f"A {what} name must be {NAME_MIN_LENGTH} to {NAME_MAX_LENGTH} characters long.",
            "danger",
        )
    if any(unicodedata.category(char) == "Cc" for char in name):
        raise DepartmentError(f"A {what} name cannot contain control characters.", "danger")
    return name


def _plural(count, one, many):
    return f"{count} {one if count == 1 else many}"


def _unchanged(name, current):
    """Saving a name as it is never fails, even an older name outside today's limits."""
    return isinstance(name, str) and current is not None and name.strip() == current.strip()


class DepartmentService:
    def __init__(self, dbsession):
        self.db = dbsession

    # -- reading ---------------------------------------------------------------------------

    def department(self, department_id):
        """The department with its categories loaded, or None."""
        return self.db.scalar(
            sa.select(Department)
            .options(selectinload(Department.categories))
            .where(Department.id == department_id)
        )

    def category(self, category_id):
        """The category with its department loaded, or None."""
        return self.db.scalar(
            sa.select(Category)
            .options(joinedload(Category.department))
            .where(Category.id == category_id)
        )

    def departments_statement(self):
        """Every department sorted by name, categories eager-loaded (for pagination)."""
        return (
            sa.select(Department)
            .options(selectinload(Department.categories))
            .order_by(sa.func.lower(Department.department), Department.id)
        )

    # -- departments ------------------------------------------------------------------------

    def _check_department_name(self, name, department=None):
        if department is not None and _unchanged(name, department.department):
            return department.department
        name = clean_name(name, "department")
        key = name_key(name)
        own_id = department.id if department is not None else None
        for other_id, other_name in self.db.execute(
            sa.select(Department.id, Department.department)
        ):
            if other_id != own_id and name_key(other_name) == key:
                raise DepartmentError(f"There is already a department named “{other_name}”.")
        return name

    def add_department(self, name):
        department = Department(department=self._check_department_name(name))
        self.db.add(department)
        self.db.flush()
        return department

    def rename_department(self, department, name):
        department.department = self._check_department_name(name, department)
        self.db.flush()
        return department

    def department_deletion_problem(self, department):
        """Why ``department`` cannot be deleted now, or None."""
        count = self.db.scalar(
            sa.select(sa.func.count(Category.id)).where(Category.department_id == department.id)
        )
        if count:
            return (
                f"The department “{department.department}” still has "
                f"{_plural(count, 'category', 'categories')}. Delete or rename them first."
            )
        return None

    def delete_department(self, department):
        problem = self.department_deletion_problem(department)
        if problem:
            raise DepartmentError(problem)
        self.db.delete(department)
        self.db.flush()

    # -- categories -------------------------------------------------------------------------

    def _check_category_name(self, department, name, category=None):
        if category is not None and _unchanged(name, category.category):
            return category.category
        name = clean_name(name, "category")
        key = name_key(name)
        own_id = category.id if category is not None else None
        department_id = department.id if department is not None else None
        siblings = sa.select(Category.id, Category.category).where(
            Category.department_id == department_id
            if department_id is not None
            else Category.department_id.is_(None)
        )
        for other_id, other_name in self.db.execute(siblings):
            if other_id != own_id and name_key(other_name) == key:
                where = f"The department “{department.department}”" if department else "It"
                raise DepartmentError(f"{where} already has a category named “{other_name}”.")
        return name

    def add_category(self, department, name):
        category = Category(
            category=self._check_category_name(department, name), department=department
        )
        self.db.add(category)
        self.db.flush()
        return category

    def rename_category(self, category, name):
        category.category = self._check_category_name(category.department, name, category)
        self.db.flush()
        return category

    def category_deletion_problem(self, category):
        """Why ``category`` cannot be deleted now, or None."""
        count = self.db.scalar(
            sa.select(sa.func.count(Ticket.id)).where(Ticket.category_id == category.id)
        )
        if count:
            tickets = _plural(count, "ticket", "tickets")
            return (
                f"The category “{category.category}” is used by {tickets}. "
                "Move them to another category first."
            )
        return None

    def delete_category(self, category):
        problem = self.category_deletion_problem(category)
        if problem:
            raise DepartmentError(problem)
        self.db.delete(category)
        self.db.flush()


def get_department_service(request):
    return DepartmentService(request.dbsession)
