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
