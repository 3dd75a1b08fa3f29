"""The holder's media and exclusions API (API.md, "Media"). Thin: parse, call, shape.

Two paths carry two operations each (GET/POST ``media/``, GET/PATCH/DELETE
``media/<id>/``); API.md fixes the paths, so those classes have one method per
operation, each with its own small serializers.
"""

import logging

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsHolder, collection_method
from accounts.tokens import calling_token
from core.api.parsers import json_loads_limited
from core.errors import is_storage_full
from vault import blobs, gateway, selectors, services, trash
from vault.models import Exclusion
from vault.uploads import TOO_LARGE_FLAG

log = logging.getLogger(__name__)


# ISO 8601; no offset when the photo recorded only its wall-clock time (see _media_out), so not
# OpenAPI's "date-time" (RFC 3339 requires the offset).
CAPTURED_AT_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2}(:\d{2})?)?$"


class MediaOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    captured_at = serializers.RegexField(
        CAPTURED_AT_PATTERN, allow_null=True,
        help_text="ISO 8601 date-time; without an offset when the photo has only its local wall-clock time.",
    )
    has_location = serializers.BooleanField()
    content_type = serializers.CharField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    size = serializers.IntegerField(help_text="Bytes of the stored original (EXIF stripped).")
    sha256 = serializers.CharField(help_text="SHA-256 of the uploaded file, as the phone computes it.")
    labels = serializers.ListField(child=serializers.CharField())
    excluded = serializers.BooleanField()
    created_at = serializers.DateTimeField()


def _page_of(name: str, serializer) -> serializers.Serializer:
    return inline_serializer(name, {
        "count": serializers.IntegerField(),
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": serializer(many=True),
    })


PAGE_PARAMETER = OpenApiParameter("page", int, description="A page number within the paginated result set.")


def _media_out(item, meta, **extra) -> dict:
    captured = meta.captured_at
    return {
        "id": item.pk,
        # A naive capture time is the phone's wall clock: sent without an offset.
        "captured_at": captured.isoformat() if captured else None,
        "has_location": item.has_location,
        "content_type": item.content_type,
        "width": item.width,
        "height": item.height,
        "size": item.size,
        "sha256": meta.sha256,
        "labels": list(meta.labels),
        "excluded": item.excluded,
        "created_at": serializers.DateTimeField().to_representation(item.created_at),
        **extra,
    }


class MediaCollectionApi(APIView):
    """GET: the holder's cloud copies (metadata only). POST: upload one photo (multipart)."""

    permission_classes = [IsHolder]
    parser_classes = [MultiPartParser, FormParser]

    class UploadInputSerializer(serializers.Serializer):
        file = serializers.FileField(help_text="JPEG, PNG, WebP or HEIC/HEIF, or an MP4 / QuickTime video (H.264, "
                                               "HEVC); at most VAULT_MAX_UPLOAD_BYTES (larger videos: media/uploads/, "
                                               "tus 1.0).")
        labels = serializers.CharField(required=False, help_text='JSON list of on-device theme labels: ["beach"].')
        captured_at = serializers.DateTimeField(required=False, help_text="Used only when the image has none.")

    class UploadOutputSerializer(MediaOutputSerializer):
        duplicate = serializers.BooleanField(required=False)
        trashed = serializers.BooleanField(
            required=False, help_text="With duplicate: the photo is in the holder's trash and stays there.")

    @extend_schema(operation_id="media_list", summary="The holder's cloud copies (metadata only; never coordinates)",
                   parameters=[PAGE_PARAMETER], responses=_page_of("MediaPage", MediaOutputSerializer))
    def get(self, request):
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(
            selectors.media_list(user_id=request.user.pk).select_related("key"), request, view=self
        )
        metas = selectors.media_metas(items=page)
        return paginator.get_paginated_response([_media_out(i, m) for i, m in zip(page, metas, strict=True)])

    @extend_schema(
        operation_id="media_upload",
        summary="Upload one photo (only while camera_roll_cloud_processing is granted)",
        request=UploadInputSerializer,
        responses={
            201: UploadOutputSerializer,
            200: OpenApiResponse(UploadOutputSerializer, description='Already held: the item, "duplicate": true.'),
            400: OpenApiResponse(description="invalid_image, invalid_video or invalid_request"),
            403: OpenApiResponse(description="consent_required"),
            413: OpenApiResponse(description="file_too_large, image_too_large, video_too_long or video_too_large"),
            422: OpenApiResponse(description="video_probe_failed: reading the video crashed, hung or ran out of "
                                             "memory; nothing was kept"),
            507: OpenApiResponse(description="storage_full: nothing was kept"),
            415: OpenApiResponse(description="unsupported_media_type"),
        },
    )
    def post(self, request):
        upload = request.FILES.get("file")  # parses the body (a photo in memory, a video spooled: vault.uploads)
        if getattr(request._request, TOO_LARGE_FLAG, False):
            raise services.upload_refused(user_id=request.user.pk, code="file_too_large",
                                          method=collection_method(request))
        if upload is None:
            raise serializers.ValidationError({"file": ["Send the photo as the multipart field 'file'."]})
        labels = _labels(request.data.get("labels"))
        captured_at = _captured_at(request.data.get("captured_at"))
        method = collection_method(request)
        try:
            result = services.media_upload_received(
                user_id=request.user.pk, upload=upload, labels=labels, captured_at=captured_at,
                method=method, device_id=_calling_device_id(),
            )
        except OSError as exc:
            if not is_storage_full(exc):
                raise
            raise services.upload_refused(user_id=request.user.pk, code="storage_full", method=method) from exc
        if result.duplicate:
            extra = {"trashed": True} if result.item.trashed_at is not None else {}
            return Response(_media_out(result.item, result.meta, duplicate=True, **extra), status=status.HTTP_200_OK)
        return Response(_media_out(result.item, result.meta), status=status.HTTP_201_CREATED)


