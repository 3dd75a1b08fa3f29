"""Support API: cases, and what an agent may do inside one. Thin: parse, call a service, shape."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsSupport
from core.api.serializers import ModelSerializer
from core.uow import Actor
from support import selectors, services
from support.cases import case_is_live
from support.models import SupportCase

NOT_FOUND = OpenApiResponse(description="not_found: no open case of yours for that account (or no such case)")


def _agent(request) -> Actor:
    """Who acts: the signed-in support agent (support's services resolve and check the account)."""
    return Actor.support(request.user.pk)


class CaseOutputSerializer(ModelSerializer):
    subject = serializers.IntegerField(source="subject_id")
    is_open = serializers.SerializerMethodField()

    class Meta:
        model = SupportCase
        fields = ["id", "subject", "ticket", "reason", "opened_at", "expires_at", "closed_at", "closed_how", "is_open"]

    def get_is_open(self, case) -> bool:
        return case_is_live(case)


class CaseListCreateApi(APIView):
    """Open a case on one account (POST), or list your own cases (GET)."""

    permission_classes = [IsSupport]
    pagination_class = PageNumberPagination

    class InputSerializer(serializers.Serializer):
        subject = serializers.IntegerField(help_text="The account's user id.")
        reason = serializers.CharField(max_length=2000, help_text="Why; kept on the case, never in the audit trail.")
        ticket = serializers.CharField(max_length=64, help_text="The support ticket reference, e.g. 4411.")

    @extend_schema(operation_id="v1_support_cases_list", responses=CaseOutputSerializer(many=True))
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.cases_for_agent(actor=_agent(request)), request, view=self)
        return paginator.get_paginated_response(CaseOutputSerializer(page, many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={201: CaseOutputSerializer, 404: OpenApiResponse(description="not_found: no such holder account"),
                   409: OpenApiResponse(description="case_already_open")},
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        case = services.case_open(actor=_agent(request), user_id=data.validated_data["subject"],
                                  reason=data.validated_data["reason"], ticket=data.validated_data["ticket"])
        return Response(CaseOutputSerializer(case).data, status=status.HTTP_201_CREATED)


class CaseCloseApi(APIView):
    """Close one of your open cases; the rights it granted go at once."""

    permission_classes = [IsSupport]

    @extend_schema(request=None, responses={200: CaseOutputSerializer, 404: NOT_FOUND})
    def post(self, request, case_id: int):
        case = services.case_close(actor=_agent(request), case_id=case_id)
        return Response(CaseOutputSerializer(case).data)


class ConsentLineSerializer(serializers.Serializer):
    purpose = serializers.CharField()
    label = serializers.CharField()
    granted = serializers.BooleanField()
    notice_version = serializers.CharField(allow_null=True)
    since = serializers.DateTimeField(allow_null=True)
    lapsed = serializers.BooleanField()


class HeldSerializer(serializers.Serializer):
    items = serializers.IntegerField(allow_null=True)
    items_bytes = serializers.IntegerField(allow_null=True)
    outputs = serializers.IntegerField(allow_null=True)
    outputs_bytes = serializers.IntegerField(allow_null=True)
    last_upload_at = serializers.DateTimeField(allow_null=True)


class SummaryOutputSerializer(serializers.Serializer):
    subject = inline_serializer("SupportSubject", {"id": serializers.IntegerField(),
                                                   "username": serializers.CharField()})
    case = CaseOutputSerializer()
    consent = ConsentLineSerializer(many=True)
    media = HeldSerializer()


class SubjectSummaryApi(APIView):
    """Consent state, counts and sizes of what is held. Never media, places, labels or captions."""

    permission_classes = [IsSupport]

    @extend_schema(responses={200: SummaryOutputSerializer, 404: NOT_FOUND})
    def get(self, request, subject_id: int):
        summary = services.support_subject_summary(actor=_agent(request), user_id=subject_id)
        return Response(SummaryOutputSerializer(summary).data)


class SubjectRevokeApi(APIView):
    """Withdraw a purpose on the holder's behalf (a `revoked_by_support` ledger entry)."""

    permission_classes = [IsSupport]

    class InputSerializer(serializers.Serializer):
        purpose = serializers.CharField()
        reason = serializers.CharField(max_length=2000)

    @extend_schema(
        request=InputSerializer,
        responses={
            200: inline_serializer("SupportRevokeOutput", {
                "case": serializers.IntegerField(), "purpose": serializers.CharField(),
                "revoked": serializers.BooleanField(help_text="False when the purpose was already off."),
                "entry": serializers.UUIDField(allow_null=True, help_text="The new ledger entry's record id."),
            }),
            403: OpenApiResponse(description="purpose_not_grantable"),
            404: OpenApiResponse(description="not_found or unknown_purpose"),
        },
    )
    def post(self, request, subject_id: int):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        action = services.support_revoke(actor=_agent(request), user_id=subject_id, **data.validated_data)
        return Response({"case": action.case_id, "purpose": action.purpose, "revoked": action.changed,
                         "entry": action.counts.get("entry")})


class SubjectEraseApi(APIView):
    """Erase the holder's cloud media, derived outputs and waiting exports (crypto-shred)."""

    permission_classes = [IsSupport]

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=2000)

    @extend_schema(
        request=InputSerializer,
        responses={200: inline_serializer("SupportEraseOutput", {
            "case": serializers.IntegerField(), "erased": serializers.DictField(child=serializers.IntegerField()),
            "destroyed": serializers.DictField(
                child=serializers.IntegerField(),
                help_text="What was destroyed, in the holder's words: photos, videos, suggestions, people, "
                          "face_records, exports (zero counts left out)."),
        }), 404: NOT_FOUND},
    )
    def post(self, request, subject_id: int):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        action = services.support_erase(actor=_agent(request), user_id=subject_id, **data.validated_data)
        counts = dict(action.counts)
        destroyed = counts.pop("destroyed", {})
        return Response({"case": action.case_id, "erased": counts, "destroyed": destroyed})
