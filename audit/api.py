"""The audit API, for auditors only. Thin: parse, call one selector or service, shape the output."""

from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from audit import export, holder_logs, merkle, notes, selectors, services, tiles
from audit.canonical import ACTION_FILTER_PATTERN, CODE_PATTERN, OUTCOMES
from audit.filters import AuditEventFilterSet
from audit.models import AuditEvent
from audit.permissions import IsAuditor, IsHolder
from core import signing
from core.api.filters import filterset_valid
from core.api.serializers import ModelSerializer
from core.errors import ServiceError, register_code
from core.uow import Actor

register_code("audit_no_checkpoint", 404, "No checkpoint has been signed yet.")


def _filterset(request) -> AuditEventFilterSet:
    return filterset_valid(AuditEventFilterSet(request.query_params))


FILTER_PARAMETERS = [
    OpenApiParameter("since", OpenApiTypes.DATETIME, description="At or after (ISO date or date-time)."),
    OpenApiParameter("until", OpenApiTypes.DATETIME, description="Before (a bare date includes the day)."),
    OpenApiParameter("subject", OpenApiTypes.INT, description="The data subject's user id."),
    OpenApiParameter("actor", OpenApiTypes.STR, description='"<kind>:<id>", a kind, or an id.',
                     pattern=CODE_PATTERN),
    OpenApiParameter("action", OpenApiTypes.STR, description="e.g. consent.given, media.read",
                     pattern=ACTION_FILTER_PATTERN),
    OpenApiParameter("category", OpenApiTypes.STR, enum=list(selectors.action_categories()),
                     description="A group of actions, as the apps declare them: "
                                 + ", ".join(label.lower() for label in selectors.action_categories().values()) + "."),
    OpenApiParameter("outcome", OpenApiTypes.STR, enum=list(OUTCOMES)),
]


