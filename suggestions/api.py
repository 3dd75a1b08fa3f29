from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsHolder
from core.api.serializers import ModelSerializer
from suggestions import jobs, people, selectors, services, sharing
from suggestions.models import Suggestion, SuggestionJob


class SuggestionOutputSerializer(ModelSerializer):
    """Serialises suggestions that went through selectors.suggestions_titled (the title is sealed)."""

    title = serializers.CharField(read_only=True, help_text="Empty when it has none.")
    first_day = serializers.DateField(read_only=True, allow_null=True, help_text="The moment's first day.")
    last_day = serializers.DateField(read_only=True, allow_null=True, help_text="The moment's last day.")

    class Meta:
        model = Suggestion
        fields = ["id", "kind", "title", "first_day", "last_day", "created_at", "source_count", "status"]


class JobOutputSerializer(ModelSerializer):
    job = serializers.CharField(source="pk")
    created = serializers.IntegerField(source="created_count", help_text="Suggestions this pass made.")
    discarded = serializers.IntegerField(source="discarded_count", help_text="Outputs refused at commit.")
    error = serializers.CharField(source="error_code", help_text=(
        "Why it was skipped, discarded or failed; for a done pass that made nothing, why: no_photos, "
        "all_excluded, too_few_photos, nothing_new."))

    class Meta:
        model = SuggestionJob
        fields = ["job", "status", "progress", "trigger", "created", "discarded", "error", "created_at",
                  "started_at", "finished_at"]


class SuggestionGenerateApi(APIView):
    """Start a generation pass now (joins a pass already queued). Runs as a job (core.jobs) on the
    job worker, or at once after commit with TASKS_BACKEND=immediate."""

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


def content_response(content: selectors.SuggestionContent, *, download: bool = False) -> HttpResponse:
    response = HttpResponse(content.data, content_type=content.content_type)
    response["Content-Disposition"] = f'{"attachment" if download else "inline"}; filename="{content.filename}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


class SuggestionContentApi(APIView):
    """The output: JPEG for collages and stylised images, animated WebP for recaps (or, with
    ``format=mp4``, the recap as an H.264 MP4)."""

    permission_classes = [IsHolder]
    content_negotiation_class = _AnyAccept

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=["mp4"], description="A recap's H.264 MP4 instead of its WebP."),
            OpenApiParameter("download", bool, description="As an attachment (a file to save)."),
        ],
        responses={(200, "image/jpeg"): OpenApiTypes.BINARY, (200, "image/webp"): OpenApiTypes.BINARY,
                   (200, "video/mp4"): OpenApiTypes.BINARY},
    )
    def get(self, request, pk: int):
        content = selectors.suggestion_content(
            user_id=request.user.pk, suggestion_id=pk, video=request.query_params.get("format") == "mp4"
        )
        return content_response(content, download=request.query_params.get("download") in ("1", "true"))


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


# --------------------------------------------------------------------------- people (face_analysis only)


class PersonOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(help_text="The name the holder gave; empty if none.")
    item_ids = serializers.ListField(child=serializers.IntegerField(), help_text="Photos that show this person.")
    cover_item_id = serializers.IntegerField(allow_null=True, help_text="The photo where their face is largest.")
    hidden = serializers.BooleanField()


def _people_errors() -> dict:
    return {403: OpenApiResponse(description="consent_required: face_analysis is off")}


class PeopleListApi(APIView):
    """The holder's people, found by face grouping (only with face_analysis on; 403
    consent_required otherwise). Hidden people are left out unless ``hidden=true``."""

    permission_classes = [IsHolder]

    class PeopleOutputSerializer(serializers.Serializer):
        count = serializers.IntegerField()
        next = serializers.CharField(allow_null=True)
        previous = serializers.CharField(allow_null=True)
        results = PersonOutputSerializer(many=True)

    @extend_schema(
        parameters=[OpenApiParameter("hidden", bool, description="Also list hidden people.")],
        responses={200: PeopleOutputSerializer, **_people_errors()},
    )
    def get(self, request):
        found = people.people_list(
            user_id=request.user.pk, include_hidden=request.query_params.get("hidden") in ("true", "1")
        )
        rows = PersonOutputSerializer(found, many=True).data
        return Response({"count": len(rows), "next": None, "previous": None, "results": rows})


