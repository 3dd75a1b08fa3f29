from django.urls import path

from suggestions import api

urlpatterns = [
    path("suggestions/", api.SuggestionListApi.as_view(), name="api-suggestions-list"),
    path("suggestions/generate/", api.SuggestionGenerateApi.as_view(), name="api-suggestions-generate"),
    path("suggestions/jobs/<int:job_id>/", api.SuggestionJobApi.as_view(), name="api-suggestions-job"),
    path("suggestions/<int:pk>/content/", api.SuggestionContentApi.as_view(), name="api-suggestions-content"),
    path("suggestions/<int:pk>/accept/", api.SuggestionAcceptApi.as_view(), name="api-suggestions-accept"),
    path("suggestions/<int:pk>/dismiss/", api.SuggestionDismissApi.as_view(), name="api-suggestions-dismiss"),
]
urlpatterns += [
    path("people/", api.PeopleListApi.as_view(), name="api-people-list"),
    path("people/<int:pk>/", api.PersonApi.as_view(), name="api-people-detail"),
    path("people/<int:pk>/merge/", api.PersonMergeApi.as_view(), name="api-people-merge"),
]
urlpatterns += [
    path("suggestions/<int:pk>/share-links/", api.ShareLinkListApi.as_view(), name="api-suggestions-share-links"),
    path("share-links/<int:link_id>/", api.ShareLinkRevokeApi.as_view(), name="api-share-link-revoke"),
]
