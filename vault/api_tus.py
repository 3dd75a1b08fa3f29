"""Resumable uploads over tus 1.0 (core, creation, termination, expiration). Thin: the protocol's
headers in and out; vault.partials does the work.

    POST   media/uploads/         Upload-Length, Upload-Metadata (filename) -> 201, Location
    HEAD   media/uploads/<uid>/   -> Upload-Offset, Upload-Length, Upload-Expires
    PATCH  media/uploads/<uid>/   application/offset+octet-stream from Upload-Offset -> 204;
                                  the last one answers with the item (Media-Item-Id) or the refusal
    DELETE media/uploads/<uid>/   -> 204, what was received is deleted
"""

import base64
import binascii
import uuid

from django.conf import settings
from django.http import HttpResponse, JsonResponse, UnreadablePostError
from django.utils.http import http_date
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.views import APIView

from accounts.permissions import IsHolder, collection_method
from accounts.tokens import calling_token
from core import request_body
from core.errors import ServiceError, register_code
from vault import partials

TUS_VERSION = "1.0.0"
READ_BYTES = 1024 * 1024

register_code("tus_version_unsupported", 412, "Tus-Resumable is missing or not 1.0.0; Tus-Version says what is spoken.")


def _tus(response: HttpResponse) -> HttpResponse:
    response["Tus-Resumable"] = TUS_VERSION
    response["Cache-Control"] = "no-store"
    return response


def _refusal(status: int, code: str, message: str) -> HttpResponse:
    """The API's one error shape, with the tus headers (these views answer outside DRF's renderers)."""
    return _tus(JsonResponse({"error": {"code": code, "message": message}}, status=status))


def _check_version(request) -> HttpResponse | None:
    if request.headers.get("Tus-Resumable") != TUS_VERSION:
        response = _refusal(412, "tus_version_unsupported",
                            f"This server speaks tus {TUS_VERSION}: send Tus-Resumable: {TUS_VERSION}.")
        response["Tus-Version"] = TUS_VERSION
        return response
    return None


# Every tus request names the protocol's version; any other answers 412 with the one we speak.
_TUS_HEADER = OpenApiParameter("Tus-Resumable", str, OpenApiParameter.HEADER, required=True, enum=[TUS_VERSION])
_WRONG_VERSION = {412: OpenApiResponse(description="tus_version_unsupported")}
_BAD_HEADER = {400: OpenApiResponse(description="invalid_request: a tus header is missing or malformed")}
_NO_UPLOAD = {404: OpenApiResponse(description="not_found: no such upload of yours")}


def _int_header(request, name: str) -> int:
    raw = request.headers.get(name, "")
    if not (raw.isascii() and raw.isdigit()):  # "²" is a digit to isdigit(), not to int()
        raise ServiceError("invalid_request", f"{name} is a non-negative integer.")
    return int(raw)


def _filename(metadata: str) -> str:
    for pair in (metadata or "").split(","):
        key, _, value = pair.strip().partition(" ")
        if key == "filename" and value:
            try:
                return base64.b64decode(value, validate=True).decode("utf-8", "replace")[:255]
            except (binascii.Error, ValueError):
                raise ServiceError("invalid_request", "Upload-Metadata values are base64.") from None
    return ""


