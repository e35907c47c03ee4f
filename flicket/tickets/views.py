"""Ticket pages: create, view and reply, and every operation on one ticket.

Views are thin: they read the form, call one ``TicketService`` method and redirect with a
flash. Who may do what is in the ACLs (``resources.py``); the state rules are in the
service, which raises ``TicketError``.
"""

from typing import NamedTuple
from urllib.parse import quote

import sqlalchemy as sa
from pyramid.httpexceptions import HTTPBadRequest, HTTPForbidden, HTTPFound, HTTPNotFound
from pyramid.i18n import TranslationString
from pyramid.response import FileResponse, Response
from pyramid.view import view_config
from sqlalchemy.orm import joinedload, selectinload

from flicket.accounts.models import User
from flicket.accounts.roles import load_role_groups
from flicket.forms import invalid, password_confirmed
from flicket.i18n import _, flash
from flicket.markdown import render_markdown
from flicket.pagination import page_number, paginate, site_page_size
from flicket.params import parse_id
from flicket.permissions import Permission as P
from flicket.tickets.forms import (
    CategoryForm,
    ConfirmPasswordForm,
    EditPostForm,
    EditTicketForm,
    ReplyForm,
    TicketForm,
    UsernameForm,
    bind_choices,
    chosen_files,
)
from flicket.tickets.models import Action, History, Post, Subscription, Upload
from flicket.tickets.services import (
    CLOSED,
    EditConflict,
    TicketError,
    post_fingerprint,
    ticket_fingerprint,
)
from flicket.tweens import SERVED_FILE_CSP
from flicket.uploads import UploadError, content_type_for

LAST_CATEGORY_KEY = "ticket_create_last_category"
#: Hidden field of the claim form: the assignee id the person saw ("" for nobody).
SEEN_ASSIGNEE = "assigned_id"
#: Hidden field of the edit forms: the fingerprint of the ticket/reply as loaded (REL-4).
FINGERPRINT = "fingerprint"
MAX_PREVIEW_LENGTH = 10000


def _ticket_url(request, ticket, anchor=None):
    return request.route_url("ticket_view", ticket_id=ticket.id, _anchor=anchor)


def _done(request, ticket, message, kind="success"):
    flash(request, message, kind)
    return HTTPFound(location=_ticket_url(request, ticket))


def _refused(request, ticket, error):
    flash(request, error.message, error.kind)
    return HTTPFound(location=_ticket_url(request, ticket))


def _status_of(request, error):
    """400 for a refused input; 429 with ``Retry-After`` past a business limit (VAL-3);
    503 when an attachment could not be stored (REL-13)."""
    retry_after = getattr(error, "retry_after", None)
    if retry_after:
        request.response.headers["Retry-After"] = str(retry_after)
    return getattr(error, "status", 400)


def _by_id(items, wanted):
    return next((item for item in items if item.id == wanted), None)


# -- create -------------------------------------------------------------------------------


@view_config(route_name="ticket_create", renderer="tickets/create.jinja2", permission=P.VIEW)
def create_ticket(request):
    service = request.tickets
    form = bind_choices(TicketForm.from_request(request), service)
    if request.method == "GET":
        form.category.data = request.session.get(LAST_CATEGORY_KEY)
        form.priority.data = next(
            (p for p, name in form.priority.names.items() if name == "low"), None
        )
    values = {"form": form, "page_title": _("Create Ticket"), "upload_error": None}
    if request.method != "POST":
        return values
    if not form.validate():
        return invalid(request, values)
    category = _by_id(service.categories(), form.category.data)
    priority = _by_id(service.priorities(), form.priority.data)
    try:
        ticket = service.create(
            request.user,
            title=form.title.data.strip(),
            content=form.content.data,
            category=category,
            priority=priority,
            hours=form.hours.data,
            files=chosen_files(form.file),
            from_form=True,
        )
    except (UploadError, TicketError) as error:
        values["upload_error"] = error.message
        return invalid(request, values, _status_of(request, error))
    request.session[LAST_CATEGORY_KEY] = category.id
    return _done(
        request,
        ticket,
        _(
            "Ticket ${number} created: ${title}",
            mapping={"number": ticket.id_zfill, "title": ticket.title},
        ),
    )