class PersonApi(APIView):
    """Name (``""`` removes the name) or hide one of the holder's people."""

    permission_classes = [IsHolder]

    class PersonInputSerializer(serializers.Serializer):
        name = serializers.CharField(required=False, allow_blank=True, max_length=people.NAME_MAX, trim_whitespace=True)
        hidden = serializers.BooleanField(required=False)

    @extend_schema(request=PersonInputSerializer, responses={200: PersonOutputSerializer, **_people_errors()})
    def patch(self, request, pk: int):
        body = self.PersonInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        person = people.person_update(
            user_id=request.user.pk,
            person_id=pk,
            name=body.validated_data.get("name"),
            hidden=body.validated_data.get("hidden"),
        )
        return Response(PersonOutputSerializer(person).data)


class PersonMergeApi(APIView):
    """Merge another of the holder's people into this one (same person, found twice)."""

    permission_classes = [IsHolder]

    class MergeInputSerializer(serializers.Serializer):
        person = serializers.IntegerField(help_text="The person to merge into this one.")

    @extend_schema(request=MergeInputSerializer, responses={200: PersonOutputSerializer, **_people_errors()})
    def post(self, request, pk: int):
        body = self.MergeInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        person = people.person_merge(user_id=request.user.pk, person_id=pk, other_id=body.validated_data["person"])
        return Response(PersonOutputSerializer(person).data)


# --------------------------------------------------------------------------- share links


class ShareLinkOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    suggestion = serializers.IntegerField(source="suggestion_id")
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    state = serializers.SerializerMethodField(help_text="active, expired or revoked")
    opens = serializers.IntegerField(help_text="How many times the link was opened.")
    display_name = serializers.CharField(help_text="What the recipient's page calls the sharer (\"\" = no name).")

    def get_state(self, link) -> str:
        return sharing.link_state(link)


class ShareLinkCreatedSerializer(ShareLinkOutputSerializer):
    url = serializers.CharField(help_text="The link: shown this once, only a hash of it is kept.")


class ShareLinkListApi(APIView):
    """A suggestion's share links (GET), or a new one (POST): anyone with the link sees the output
    without an account until it expires (SHARE_LINK_DAYS) or is revoked; every open is audited."""

    permission_classes = [IsHolder]

    @extend_schema(responses=ShareLinkOutputSerializer(many=True))
    def get(self, request, pk: int):
        links = sharing.share_links_list(user_id=request.user.pk, suggestion_id=pk)
        return Response({"count": len(links), "next": None, "previous": None,
                         "results": ShareLinkOutputSerializer(links, many=True).data})

    class ShareLinkInputSerializer(serializers.Serializer):
        display_name = serializers.CharField(
            required=False, allow_blank=True, trim_whitespace=False,
            help_text="What the recipient's page calls you (at most 60 characters); nothing else of the account shows.")

    @extend_schema(request=ShareLinkInputSerializer, responses={
        201: ShareLinkCreatedSerializer, 400: OpenApiResponse(description="invalid_display_name"),
        403: OpenApiResponse(description="consent_required")})
    def post(self, request, pk: int):
        display_name = request.data.get("display_name", "") if hasattr(request.data, "get") else ""
        made = sharing.share_link_create(user_id=request.user.pk, suggestion_id=pk, display_name=display_name)
        data = dict(ShareLinkOutputSerializer(made.link).data)
        data["url"] = request.build_absolute_uri(f"/s/{made.token}/")
        return Response(data, status=status.HTTP_201_CREATED)


class ShareLinkRevokeApi(APIView):
    """Revoke a share link: it stops working at once."""

    permission_classes = [IsHolder]

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, link_id: int):
        sharing.share_link_revoke(user_id=request.user.pk, link_id=link_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