def _uid(upload_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(upload_id)
    except ValueError:
        raise ServiceError("not_found", "No such upload.") from None


def _body(request):
    """The PATCH body as it arrives (from gunicorn's socket when served by it: core.request_body);
    a dropped connection ends it (what came is kept)."""
    raw = request._request
    chunks = request_body.body_chunks(raw.environ, started=raw._read_started, read=raw.read, chunk_bytes=READ_BYTES)
    raw._read_started = True  # as raw.read would: request.body is no longer available
    try:
        yield from chunks
    except (UnreadablePostError, OSError):
        return


class TusCollectionApi(APIView):
    """OPTIONS: what this server speaks. POST: start a resumable upload (a video, or any media)."""

    permission_classes = [IsHolder]

    def options(self, request, *args, **kwargs):
        response = _tus(HttpResponse(status=204))
        response["Tus-Version"] = TUS_VERSION
        response["Tus-Extension"] = "creation,termination,expiration"
        response["Tus-Max-Size"] = str(settings.VIDEO_MAX_BYTES)
        return response

    @extend_schema(operation_id="media_upload_resumable_create", request=None, parameters=[_TUS_HEADER],
                   summary="Start a resumable (tus 1.0) upload; headers Upload-Length and Upload-Metadata",
                   responses={201: OpenApiResponse(description="Location: the upload's URL"),
                              403: OpenApiResponse(description="consent_required"),
                              413: OpenApiResponse(description="file_too_large"), **_BAD_HEADER,
                              **_WRONG_VERSION})
    def post(self, request):
        if (refused := _check_version(request)) is not None:
            return refused
        token = calling_token()
        upload = partials.partial_create(
            user_id=request.user.pk, length=_int_header(request, "Upload-Length"),
            filename=_filename(request.headers.get("Upload-Metadata", "")), method=collection_method(request),
            device_id=token.id if token else None,
        )
        response = _tus(HttpResponse(status=201))
        response["Location"] = request.build_absolute_uri(f"{request.path.rstrip('/')}/{upload.uid}/")
        response["Upload-Expires"] = http_date(upload.expires_at.timestamp())
        return response


class TusUploadApi(APIView):
    """One resumable upload: HEAD where it stands, PATCH the next bytes, DELETE it."""

    permission_classes = [IsHolder]

    def head(self, request, upload_id: str):
        if (refused := _check_version(request)) is not None:
            return refused
        upload = partials.partial_get(user_id=request.user.pk, uid=_uid(upload_id))
        response = _tus(HttpResponse(status=200))
        response["Upload-Offset"] = str(upload.offset)
        response["Upload-Length"] = str(upload.length)
        response["Upload-Expires"] = http_date(upload.expires_at.timestamp())
        return response

    @extend_schema(operation_id="media_upload_resumable_append", request=None, parameters=[_TUS_HEADER],
                   summary="Append bytes from Upload-Offset (application/offset+octet-stream)",
                   responses={204: OpenApiResponse(description="Stored; Upload-Offset says up to where"),
                              403: OpenApiResponse(description="consent_required: before the first byte, or "
                                                               "when it ends during the PATCH (stop)"),
                              409: OpenApiResponse(description="upload_offset_mismatch: another request "
                                                               "appended first"),
                              410: OpenApiResponse(description="upload_expired: ended (terminated, expired) "
                                                               "before or during the PATCH"),
                              415: OpenApiResponse(description="unsupported_media_type"),
                              **_BAD_HEADER, **_NO_UPLOAD, **_WRONG_VERSION})
    def patch(self, request, upload_id: str):
        if (refused := _check_version(request)) is not None:
            return refused
        if request.content_type != "application/offset+octet-stream":
            return _refusal(415, "unsupported_media_type", "A PATCH body is application/offset+octet-stream.")
        upload, result = partials.partial_append(
            user_id=request.user.pk, uid=_uid(upload_id), offset=_int_header(request, "Upload-Offset"),
            body=_body(request),
        )
        response = _tus(HttpResponse(status=204))
        response["Upload-Offset"] = str(upload.offset)
        if result is not None:
            response["Media-Item-Id"] = str(result.item.pk)
            response["Media-Duplicate"] = "true" if result.duplicate else "false"
        return response

    @extend_schema(operation_id="media_upload_resumable_delete", request=None, parameters=[_TUS_HEADER],
                   responses={204: None, **_BAD_HEADER, **_NO_UPLOAD, **_WRONG_VERSION})
    def delete(self, request, upload_id: str):
        if (refused := _check_version(request)) is not None:
            return refused
        partials.partial_delete(user_id=request.user.pk, uid=_uid(upload_id))
        return _tus(HttpResponse(status=204))