def _calling_device_id() -> int | None:
    token = calling_token()  # the phone's per-device token; None for a browser session
    return token.id if token else None


def _captured_at(raw):
    if not raw:
        return None
    try:
        return serializers.DateTimeField().to_internal_value(raw)
    except serializers.ValidationError as exc:
        raise serializers.ValidationError({"captured_at": exc.detail}) from None


def _labels(raw) -> list[str] | None:
    if raw in (None, ""):
        return None
    try:
        value = json_loads_limited(raw)  # too deep: 400 too_deeply_nested
    except (TypeError, ValueError):
        raise serializers.ValidationError({"labels": ["A JSON list of strings, e.g. [\"beach\", \"dog\"]."]}) from None
    if not isinstance(value, list):
        raise serializers.ValidationError({"labels": ["A JSON list of strings."]})
    return value


class MediaDetailApi(APIView):
    """One item: GET its metadata, PATCH {"excluded"}, DELETE moves it to the trash (vault.api_trash)."""

    permission_classes = [IsHolder]

    class DetailOutputSerializer(MediaOutputSerializer):
        location = inline_serializer(
            "MediaLocation", {"lat": serializers.FloatField(), "lon": serializers.FloatField()}, allow_null=True,
            help_text="Where the photo was taken, for its owner only; never shown in lists. Always null for a "
                      "video: its place goes out only in the owner's data export.",
        )

    class PatchInputSerializer(serializers.Serializer):
        excluded = serializers.BooleanField(help_text="true keeps this item out of suggestions.")

    @extend_schema(operation_id="media_retrieve", summary="One item's metadata", responses=DetailOutputSerializer)
    def get(self, request, item_id: int):
        item = selectors.media_get(user_id=request.user.pk, item_id=item_id)
        meta = selectors.media_meta(item=item)
        # A video's place leaves the vault in the owner's export only (the original, sealed): not here.
        shown = meta.lat is not None and not meta.is_video
        location = {"lat": meta.lat, "lon": meta.lon} if shown else None
        return Response(_media_out(item, meta, location=location))

    @extend_schema(operation_id="media_exclude", summary="Keep the item out of suggestions, or let it back in",
                   request=PatchInputSerializer,
                   responses=MediaOutputSerializer)
    def patch(self, request, item_id: int):
        data = self.PatchInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = services.media_set_excluded(
            user_id=request.user.pk, item_id=item_id, excluded=data.validated_data["excluded"]
        )
        return Response(_media_out(item, selectors.media_meta(item=item)))

    @extend_schema(operation_id="media_delete",
                   summary="Move the item to the trash (out of every read at once) and delete every output derived "
                           "from it; restorable for TRASH_DAYS, then destroyed",
                   responses={204: None, 404: OpenApiResponse(description="not_found (also: already in the trash)")})
    def delete(self, request, item_id: int):
        trash.media_trash(user_id=request.user.pk, item_ids=[item_id])
        return Response(status=status.HTTP_204_NO_CONTENT)


