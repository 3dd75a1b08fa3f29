from accounts import roles as role_checks


def roles(request):
    user = getattr(request, "user", None)
    held = role_checks.roles_of(user)
    return {
        "is_holder": role_checks.HOLDER in held,
        "is_auditor": role_checks.AUDITOR in held,
        "is_support": role_checks.SUPPORT in held,
        # The navigation shows the links of one role; users with several roles switch between them.
        "nav_role": role_checks.active_role(request) if held else None,
        "role_choices": [(role, role_checks.ROLE_LABELS[role]) for role in held] if len(held) > 1 else [],
    }
