"""Who may read the trail: the auditor role (a group named "auditor").

accounts owns roles, but audit imports no other app of ours, so the check is by group name here.
"""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

AUDITOR_GROUP = "auditor"
HOLDER_GROUP = "holder"
ACTIVE_ROLE_SESSION_KEY = "active_role"  # the navigation's role (accounts.roles), by name for the same reason


def is_auditor(user) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return user.groups.filter(name=AUDITOR_GROUP).exists()


class IsAuditor(BasePermission):
    message = "Only auditors can read the audit trail."

    def has_permission(self, request, view):
        return is_auditor(request.user)


class IsHolder(BasePermission):
    """An account holder, for their own holder log (/api/v1/me/tlog/, docs/holder-log.md): the
    holder role, as the rest of /api/v1/me/ (accounts.permissions.IsHolder, by group name here)."""

    message = "Only account holders can do this."

    def has_permission(self, request, view):
        user = request.user
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return False
        return user.groups.filter(name=HOLDER_GROUP).exists()


def auditor_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_auditor(request.user):
            raise PermissionDenied
        if request.session.get(ACTIVE_ROLE_SESSION_KEY) != AUDITOR_GROUP:
            request.session[ACTIVE_ROLE_SESSION_KEY] = AUDITOR_GROUP
        return view(request, *args, **kwargs)

    return wrapper