class _AnyAccept(BaseContentNegotiation):
    """Binary endpoints answer whatever the client accepts; errors are still JSON."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def stream_response(opened: gateway.OpenedContent, *, filename: str) -> StreamingHttpResponse:
    """Stream verified plaintext; if the blob fails a check midway, abort instead of finishing.

    Raising inside the iterator makes the server drop the connection, and with the
    Content-Length set the client sees a short body, never a complete-looking one.
    """

    def body():
        try:
            yield from opened.chunks
        except blobs.BlobIntegrityError as exc:
            log.error("aborted a media stream: %s (%s)", exc, exc.reason)
            raise

    response = StreamingHttpResponse(body(), content_type=opened.content_type)
    response["Content-Length"] = str(opened.size)
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


class MediaContentApi(APIView):
    """The decrypted original, EXIF stripped (owner access through the gateway, audited)."""

    permission_classes = [IsHolder]
    content_negotiation_class = _AnyAccept

    @extend_schema(operation_id="media_content", responses={(200, "image/*"): OpenApiTypes.BINARY})
    def get(self, request, item_id: int):
        opened = gateway.owner_open(user_id=request.user.pk, item_id=item_id, variant="original")
        ext = _EXTENSIONS.get(opened.content_type, "bin")
        return stream_response(opened, filename=f"media-{opened.meta.id}.{ext}")


class MediaThumbnailApi(APIView):
    """A small JPEG of the item (owner access through the gateway, audited)."""

    permission_classes = [IsHolder]
    content_negotiation_class = _AnyAccept

    @extend_schema(operation_id="media_thumbnail", responses={(200, "image/jpeg"): OpenApiTypes.BINARY})
    def get(self, request, item_id: int):
        opened = gateway.owner_open(user_id=request.user.pk, item_id=item_id, variant="thumbnail")
        return stream_response(opened, filename=f"media-{opened.meta.id}-thumbnail.jpg")


class ExclusionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Exclusion.Kind.choices)
    start = serializers.DateField(allow_null=True, required=False)
    end = serializers.DateField(allow_null=True, required=False)
    name = serializers.CharField(required=False)
    lat = serializers.FloatField(required=False)
    lon = serializers.FloatField(required=False)
    radius_m = serializers.FloatField(required=False)


def _exclusion_out(view) -> dict:
    out = {"id": view.id, "kind": view.kind}
    if view.kind == Exclusion.Kind.DATE_RANGE:
        out.update(start=view.start.isoformat(), end=view.end.isoformat())
    else:
        out.update(name=view.place.name, lat=view.place.lat, lon=view.place.lon, radius_m=view.place.radius_m)
    return out


class ExclusionCollectionApi(APIView):
    """GET: the holder's date-range and place exclusions. POST: add one."""

    permission_classes = [IsHolder]

    class CreateInputSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=Exclusion.Kind.choices)
        start = serializers.DateField(required=False, help_text="date_range: first day excluded (inclusive).")
        end = serializers.DateField(required=False, help_text="date_range: last day excluded (inclusive).")
        name = serializers.CharField(required=False, allow_blank=True, max_length=100)
        lat = serializers.FloatField(required=False, min_value=-90, max_value=90)
        lon = serializers.FloatField(required=False, min_value=-180, max_value=180)
        radius_m = serializers.FloatField(required=False, min_value=1, max_value=100_000)

        def validate(self, attrs):
            needed = ("start", "end") if attrs["kind"] == Exclusion.Kind.DATE_RANGE else ("lat", "lon", "radius_m")
            missing = {name: ["This field is required for this kind."] for name in needed if name not in attrs}
            if missing:
                raise serializers.ValidationError(missing)
            if attrs["kind"] == Exclusion.Kind.DATE_RANGE and attrs["end"] < attrs["start"]:
                raise serializers.ValidationError({"end": ["The end date is before the start date."]})
            return attrs

    @extend_schema(operation_id="exclusions_list", summary="The holder's exclusions",
                   parameters=[PAGE_PARAMETER], responses=_page_of("ExclusionPage", ExclusionOutputSerializer))
    def get(self, request):
        views = selectors.exclusion_list(user_id=request.user.pk)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(views, request, view=self)
        return paginator.get_paginated_response([_exclusion_out(v) for v in page])

    @extend_schema(operation_id="exclusions_create", summary="Add a date-range or place exclusion",
                   request=CreateInputSerializer,
                   responses={201: ExclusionOutputSerializer})
    def post(self, request):
        data = self.CreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if values["kind"] == Exclusion.Kind.DATE_RANGE:
            exclusion = services.exclusion_create_date_range(
                user_id=request.user.pk, start=values["start"], end=values["end"]
            )
        else:
            exclusion = services.exclusion_create_place(
                user_id=request.user.pk, name=values.get("name", ""), lat=values["lat"], lon=values["lon"],
                radius_m=values["radius_m"],
            )
        view = next(v for v in selectors.exclusion_list(user_id=request.user.pk) if v.id == exclusion.pk)
        return Response(_exclusion_out(view), status=status.HTTP_201_CREATED)


class ExclusionDetailApi(APIView):
    """DELETE one exclusion."""

    permission_classes = [IsHolder]

    @extend_schema(operation_id="exclusions_delete", summary="Remove an exclusion", responses={204: None})
    def delete(self, request, exclusion_id: int):
        services.exclusion_delete(user_id=request.user.pk, exclusion_id=exclusion_id)
        return Response(status=status.HTTP_204_NO_CONTENT)

