"""Security headers on every response: pages, errors, redirects, static files and API."""

from pyramid.tweens import INGRESS

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)
STATIC_PREFIX = "/flicket/static/"


def security_headers_tween_factory(handler, registry):
    hsts = registry.settings.get("flicket.hsts")

    def security_headers_tween(request):
        response = handler(request)
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if hsts:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if not request.path_info.startswith(STATIC_PREFIX):
            # Pages and API answers may hold private data: never keep them in a cache.
            headers["Cache-Control"] = "no-store"
        return response

    return security_headers_tween


def includeme(config):
    config.add_tween("flicket.tweens.security_headers_tween_factory", under=INGRESS)
