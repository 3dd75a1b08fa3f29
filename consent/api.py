from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsHolder, collection_method
from consent import purposes, receipts, selectors, services
from consent.models import ConsentEntry
from core import signing
from core.api.serializers import ModelSerializer
from core.errors import ServiceError


class PurposeStateSerializer(serializers.Serializer):
    purpose = serializers.CharField()
    label = serializers.CharField()
    granted = serializers.BooleanField()
    notice_version = serializers.CharField(allow_null=True, help_text="The version consented to, when granted.")
    current_notice_version = serializers.CharField(source="current_notice.version")
    lapsed = serializers.BooleanField(help_text="Granted before, to a notice that has since changed.")
    since = serializers.DateTimeField(allow_null=True)


class ConsentStateApi(APIView):
    """The holder's current choice for every purpose, derived from the ledger."""

    permission_classes = [IsHolder]

    @extend_schema(responses=inline_serializer("ConsentState", {"purposes": PurposeStateSerializer(many=True)}))
    def get(self, request):
        states = selectors.consent_state(user_id=request.user.pk)
        return Response({"purposes": PurposeStateSerializer(states, many=True).data})


class NoticeOutputSerializer(serializers.Serializer):
    purpose = serializers.CharField()
    version = serializers.CharField()
    sha256 = serializers.CharField()
    title = serializers.CharField()
    text = serializers.CharField()
    published_at = serializers.DateTimeField()


def _grantable_or_404(purpose: str) -> None:
    if purpose in purposes.REFUSED:
        raise ServiceError("purpose_not_grantable", f"{purpose!r} is never granted by this service.")
    if purpose not in purposes.GRANTABLE:
        raise ServiceError("unknown_purpose", f"There is no purpose called {purpose!r}.")


class NoticeCurrentApi(APIView):
    """The notice text a holder must be shown before consenting to a purpose."""

    permission_classes = [IsHolder]

    @extend_schema(responses=NoticeOutputSerializer)
    def get(self, request, purpose: str):
        _grantable_or_404(purpose)
        return Response(NoticeOutputSerializer(selectors.notice_current(purpose=purpose)).data)


class EntryOutputSerializer(ModelSerializer):
    id = serializers.UUIDField(source="record_id")

    class Meta:
        model = ConsentEntry
        fields = ["id", "purpose", "event", "notice_version", "notice_sha256", "created_at", "method",
                  "actor_kind", "jurisdiction", "retention"]


class ConsentSetApi(APIView):
    """Turn one purpose on or off. Granting must name the current notice version."""

    permission_classes = [IsHolder]

    class InputSerializer(serializers.Serializer):
        granted = serializers.BooleanField()
        notice_version = serializers.CharField(required=False, allow_blank=True)

    @extend_schema(
        request=InputSerializer,
        responses={
            200: inline_serializer("ConsentSetOutput", {"purpose": PurposeStateSerializer(),
                                                        "entry": EntryOutputSerializer(allow_null=True)}),
            403: OpenApiResponse(description="purpose_not_grantable"),
            404: OpenApiResponse(description="unknown_purpose"),
            409: OpenApiResponse(description="notice_version_mismatch or consent_dependency"),
        },
    )
    def put(self, request, purpose: str):
        _grantable_or_404(purpose)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry, state = services.consent_set(
            user=request.user, purpose=purpose, granted=data.validated_data["granted"],
            notice_version=data.validated_data.get("notice_version", ""), method=collection_method(request),
        )
        return Response({
            "purpose": PurposeStateSerializer(state).data,
            "entry": EntryOutputSerializer(entry).data if entry else None,
        })


class HistoryEntrySerializer(EntryOutputSerializer):
    genuine = serializers.BooleanField(help_text="Bound to a genuine audit event that commits to it: the "
                                                 "service wrote this entry. False: it did not, and it counts "
                                                 "for nothing (no receipt is signed for it).")

    class Meta(EntryOutputSerializer.Meta):
        fields = [*EntryOutputSerializer.Meta.fields, "genuine"]


class ConsentHistoryApi(ListAPIView):
    """The holder's ledger entries, newest first, each marked genuine or not."""

    permission_classes = [IsHolder]
    serializer_class = HistoryEntrySerializer

    def get_queryset(self):
        return selectors.consent_history(user_id=self.request.user.pk)

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        entries = list(page if page is not None else self.get_queryset())
        genuine = selectors.consent_entries_genuine(entries=entries)  # one query for the page
        for entry in entries:
            entry.genuine = entry.pk in genuine
        data = self.get_serializer(entries, many=True).data
        return self.get_paginated_response(data) if page is not None else Response(data)


class ReceiptApi(APIView):
    """A receipt of one ledger entry, signed with Ed25519."""

    permission_classes = [IsHolder]

    @extend_schema(responses={
        200: inline_serializer("SignedReceipt", {
            "receipt": serializers.DictField(), "alg": serializers.CharField(),
            "key_id": serializers.CharField(), "signature": serializers.CharField(),
        }),
        404: OpenApiResponse(description="not_found"),
        409: OpenApiResponse(description="entry_unverified: the entry is not bound to a genuine audit event"),
    })
    def get(self, request, entry_id):
        entry = selectors.consent_entry_verified(user_id=request.user.pk, record_id=entry_id)
        return Response(receipts.receipt_sign(entry))


class ReceiptPublicKeyApi(APIView):
    """The public key that verifies consent receipts (PEM)."""

    permission_classes = []
    authentication_classes = []

    @extend_schema(responses=inline_serializer("ReceiptPublicKey", {"alg": serializers.CharField(),
                                                                    "key_id": serializers.CharField(),
                                                                    "public_key_pem": serializers.CharField()}))
    def get(self, request):
        return Response({
            "alg": "Ed25519",
            "key_id": receipts.key_id(signing.public_key(receipts.KEY_SETTING)),
            "public_key_pem": receipts.public_key_pem(),
        })
