from django.urls import path

from audit import views

app_name = "audit"
urlpatterns = [
    path("audit/", views.audit_trail, name="trail"),
    path("audit/audit-public-key.pem", views.public_key_pem, name="public-key-pem"),
]
