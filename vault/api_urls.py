from django.urls import path

from vault import api, api_trash, api_tus

urlpatterns = [
    path("media/", api.MediaCollectionApi.as_view(), name="api-media-list"),
    path("media/uploads/", api_tus.TusCollectionApi.as_view(), name="api-media-uploads"),
    path("media/uploads/<str:upload_id>/", api_tus.TusUploadApi.as_view(), name="api-media-upload"),
    path("media/trash/", api_trash.TrashApi.as_view(), name="api-media-trash"),
    path("media/<int:item_id>/", api.MediaDetailApi.as_view(), name="api-media-detail"),
    path("media/<int:item_id>/restore/", api_trash.MediaRestoreApi.as_view(), name="api-media-restore"),
    path("media/<int:item_id>/content/", api.MediaContentApi.as_view(), name="api-media-content"),
    path("media/<int:item_id>/thumbnail/", api.MediaThumbnailApi.as_view(), name="api-media-thumbnail"),
    path("exclusions/", api.ExclusionCollectionApi.as_view(), name="api-exclusion-list"),
    path("exclusions/<int:exclusion_id>/", api.ExclusionDetailApi.as_view(), name="api-exclusion-detail"),
]
