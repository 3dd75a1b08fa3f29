"""Every API error leaves as {"error": {"code", "message"}} — translated here only."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

from core.api import parsers
from core.errors import ServiceError, is_storage_full
from core.uow import Actor, events_write

_DRF_CODES = {
    exceptions.ParseError: "malformed_request",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
}


def error_body(code: str, message: str, **extra) -> dict:
    return {"error": {"code": code, "message": message, **extra}}


def _flatten(detail) -> dict:
    if isinstance(detail, dict):
        return {
            key: [str(item) for item in (value if isinstance(value, list) else [value])]
            for key, value in detail.items()
        }
    return {"non_field_errors": [str(item) for item in (detail if isinstance(detail, list) else [detail])]}


def _limit_error(exc) -> ServiceError | None:
    """Django's request limits (body size, files, fields) as our error codes."""
    if isinstance(exc, TooManyFilesSent):
        return ServiceError(parsers.TOO_MANY_FILES, "Too many files in one request; send them one by one.")
    if isinstance(exc, TooManyFieldsSent):
        return ServiceError(parsers.TOO_MANY_FIELDS, "Too many fields in one request.")
    if isinstance(exc, RequestDataTooBig):
        return ServiceError(parsers.REQUEST_TOO_LARGE, "The request body is larger than this endpoint accepts.")
    return None


def _storage_full(exc, context) -> ServiceError:
    """Audited in a transaction of its own (the request's was rolled back), then 507."""
    request = context.get("request")
    user = getattr(request, "user", None)
    user_id = user.pk if getattr(user, "is_authenticated", False) else None
    with events_write(actor=Actor.system(), user_id=user_id) as uow:
        uow.record(uow.event(
            action="service.storage_full", object_type="request", outcome="error",
            details={"method": getattr(request, "method", ""), "view": type(context.get("view")).__name__},
        ))
    return ServiceError("storage_full", "There is no room to store this now; nothing was kept. Try again later.")


def exception_handler(exc, context):
    exc = _limit_error(exc) or exc
    if is_storage_full(exc):
        exc = _storage_full(exc, context)
    if isinstance(exc, ServiceError):
        return Response(error_body(exc.code, exc.message, **(exc.extra or {})), status=exc.status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.ValidationError):
        return Response(
            error_body("invalid_request", "Some fields are not valid.", fields=_flatten(exc.detail)),
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, exceptions.APIException):
        code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "invalid_request")
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return Response(error_body(code, message), status=exc.status_code, headers=headers)
    return None


def json_400(request, exception=None):
    error = _limit_error(exception)
    if error is None:
        error = ServiceError("malformed_request", "The request could not be read.")
    return JsonResponse(error_body(error.code, error.message), status=error.status)


def json_404(request, exception=None):
    return JsonResponse(error_body("not_found", "No such resource."), status=404)


def json_500(request):
    return JsonResponse(error_body("server_error", "Something failed on our side; nothing was changed."), status=500)
