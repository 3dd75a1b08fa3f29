"""API tokens: one per signed-in device, stored hashed, expiring when idle, revocable.

The secret is 256 random bits, so one SHA-256 digest (unique index) is enough to look it up
and compare: no slow hash is needed against guessing, and the lookup is a single query that
also brings the user and their roles. A token carries a stamp of the password it was issued
under, so a password change (by any path: the page, the admin, `changepassword`) ends every
token of the user at once, as Django does for sessions; the rows are deleted as well.

Chosen over django-rest-knox: knox needs a second query for the user, writes on every request
with AUTO_REFRESH, and has no device name without a custom token model; this is 100 lines.
"""

from __future__ import annotations

import contextvars
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from accounts.models import ApiToken, User
from accounts.roles import ROLES
from core import prepared
from core.uow import Actor, account_write

KEYWORD = "Token"
NAME_MAX = 100
# How often a token in use records it (and pushes its idle expiry back): not on every request.
TOUCH_EVERY = timedelta(minutes=10)

# The audit actions of this module (audit/sentences.py and support/access_log.py phrase them).
TOKEN_CREATED = "account.token_created"  # noqa: S105 (an action name)
TOKEN_REVOKED = "account.token_revoked"  # noqa: S105


@dataclass(frozen=True)
class CallingToken:
    id: int
    name: str


_calling: contextvars.ContextVar[CallingToken | None] = contextvars.ContextVar("calling_token", default=None)


def calling_token() -> CallingToken | None:
    """The API token (id and device name) the current request authenticated with, if any."""
    return _calling.get()


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _password_stamp(user: User) -> str:
    return salted_hmac("accounts.api-token", user.password, algorithm="sha256").hexdigest()


def _idle_days() -> timedelta:
    return timedelta(days=settings.API_TOKEN_IDLE_DAYS)


def token_create(*, user: User, name: str = "") -> tuple[ApiToken, str]:
    """A new token for one device; the secret is returned once and never stored."""
    secret = secrets.token_urlsafe(32)
    now = timezone.now()
    with account_write(user_id=user.pk, actor=Actor.holder(user.pk)) as uow:
        token = ApiToken.objects.create(
            user=user,
            digest=_digest(secret),
            name=(name or "").strip()[:NAME_MAX] or "unnamed device",
            password_stamp=_password_stamp(user),
            created_at=now,
            last_used_at=now,
            expires_at=now + _idle_days(),
        )
        uow.record(uow.event(action=TOKEN_CREATED, object_type="api_token", object_id=token.pk,
                             details={"device": token.pk}))
    return token, secret


def _token_query(*, digest):
    role_flags = {
        f"has_{role}": Exists(User.groups.through.objects.filter(user_id=OuterRef("user_id"), group__name=role))
        for role in ROLES
    }
    return (ApiToken.objects.filter(digest=digest).annotate(**role_flags)
            .values(*prepared.field_names(ApiToken), *prepared.field_names(User, "user__"), *role_flags)[:1])


# Every API call makes this query: compiled once (see core.prepared).
_TOKEN = prepared.PreparedQuery(_token_query, digest=ApiToken._meta.get_field("digest"))


def token_authenticate(*, secret: str) -> ApiToken | None:
    """The live token with this secret, its user (roles loaded) attached; None otherwise (one query)."""
    if not secret or len(secret) > 200:
        return None
    rows = _TOKEN.rows(digest=_digest(secret))
    if not rows:
        return None
    token = prepared.instance(ApiToken, rows[0])
    token.user = prepared.instance(User, rows[0], "user__")
    now = timezone.now()
    if token.expires_at <= now or not constant_time_compare(token.password_stamp, _password_stamp(token.user)):
        with account_write(user_id=token.user_id, actor=Actor.system()):  # dead: no sign-out to record
            ApiToken.objects.filter(pk=token.pk).delete()
        return None
    if not token.user.is_active:
        return None
    token.user._role_cache = {role for role in ROLES if rows[0][f"has_{role}"]}
    if now - token.last_used_at >= TOUCH_EVERY:
        token.last_used_at = now
        token.expires_at = now + _idle_days()
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now, expires_at=token.expires_at)
    return token


def token_revoke(*, user_id: int, token_id: int) -> bool:
    """Sign one device out. False when the user has no such token (another user's is not touched)."""
    return bool(_revoke(user_id=user_id, token_ids=[token_id]))


def tokens_revoke_all(*, user_id: int) -> int:
    """Sign every device of the user out (password change, erase)."""
    return _revoke(user_id=user_id, token_ids=None)


def _revoke(*, user_id: int, token_ids: list[int] | None) -> int:
    """The tokens' rows go in the account's unit of work, one audit event for each."""
    with account_write(user_id=user_id, actor=Actor.holder(user_id)) as uow:
        tokens = ApiToken.objects.filter(user_id=user_id)
        if token_ids is not None:
            tokens = tokens.filter(pk__in=token_ids)
        ids = list(tokens.values_list("pk", flat=True))
        if not ids:
            return 0
        ApiToken.objects.filter(pk__in=ids).delete()
        uow.record_many([uow.event(action=TOKEN_REVOKED, object_type="api_token", object_id=pk, details={"device": pk})
                         for pk in ids])
    return len(ids)


def tokens_of(*, user: User) -> list[ApiToken]:
    """The user's signed-in devices, most recently used first (dead tokens left out)."""
    now = timezone.now()
    stamp = _password_stamp(user)
    return [
        token
        for token in ApiToken.objects.filter(user=user, expires_at__gt=now).order_by("-last_used_at", "-pk")
        if constant_time_compare(token.password_stamp, stamp)
    ]


def tokens_purge_expired(*, now=None) -> int:
    """Expired tokens' rows go, each account's in its unit of work (an expiry is no sign-out to record)."""
    expired = ApiToken.objects.filter(expires_at__lte=now or timezone.now())
    deleted = 0
    for user_id in expired.values_list("user_id", flat=True).distinct().order_by("user_id"):
        with account_write(user_id=user_id, actor=Actor.system()):
            deleted += expired.filter(user_id=user_id).delete()[0]
    return deleted


class ApiTokenAuthentication(BaseAuthentication):
    """`Authorization: Token <secret>` for API clients (the phone app, scripts)."""

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Invalid token header: send 'Token <token>'.")
        try:
            secret = parts[1].decode("ascii")
        except UnicodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        token = token_authenticate(secret=secret)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        _calling.set(CallingToken(id=token.pk, name=token.name))
        return token.user, token

    def authenticate_header(self, request) -> str:
        return KEYWORD


class CallingTokenMiddleware:
    """Forgets the calling token when the request ends (threads serve many requests)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        reset = _calling.set(None)
        try:
            return self.get_response(request)
        finally:
            _calling.reset(reset)
