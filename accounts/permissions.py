"""DRF permission classes for holders and support (the trail's own check is audit.permissions)."""

from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import BasePermission

from accounts import roles


class IsHolder(BasePermission):
    message = "Only account holders can do this."

    def has_permission(self, request, view):
        return roles.is_holder(request.user)


class IsSupport(BasePermission):
    message = "Only support agents can do this."

    def has_permission(self, request, view):
        return roles.is_support(request.user)


def collection_method(request) -> str:
    """How a holder's API call reached us, for the record: "web" when our own pages made it with the
    browser's session, "api" when a client (the phone app) sent a token."""
    return "web" if isinstance(getattr(request, "successful_authenticator", None), SessionAuthentication) else "api"
