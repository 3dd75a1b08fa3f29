"""Error pages: JSON under /api/, styled pages (with the navigation and a way back) elsewhere."""

import logging

from django.http import HttpResponseServerError, JsonResponse
from django.template import loader
from django.views.defaults import bad_request, page_not_found, permission_denied

from core.api.errors import error_body, json_400, json_404, json_500

log = logging.getLogger(__name__)


def handler400(request, exception=None):
    if request.path.startswith("/api/"):
        return json_400(request, exception)
    return bad_request(request, exception)


def handler403(request, exception=None):
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("permission_denied", "You may not do this."), status=403)
    return permission_denied(request, exception)


def handler404(request, exception=None):
    if request.path.startswith("/api/"):
        return json_404(request, exception)
    return page_not_found(request, exception)


def handler500(request):
    if request.path.startswith("/api/"):
        return json_500(request)
    template = loader.get_template("500.html")
    try:
        # With the request, the page has the navigation of the signed-in user...
        body = template.render({}, request)
    except Exception:
        # ...unless what failed is what the navigation needs (the database, the session).
        log.exception("the 500 page could not be drawn with the request; drawing it without")
        body = template.render({"bare": True})
    return HttpResponseServerError(body)


def healthz(request):
    """For load balancers and the HTTP benchmark's floor: the middleware, no database."""
    return JsonResponse({"status": "ok"})
