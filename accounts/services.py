from django.contrib.auth.models import Group
from django.db import transaction

from accounts.models import User
from accounts.roles import HOLDER, ROLES
from core.errors import ServiceError, register_code

register_code("unknown_role", 400, "The role is not one of holder, auditor, support.")
register_code("username_taken", 409, "That username is already in use.")


def _group(role: str) -> Group:
    if role not in ROLES:
        raise ServiceError("unknown_role", f"{role!r} is not a role; use one of {', '.join(ROLES)}.")
    group, _ = Group.objects.get_or_create(name=role)
    return group


@transaction.atomic
def user_create(*, username: str, password: str, email: str = "", role: str = HOLDER) -> User:
    if User.objects.filter(username__iexact=username).exists():
        raise ServiceError("username_taken", f"The username {username!r} is already in use.")
    user = User.objects.create_user(username=username, password=password, email=email)
    user.groups.add(_group(role))
    return user


def role_grant(*, user: User, role: str) -> None:
    user.groups.add(_group(role))
    user.__dict__.pop("_role_cache", None)


def role_revoke(*, user: User, role: str) -> None:
    user.groups.remove(_group(role))
    user.__dict__.pop("_role_cache", None)
