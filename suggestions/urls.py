from django.urls import path

from suggestions import views

app_name = "suggestions"
urlpatterns = [
    path("suggestions/", views.suggestion_list, name="list"),
    path("suggestions/generate/", views.suggestion_generate, name="generate"),
    path("suggestions/<int:pk>/preview/", views.suggestion_preview, name="preview"),
    path("suggestions/<int:pk>/accept/", views.suggestion_accept, name="accept"),
    path("suggestions/<int:pk>/dismiss/", views.suggestion_dismiss, name="dismiss"),
]
