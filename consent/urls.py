from django.urls import path

from consent import views

app_name = "consent"
urlpatterns = [
    path("settings/camera-roll/", views.camera_roll_settings, name="settings"),
]
