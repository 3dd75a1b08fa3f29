"""Role checks for pages: anonymous people are sent to log in, wrong roles get 403."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied

from accounts import roles


def role_required(role: str):
    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not roles.has_role(request.user, role):
                raise PermissionDenied
            # Working on a role's page makes it the role the navigation shows.
            roles.role_activate(request, role)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


holder_required = role_required(roles.HOLDER)
support_required = role_required(roles.SUPPORT)
