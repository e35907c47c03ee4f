"""Rate limits for every path that checks a password or sends a reset mail.

The HTML login and the API's token request share these, so both count against the same
account and address limits. A limited attempt is refused before any bcrypt work.
"""

import logging

from flicket.db import keep_despite_error
from flicket.security import client_address

log = logging.getLogger(__name__)


def _limits(request):
    return request.registry["ratelimits"]


def _text_key(text):
    return (text or "").strip().lower()[:120]


def _account_key(request, login):
    """One key per account, whichever identifier names it: failures by username and by
    email address count together. A login that names no account is keyed by its text."""
    user = request.accounts.find_by_login(login)
    if user is not None:
        return f"user:{user.id}"
    return "login:" + _text_key(login)


def login_retry_after(request, login):
    """Seconds to wait before another login attempt is allowed (0: allowed now)."""
    limits = _limits(request)
    return max(
        limits["login_global"].retry_after(request, "all"),
        limits["login_address"].retry_after(request, client_address(request)),
        limits["login_account"].retry_after(request, _account_key(request, login)),
    )


def record_login_failure(request, login):
    # The attempt counts even when the page answers with an error status.
    keep_despite_error(request)
    limits = _limits(request)
    limits["login_global"].hit(request, "all")
    limits["login_address"].hit(request, client_address(request))
    limits["login_account"].hit(request, _account_key(request, login))


def record_login_success(request, login):
    # The account's own counter starts again; the address counter does not, so one
    # valid account cannot be used to reset an attacker's budget.
    _limits(request)["login_account"].clear(request, _account_key(request, login))


def reset_retry_after(request, email):
    limits = _limits(request)
    return max(
        limits["reset_address"].retry_after(request, client_address(request)),
        limits["reset_email"].retry_after(request, _text_key(email)),
    )


def record_reset_request(request, email):
    limits = _limits(request)
    limits["reset_address"].hit(request, client_address(request))
    limits["reset_email"].hit(request, _text_key(email))
