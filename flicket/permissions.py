"""Every permission of the application, as one enum.

Views name one of these; the ACLs on resources (``flicket.resources`` and the feature
packages) say who holds it. ``VIEW`` is the default permission: a view that declares none
still needs a logged-in user.
"""

from enum import StrEnum


class Permission(StrEnum):
    VIEW = "view"
    ADMIN = "admin"
