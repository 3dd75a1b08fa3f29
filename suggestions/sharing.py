"""Share links: an unguessable link to one suggestion's output that anyone can open without an
account, for SHARE_LINK_DAYS, until the holder revokes it.

Dead at once when the suggestion goes (dismissed; deleted with a source; every suggestion at
withdrawal): the link row goes with the suggestion, and every open re-checks, through the
gateway, the consent the output was made under. Every open is audited on the holder's trail
(so it is in their access history); only a hash of the token is kept.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from core.errors import ServiceError, register_code
from core.uow import Actor, account_write
from suggestions import selectors, titles
from suggestions.models import ShareLink, Suggestion
from vault import gateway

TOKEN_BYTES = 32  # 256 bits from the OS's CSPRNG


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewLink:
    link: ShareLink
    token: str  # shown once; only its hash is kept


DISPLAY_NAME_MAX = 60
INVALID_DISPLAY_NAME = register_code(
    "invalid_display_name", 400, f"The name shown to the recipient is at most {DISPLAY_NAME_MAX} printable characters."
)


def _clean_display_name(value) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ServiceError(INVALID_DISPLAY_NAME, "The name shown to the recipient is text.")
    value = " ".join(value.split())
    if len(value) > DISPLAY_NAME_MAX or any(not ch.isprintable() for ch in value):
        raise ServiceError(INVALID_DISPLAY_NAME,
                           f"The name shown to the recipient is at most {DISPLAY_NAME_MAX} printable characters.")
    return value


def share_link_create(*, user_id: int, suggestion_id, display_name: str | None = "",
                      now: dt.datetime | None = None) -> NewLink:
    """A new link to one of the holder's suggestions (not a dismissed one). ``display_name`` is
    what the recipient's page calls the sharer ("" for no name); nothing else of the account shows."""
    now = now or timezone.now()
    display_name = _clean_display_name(display_name)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with account_write(user_id=user_id, actor=Actor.holder(user_id)) as uow:
        suggestion = selectors.suggestion_get(user_id=user_id, suggestion_id=suggestion_id)
        if not selectors.suggestions_feature_on(user_id=user_id):
            raise ServiceError("consent_required", "Turn on Camera Roll Sharing Suggestions first.")
        link = ShareLink.objects.create(
            owner_id=user_id,
            suggestion=suggestion,
            token_hash=_hash(token),
            expires_at=now + dt.timedelta(days=settings.SHARE_LINK_DAYS),
            display_name=display_name,
        )
        uow.record(uow.event(action="share_link.created", object_type="share_link", object_id=link.pk,
                             details={"suggestion": suggestion.pk, "days": settings.SHARE_LINK_DAYS,
                                      "named": bool(display_name)}))
    return NewLink(link=link, token=token)


def share_links_list(*, user_id: int, suggestion_id=None) -> list[ShareLink]:
    """The holder's links (of one suggestion if given), newest first, revoked and expired ones too."""
    found = ShareLink.objects.filter(owner_id=user_id).select_related("suggestion")
    if suggestion_id is not None:
        found = found.filter(suggestion_id=selectors.suggestion_get(user_id=user_id, suggestion_id=suggestion_id).pk)
    return list(found)


def share_link_revoke(*, user_id: int, link_id) -> ShareLink:
    with account_write(user_id=user_id, actor=Actor.holder(user_id)) as uow:
        try:
            link = ShareLink.objects.select_for_update().get(owner_id=user_id, pk=int(link_id))
        except (ShareLink.DoesNotExist, ValueError, TypeError):
            raise ServiceError("not_found", "No such share link.") from None
        if link.revoked_at is None:
            link.revoked_at = timezone.now()
            link.save(update_fields=["revoked_at"])
            uow.record(uow.event(action="share_link.revoked", object_type="share_link", object_id=link.pk,
                                 details={"suggestion": link.suggestion_id}))
    return link


def link_state(link: ShareLink, now: dt.datetime | None = None) -> str:
    now = now or timezone.now()
    if link.revoked_at is not None:
        return "revoked"
    if link.expires_at <= now:
        return "expired"
    return "active"


