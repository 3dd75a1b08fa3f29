"""Roles are Django groups. Operators give them with `manage.py grant_role` or in the admin."""

HOLDER = "holder"
AUDITOR = "auditor"
SUPPORT = "support"
ROLES = (HOLDER, AUDITOR, SUPPORT)
STAFF_ROLES = (AUDITOR, SUPPORT)


def has_role(user, role: str) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    cache = getattr(user, "_role_cache", None)
    if cache is None:
        cache = set(user.groups.values_list("name", flat=True))
        user._role_cache = cache
    return role in cache


def is_holder(user) -> bool:
    return has_role(user, HOLDER)


def is_auditor(user) -> bool:
    return has_role(user, AUDITOR)


def is_support(user) -> bool:
    return has_role(user, SUPPORT)


ROLE_LABELS = {HOLDER: "My account", AUDITOR: "Auditor", SUPPORT: "Support"}
ROLE_HOMES = {HOLDER: "/settings/camera-roll/", AUDITOR: "/audit/", SUPPORT: "/support/"}
ACTIVE_ROLE_SESSION_KEY = "active_role"


def roles_of(user) -> list[str]:
    """The user's roles in a fixed order (holder, auditor, support)."""
    return [role for role in ROLES if has_role(user, role)]


def active_role(request) -> str | None:
    """The role the user is working in: the one chosen (or last used) if they still hold it, else their first."""
    held = roles_of(request.user)
    if not held:
        return None
    chosen = request.session.get(ACTIVE_ROLE_SESSION_KEY) if hasattr(request, "session") else None
    return chosen if chosen in held else held[0]


def role_activate(request, role: str) -> None:
    if hasattr(request, "session") and request.session.get(ACTIVE_ROLE_SESSION_KEY) != role:
        request.session[ACTIVE_ROLE_SESSION_KEY] = role


def home_url(request) -> str | None:
    """Where a signed-in user lands: the home of the role they work in; None without a role."""
    role = active_role(request)
    return ROLE_HOMES[role] if role else None
