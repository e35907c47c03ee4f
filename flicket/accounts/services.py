"""Account rules in one place: finding and authenticating users, passwords, ending
sessions, API tokens and password-reset links. Views, the API and console scripts all use
this service (``request.accounts``)."""

import logging
import secrets
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import selectinload
from webob.cookies import SignedSerializer

from flicket import clock
from flicket.accounts.models import ApiToken, User
from flicket.accounts.passwords import (
    burn_verification_time,
    hash_password,
    password_problems,
    verify_password,
)
from flicket.security import hash_token
from flicket.settings import derive_secret

log = logging.getLogger(__name__)

MAX_LOGIN_LENGTH = 254


class AccountService:
    def __init__(self, dbsession, settings):
        self.db = dbsession
        self.settings = settings

    # -- finding and authenticating -------------------------------------------------------

    def find_by_login(self, login):
        """The user whose username or email equals ``login``, ignoring case, or None."""
        login = (login or "").strip().lower()
        if not login or len(login) > MAX_LOGIN_LENGTH:
            return None
        username_first = sa.case((sa.func.lower(User.username) == login, 0), else_=1)
        return self.db.scalars(
            sa.select(User)
            .options(selectinload(User.groups))
            .where(
                sa.or_(sa.func.lower(User.username) == login, sa.func.lower(User.email) == login)
            )
            .order_by(username_first, User.id)
            .limit(1)
        ).first()

    def find_by_email(self, email):
        email = (email or "").strip().lower()
        if not email or len(email) > MAX_LOGIN_LENGTH:
            return None
        return self.db.scalars(
            sa.select(User).where(sa.func.lower(User.email) == email).order_by(User.id).limit(1)
        ).first()

    def authenticate(self, login, password):
        """The user for these credentials, or None for any failure.

        Unknown users cost one bcrypt check too, and a disabled account fails like a wrong
        password, so the answer tells an attacker nothing.
        """
        user = self.find_by_login(login)
        if user is None:
            burn_verification_time(self.settings["flicket.bcrypt_rounds"])
            return None
        if not verify_password(password or "", user.password):
            return None
        if user.disabled:
            return None
        return user

    # -- passwords --------------------------------------------------------------------------

    def password_problems(self, password, user=None, extra_words=()):
        words = list(extra_words)
        if user is not None:
            words += [user.username, user.name, (user.email or "").split("@")[0]]
        return password_problems(
            password, self.settings["flicket.password_min_length"], [w for w in words if w]
        )

    def hash_password(self, password):
        return hash_password(password, self.settings["flicket.bcrypt_rounds"])

    def set_password(self, user, password):
        """Store a new password and end every session and API token of the user."""
        user.password = self.hash_password(password)
        self.end_all_sessions(user)

    def end_all_sessions(self, user):
        """Every session cookie and API token of ``user`` stops working."""
        self.db.execute(
            sa.update(User)
            .where(User.id == user.id)
            .values(auth_generation=User.auth_generation + 1)
        )
        self.db.execute(
            sa.update(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.revoked.is_(None))
            .values(revoked=clock.utcnow())
        )
        self.db.expire(user, ["auth_generation"])

    # -- API tokens -------------------------------------------------------------------------

    def issue_api_token(self, user):
        """A new bearer token for ``user``; only its digest is stored."""
        token = secrets.token_urlsafe(32)
        now = clock.utcnow()
        lifetime = timedelta(seconds=self.settings["flicket.api.token_lifetime"])
        self.db.add(
            ApiToken(
                user_id=user.id, token_hash=hash_token(token), created=now, expires=now + lifetime
            )
        )
        self.db.flush()
        return token

    def revoke_api_token(self, api_token):
        api_token.revoked = clock.utcnow()

    # -- password reset links ---------------------------------------------------------------

    def _reset_serializer(self):
        return SignedSerializer(
            derive_secret(self.settings, "password-reset"), salt="flicket.reset", hashalg="sha512"
        )

    @staticmethod
    def _reset_fingerprint(user):
        # Changes as soon as the password (or session generation) changes: one use only.
        return hash_token(f"{user.id}:{user.auth_generation}:{(user.password or b'').hex()}")[:32]

    def make_reset_token(self, user):
        expires = clock.utcnow() + timedelta(seconds=self.settings["flicket.reset.token_lifetime"])
        payload = {"u": user.id, "e": int(expires.timestamp()), "f": self._reset_fingerprint(user)}
        return self._reset_serializer().dumps(payload).decode("ascii")

    def user_for_reset_token(self, token):
        """The user a valid, unexpired, unused reset token belongs to, else None."""
        if not token or len(token) > 1024:
            return None
        try:
            payload = self._reset_serializer().loads(token.encode("ascii"))
        except (ValueError, UnicodeError, TypeError):
            return None
        if not isinstance(payload, dict) or not isinstance(payload.get("e"), int):
            return None
        if payload["e"] < clock.utcnow().timestamp():
            return None
        user = self.db.get(User, payload.get("u")) if isinstance(payload.get("u"), int) else None
        if user is None or user.disabled or payload.get("f") != self._reset_fingerprint(user):
            return None
        return user


def get_account_service(request):
    return AccountService(request.dbsession, request.registry.settings)
