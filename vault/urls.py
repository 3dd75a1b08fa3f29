from django.urls import path

from vault import views

app_name = "vault"
urlpatterns = [
    path("media/", views.media_list, name="media"),
    path("media/upload/", views.media_upload, name="media-upload"),
    path("media/selected/", views.media_bulk, name="media-bulk"),
    path("media/trash/", views.trash_list, name="trash"),
    path("media/trash/empty/", views.trash_empty, name="trash-empty"),
    path("media/<int:item_id>/restore/", views.media_restore, name="media-restore"),
    path("media/erase/", views.media_erase, name="media-erase"),
    path("media/<int:item_id>/thumbnail/", views.media_thumbnail, name="media-thumbnail"),
    path("media/<int:item_id>/original/", views.media_original, name="media-original"),
    path("media/<int:item_id>/exclude/", views.media_exclude, name="media-exclude"),
    path("media/<int:item_id>/delete/", views.media_delete, name="media-delete"),
    path("settings/exclusions/", views.exclusions, name="exclusions"),
    path("settings/exclusions/<int:exclusion_id>/delete/", views.exclusion_delete, name="exclusion-delete"),
]
