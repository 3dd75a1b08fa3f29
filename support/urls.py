from django.urls import path

from support import views

app_name = "support"
urlpatterns = [
    path("support/", views.console, name="console"),
    path("support/cases/open/", views.case_open, name="case-open"),
    path("support/cases/<int:case_id>/close/", views.case_close, name="case-close"),
    path("support/cases/<int:case_id>/notes/", views.case_note_add, name="case-note-add"),
    path("support/subjects/<int:subject_id>/", views.subject, name="subject"),
    path("support/subjects/<int:subject_id>/revoke/", views.subject_revoke, name="subject-revoke"),
    path("support/subjects/<int:subject_id>/erase/", views.subject_erase, name="subject-erase"),
    path("me/access/", views.me_access, name="me-access"),
    path("me/access/history.json", views.me_access_download, name="me-access-download"),
    path("me/data/", views.me_data, name="me-data"),
    path("me/notices/<int:notice_id>/dismiss/", views.me_notice_dismiss, name="me-notice-dismiss"),
    path("me/data/export/", views.me_export_create, name="me-export-create"),
    path("me/data/export/<uuid:export_id>/", views.me_export_download, name="me-export-download"),
    path("me/data/erase/", views.me_erase, name="me-erase"),
]
