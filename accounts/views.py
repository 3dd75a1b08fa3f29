from django.contrib import messages
from django.contrib.auth import authenticate, login
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from accounts import roles, services
from accounts.forms import SignUpForm
from accounts.lockout import LOGIN_LOCKED
from consentsvc.errors import ServiceError, register_code

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
    return render(request, "accounts/signup.html", {"form": form})


class TokenCreateApi(APIView):
    """Exchange a username and password for an API token."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth_token"

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField()
        password = serializers.CharField(style={"input_type": "password"})

    @extend_schema(
        request=InputSerializer,
        responses={
            200: inline_serializer("TokenOutput", {"token": serializers.CharField()}),
            400: OpenApiResponse(description="invalid_credentials, or invalid_request / malformed_request"),
            429: OpenApiResponse(description=f"throttled, or {LOGIN_LOCKED}: this username is locked out for a while"),
        },
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(request._request, **data.validated_data)
        if user is None or not user.is_active:
            raise ServiceError("invalid_credentials", "Username or password is wrong, or the account is locked.")
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})
