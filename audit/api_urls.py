from django.urls import path

from audit import api

urlpatterns = [
    path("audit/events/", api.AuditEventListApi.as_view(), name="api-audit-events-list"),
    path("audit/export/", api.AuditExportApi.as_view(), name="api-audit-events-export"),
    path("audit/checkpoints/latest/", api.AuditCheckpointLatestApi.as_view(), name="api-audit-checkpoint-latest"),
    path("audit/public-key/", api.AuditPublicKeyApi.as_view(), name="api-audit-public-key"),
    path("audit/proofs/inclusion/", api.AuditInclusionProofApi.as_view(), name="api-audit-proof-inclusion"),
    path("audit/proofs/consistency/", api.AuditConsistencyProofApi.as_view(), name="api-audit-proof-consistency"),
]
