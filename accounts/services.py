from django.contrib.auth.models import Group

from accounts.models import User
from accounts.roles import HOLDER, ROLES
from core.errors import ServiceError, register_code
from core.uow import Actor, account_write

register_code("unknown_role", 400, "The role is not one of holder, auditor, support.")
register_code("username_taken", 409, "That username is already in use.")

# The audit actions of this module (audit/sentences.py and support/access_log.py phrase them).
ROLE_GRANTED = "account.role_granted"
ROLE_REVOKED = "account.role_revoked"


def _group(role: str) -> Group:
    if role not in ROLES:
        raise ServiceError("unknown_role", f"{role!r} is not a role; use one of {', '.join(ROLES)}.")
    group, _ = Group.objects.get_or_create(name=role)
    return group


def user_create(*, username: str, password: str, email: str = "", role: str = HOLDER) -> User:
    """A new account with its first role. The account row is its identity, written before its
    unit of work can lock it; the role is the account's first write, in its unit (sign-up grants
    no role worth an audit event: the account did not exist before)."""
    group = _group(role)
    if User.objects.filter(username__iexact=username).exists():
        raise ServiceError("username_taken", f"The username {username!r} is already in use.")
    user = User.objects.create_user(username=username, password=password, email=email)
    with account_write(user_id=user.pk, actor=Actor.system()):
        user.groups.add(group)
    return user


def role_grant(*, user: User, role: str, actor: Actor | None = None) -> None:
    """Give `user` a role, in their unit of work, with its audit event (none when they had it)."""
    _role_change(user=user, role=role, actor=actor, grant=True)


def role_revoke(*, user: User, role: str, actor: Actor | None = None) -> None:
    """Take a role away, in the account's unit of work, with its audit event (none when they had not)."""
    _role_change(user=user, role=role, actor=actor, grant=False)


def _role_change(*, user: User, role: str, actor: Actor | None, grant: bool) -> None:
    group = _group(role)
    with account_write(user_id=user.pk, actor=actor or Actor.system("grant_role")) as uow:
        held = user.groups.filter(pk=group.pk).exists()
        if held == grant:
            return
        (user.groups.add if grant else user.groups.remove)(group)
        uow.record(uow.event(action=ROLE_GRANTED if grant else ROLE_REVOKED, object_type="role", object_id=role))
    user.__dict__.pop("_role_cache", None)