def _live(token: str) -> ShareLink:
    """The link a token opens, or not_found (unknown, revoked, expired, suggestion dismissed)."""
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        raise ServiceError("not_found", "This link does not exist or no longer works.")
    link = ShareLink.objects.select_related("suggestion").filter(token_hash=_hash(token)).first()
    if (
        link is None
        or link_state(link) != "active"
        or link.suggestion.status == Suggestion.Status.DISMISSED
        or link.suggestion.output_id is None
    ):
        raise ServiceError("not_found", "This link does not exist or no longer works.")
    return link


def share_link_check(*, token: str) -> ShareLink:
    """Whether a token opens something now, without opening it (the page around the content)."""
    return _live(token)


@dataclass(frozen=True)
class SharedPage:
    """What the recipient's page shows, and nothing else of the account: no username, no other
    suggestion, no count of photos."""

    kind: str
    title: str
    dates: str
    display_name: str
    expires_at: dt.datetime
    has_video: bool


def shared_page(*, token: str) -> SharedPage:
    """The page around a live link's content: the suggestion's title and dates (opened from the
    output's sealed metadata, for the link the holder made to show them) and the sharer's name as
    they chose it for this link. The content itself is opened, audited and counted by share_open."""
    link = _live(token)
    suggestion = link.suggestion
    meta = gateway.outputs_meta(user_id=link.owner_id, output_ids=[suggestion.output_id]).get(suggestion.output_id, {})
    title = meta.get("title") if isinstance(meta.get("title"), str) else ""
    first, last = selectors.meta_day(meta.get("first")), selectors.meta_day(meta.get("last"))
    return SharedPage(
        kind=suggestion.kind,
        title=title,
        dates=titles.moment_dates(first, last),
        display_name=link.display_name,
        expires_at=link.expires_at,
        has_video=suggestion.video_output_id is not None,
    )


def _count_open(link: ShareLink) -> None:
    """One more open on the link, in its holder's unit of work (the open itself is audited by the
    gateway: output.shared_read)."""
    with account_write(user_id=link.owner_id, actor=Actor.service("share_link")):
        ShareLink.objects.filter(pk=link.pk).update(opens=F("opens") + 1, last_opened_at=timezone.now())


def share_open(*, token: str, video: bool = False) -> selectors.SuggestionContent:
    """The output behind a live link, for anyone holding it: audited through the gateway (which
    re-checks consent now), counted on the link."""
    link = _live(token)
    suggestion = link.suggestion
    output_id = suggestion.video_output_id if video else suggestion.output_id
    if output_id is None:
        raise ServiceError("not_found", "This link does not exist or no longer works.")
    try:
        data, content_type = gateway.output_shared_open(user_id=link.owner_id, output_id=output_id, link_id=link.pk)
    except gateway.GatewayDenied:
        raise ServiceError("not_found", "This link does not exist or no longer works.") from None
    _count_open(link)
    extension = selectors.EXTENSIONS.get(content_type, "bin")
    return selectors.SuggestionContent(data, content_type, f"shared-{link.pk}.{extension}")


def share_open_video(*, token: str) -> gateway.RangedOutput:
    """A shared recap's MP4 behind a live link, to be served in pieces (the recipient's <video>
    seeks): every piece re-checks consent and is audited by the gateway; the link counts one open
    per play (the piece that starts at byte 0), not one per piece."""
    link = _live(token)
    if link.suggestion.video_output_id is None:
        raise ServiceError("not_found", "This link does not exist or no longer works.")
    video = gateway.output_shared_ranged(
        user_id=link.owner_id, output_id=link.suggestion.video_output_id, link_id=link.pk
    )

    def open_range(wanted: gateway.ByteRange):
        try:
            chunks = video.open_range(wanted)
        except gateway.GatewayDenied:
            raise ServiceError("not_found", "This link does not exist or no longer works.") from None
        if wanted.start == 0:
            _count_open(link)
        return chunks

    return gateway.RangedOutput(output_id=video.output_id, size=video.size, content_type=video.content_type,
                                etag=video.etag, open_range=open_range)
