from django.views.defaults import bad_request, page_not_found, server_error

from consentsvc.api.errors import json_400, json_404, json_500


def handler400(request, exception=None):
    if request.path.startswith("/api/"):
        return json_400(request, exception)
    return bad_request(request, exception)


def handler404(request, exception=None):
    if request.path.startswith("/api/"):
        return json_404(request, exception)
    return page_not_found(request, exception)


def handler500(request):
    if request.path.startswith("/api/"):
        return json_500(request)
    return server_error(request)
