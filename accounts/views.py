import math

from django.contrib import messages
from django.contrib.auth import authenticate, login, logout, password_validation
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import roles, services, tokens
from accounts.forms import SignUpForm
from accounts.lockout import LOGIN_LOCKED
from core.api.throttling import ScopedRateThrottle, scope_hit
from core.errors import ServiceError, register_code

register_code("invalid_credentials", 400, "Username or password is wrong, or the account is locked.")


@require_GET
def home(request):
    """`/`: each role's home for a signed-in user, the landing page for visitors."""
    if request.user.is_authenticated:
        target = roles.home_url(request)
        if target is None:
            raise PermissionDenied("Your account has no role yet. Ask an operator to give you one.")
        return redirect(target)
    return landing(request)


def landing(request):
    """A short page saying what the service is, for visitors."""
    return render(request, "landing.html")


@require_POST
def role_switch(request):
    """Switch the navigation (and the home page) to another role the user holds."""
    if not request.user.is_authenticated:
        return redirect_to_login("/")
    role = request.POST.get("role", "")
    if role not in roles.roles_of(request.user):
        raise PermissionDenied("You do not have that role.")
    roles.role_activate(request, role)
    return redirect(roles.ROLE_HOMES[role])


class LoginView(auth_views.LoginView):
    """Django's sign-in page, counted per client address with the token endpoint (one budget for
    both, so a guesser gains nothing by switching between them); django-axes still locks out a
    username per address on top."""

    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        allowed, wait = scope_hit(request, scope=TokenCreateApi.throttle_scope)
        if not allowed:
            response = render(request, "accounts/throttled.html", status=429)
            response["Retry-After"] = str(math.ceil(wait))
            return response
        return super().post(request, *args, **kwargs)


def signup(request):
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_create(
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
                email=form.cleaned_data.get("email", ""),
            )
        except ServiceError as exc:
            form.add_error("username", exc.message)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, "Welcome. Everything is off until you turn it on.")
            return redirect("consent:settings")
    return render(request, "accounts/signup.html",
                  {"form": form, "password_rules": password_validation.password_validators_help_texts()})


class TokenCreateApi(APIView):
    """Exchange a username and password for an API token of one device (name it after the device:
    the holder sees it in their list of signed-in devices)."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth_token"

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField()
        password = serializers.CharField(style={"input_type": "password"})
        name = serializers.CharField(
            required=False, allow_blank=True, max_length=tokens.NAME_MAX, help_text="the device's name"
        )

    @extend_schema(
        request=InputSerializer,
        responses={
            200: inline_serializer(
                "TokenOutput", {"token": serializers.CharField(), "expires_at": serializers.DateTimeField()}
            ),
            400: OpenApiResponse(description="invalid_credentials, or invalid_request / malformed_request"),
            429: OpenApiResponse(description=f"throttled, or {LOGIN_LOCKED}: this username is locked out for a while"),
        },
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        credentials = {key: data.validated_data[key] for key in ("username", "password")}
        user = authenticate(request._request, **credentials)
        if user is None or not user.is_active:
            raise ServiceError("invalid_credentials", "Username or password is wrong, or the account is locked.")
        name = data.validated_data.get("name") or request.headers.get("User-Agent", "")
        token, secret = tokens.token_create(user=user, name=name)
        return Response({"token": secret, "expires_at": token.expires_at})


class LogoutApi(APIView):
    """Sign this device out: the token the request came with stops working at once."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        if isinstance(request.auth, tokens.ApiToken):
            tokens.token_revoke(user_id=request.user.pk, token_id=request.auth.pk)
        else:
            logout(request._request)
        return Response(status=204)


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's page; a new password also signs every device's API token out."""

    def form_valid(self, form):
        response = super().form_valid(form)
        tokens.tokens_revoke_all(user_id=self.request.user.pk)
        messages.success(self.request, "Password changed. Every device signed in with the old one is signed out.")
        return response


@login_required
@require_http_methods(["GET", "POST"])
def devices(request):
    """The devices signed in to the API as this person, each with a sign-out."""
    if request.method == "POST":
        try:
            token_id = int(request.POST.get("token", ""))
        except ValueError:
            token_id = 0
        if tokens.token_revoke(user_id=request.user.pk, token_id=token_id):
            messages.success(request, "That device is signed out.")
        return redirect("devices")
    current = getattr(request, "auth", None)
    return render(request, "accounts/devices.html", {"tokens": tokens.tokens_of(user=request.user), "current": current})
