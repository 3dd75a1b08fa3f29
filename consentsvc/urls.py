from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from accounts import views as account_views
from consentsvc import views
from consentsvc.admin_gate import staff_only

api_v1 = [
    path("auth/token/", account_views.TokenCreateApi.as_view(), name="auth-token"),
    path("auth/logout/", account_views.LogoutApi.as_view(), name="auth-logout"),
    path("", include("consent.api_urls")),
    path("", include("audit.api_urls")),
    path("", include("vault.api_urls")),
    path("", include("suggestions.api_urls")),
    path("", include("support.api_urls")),
]

urlpatterns = [
    path("", account_views.home, name="home"),
    path("accounts/role/", account_views.role_switch, name="role-switch"),
    path("accounts/login/", account_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/signup/", account_views.signup, name="signup"),
    path("accounts/password/", account_views.PasswordChangeView.as_view(), name="password_change"),
    path("settings/devices/", account_views.devices, name="devices"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("", include("consent.urls")),
    path("", include("audit.urls")),
    path("", include("vault.urls")),
    path("", include("suggestions.urls")),
    path("", include("support.urls")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    # Redoc styles itself with <style> elements it creates at run time (no nonce), and parses in a worker.
    path(
        "api/redoc/",
        csp_update({"style-src": [SELF, UNSAFE_INLINE], "worker-src": [SELF, "blob:"]})(
            SpectacularRedocView.as_view(url_name="schema")
        ),
        name="api-redoc",
    ),
    path("admin/", staff_only(admin.site.urls)),
    path("healthz/", views.healthz, name="healthz"),
]

handler400 = "consentsvc.views.handler400"
handler403 = "consentsvc.views.handler403"
handler404 = "consentsvc.views.handler404"
handler500 = "consentsvc.views.handler500"
