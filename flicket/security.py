"""The one security policy of the application.

Pages are authenticated by the session cookie; ``/flicket-api/`` only by an
``Authorization: Bearer`` token (the session cookie is ignored there, so the API needs no
CSRF token). Principals come from the user's groups; permissions are checked against the
ACLs of the context resource.
"""

import hashlib
import logging
from datetime import timedelta

import sqlalchemy as sa
from pyramid.authorization import ACLHelper, Authenticated, Everyone
from pyramid.csrf import new_csrf_token
from sqlalchemy.orm import selectinload

from flicket import clock
from flicket.accounts.models import ADMIN_GROUP_NAME, SUPER_USER_GROUP_NAME, ApiToken, User
from flicket.resources import ADMIN, SUPER_USER

log = logging.getLogger(__name__)

API_PREFIX = "/flicket-api"
SESSION_AUTH_KEY = "auth"
#: Writing last_used on every API call would turn every read into a write.
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)


def is_api_request(request):
    # The raw WSGI path: reading it never fails, even for a URL that is not UTF-8.
    path = request.environ.get("PATH_INFO", "")
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def client_address(request):
    """The address of the peer that sent the request, as the WSGI server gives it
    (``REMOTE_ADDR``). Never WebOb's ``client_addr``: it believes any client's
    ``X-Forwarded-For``, so each attempt could claim a fresh address and slip past the
    per-address limits and into the logs. Behind the reverse proxy, waitress
    (``trusted_proxy`` in production.ini) puts the real client's address here itself, and
    only for requests that really came through the proxy (SECURITY-TESTS LOG-4)."""
    return request.environ.get("REMOTE_ADDR") or "unknown"


def hash_token(token):
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def principals_for(user):
    principals = [Everyone]
    if user is not None:
        principals += [Authenticated, f"user:{user.id}"]
        groups = user.group_names
        if ADMIN_GROUP_NAME in groups:
            principals.append(ADMIN)
        if SUPER_USER_GROUP_NAME in groups:
            principals.append(SUPER_USER)
    return principals


def _load_user(request, condition):
    return request.dbsession.scalar(
        sa.select(User).options(selectinload(User.groups)).where(condition)
    )


def _bearer_token(request):
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _user_from_token(request):
    token = _bearer_token(request)
    if token is None or len(token) > 512:
        return None
    now = clock.utcnow()
    row = request.dbsession.scalar(
        sa.select(ApiToken).where(
            ApiToken.token_hash == hash_token(token),
            ApiToken.revoked.is_(None),
            ApiToken.expires > now,
        )
    )
    if row is None:
        return None
    user = _load_user(request, User.id == row.user_id)
    if user is None or user.disabled:
        return None
    if row.last_used is None or now - row.last_used > TOKEN_TOUCH_INTERVAL:
        row.last_used = now
    request.api_token = row
    return user


def _user_from_session(request):
    auth = request.session.get(SESSION_AUTH_KEY)
    if not isinstance(auth, dict):
        return None
    settings = request.registry.settings
    started = auth.get("at", 0)
    now = clock.utcnow().timestamp()
    if (
        not isinstance(started, (int, float))
        or now - started > settings["flicket.session.absolute_timeout"]
    ):
        request.session.invalidate()
        return None
    user = _load_user(request, User.id == auth.get("uid"))
    if user is None or user.disabled or user.auth_generation != auth.get("gen"):
        # Logged out elsewhere, disabled, or the password changed: this session is over.
        request.session.invalidate()
        return None
    return user


class SecurityPolicy:
    def __init__(self):
        self.acl = ACLHelper()

    def identity(self, request):
        return request.user

    def authenticated_userid(self, request):
        user = request.user
        return None if user is None else user.id

    def permits(self, request, context, permission):
        return self.acl.permits(context, principals_for(request.user), permission)

    def remember(self, request, userid, **kw):
        """Start a fresh session for ``userid`` (called by the login view only)."""
        user = request.dbsession.get(User, userid)
        request.session.invalidate()
        request.session[SESSION_AUTH_KEY] = {
            "uid": user.id,
            "gen": user.auth_generation,
            "at": clock.utcnow().timestamp(),
        }
        new_csrf_token(request)
        return []

    def forget(self, request, **kw):
        if not is_api_request(request):
            request.session.invalidate()
        return []


def get_user(request):
    if is_api_request(request):
        return _user_from_token(request)
    return _user_from_session(request)


def includeme(config):
    config.set_security_policy(SecurityPolicy())
    config.add_request_method(get_user, "user", reify=True)
