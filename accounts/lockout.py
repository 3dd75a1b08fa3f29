"""What django-axes answers once a username is locked out (settings.AXES_LOCKOUT_CALLABLE).

Pages get the "Too many attempts" page; the API gets the one error shape, so a client
calling POST /api/v1/auth/token/ can switch on `login_locked` instead of parsing HTML.
"""

from axes.conf import settings
from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from core.api.errors import error_body
from core.errors import ServiceError, register_code

LOGIN_LOCKED = register_code(
    "login_locked", 429, "Too many failed sign-ins for this username from this address; try again later."
)


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    cool_off = get_cool_off(request)
    if request.path.startswith("/api/"):
        error = ServiceError(LOGIN_LOCKED, "Too many failed sign-ins for this username; try again later.")
        response = JsonResponse(error_body(error.code, error.message), status=error.status)
        if cool_off:
            response["Retry-After"] = str(int(cool_off.total_seconds()))
        return response
    context = {
        "failure_limit": get_failure_limit(request, credentials),
        "username": get_client_username(request, credentials) or "",
        "cooloff_timedelta": cool_off,
    }
    return render(request, settings.AXES_LOCKOUT_TEMPLATE, context, status=settings.AXES_HTTP_RESPONSE_CODE)
