"""Project-wide middleware."""

from django.conf import settings

from core import clientip

FORWARDED_PROTO = "HTTP_X_FORWARDED_PROTO"


def forwarded_proto_middleware(get_response):
    """Drop X-Forwarded-Proto unless a trusted proxy (TRUSTED_PROXIES) sent the request.

    SECURE_PROXY_SSL_HEADER makes Django believe the header from anyone, so a client talking
    to gunicorn directly could pass a plain-HTTP request off as HTTPS (no redirect to HTTPS,
    https:// links built for it). First in MIDDLEWARE, before SecurityMiddleware reads it.
    """

    def middleware(request):
        if FORWARDED_PROTO in request.META and not clientip.peer_is_proxy(
            peer=request.META.get("REMOTE_ADDR", ""), proxies=settings.TRUSTED_PROXIES_PARSED
        ):
            del request.META[FORWARDED_PROTO]
        return get_response(request)

    return middleware