class AuditEventListApi(ListAPIView):
    """Audit events matching the filters, oldest first (stable pages while the trail grows)."""

    permission_classes = [IsAuditor]

    class OutputSerializer(ModelSerializer):
        class Meta:
            model = AuditEvent
            fields = ["seq", "time", "actor_kind", "actor_id", "action", "subject_id", "object_type", "object_id",
                      "purpose", "outcome", "request_id", "details", "event_id", "prev_hash", "hash"]

    serializer_class = OutputSerializer

    def get_queryset(self):
        filterset = _filterset(self.request)  # before the chain head is read: a refused query reads nothing
        return filterset.filter_queryset(selectors.audit_events_filtered())

    @extend_schema(parameters=FILTER_PARAMETERS)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class _IgnoreFormatParameter(BaseContentNegotiation):
    """`format` here names the export format (csv / jsonl), not a DRF renderer: errors stay JSON."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class AuditExportApi(APIView):
    """Streams the matching events as CSV or JSON Lines. The export is itself an audit event.

    JSON Lines carries each event's canonical bytes and hash, gap records with the Merkle
    subtree roots of the events left out, and the signed checkpoint the file is verified
    against (tools/verify_audit_export.py, docs/auditors.md).
    """

    permission_classes = [IsAuditor]
    content_negotiation_class = _IgnoreFormatParameter

    class InputSerializer(serializers.Serializer):
        """What to write; which events: AuditEventFilterSet."""

        format = serializers.ChoiceField(choices=services.EXPORT_FORMATS, default="jsonl")
        usernames = serializers.BooleanField(required=False, default=False)

        def validate(self, data):
            if data.get("usernames") and data.get("format") != "csv":
                raise serializers.ValidationError({"usernames": "Usernames are a column of the CSV export only."})
            return data

    @extend_schema(
        parameters=[OpenApiParameter("format", OpenApiTypes.STR, enum=list(services.EXPORT_FORMATS)),
                    OpenApiParameter("usernames", OpenApiTypes.BOOL, description=(
                        "CSV only: add actor_username and subject_username, looked up as the file is written "
                        "(the trail holds ids only; an erased account has none).")),
                    *FILTER_PARAMETERS],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV, one row per event."),
            (200, "application/jsonl"): OpenApiResponse(OpenApiTypes.STR, description="JSON Lines (see docs)."),
        },
    )
    def get(self, request):
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        fmt = params.validated_data["format"]
        filters = _filterset(request).selector_filters()
        checkpoint = services.audit_export_begin(fmt=fmt, filters=filters,
                                                 actor=Actor.auditor(request.user.pk))
        content_type = "text/csv; charset=utf-8" if fmt == "csv" else "application/jsonl; charset=utf-8"
        response = StreamingHttpResponse(
            export.export_stream(fmt=fmt, checkpoint=checkpoint, filters=filters,
                                 usernames=params.validated_data["usernames"]),
            content_type=content_type,
        )
        response["Content-Disposition"] = f'attachment; filename="audit-{checkpoint.tree_size}.{fmt}"'
        response["X-Audit-Tree-Size"] = str(checkpoint.tree_size)
        return response


class CheckpointOutputSerializer(serializers.Serializer):
    tree_size = serializers.IntegerField()
    root_hash = serializers.CharField(help_text="Hex SHA-256 RFC 9162 Merkle root of the first tree_size events.")
    note = serializers.CharField(help_text="The C2SP tlog-checkpoint signed note (Ed25519).")
    created_at = serializers.DateTimeField()


class AuditCheckpointLatestApi(APIView):
    """The latest signed checkpoint."""

    permission_classes = [IsAuditor]

    @extend_schema(responses={200: CheckpointOutputSerializer,
                              404: OpenApiResponse(description="audit_no_checkpoint")})
    def get(self, request):
        checkpoint = selectors.audit_checkpoint_latest()
        if checkpoint is None:
            raise ServiceError("audit_no_checkpoint", "No checkpoint has been signed yet.")
        return Response(CheckpointOutputSerializer(checkpoint).data)


class AuditPublicKeyApi(APIView):
    """The Ed25519 key that signs checkpoints: PEM, and as a signed-note verifier key."""

    permission_classes = [IsAuditor]

    @extend_schema(responses=inline_serializer("AuditPublicKey", {
        "algorithm": serializers.CharField(),
        "key_name": serializers.CharField(),
        "public_key_pem": serializers.CharField(),
        "verifier_key": serializers.CharField(),
    }))
    def get(self, request):
        name = settings.AUDIT_CHECKPOINT_ORIGIN
        return Response({
            "algorithm": "Ed25519",
            "key_name": name,
            "public_key_pem": signing.public_key_pem("AUDIT_SIGNING_KEY"),
            "verifier_key": notes.verifier_key(name, signing.public_key("AUDIT_SIGNING_KEY")),
        })


PROOF_ERRORS = {
    400: OpenApiResponse(description="audit_proof_out_of_range or invalid_request"),
    409: OpenApiResponse(description="audit_chain_broken"),
}


class AuditInclusionProofApi(APIView):
    """RFC 9162 inclusion proof of event `seq` in the tree of `tree_size` events (default: latest checkpoint)."""

    permission_classes = [IsAuditor]

    class InputSerializer(serializers.Serializer):
        seq = serializers.IntegerField(min_value=1)
        tree_size = serializers.IntegerField(min_value=1, required=False)

    class OutputSerializer(serializers.Serializer):
        seq = serializers.IntegerField()
        leaf_index = serializers.IntegerField()
        tree_size = serializers.IntegerField()
        leaf_hash = serializers.CharField()
        root_hash = serializers.CharField()
        proof = serializers.ListField(child=serializers.CharField(), help_text="Hex nodes, leaf to root.")
        checkpoint = serializers.CharField(allow_null=True, help_text="The signed note at tree_size, if any.")

    @extend_schema(parameters=[InputSerializer], responses={200: OutputSerializer, **PROOF_ERRORS})
    def get(self, request):
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        proof = selectors.audit_inclusion_proof(**params.validated_data)
        return Response(self.OutputSerializer(proof).data)


class AuditConsistencyProofApi(APIView):
    """RFC 9162 consistency proof between the trees of `first` and `second` events (default: latest checkpoint)."""

    permission_classes = [IsAuditor]

    class InputSerializer(serializers.Serializer):
        first = serializers.IntegerField(min_value=1)
        second = serializers.IntegerField(min_value=1, required=False)

    class OutputSerializer(serializers.Serializer):
        first = serializers.IntegerField()
        second = serializers.IntegerField()
        first_root = serializers.CharField()
        second_root = serializers.CharField()
        proof = serializers.ListField(child=serializers.CharField())
        first_checkpoint = serializers.CharField(allow_null=True)
        second_checkpoint = serializers.CharField(allow_null=True)

    @extend_schema(parameters=[InputSerializer], responses={200: OutputSerializer, **PROOF_ERRORS})
    def get(self, request):
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        proof = selectors.audit_consistency_proof(**params.validated_data)
        return Response(self.OutputSerializer(proof).data)


# -- C2SP tlog-tiles and tlog-cosignature ---------------------------------------------------------


class _Plain(APIView):
    """Serves bytes as they are (the tlog formats), with errors in the API's JSON shape."""

    permission_classes = [IsAuditor]
    content_negotiation_class = _IgnoreFormatParameter


