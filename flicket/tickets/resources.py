"""Ticket and reply resources with ACLs computed from the object (reference §2, the
"intended" column): who may edit, close, release, delete, unsubscribe others and change
the category is decided here, not in views."""

import sqlalchemy as sa
from pyramid.authorization import DENY_ALL, Allow, Authenticated
from pyramid.httpexceptions import HTTPNotFound
from sqlalchemy.orm import joinedload, selectinload

from flicket.accounts.models import User
from flicket.departments.models import Category
from flicket.i18n import _
from flicket.params import parse_id
from flicket.permissions import Permission as P
from flicket.resources import ADMIN, SUPER_USER, Root
from flicket.tickets.models import Post, Ticket, Upload

EVERYONE_LOGGED_IN = (
    P.VIEW,
    P.TICKET_REPLY,
    P.TICKET_CLAIM,
    P.TICKET_ASSIGN,
    P.TICKET_SUBSCRIBE,
)
ADMIN_ON_TICKETS = (
    P.TICKET_EDIT,
    P.TICKET_CLOSE,
    P.TICKET_DELETE,
    P.TICKET_RELEASE,
    P.TICKET_UNSUBSCRIBE_OTHERS,
)


def ticket_acl(ticket, config):
    acl = [(Allow, ADMIN, permission) for permission in ADMIN_ON_TICKETS]
    acl += [(Allow, Authenticated, permission) for permission in EVERYONE_LOGGED_IN]
    if ticket.started_id:
        creator = f"user:{ticket.started_id}"
        acl += [(Allow, creator, P.TICKET_EDIT), (Allow, creator, P.TICKET_CLOSE)]
    if ticket.assigned_id:
        assignee = f"user:{ticket.assigned_id}"
        acl += [(Allow, assignee, P.TICKET_CLOSE), (Allow, assignee, P.TICKET_RELEASE)]
    acl.append((Allow, SUPER_USER, P.TICKET_UNSUBSCRIBE_OTHERS))
    if config is not None and config.change_category:
        if config.change_category_only_admin_or_super_user:
            acl += [(Allow, ADMIN, P.TICKET_CHANGE_CATEGORY)]
            acl += [(Allow, SUPER_USER, P.TICKET_CHANGE_CATEGORY)]
        else:
            acl.append((Allow, Authenticated, P.TICKET_CHANGE_CATEGORY))
    acl.append(DENY_ALL)
    return acl


def post_acl(post):
    acl = [(Allow, ADMIN, P.POST_EDIT), (Allow, ADMIN, P.POST_DELETE)]
    acl.append((Allow, Authenticated, P.VIEW))
    if post.user_id:
        acl.append((Allow, f"user:{post.user_id}", P.POST_EDIT))
    acl.append(DENY_ALL)
    return acl


class TicketResource:
    def __init__(self, request, ticket):
        self.request = request
        self.ticket = ticket
        self.__name__ = str(ticket.id)
        self.__parent__ = Root(request)

    @property
    def __acl__(self):
        return ticket_acl(self.ticket, self.request.flicket_config)


class PostResource:
    def __init__(self, request, post):
        self.request = request
        self.post = post
        self.ticket = post.ticket
        self.__name__ = str(post.id)
        self.__parent__ = TicketResource(request, post.ticket)

    @property
    def __acl__(self):
        return post_acl(self.post)


def _id_from(request, key):
    value = parse_id(request.matchdict.get(key, ""))
    if value is None:
        raise HTTPNotFound()
    return value


def ticket_options():
    """What every ticket page needs loaded with the ticket (one query, no lazy loads)."""
    return (
        # Groups (the people's roles) joined too: one row, so nothing repeats much.
        joinedload(Ticket.user).joinedload(User.groups),
        joinedload(Ticket.assigned).joinedload(User.groups),
        joinedload(Ticket.modified).joinedload(User.groups),
        joinedload(Ticket.status),
        joinedload(Ticket.ticket_priority),
        joinedload(Ticket.category).joinedload(Category.department),
    )


def ticket_factory(request):
    ticket = (
        request.dbsession.scalars(
            sa.select(Ticket)
            .options(*ticket_options())
            .where(Ticket.id == _id_from(request, "ticket_id"))
        )
        .unique()
        .first()
    )
    if ticket is None:
        raise HTTPNotFound(_("There is no such ticket."))
    return TicketResource(request, ticket)


def post_factory(request):
    post = (
        request.dbsession.scalars(
            sa.select(Post)
            .options(
                joinedload(Post.user),
                joinedload(Post.ticket).options(*ticket_options()),
                selectinload(Post.uploads),
            )
            .where(Post.id == _id_from(request, "post_id"))
        )
        .unique()
        .first()
    )
    if post is None or post.ticket is None:
        raise HTTPNotFound(_("There is no such reply."))
    return PostResource(request, post)


def upload_factory(request):
    upload = request.dbsession.scalar(
        sa.select(Upload).where(Upload.filename == request.matchdict.get("filename", "")[:128])
    )
    if upload is None:
        raise HTTPNotFound(_("There is no such file."))
    return UploadResource(request, upload)


class UploadResource:
    """Every logged-in user may see every ticket, so every logged-in user may download."""

    __acl__ = [(Allow, Authenticated, P.VIEW), DENY_ALL]

    def __init__(self, request, upload):
        self.request = request
        self.upload = upload
        self.__name__ = upload.filename
        self.__parent__ = Root(request)
