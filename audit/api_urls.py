from django.urls import path, re_path

from audit import api

urlpatterns = [
    path("audit/events/", api.AuditEventListApi.as_view(), name="api-audit-events-list"),
    path("audit/export/", api.AuditExportApi.as_view(), name="api-audit-events-export"),
    path("audit/checkpoints/latest/", api.AuditCheckpointLatestApi.as_view(), name="api-audit-checkpoint-latest"),
    path("audit/public-key/", api.AuditPublicKeyApi.as_view(), name="api-audit-public-key"),
    path("audit/proofs/inclusion/", api.AuditInclusionProofApi.as_view(), name="api-audit-proof-inclusion"),
    path("audit/proofs/consistency/", api.AuditConsistencyProofApi.as_view(), name="api-audit-proof-consistency"),
    path("audit/checkpoints/witnessed/", api.AuditWitnessedCheckpointApi.as_view(),
         name="api-audit-checkpoint-witnessed"),
    path("audit/witness/cosignatures/", api.AuditCosignatureAddApi.as_view(), name="api-audit-cosignature-add"),
    # C2SP tlog-tiles, under the prefix audit/tlog/ (paths exactly as the spec spells them).
    path("audit/tlog/checkpoint", api.AuditTlogCheckpointApi.as_view(), name="api-audit-tlog-checkpoint"),
    re_path(r"^audit/tlog/tile/entries/(?P<index>(?:x\d{3}/)*\d{3})(?:\.p/(?P<width>\d{1,3}))?$",
            api.AuditTlogEntriesApi.as_view(), name="api-audit-tlog-entries"),
    re_path(r"^audit/tlog/tile/(?P<level>[0-9]|[1-5][0-9]|6[0-3])/(?P<index>(?:x\d{3}/)*\d{3})"
            r"(?:\.p/(?P<width>\d{1,3}))?$", api.AuditTlogTileApi.as_view(), name="api-audit-tlog-tile"),
    # The caller's own holder log (docs/holder-log.md): the same tlog-tiles paths under me/tlog/.
    path("me/tlog/checkpoint", api.HolderTlogCheckpointApi.as_view(), name="api-me-tlog-checkpoint"),
    path("me/tlog/commitment/", api.HolderCommitmentApi.as_view(), name="api-me-tlog-commitment"),
    re_path(r"^me/tlog/tile/entries/(?P<index>(?:x\d{3}/)*\d{3})(?:\.p/(?P<width>\d{1,3}))?$",
            api.HolderTlogEntriesApi.as_view(), name="api-me-tlog-entries"),
    re_path(r"^me/tlog/tile/(?P<level>[0-9]|[1-5][0-9]|6[0-3])/(?P<index>(?:x\d{3}/)*\d{3})"
            r"(?:\.p/(?P<width>\d{1,3}))?$", api.HolderTlogTileApi.as_view(), name="api-me-tlog-tile"),
]