register_code("audit_tile_not_found", 404, "No such tile or entry bundle in the signed tree.")


class AuditTlogCheckpointApi(_Plain):
    """The latest signed checkpoint (C2SP tlog-checkpoint), with the witness cosignatures on it."""

    @extend_schema(responses={(200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="Signed note."),
                              404: OpenApiResponse(description="audit_no_checkpoint")})
    def get(self, request):
        checkpoint = selectors.audit_checkpoint_latest()
        if checkpoint is None:
            raise ServiceError("audit_no_checkpoint", "No checkpoint has been signed yet.")
        response = HttpResponse(selectors.audit_cosigned_note(checkpoint), content_type="text/plain; charset=utf-8")
        response["Cache-Control"] = "no-cache, max-age=2"
        return response


def _tile_request(index: str, width: str | None) -> tuple[int, int]:
    try:
        number = tiles.decode_index(index)
    except ValueError as exc:
        raise ServiceError("audit_tile_not_found", str(exc)) from exc
    if width is None:
        return number, tiles.WIDTH
    if not width.isdigit() or width.startswith("0") or not 1 <= int(width) < tiles.WIDTH:
        raise ServiceError("audit_tile_not_found", "A partial tile's width is 1 to 255.")
    return number, int(width)


def _signed_size() -> int:
    checkpoint = selectors.audit_checkpoint_latest()
    return checkpoint.tree_size if checkpoint else 0


def _immutable(data: bytes) -> HttpResponse:
    response = HttpResponse(data, content_type="application/octet-stream")
    response["Cache-Control"] = "private, max-age=31536000, immutable"
    return response


class AuditTlogTileApi(_Plain):
    """A tile of the tree (C2SP tlog-tiles): `tile/<L>/<N>[.p/<W>]`, served within the latest checkpoint."""

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY),
                              404: OpenApiResponse(description="audit_tile_not_found")})
    def get(self, request, level: str, index: str, width: str | None = None):
        number, wanted = _tile_request(index, width)
        level_number = int(level)
        reader = tiles.TileReader(_signed_size())
        try:
            entries = reader.tile(level_number, number, wanted)
        except merkle.ProofError as exc:
            raise ServiceError("audit_tile_not_found", f"No tile {level}/{index} of width {wanted} "
                                                       "in the signed tree.") from exc
        return _immutable(b"".join(entries))