# -- view and reply -------------------------------------------------------------------------


def _ticket_page_values(request, ticket, form):
    db = request.dbsession
    service = request.tickets
    page = paginate(
        db,
        sa.select(Post)
        .options(joinedload(Post.user), joinedload(Post.modified), selectinload(Post.uploads))
        .where(Post.ticket_id == ticket.id)
        .order_by(Post.id),
        page_number(request),
        site_page_size(request),
    )
    post_ids = [post.id for post in page.items]
    newest_action_id = (
        sa.select(sa.func.max(Action.id)).where(Action.ticket_id == ticket.id).scalar_subquery()
    )
    actions = list(
        db.scalars(
            sa.select(Action)
            .options(joinedload(Action.user), joinedload(Action.recipient))
            .where(
                Action.ticket_id == ticket.id,
                sa.or_(
                    Action.post_id.is_(None),
                    Action.post_id.in_(post_ids or [-1]),
                    # The newest, wherever it is, for "last change" under the title.
                    Action.id == newest_action_id,
                ),
            )
            .order_by(Action.id)
        )
    )
    actions_by_post = {}
    for action in actions:
        actions_by_post.setdefault(action.post_id, []).append(action)
    subscribers = list(
        db.scalars(
            sa.select(User)
            .join(Subscription, Subscription.user_id == User.id)
            .where(Subscription.ticket_id == ticket.id)
            .order_by(User.name, User.id)
            .distinct()
        )
    )
    newest_post = service.newest_post(ticket)
    # Everyone the page names is shown with their role: all their groups in one query.
    load_role_groups(
        db,
        [u for post in page.items for u in (post.user, post.modified)]
        + [u for action in actions for u in (action.user, action.recipient)]
        + subscribers
        + [newest_post.user if newest_post else None],
    )
    ticket_uploads = list(db.scalars(sa.select(Upload).where(Upload.topic_id == ticket.id)))
    context = request.context
    return {
        "ticket": ticket,
        "page": page,
        "actions_by_post": actions_by_post,
        "subscribers": subscribers,
        "total_hours": ticket.total_hours,
        "ticket_uploads": ticket_uploads,
        "form": form,
        "subscribe_form": UsernameForm.from_request(request),
        "is_closed": request.tickets.is_closed(ticket),
        "latest_change": service.latest_change(
            ticket, actions[-1] if actions else None, newest_post
        ),
        "confirmations": {
            "claim": claim_confirmation(ticket),
            "release": release_confirmation(ticket),
            "close": close_confirmation(ticket),
            "unsubscribe": {
                s.id: unsubscribe_confirmation(ticket, s, request.user) for s in subscribers
            },
        },
        "can": {
            name: request.has_permission(permission, context)
            for name, permission in (
                ("edit", P.TICKET_EDIT),
                ("close", P.TICKET_CLOSE),
                ("delete", P.TICKET_DELETE),
                ("release", P.TICKET_RELEASE),
                ("unsubscribe_others", P.TICKET_UNSUBSCRIBE_OTHERS),
                ("change_category", P.TICKET_CHANGE_CATEGORY),
            )
        },
        "is_admin": request.user.is_admin,
        "reply_error": None,
        "page_title": _(
            "Ticket #${number} ${title}",
            mapping={"number": ticket.id_zfill, "title": ticket.title},
        ),
    }


