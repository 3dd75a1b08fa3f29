"""The Django admin exists only for staff: to anyone else (visitors, holders, auditors, support) every
admin URL, its login page included, is the site's 404, so it neither shows a stock login form nor says
that an admin is there. Staff sign in through the site's own login page."""

from functools import wraps

from django.http import Http404
from django.urls import URLPattern, URLResolver


def _gate(view):
    @wraps(view)
    def staff_view(request, *args, **kwargs):
        user = request.user
        if not (user.is_authenticated and user.is_active and user.is_staff):
            raise Http404("No such page.")
        return view(request, *args, **kwargs)

    return staff_view


def _wrap(patterns) -> list:
    wrapped = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            pattern.url_patterns[:] = _wrap(pattern.url_patterns)  # a model admin's own URLs
        elif isinstance(pattern, URLPattern):
            pattern.callback = _gate(pattern.callback)
        wrapped.append(pattern)
    return wrapped


def staff_only(urls: tuple) -> tuple:
    """admin.site.urls (patterns, app name, namespace) with every view behind the staff gate."""
    patterns, app_name, namespace = urls
    return _wrap(patterns), app_name, namespace