class AuditTlogEntriesApi(_Plain):
    """An entry bundle (C2SP tlog-tiles): the events' canonical bytes, each after its length as a
    big-endian uint16, `tile/entries/<N>[.p/<W>]`, within the latest checkpoint."""

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY),
                              404: OpenApiResponse(description="audit_tile_not_found, audit_entry_set_aside")})
    def get(self, request, index: str, width: str | None = None):
        number, wanted = _tile_request(index, width)
        first = number * tiles.WIDTH
        if first + wanted > _signed_size():
            raise ServiceError("audit_tile_not_found", f"No entry bundle {index} of width {wanted} in the signed tree.")
        bodies = selectors.audit_entry_bundle(first_seq=first + 1, count=wanted)
        return _immutable(b"".join(len(body).to_bytes(2, "big") + body for body in bodies))


class AuditWitnessedCheckpointApi(APIView):
    """The latest checkpoint cosigned by a configured witness, with every cosignature on it."""

    permission_classes = [IsAuditor]

    @extend_schema(responses={200: inline_serializer("AuditWitnessedCheckpoint", {
        "tree_size": serializers.IntegerField(),
        "root_hash": serializers.CharField(),
        "witnesses": serializers.ListField(child=serializers.CharField()),
        "note": serializers.CharField(help_text="The signed note with the witnesses' cosignature lines."),
    }), 404: OpenApiResponse(description="audit_no_checkpoint")})
    def get(self, request):
        found = selectors.audit_checkpoint_witnessed_latest()
        if found is None:
            raise ServiceError("audit_no_checkpoint", "No checkpoint has been cosigned by a witness yet.")
        checkpoint, witnesses = found
        return Response({"tree_size": checkpoint.tree_size, "root_hash": checkpoint.root_hash,
                         "witnesses": witnesses, "note": selectors.audit_cosigned_note(checkpoint)})


class AuditCosignatureAddApi(APIView):
    """A witness posts a checkpoint note carrying its cosignature (C2SP tlog-cosignature, Ed25519)."""

    permission_classes = [IsAuditor]

    class InputSerializer(serializers.Serializer):
        note = serializers.CharField(max_length=8192, trim_whitespace=False,
                                     help_text="The checkpoint note with the witness's signature line added.")

    class OutputSerializer(serializers.Serializer):
        tree_size = serializers.IntegerField()
        witnesses = serializers.ListField(child=serializers.CharField())

    @extend_schema(request=InputSerializer, responses={
        201: OutputSerializer,
        400: OpenApiResponse(description="audit_cosignature_invalid or invalid_request"),
        404: OpenApiResponse(description="audit_checkpoint_unknown"),
    })
    def post(self, request):
        params = self.InputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        stored = services.audit_cosignature_add(note=params.validated_data["note"])
        return Response({"tree_size": stored[0].tree_size, "witnesses": [c.witness for c in stored]}, status=201)


# -- a holder's own log (docs/holder-log.md) --------------------------------------------------------

register_code("holder_log_no_checkpoint", 404, "Your access history has no signed checkpoint yet.")
register_code("holder_tile_not_found", 404, "No such tile or entry bundle in your access history's signed tree.")
register_code("holder_log_not_committed", 404,
              "Your access history's head is not yet included in a signed checkpoint of the audit trail.")


class _HolderPlain(_Plain):
    """The caller's own holder log: every path serves the authenticated account's log, and no path
    names another's."""

    permission_classes = [IsHolder]


def _holder_signed_size(subject_id: int) -> int:
    checkpoint = holder_logs.latest_checkpoint(subject_id)
    return checkpoint.tree_size if checkpoint else 0


class HolderTlogCheckpointApi(_HolderPlain):
    """The newest signed checkpoint of your access history (C2SP tlog-checkpoint)."""

    @extend_schema(responses={(200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="Signed note."),
                              404: OpenApiResponse(description="holder_log_no_checkpoint")})
    def get(self, request):
        checkpoint = holder_logs.latest_checkpoint(request.user.pk)
        if checkpoint is None:
            raise ServiceError("holder_log_no_checkpoint", "Your access history has no signed checkpoint yet.")
        response = HttpResponse(checkpoint.note, content_type="text/plain; charset=utf-8")
        response["Cache-Control"] = "private, no-cache"
        return response


