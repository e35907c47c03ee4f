"""The root resource and its site-wide ACL.

Principals (see ``flicket.security``): ``system.Authenticated`` for every logged-in,
enabled user, ``user:<id>``, ``group:admin`` and ``group:super_user``.
"""

from pyramid.authorization import ALL_PERMISSIONS, DENY_ALL, Allow, Authenticated

from flicket.permissions import Permission

ADMIN = "group:admin"
SUPER_USER = "group:super_user"


class Root:
    __name__ = ""
    __parent__ = None
    __acl__ = [
        (Allow, ADMIN, ALL_PERMISSIONS),
        (Allow, SUPER_USER, Permission.DEPARTMENT_MANAGE),
        (Allow, Authenticated, Permission.VIEW),
        DENY_ALL,
    ]

    def __init__(self, request):
        self.request = request


def root_factory(request):
    return Root(request)
