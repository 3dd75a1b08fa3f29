from django.urls import path

from support import api, api_rights

urlpatterns = [
    path("support/cases/", api.CaseListCreateApi.as_view(), name="api-support-case-open"),
    path("support/cases/<int:case_id>/close/", api.CaseCloseApi.as_view(), name="api-support-case-close"),
    path("support/subjects/<int:subject_id>/", api.SubjectSummaryApi.as_view(), name="api-support-subject-summary"),
    path("support/subjects/<int:subject_id>/revoke/", api.SubjectRevokeApi.as_view(),
         name="api-support-subject-revoke"),
    path("support/subjects/<int:subject_id>/erase/", api.SubjectEraseApi.as_view(), name="api-support-subject-erase"),
    path("me/access-log/", api_rights.AccessLogApi.as_view(), name="api-me-access-log"),
    path("me/export/", api_rights.ExportCreateApi.as_view(), name="api-me-export-create"),
    path("me/export/<uuid:export_id>/", api_rights.ExportDetailApi.as_view(), name="api-me-export-detail"),
    path("me/cloud-media/", api_rights.CloudMediaEraseApi.as_view(), name="api-me-cloud-media-erase"),
]