class HolderTlogTileApi(_HolderPlain):
    """A tile of your access history's tree (C2SP tlog-tiles), within its newest checkpoint."""

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY),
                              404: OpenApiResponse(description="holder_tile_not_found")})
    def get(self, request, level: str, index: str, width: str | None = None):
        number, wanted = _holder_tile_request(index, width)
        reader = holder_logs.HolderTileReader(request.user.pk, _holder_signed_size(request.user.pk))
        try:
            entries = reader.tile(int(level), number, wanted)
        except merkle.ProofError as exc:
            raise ServiceError("holder_tile_not_found", f"No tile {level}/{index} of width {wanted} "
                                                        "in your signed tree.") from exc
        return _immutable(b"".join(entries))


class HolderTlogEntriesApi(_HolderPlain):
    """An entry bundle of your access history (C2SP tlog-tiles): each event's canonical bytes after
    its length as a big-endian uint16, within its newest checkpoint."""

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY),
                              404: OpenApiResponse(description="holder_tile_not_found, audit_entry_set_aside")})
    def get(self, request, index: str, width: str | None = None):
        number, wanted = _holder_tile_request(index, width)
        first = number * tiles.WIDTH
        if first + wanted > _holder_signed_size(request.user.pk):
            raise ServiceError("holder_tile_not_found",
                               f"No entry bundle {index} of width {wanted} in your signed tree.")
        selectors.refuse_untrusted(holder_logs.entry_seqs(request.user.pk, first, wanted))
        try:
            bodies = holder_logs.entry_bundle(request.user.pk, first, wanted)
        except merkle.ProofError as exc:
            raise ServiceError("audit_chain_broken", str(exc)) from exc
        return _immutable(b"".join(len(body).to_bytes(2, "big") + body for body in bodies))


def _holder_tile_request(index: str, width: str | None) -> tuple[int, int]:
    try:
        return _tile_request(index, width)
    except ServiceError as exc:
        raise ServiceError("holder_tile_not_found", exc.message) from exc


class HolderCommitmentApi(APIView):
    """Your access history's newest head committed into the audit trail, with an RFC 9162 inclusion
    proof into a signed checkpoint of the trail that includes it."""

    permission_classes = [IsHolder]

    @extend_schema(responses={200: inline_serializer("HolderCommitment", {
        "holder_checkpoint": serializers.CharField(help_text="Your log's checkpoint note at the committed size."),
        "global_checkpoint": serializers.CharField(help_text="The trail's signed checkpoint note (with cosignatures)."),
        "leaf_index": serializers.IntegerField(help_text="The audit.holder_head entry's 0-based index in the trail."),
        "entry": serializers.CharField(help_text="Base64 of the audit.holder_head entry's canonical bytes."),
        "inclusion_proof": serializers.ListField(child=serializers.CharField(),
                                                 help_text="Base64 hashes, leaf to root (RFC 9162)."),
        "verifier_key": serializers.CharField(help_text="The note verifier key of the key that signs both notes."),
    }), 404: OpenApiResponse(description="holder_log_not_committed")})
    def get(self, request):
        found = selectors.holder_commitment(subject_id=request.user.pk)
        if found is None:
            raise ServiceError("holder_log_not_committed", "Your access history's head is not yet included in a "
                                                           "signed checkpoint of the audit trail.")
        name = settings.AUDIT_CHECKPOINT_ORIGIN
        found["verifier_key"] = notes.verifier_key(name, signing.public_key("AUDIT_SIGNING_KEY"))
        response = Response(found)
        response["Cache-Control"] = "private, no-cache"
        return response
