from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from accounts import views as account_views

api_v1 = [
    path("auth/token/", account_views.TokenCreateApi.as_view(), name="auth-token"),
    path("", include("consent.api_urls")),
    path("", include("audit.api_urls")),
    path("", include("vault.api_urls")),
    path("", include("suggestions.api_urls")),
    path("", include("support.api_urls")),
]

urlpatterns = [
    path("", account_views.home, name="home"),
    path("accounts/role/", account_views.role_switch, name="role-switch"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/signup/", account_views.signup, name="signup"),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("", include("consent.urls")),
    path("", include("audit.urls")),
    path("", include("vault.urls")),
    path("", include("suggestions.urls")),
    path("", include("support.urls")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("admin/", admin.site.urls),
]

handler403 = "consentsvc.views.handler403"
handler404 = "consentsvc.views.handler404"
handler500 = "consentsvc.views.handler500"
