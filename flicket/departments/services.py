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
from pyramid.i18n import TranslationString
from sqlalchemy.orm import joinedload, selectinload

from flicket.departments.models import Category, Department
from flicket.i18n import _, english
from flicket.tickets.models import Ticket

NAME_MIN_LENGTH = 3
NAME_MAX_LENGTH = 30


class DepartmentError(Exception):
    """A refused change; ``message`` (a TranslationString) is shown to the user translated,
    and in English by the API (``english``)."""

    def __init__(self, message, kind="warning"):
        super().__init__(message)
        self.message = message
        self.kind = kind

    def __str__(self):
        return english(self.message)


#: What is wrong with a name, for a department and for a category.
_NAME_PROBLEMS = {
    "department": {
        "length": _("A department name must be ${min} to ${max} characters long."),
        "control": _("A department name cannot contain control characters."),
    },
    "category": {
        "length": _("A category name must be ${min} to ${max} characters long."),
        "control": _("A category name cannot contain control characters."),
    },
}


def name_key(name):
    """What two names are compared by: trimmed, Unicode-normalised, case-folded."""
    return unicodedata.normalize("NFKC", (name or "").strip()).casefold()


def clean_name(name, what):
    """``name`` trimmed, or a ``DepartmentError`` saying what is wrong with it; ``what``
    is "department" or "category"."""
    problems = _NAME_PROBLEMS[what]
    name = name.strip() if isinstance(name, str) else ""
    if not NAME_MIN_LENGTH <= len(name) <= NAME_MAX_LENGTH:
        raise DepartmentError(
            TranslationString(
                problems["length"], mapping={"min": NAME_MIN_LENGTH, "max": NAME_MAX_LENGTH}
            ),
            "danger",
        )
    if any(unicodedata.category(char) == "Cc" for char in name):
        raise DepartmentError(problems["control"], "danger")
    return name


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
                raise DepartmentError(
                    _(
                        "There is already a department named “${name}”.",
                        mapping={"name": other_name},
                    )
                )
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
        """Why ``department`` cannot be deleted now (a TranslationString), or None."""
        count = self.db.scalar(
            sa.select(sa.func.count(Category.id)).where(Category.department_id == department.id)
        )
        if count:
            # The message may go to the English API, so it stays a TranslationString
            # (``pluralize`` translates at once): the one or many form is chosen here, which
            # is right for English and French with a count of at least 1.
            mapping = {"name": department.department, "count": count}
            if count == 1:
                return _(
                    "The department “${name}” still has ${count} category. "
                    "Delete or rename them first.",
                    mapping=mapping,
                )
            return _(
                "The department “${name}” still has ${count} categories. "
                "Delete or rename them first.",
                mapping=mapping,
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
                if department:
                    message = _(
                        "The department “${department}” already has a category named “${name}”.",
                        mapping={"department": department.department, "name": other_name},
                    )
                else:
                    message = _(
                        "It already has a category named “${name}”.", mapping={"name": other_name}
                    )
                raise DepartmentError(message)
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
        """Why ``category`` cannot be deleted now (a TranslationString), or None."""
        count = self.db.scalar(
            sa.select(sa.func.count(Ticket.id)).where(Ticket.category_id == category.id)
        )
        if count:
            # One or many chosen here, as in ``department_deletion_problem``.
            mapping = {"name": category.category, "count": count}
            if count == 1:
                return _(
                    "The category “${name}” is used by ${count} ticket. "
                    "Move them to another category first.",
                    mapping=mapping,
                )
            return _(
                "The category “${name}” is used by ${count} tickets. "
                "Move them to another category first.",
                mapping=mapping,
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
