from django.urls import path

from consent import views

app_name = "consent"
urlpatterns = [
    path("settings/camera-roll/", views.camera_roll_settings, name="settings"),
    path("settings/camera-roll/turn-off/<str:purpose>/", views.turn_off_confirm, name="turn-off"),
    path("settings/camera-roll/receipts/<str:record_id>/", views.receipt, name="receipt"),
]
