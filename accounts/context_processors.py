from accounts import roles as role_checks


def roles(request):
    user = request.user
    return {
        "is_holder": role_checks.is_holder(user),
        "is_auditor": role_checks.is_auditor(user),
        "is_support": role_checks.is_support(user),
    }
