from django.urls import path

from suggestions import views

app_name = "suggestions"
urlpatterns = [
    path("suggestions/", views.suggestion_list, name="list"),
    path("suggestions/generate/", views.suggestion_generate, name="generate"),
    path("suggestions/<int:pk>/preview/", views.suggestion_preview, name="preview"),
    path("suggestions/<int:pk>/download/", views.suggestion_download, name="download"),
    path("suggestions/<int:pk>/video/", views.suggestion_video, name="video"),
    path("suggestions/<int:pk>/poster/", views.suggestion_poster, name="poster"),
    path("suggestions/<int:pk>/share/", views.suggestion_share, name="share"),
    path("share-links/<int:link_id>/revoke/", views.share_link_revoke, name="share-link-revoke"),
    path("s/<str:token>/", views.shared_page, name="shared"),
    path("s/<str:token>/content/", views.shared_content, name="shared-content"),
    path("suggestions/<int:pk>/accept/", views.suggestion_accept, name="accept"),
    path("suggestions/<int:pk>/dismiss/", views.suggestion_dismiss, name="dismiss"),
]
urlpatterns += [
    path("people/", views.people_page, name="people"),
    path("people/names/", views.people_names, name="people-names"),
    path("people/<int:pk>/", views.person_page, name="person"),
    path("people/<int:pk>/face/", views.person_face, name="person-face"),
    path("people/<int:pk>/name/", views.person_name, name="person-name"),
    path("people/<int:pk>/hide/", views.person_hide, name="person-hide"),
    path("people/<int:pk>/merge/", views.person_merge, name="person-merge"),
]
