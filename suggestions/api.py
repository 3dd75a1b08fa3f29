from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsHolder
from suggestions import jobs, selectors, services
from suggestions.models import Suggestion, SuggestionJob


class SuggestionOutputSerializer(serializers.ModelSerializer):
    """Serialises suggestions that went through selectors.suggestions_titled (the title is sealed)."""

    title = serializers.CharField(read_only=True, help_text="Empty when it has none.")

    class Meta:
        model = Suggestion
        fields = ["id", "kind", "title", "created_at", "source_count", "status"]


class JobOutputSerializer(serializers.ModelSerializer):
    job = serializers.CharField(source="pk")
    created = serializers.IntegerField(source="created_count", help_text="Suggestions this pass made.")
    discarded = serializers.IntegerField(source="discarded_count", help_text="Outputs refused at commit.")
    error = serializers.CharField(source="error_code", help_text="Why it was skipped, discarded or failed.")

    class Meta:
        model = SuggestionJob
        fields = ["job", "status", "progress", "trigger", "created", "discarded", "error", "created_at",
                  "started_at", "finished_at"]


class SuggestionGenerateApi(APIView):
    """Start a generation pass now (joins a pass already queued). Runs in process, or on
    Celery workers when a broker is configured."""

    permission_classes = [IsHolder]

    class GenerateOutputSerializer(serializers.Serializer):
        job = serializers.CharField()
        status = serializers.ChoiceField(choices=SuggestionJob.Status.choices)

    @extend_schema(
        request=None,
        responses={202: GenerateOutputSerializer, 403: OpenApiResponse(description="consent_required")},
    )
    def post(self, request):
        job = jobs.suggestion_job_request(user_id=request.user.pk)
        job.refresh_from_db(fields=["status"])
        return Response({"job": str(job.pk), "status": job.status}, status=status.HTTP_202_ACCEPTED)


class SuggestionJobApi(APIView):
    """One pass's status and progress."""

    permission_classes = [IsHolder]

    @extend_schema(responses=JobOutputSerializer)
    def get(self, request, job_id: int):
        job = selectors.suggestion_job_get(user_id=request.user.pk, job_id=job_id)
        return Response(JobOutputSerializer(job).data)


class SuggestionListApi(ListAPIView):
    """The holder's suggestions, newest first (dismissed ones are gone)."""

    permission_classes = [IsHolder]
    serializer_class = SuggestionOutputSerializer

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=[Suggestion.Status.NEW, Suggestion.Status.ACCEPTED])]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        wanted = self.request.query_params.get("status")
        if wanted not in (Suggestion.Status.NEW, Suggestion.Status.ACCEPTED):
            wanted = None
        return selectors.suggestion_list(user_id=self.request.user.pk, status=wanted)

    def list(self, request, *args, **kwargs):
        # Titles are sealed on the outputs: opened for this page's rows only, in one batch.
        queryset = self.get_queryset()
        page = self.paginate_queryset(queryset)
        rows = selectors.suggestions_titled(user_id=request.user.pk, suggestions=queryset if page is None else page)
        data = self.get_serializer(rows, many=True).data
        return Response(data) if page is None else self.get_paginated_response(data)


class _AnyAccept(BaseContentNegotiation):
    """The content endpoint answers whatever the client accepts; errors are still JSON."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def content_response(content: selectors.SuggestionContent) -> HttpResponse:
    response = HttpResponse(content.data, content_type=content.content_type)
    response["Content-Disposition"] = f'inline; filename="{content.filename}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


class SuggestionContentApi(APIView):
    """The output: JPEG for collages and stylised images, animated WebP for recaps."""

    permission_classes = [IsHolder]
    content_negotiation_class = _AnyAccept

    @extend_schema(responses={(200, "image/jpeg"): OpenApiTypes.BINARY, (200, "image/webp"): OpenApiTypes.BINARY})
    def get(self, request, pk: int):
        return content_response(selectors.suggestion_content(user_id=request.user.pk, suggestion_id=pk))


class SuggestionAcceptApi(APIView):
    """Accept: marks the suggestion shared."""

    permission_classes = [IsHolder]

    @extend_schema(request=None, responses=SuggestionOutputSerializer)
    def post(self, request, pk: int):
        suggestion = services.suggestion_accept(user_id=request.user.pk, suggestion_id=pk)
        [suggestion] = selectors.suggestions_titled(user_id=request.user.pk, suggestions=[suggestion])
        return Response(SuggestionOutputSerializer(suggestion).data)


class SuggestionDismissApi(APIView):
    """Dismiss: the output is deleted, and the same suggestion is not made again."""

    permission_classes = [IsHolder]

    @extend_schema(request=None, responses={204: None})
    def post(self, request, pk: int):
        services.suggestion_dismiss(user_id=request.user.pk, suggestion_id=pk)
        return Response(status=status.HTTP_204_NO_CONTENT)
