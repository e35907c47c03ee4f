"""Sessions and CSRF.

Sessions are signed cookies (nothing kept in one process's memory): HttpOnly, SameSite=Lax,
Secure when configured, with an idle timeout enforced by the signature's timestamp and an
absolute timeout enforced by the security policy. Every unsafe request to a page must carry
the session's CSRF token, and that check runs before the permission check.
"""

from pyramid.session import SignedCookieSessionFactory
from pyramid.viewderivers import INGRESS, csrf_view

from flicket.permissions import Permission
from flicket.security import is_api_request
from flicket.settings import derive_secret


def csrf_applies(request):
    # The API authenticates with a bearer header only, which a browser never sends
    # cross-site on its own, so it needs no CSRF token.
    return not is_api_request(request)


def includeme(config):
    settings = config.get_settings()
    idle = settings["flicket.session.idle_timeout"]
    factory = SignedCookieSessionFactory(
        derive_secret(settings, "session"),
        cookie_name=settings["flicket.session.cookie_name"],
        secure=settings["flicket.session.secure"],
        httponly=True,
        samesite="Lax",
        timeout=idle,
        reissue_time=max(1, min(60, idle // 10)),
        hashalg="sha512",
    )
    config.set_session_factory(factory)
    config.set_default_csrf_options(require_csrf=True, callback=csrf_applies)
    config.set_default_permission(Permission.VIEW)
    # Check the CSRF token before the permission, so ambient cookie authority is never used
    # by a forged request (Pyramid's default order is the other way round).
    config.commit()
    config.add_view_deriver(csrf_view, "csrf_view", under=INGRESS, over="secured_view")