def _quote(request, ticket):
    """Text for the reply box when a quote button was used (?post_id= or ?ticket_rid=)."""
    service = request.tickets
    post_id = parse_id(request.GET.get("post_id"))
    if post_id is not None:
        post = request.dbsession.get(Post, post_id)
        if post is not None and post.ticket_id == ticket.id:
            return service.quote(post.user, post.date_added, post.content)
    if request.GET.get("ticket_rid") == str(ticket.id):
        return service.quote(ticket.user, ticket.date_added, ticket.content)
    return None


@view_config(
    route_name="ticket_view",
    request_method="GET",
    renderer="tickets/view.jinja2",
    permission=P.VIEW,
)
@view_config(
    route_name="ticket_view_page",
    request_method="GET",
    renderer="tickets/view.jinja2",
    permission=P.VIEW,
)
def view_ticket(request):
    ticket = request.context.ticket
    form = bind_choices(ReplyForm.from_request(request), request.tickets)
    open_status = next((i for i, name in form.status.names.items() if name == "Open"), None)
    form.status.data = open_status if request.tickets.is_closed(ticket) else ticket.status_id
    form.priority.data = ticket.ticket_priority_id
    form.content.data = _quote(request, ticket)
    return _ticket_page_values(request, ticket, form)


@view_config(
    route_name="ticket_view",
    request_method="POST",
    renderer="tickets/view.jinja2",
    permission=P.TICKET_REPLY,
)
def reply(request):
    ticket = request.context.ticket
    service = request.tickets
    form = bind_choices(ReplyForm.from_request(request), service)
    if not form.validate():
        return invalid(request, _ticket_page_values(request, ticket, form))
    close = "reply_close" in request.POST
    if close and not request.has_permission(P.TICKET_CLOSE, request.context):
        raise HTTPForbidden(_("Only the creator, the assignee or an administrator may close it."))
    try:
        post = service.reply(
            ticket,
            request.user,
            content=form.content.data,
            hours=form.hours.data,
            status=_by_id(service.statuses(), form.status.data),
            priority=_by_id(service.priorities(), form.priority.data),
            files=chosen_files(form.file),
        )
        if close:
            service.close(ticket, request.user)
    except (UploadError, TicketError) as error:
        values = _ticket_page_values(request, ticket, form)
        values["reply_error"] = error.message
        return invalid(request, values, _status_of(request, error))
    if close:
        flash(
            request,
            _("You replied to and closed ticket ${number}.", mapping={"number": ticket.id_zfill}),
            "success",
        )
        return HTTPFound(location=request.route_url("tickets"))
    flash(
        request,
        _(
            "You replied to ticket ${number}: ${title}",
            mapping={"number": ticket.id_zfill, "title": ticket.title},
        ),
        "success",
    )
    count = request.dbsession.scalar(
        sa.select(sa.func.count()).select_from(Post).where(Post.ticket_id == ticket.id)
    )
    last_page = max(1, -(-count // site_page_size(request)))
    return HTTPFound(
        location=request.route_url(
            "ticket_view_page", ticket_id=ticket.id, page=last_page, _anchor=f"post-{post.id}"
        )
    )


# -- operations confirmed on a page of their own (a GET never changes anything) ------------


class Confirmation(NamedTuple):
    """What is asked before an operation: on its confirmation page, and in the dialog the
    ticket page opens instead when JavaScript runs (static/js/confirm.js)."""

    title: TranslationString
    question: TranslationString
    button: TranslationString
    danger: bool = False


def claim_confirmation(ticket):
    return Confirmation(
        _("Claim ticket"),
        _("Take ticket #${number} yourself?", mapping={"number": ticket.id_zfill}),
        _("Claim"),
    )


def release_confirmation(ticket):
    return Confirmation(
        _("Release ticket"),
        _("Release ticket #${number} so that nobody has it?", mapping={"number": ticket.id_zfill}),
        _("Release"),
    )


def close_confirmation(ticket):
    return Confirmation(
        _("Close ticket"),
        _("Close ticket #${number}?", mapping={"number": ticket.id_zfill}),
        _("Close ticket"),
        danger=True,
    )


def unsubscribe_confirmation(ticket, user, actor):
    if user.id == actor.id:
        question = _(
            "Unsubscribe yourself from ticket #${number}?", mapping={"number": ticket.id_zfill}
        )
    else:
        question = _(
            "Unsubscribe ${name} from ticket #${number}?",
            mapping={"name": user.name, "number": ticket.id_zfill},
        )
    return Confirmation(_("Unsubscribe"), question, _("Unsubscribe"))


def _confirm(request, confirmation):
    return {
        "ticket": request.context.ticket,
        "page_title": confirmation.title,
        "question": confirmation.question,
        "button": confirmation.button,
        "danger": confirmation.danger,
    }


@view_config(
    route_name="ticket_claim",
    request_method="GET",
    renderer="tickets/confirm.jinja2",
    permission=P.TICKET_CLAIM,
)
def claim_confirm(request):
    ticket = request.context.ticket
    values = _confirm(request, claim_confirmation(ticket))
    # The assignee as shown: the claim is refused if it changed before the button is pressed.
    values["hidden"] = {SEEN_ASSIGNEE: str(ticket.assigned_id or "")}
    return values


@view_config(route_name="ticket_claim", request_method="POST", permission=P.TICKET_CLAIM)
def claim(request):
    ticket = request.context.ticket
    seen = request.POST.get(SEEN_ASSIGNEE)
    try:
        if seen is None:  # a form without it (a script): the ticket is taken as it is
            request.tickets.claim(ticket, request.user)
        else:
            seen_id = parse_id(seen) if seen else None
            if seen and seen_id is None:
                raise HTTPBadRequest(_("The claim form is damaged; open it again."))
            request.tickets.claim(ticket, request.user, seen_assignee_id=seen_id, check_seen=True)
    except TicketError as error:
        return _refused(request, ticket, error)
    return _done(
        request, ticket, _("You claimed ticket ${number}.", mapping={"number": ticket.id_zfill})
    )


@view_config(
    route_name="ticket_release",
    request_method="GET",
    renderer="tickets/confirm.jinja2",
    permission=P.TICKET_RELEASE,
)
def release_confirm(request):
    return _confirm(request, release_confirmation(request.context.ticket))


@view_config(route_name="ticket_release", request_method="POST", permission=P.TICKET_RELEASE)
def release(request):
    ticket = request.context.ticket
    try:
        request.tickets.release(ticket, request.user)
    except TicketError as error:
        return _refused(request, ticket, error)
    return _done(
        request,
        ticket,
        _("Ticket ${number} released; nobody has it now.", mapping={"number": ticket.id_zfill}),
    )


def _closing_status(request):
    if request.matchdict["status"] != CLOSED:
        raise HTTPNotFound(_("Only “Closed” can be set here; change other statuses by replying."))


@view_config(
    route_name="ticket_change_status",
    request_method="GET",
    renderer="tickets/confirm.jinja2",
    permission=P.TICKET_CLOSE,
)
def close_confirm(request):
    _closing_status(request)
    return _confirm(request, close_confirmation(request.context.ticket))


@view_config(route_name="ticket_change_status", request_method="POST", permission=P.TICKET_CLOSE)
def close(request):
    _closing_status(request)
    ticket = request.context.ticket
    try:
        request.tickets.close(ticket, request.user)
    except TicketError as error:
        return _refused(request, ticket, error)
    flash(request, _("Ticket ${number} closed.", mapping={"number": ticket.id_zfill}), "success")
    return HTTPFound(location=request.route_url("tickets"))


@view_config(
    route_name="ticket_assign", renderer="tickets/assign.jinja2", permission=P.TICKET_ASSIGN
)
def assign(request):
    ticket = request.context.ticket
    form = UsernameForm.from_request(request)
    values = {"ticket": ticket, "form": form, "page_title": _("Assign ticket")}
    if request.method != "POST":
        return values
    if not form.validate():
        return invalid(request, values)
    assignee = request.tickets.user_by_username(form.username.data)
    if assignee is None:
        form.username.errors.append(_("There is no user with that username."))
        return invalid(request, values)
    try:
        request.tickets.assign(ticket, request.user, assignee)
    except TicketError as error:
        return _refused(request, ticket, error)
    return _done(
        request,
        ticket,
        _(
            "Ticket ${number} assigned to ${name}.",
            mapping={"number": ticket.id_zfill, "name": assignee.name},
        ),
    )


@view_config(route_name="ticket_subscribe", request_method="POST", permission=P.TICKET_SUBSCRIBE)
def subscribe(request):
    ticket = request.context.ticket
    form = UsernameForm.from_request(request)
    if not form.validate():
        flash(request, _("Give the username of the person to subscribe."), "danger")
        return HTTPFound(location=_ticket_url(request, ticket))
    user = request.tickets.user_by_username(form.username.data)
    try:
        request.tickets.subscribe(ticket, request.user, user)
    except TicketError as error:
        return _refused(request, ticket, error)
    return _done(
        request,
        ticket,
        _(
            "${name} is subscribed to ticket ${number}.",
            mapping={"name": user.name, "number": ticket.id_zfill},
        ),
    )


def _unsubscribe_target(request):
    raw = request.matchdict["user_id"]
    user_id = parse_id(raw)
    user = request.dbsession.get(User, user_id) if user_id is not None else None
    if user is None:
        raise HTTPNotFound(_("There is no such user."))
    if user.id != request.user.id and not request.has_permission(
        P.TICKET_UNSUBSCRIBE_OTHERS, request.context
    ):
        raise HTTPForbidden(_("You may only unsubscribe yourself."))
    return user


@view_config(
    route_name="ticket_unsubscribe",
    request_method="GET",
    renderer="tickets/confirm.jinja2",
    permission=P.VIEW,
)
def unsubscribe_confirm(request):
    user = _unsubscribe_target(request)
    return _confirm(request, unsubscribe_confirmation(request.context.ticket, user, request.user))


@view_config(route_name="ticket_unsubscribe", request_method="POST", permission=P.VIEW)
def unsubscribe(request):
    user = _unsubscribe_target(request)
    ticket = request.context.ticket
    try:
        request.tickets.unsubscribe(ticket, request.user, user)
    except TicketError as error:
        return _refused(request, ticket, error)
    return _done(
        request, ticket, _("${name} is no longer subscribed.", mapping={"name": user.name})
    )


@view_config(
    route_name="ticket_change_category",
    renderer="tickets/change_category.jinja2",
    permission=P.TICKET_CHANGE_CATEGORY,
)
def change_category(request):
    ticket = request.context.ticket
    service = request.tickets
    form = bind_choices(CategoryForm.from_request(request), service)
    if request.method == "GET":
        form.category.data = ticket.category_id
    values = {
        "ticket": ticket,
        "form": form,
        "page_title": _("Change department and category"),
    }
    if request.method != "POST":
        return values
    if not form.validate():
        return invalid(request, values)
    category = _by_id(service.categories(), form.category.data)
    try:
        service.change_category(ticket, request.user, category)
    except TicketError as error:
        return _refused(request, ticket, error)
    return _done(
        request,
        ticket,
        _(
            "Ticket ${number} moved to ${category}.",
            mapping={"number": ticket.id_zfill, "category": category.department_category},
        ),
    )


# -- edit, history, delete -------------------------------------------------------------------


@view_config(
    route_name="ticket_edit", renderer="tickets/edit_ticket.jinja2", permission=P.TICKET_EDIT
)
def edit_ticket(request):
    ticket = request.context.ticket
    service = request.tickets
    if service.is_closed(ticket):
        return _refused(request, ticket, TicketError(_("Closed tickets cannot be edited.")))
    uploads = list(
        request.dbsession.scalars(sa.select(Upload).where(Upload.topic_id == ticket.id))
    )
    form = bind_choices(EditTicketForm.from_request(request, obj=ticket), service)
    form.remove_uploads.choices = [(u.id, u.original_filename) for u in uploads]
    if request.method == "GET":
        form.priority.data = ticket.ticket_priority_id
        form.category.data = ticket.category_id
    submitted = request.POST.get(FINGERPRINT) if request.method == "POST" else None
    values = {
        "ticket": ticket,
        "form": form,
        "page_title": _("Edit ticket"),
        "upload_error": None,
        "conflict": False,
        "current_url": _ticket_url(request, ticket),
        FINGERPRINT: ticket_fingerprint(ticket) if submitted is None else submitted,
    }
    if request.method != "POST":
        return values
    if not form.validate():
        return invalid(request, values)
    try:
        service.edit_ticket(
            ticket,
            request.user,
            title=form.title.data.strip(),
            content=form.content.data,
            priority=_by_id(service.priorities(), form.priority.data),
            category=_by_id(service.categories(), form.category.data),
            hours=form.hours.data,
            remove_upload_ids=form.remove_uploads.data or [],
            files=chosen_files(form.file),
            fingerprint=submitted,
        )
    except EditConflict:
        return _conflict(request, values, ticket_fingerprint(ticket))
    except (UploadError, TicketError) as error:
        values["upload_error"] = error.message
        return invalid(request, values, _status_of(request, error))
    return _done(
        request, ticket, _("Ticket ${number} saved.", mapping={"number": ticket.id_zfill})
    )


def _conflict(request, values, current_fingerprint):
    """Someone else saved the ticket/reply after this form was loaded: nothing is saved, the
    form comes back (409) with the person's own text and a link to the current version. The
    form now carries the current fingerprint: saving it again replaces that version."""
    values["conflict"] = True
    values[FINGERPRINT] = current_fingerprint
    return invalid(request, values, 409)


@view_config(route_name="post_edit", renderer="tickets/edit_post.jinja2", permission=P.POST_EDIT)
def edit_post(request):
    post = request.context.post
    ticket = post.ticket
    service = request.tickets
    if service.is_closed(ticket):
        return _refused(
            request, ticket, TicketError(_("Replies to closed tickets cannot be edited."))
        )
    form = bind_choices(EditPostForm.from_request(request, obj=post), service)
    form.remove_uploads.choices = [(u.id, u.original_filename) for u in post.uploads]
    if request.method == "GET":
        form.status.data = ticket.status_id
        form.priority.data = ticket.ticket_priority_id
    submitted = request.POST.get(FINGERPRINT) if request.method == "POST" else None
    values = {
        "ticket": ticket,
        "post": post,
        "form": form,
        "page_title": _("Edit reply"),
        "upload_error": None,
        "conflict": False,
        "current_url": _post_url(request, post),
        FINGERPRINT: post_fingerprint(post) if submitted is None else submitted,
    }
    if request.method != "POST":
        return values
    if not form.validate():
        return invalid(request, values)
    try:
        service.edit_post(
            post,
            request.user,
            content=form.content.data,
            hours=form.hours.data,
            status=_by_id(service.statuses(), form.status.data),
            priority=_by_id(service.priorities(), form.priority.data),
            remove_upload_ids=form.remove_uploads.data or [],
            files=chosen_files(form.file),
            fingerprint=submitted,
        )
    except EditConflict:
        return _conflict(request, values, post_fingerprint(post))
    except (UploadError, TicketError) as error:
        values["upload_error"] = error.message
        return invalid(request, values, _status_of(request, error))
    return _done(request, ticket, _("Reply saved."))


def _post_url(request, post):
    """The page of the ticket that shows ``post``."""
    before = request.dbsession.scalar(
        sa.select(sa.func.count())
        .select_from(Post)
        .where(Post.ticket_id == post.ticket_id, Post.id <= post.id)
    )
    return request.route_url(
        "ticket_view_page",
        ticket_id=post.ticket_id,
        page=max(1, -(-before // site_page_size(request))),
        _anchor=f"post-{post.id}",
    )


def _history(request, condition, ticket, what):
    rows = list(
        request.dbsession.scalars(
            sa.select(History)
            .options(joinedload(History.user))
            .where(condition)
            .order_by(History.id)
        )
    )
    return {
        "ticket": ticket,
        "rows": rows,
        "what": what,
        "page_title": _("Edit history of ${what}", mapping={"what": what}),
    }


@view_config(route_name="ticket_history", renderer="tickets/history.jinja2", permission=P.VIEW)
def ticket_history(request):
    ticket = request.context.ticket
    what = _("ticket #${number}", mapping={"number": ticket.id_zfill})
    return _history(request, History.topic_id == ticket.id, ticket, what)


@view_config(route_name="post_history", renderer="tickets/history.jinja2", permission=P.VIEW)
def post_history(request):
    post = request.context.post
    return _history(request, History.post_id == post.id, post.ticket, _("a reply"))


@view_config(
    route_name="ticket_delete", renderer="tickets/delete.jinja2", permission=P.TICKET_DELETE
)
def delete_ticket(request):
    ticket = request.context.ticket
    form = ConfirmPasswordForm.from_request(request)
    values = {
        "ticket": ticket,
        "form": form,
        "what": _(
            "ticket #${number} “${title}”",
            mapping={"number": ticket.id_zfill, "title": ticket.title},
        ),
        "page_title": _("Delete ticket"),
    }
    if request.method != "POST":
        return values
    if not password_confirmed(request, form):
        return invalid(request, values)
    number = ticket.id_zfill
    request.tickets.delete_ticket(ticket, request.user)
    flash(
        request,
        _(
            "Ticket ${number} and everything attached to it were deleted.",
            mapping={"number": number},
        ),
        "success",
    )
    return HTTPFound(location=request.route_url("tickets"))


@view_config(route_name="post_delete", renderer="tickets/delete.jinja2", permission=P.POST_DELETE)
def delete_post(request):
    post = request.context.post
    ticket = post.ticket
    form = ConfirmPasswordForm.from_request(request)
    values = {
        "ticket": ticket,
        "form": form,
        "what": _("this reply"),
        "page_title": _("Delete reply"),
    }
    if request.method != "POST":
        return values
    if not password_confirmed(request, form):
        return invalid(request, values)
    request.tickets.delete_post(post, request.user)
    return _done(request, ticket, _("The reply was deleted."))


# -- Markdown and attachments ----------------------------------------------------------------


@view_config(
    route_name="markdown_primer", renderer="tickets/markdown_primer.jinja2", permission=P.VIEW
)
def markdown_primer(request):
    return {"page_title": _("Markdown help")}


@view_config(route_name="markdown_preview", request_method="POST", permission=P.VIEW)
def markdown_preview(request):
    """The live preview, through the same sanitising renderer as saved posts."""
    content = request.POST.get("content", "")
    if not isinstance(content, str) or len(content) > MAX_PREVIEW_LENGTH:
        raise HTTPBadRequest(_("The text is too long to preview."))
    return Response(str(render_markdown(content)), content_type="text/html", charset="utf-8")


@view_config(route_name="upload_download", request_method="GET", permission=P.VIEW)
def download(request):
    upload = request.context.upload
    try:
        path = request.uploads.path_of(upload.filename)
        response = FileResponse(
            str(path), request=request, content_type=content_type_for(upload.original_filename)
        )
    except (FileNotFoundError, OSError):
        raise HTTPNotFound(_("The file of this attachment is missing.")) from None
    response.content_disposition = _attachment_header(upload.original_filename)
    response.headers["Content-Security-Policy"] = SERVED_FILE_CSP
    return response


def _attachment_header(name):
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
