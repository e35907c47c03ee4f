"""Every permission of the application, as one enum.

Views name one of these; the ACLs on resources (``flicket.resources`` and the feature
packages) say who holds it. ``VIEW`` is the default permission: a view that declares none
still needs a logged-in user.
"""

from enum import StrEnum


class Permission(StrEnum):
    VIEW = "view"
    ADMIN = "admin"

    TICKET_CREATE = "ticket:create"
    TICKET_REPLY = "ticket:reply"
    TICKET_EDIT = "ticket:edit"
    TICKET_CLOSE = "ticket:close"
    TICKET_DELETE = "ticket:delete"
    TICKET_CLAIM = "ticket:claim"
    TICKET_RELEASE = "ticket:release"
    TICKET_ASSIGN = "ticket:assign"
    TICKET_SUBSCRIBE = "ticket:subscribe"
    #: Unsubscribe someone else (everyone may unsubscribe themselves).
    TICKET_UNSUBSCRIBE_OTHERS = "ticket:unsubscribe-others"
    TICKET_CHANGE_CATEGORY = "ticket:change-category"

    POST_EDIT = "post:edit"
    POST_DELETE = "post:delete"

    #: Add, rename and delete departments and categories (admin and super_user).
    DEPARTMENT_MANAGE = "department:manage"
