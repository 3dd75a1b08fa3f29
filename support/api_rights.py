"""The holder's rights API: access history, export everything, erase cloud media now."""

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsHolder
from audit.selectors import audit_events_for_subject
from core.api.filters import filterset_valid
from core.api.serializers import ModelSerializer
from core.errors import ServiceError
from support import access_log, rights, selectors
from support.filters import AccessLogFilterSet
from support.models import DataExport


class AccessLogEntrySerializer(serializers.Serializer):
    text = serializers.CharField(help_text="The line in words, with the time, as shown on /me/access/.")
    summary = serializers.CharField(help_text="The same words without the time.")
    category = serializers.CharField()
    action = serializers.CharField()
    actor_kind = serializers.CharField()
    actor = serializers.CharField(source="actor_name")
    purpose = serializers.CharField()
    outcome = serializers.CharField()
    count = serializers.IntegerField(help_text="How many audit events this line stands for.")
    first_at = serializers.DateTimeField()
    last_at = serializers.DateTimeField()
    seqs = serializers.ListField(child=serializers.IntegerField(), help_text="The audit events' sequence numbers.")


class AccessLogPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True, help_text="The next older page, or null at the start of the history.")
    results = AccessLogEntrySerializer(many=True)


class AccessLogApi(APIView):
    """Every audit event about you, in words, newest first; alike events in one go are one line.
    Paged by time: a page holds the newest events up to about a thousand (whole days where it can);
    `next` gives the older ones."""

    permission_classes = [IsHolder]

    @extend_schema(
        parameters=[
            OpenApiParameter("since", OpenApiTypes.DATE), OpenApiParameter("until", OpenApiTypes.DATE),
            OpenApiParameter("category", str, enum=[*access_log.categories(), "other"]),
            OpenApiParameter("actor", str, enum=list(access_log.ACTOR_FILTERS)),
            OpenApiParameter("before", int, description="Start the page at the events older than this one "
                                                         "(from `next`)."),
        ],
        responses=AccessLogPageSerializer,
    )
    def get(self, request):
        filterset = filterset_valid(AccessLogFilterSet(request.query_params,
                                                       queryset=audit_events_for_subject(subject_id=request.user.pk)))
        history = access_log.access_log_page(user_id=request.user.pk, **filterset.selector_filters())
        next_url = None
        if history.older is not None:
            query = request.query_params.copy()
            query["before"] = str(history.older)
            next_url = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
        return Response({"next": next_url,
                         "results": AccessLogEntrySerializer(history.entries, many=True).data})


class ExportOutputSerializer(ModelSerializer):
    class Meta:
        model = DataExport
        fields = ["id", "status", "created_at", "finished_at", "expires_at", "size", "item_count"]


class ExportCreateApi(APIView):
    """Ask for a zip of everything held about you (POST), or list your exports (GET)."""

    permission_classes = [IsHolder]
    pagination_class = PageNumberPagination

    @extend_schema(operation_id="v1_me_export_list", responses=ExportOutputSerializer(many=True))
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.exports_for_holder(user_id=request.user.pk), request, view=self)
        return paginator.get_paginated_response(ExportOutputSerializer(page, many=True).data)

    @extend_schema(request=None, responses={202: ExportOutputSerializer,
                                            429: OpenApiResponse(description="export_busy")})
    def post(self, request):
        export = rights.export_request(user=request.user)
        export.refresh_from_db()
        return Response(ExportOutputSerializer(export).data, status=status.HTTP_202_ACCEPTED)


class ExportDetailApi(APIView):
    """Download your export (application/zip) once it is ready; before that, 202 with its status."""

    permission_classes = [IsHolder]

    @extend_schema(
        responses={
            (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="the zip"),
            202: ExportOutputSerializer,
            404: OpenApiResponse(description="not_found"),
            410: OpenApiResponse(description="export_expired"),
            500: OpenApiResponse(description="export_failed"),
        },
    )
    def get(self, request, export_id):
        try:
            download = rights.export_download(user=request.user, export_id=export_id)
        except ServiceError as exc:
            if exc.code != "export_not_ready":
                raise
            export = selectors.export_get(user_id=request.user.pk, export_id=export_id)
            return Response(ExportOutputSerializer(export).data, status=status.HTTP_202_ACCEPTED)
        response = StreamingHttpResponse(download.chunks, content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{download.filename}"'
        response["Cache-Control"] = "no-store"
        return response


class CloudMediaEraseApi(APIView):
    """Erase all your cloud media, everything made from it and any waiting export, now (crypto-shred)."""

    permission_classes = [IsHolder]

    @extend_schema(request=None, responses={200: inline_serializer(
        "CloudMediaEraseOutput", {"erased": serializers.DictField(child=serializers.IntegerField())})})
    def delete(self, request):
        counts = rights.cloud_media_erase(user=request.user, method="api")
        return Response({"erased": counts})
