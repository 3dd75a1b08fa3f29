"""The object permissions a case grants, and the check every support action makes.

A case grants its agent three django-guardian object permissions on the one
account it is about. The permission rows exist only while the case is open;
the check also demands an open, unexpired case row, so a case that has run out
stops working at once even before `support_expire_cases` tidies it up.
"""

import re
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone
from guardian.core import ObjectPermissionChecker

from accounts.roles import is_support
from core.errors import ServiceError
from core.uow import Actor
from support.models import SubjectUserObjectPermission, SupportCase

VIEW = "support_view_subject"
REVOKE = "support_revoke_consent"
ERASE = "support_erase_media"
PERMISSIONS = {
    VIEW: "Support: see an account's consent state and held-data counts",
    REVOKE: "Support: revoke consent on an account's behalf",
    ERASE: "Support: erase an account's cloud media",
}

MAX_ID = 2**63 - 1  # the largest primary key a BigAutoField can hold

# A ticket reference goes into audit details only when it looks like an id;
# anything longer or wordier could be free text, which the trail never holds.
_TICKET_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")


def ticket_token(ticket: str) -> str | None:
    return ticket if _TICKET_TOKEN.match(ticket or "") else None


def case_details(case: SupportCase, **extra) -> dict:
    details = {"case_id": case.pk, **extra}
    token = ticket_token(case.ticket)
    if token:
        details["ticket"] = token
    return details


def permissions_ensure() -> list[Permission]:
    """The three permissions (on the user model), created on first use."""
    ctype = ContentType.objects.get_for_model(get_user_model())
    return [
        Permission.objects.get_or_create(content_type=ctype, codename=codename, defaults={"name": name})[0]
        for codename, name in PERMISSIONS.items()
    ]


def permissions_grant(case: SupportCase) -> None:
    SubjectUserObjectPermission.objects.bulk_create(
        [SubjectUserObjectPermission(user_id=case.agent_id, content_object_id=case.subject_id, permission=perm)
         for perm in permissions_ensure()],
        ignore_conflicts=True,
    )


def permissions_remove(case: SupportCase) -> None:
    SubjectUserObjectPermission.objects.filter(
        user_id=case.agent_id, content_object_id=case.subject_id, permission__codename__in=PERMISSIONS
    ).delete()


def case_is_live(case: SupportCase, *, now: datetime | None = None) -> bool:
    return case.closed_at is None and case.expires_at > (now or timezone.now())


def agent_of(actor: Actor):
    """The support agent an `Actor.support(agent_id)` stands for: the staff user whose roles and
    object permissions every support check reads. Any other actor, or an account that is not an
    active support agent, is refused."""
    if not isinstance(actor, Actor) or actor.kind != "support":
        raise ServiceError("permission_denied", "Only support agents can do this.")
    agent = get_user_model().objects.filter(pk=int(actor.id), is_active=True).first()
    if agent is None or not is_support(agent):
        raise ServiceError("permission_denied", "Only support agents can do this.")
    return agent


def case_require(*, actor: Actor, user_id, permission: str, lock: bool = False) -> SupportCase:
    """The acting agent's live case on this account, if it grants `permission`; otherwise 404.

    Without a case the account is, for the agent, as if it did not exist. With
    `lock` (inside a transaction) the case row is locked, as closing it locks it,
    so an action and a close racing each other are ordered: the action either
    commits before the close or finds the case closed.
    """
    agent = agent_of(actor)
    try:
        user_id = int(user_id)
    except (TypeError, ValueError):
        raise ServiceError("not_found", "No open case for that account.") from None
    if not 0 < user_id <= MAX_ID:
        # No account has such an id; and SQLite cannot even bind it in a foreign-key lookup.
        raise ServiceError("not_found", "No open case for that account.")
    cases = SupportCase.objects.filter(agent=agent, subject_id=user_id, closed_at__isnull=True,
                                       expires_at__gt=timezone.now())
    if lock:
        cases = cases.select_for_update(of=("self",))
    case = cases.select_related("subject", "agent").first()
    if case is None or not ObjectPermissionChecker(agent).has_perm(permission, case.subject):
        raise ServiceError("not_found", "No open case for that account.")
    return case
