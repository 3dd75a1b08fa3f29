"""Reads of the vault: the holder's items and exclusions, and counts for support.

Only metadata leaves here (decrypted for the owner's own views); content leaves
the vault through vault.gateway alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import Count, Max, Q, QuerySet, Sum
from django.utils import timezone

from core import places
from core.errors import ServiceError
from vault import keyring, keys, timeline
from vault.meta import (
    ExclusionRules,
    ItemMeta,
    Place,
    capture_day,
    meta_open,
    place_open,
)
from vault.models import DerivedOutput, Exclusion, MediaItem


def media_list(*, user_id: int) -> QuerySet[MediaItem]:
    """The holder's items, newest first, without those in the trash."""
    return MediaItem.objects.filter(owner_id=user_id, trashed_at__isnull=True).order_by("-id")


def media_held(*, user_id: int) -> QuerySet[MediaItem]:
    """Everything held for the holder, the trash included (what an export must contain)."""
    return MediaItem.objects.filter(owner_id=user_id).order_by("-id")


def trash_list(*, user_id: int) -> QuerySet[MediaItem]:
    """The holder's items in the trash, most recently deleted first."""
    return MediaItem.objects.filter(owner_id=user_id, trashed_at__isnull=False).order_by("-trashed_at", "-id")


def media_get(*, user_id: int, item_id, include_trashed: bool = False) -> MediaItem:
    """The holder's own item; another holder's item is indistinguishable from a missing one.

    An item in the trash is missing too, unless asked for (the holder's own trash page and its restore)."""
    found = MediaItem.objects.filter(owner_id=user_id)
    if not include_trashed:
        found = found.filter(trashed_at__isnull=True)
    try:
        return found.get(pk=int(item_id))
    except (MediaItem.DoesNotExist, ValueError, TypeError):
        raise ServiceError("not_found", "No such media item.") from None


class _KeyCache:
    """Unwraps each account key once per call, however many rows it serves."""

    def __init__(self):
        self._keys: dict = {}

    def get(self, *, user_id: int, key_id) -> keys.DataKey:
        if key_id not in self._keys:
            self._keys[key_id] = keyring.data_key_by_id(user_id=user_id, key_id=key_id)
        return self._keys[key_id]


def media_metas(*, items) -> list[ItemMeta]:
    cache = _KeyCache()
    return [meta_open(data_key=cache.get(user_id=i.owner_id, key_id=i.key.key_id), item=i) for i in items]


def media_meta(*, item: MediaItem) -> ItemMeta:
    return media_metas(items=[item])[0]


@dataclass(frozen=True)
class TimelineRow:
    item: MediaItem
    meta: ItemMeta
    place: str  # the place's name, offline ("Lisbon", "near Óbidos"); "" when the photo has no position,
    # and for every video: a video's place leaves the vault only in the owner's export


@dataclass(frozen=True)
class TimelineDay:
    day: date | None  # None: the photo holds no capture time, and none is made up for it
    rows: list[TimelineRow]


FAR_FROM_TOWNS = "Far from any town"


def place_label(*, lat: float | None, lon: float | None) -> str:
    """What to call a photo's position, named offline from GeoNames (core.places)."""
    if lat is None or lon is None:
        return ""
    named = places.place_name(lat, lon)
    return named.label if named else FAR_FROM_TOWNS


def _wall_clock(moment: datetime) -> datetime:
    return timezone.localtime(moment).replace(tzinfo=None) if timezone.is_aware(moment) else moment


Moment = tuple[int, datetime | None]  # an item's id and its capture time
TimelinePage = list[tuple[date | None, list[Moment]]]  # days, newest first, each with its photos


def media_timeline_pages(*, user_id: int, per_page: int) -> list[TimelinePage]:
    """The holder's live photos as a timeline cut into pages of whole days. Days (newest first, photos
    without a capture time last) are added to a page while it holds fewer than per_page photos, so a page
    may run over to finish a day and a day never continues on the next page. Capture times are sealed,
    so the database cannot order or cut by them: they come from the sealed timeline index (one blob
    opened; vault.timeline), and media_timeline loads and opens the rows of the one page shown."""
    days: dict[date | None, list[Moment]] = {}
    for item_id, captured in sorted(timeline.capture_times(user_id=user_id).items(), reverse=True):
        days.setdefault(capture_day(captured) if captured is not None else None, []).append((item_id, captured))
    ordered = [(d, sorted(days[d], key=lambda moment: _wall_clock(moment[1]), reverse=True))
               for d in sorted((d for d in days if d is not None), reverse=True)]
    if None in days:
        ordered.append((None, days[None]))  # newest upload first
    pages: list[TimelinePage] = []
    held = per_page
    for day, moments in ordered:
        if held >= per_page:
            pages.append([])
            held = 0
        pages[-1].append((day, moments))
        held += len(moments)
    return pages


def media_timeline(*, user_id: int, page: TimelinePage) -> list[TimelineDay]:
    """One page of media_timeline_pages as the photos page shows it: only that page's rows are loaded (one
    query) and opened, each photo's place named offline (a video's is not named: it leaves the vault only in
    the owner's export). A photo trashed or deleted since the scan is left out."""
    ids = [item_id for _, moments in page for item_id, _ in moments]
    items = media_list(user_id=user_id).select_related("key").in_bulk(ids) if ids else {}
    found = [items[i] for i in ids if i in items]
    metas = {meta.id: meta for meta in media_metas(items=found)}
    days = []
    for day, moments in page:
        rows = [TimelineRow(item=items[i], meta=metas[i],
                            place="" if metas[i].is_video else place_label(lat=metas[i].lat, lon=metas[i].lon))
                for i, _ in moments if i in items]
        if rows:
            days.append(TimelineDay(day=day, rows=rows))
    return days


@dataclass(frozen=True)
class ExclusionView:
    id: int
    kind: str
    start: date | None
    end: date | None
    place: Place | None


def exclusion_list(*, user_id: int) -> list[ExclusionView]:
    rows = list(Exclusion.objects.filter(owner_id=user_id).select_related("key").order_by("-id"))
    cache = _KeyCache()
    views = []
    for row in rows:
        place = None
        if row.kind == Exclusion.Kind.PLACE:
            place = place_open(data_key=cache.get(user_id=user_id, key_id=row.key.key_id), exclusion=row)
        views.append(ExclusionView(id=row.pk, kind=row.kind, start=row.start, end=row.end, place=place))
    return views


def exclusion_get(*, user_id: int, exclusion_id) -> Exclusion:
    try:
        return Exclusion.objects.get(owner_id=user_id, pk=int(exclusion_id))
    except (Exclusion.DoesNotExist, ValueError, TypeError):
        raise ServiceError("not_found", "No such exclusion.") from None


def exclusion_rules(*, user_id: int) -> ExclusionRules:
    views = exclusion_list(user_id=user_id)
    return ExclusionRules(
        date_ranges=tuple((v.start, v.end) for v in views if v.kind == Exclusion.Kind.DATE_RANGE),
        places=tuple(v.place for v in views if v.place is not None),
    )


def media_summary(*, user_id: int) -> dict:
    """Counts and sizes for support: never content, places or labels."""
    items = MediaItem.objects.filter(owner_id=user_id).aggregate(
        count=Count("id"), size=Sum("stored_bytes"), last=Max("created_at"),
        trashed=Count("id", filter=Q(trashed_at__isnull=False)),
        videos=Count("id", filter=Q(duration_ms__isnull=False)),
        videos_trashed=Count("id", filter=Q(duration_ms__isnull=False, trashed_at__isnull=False)),
        videos_size=Sum("stored_bytes", filter=Q(duration_ms__isnull=False)),
    )
    outputs = DerivedOutput.objects.filter(owner_id=user_id).aggregate(count=Count("id"), size=Sum("stored_bytes"))
    return {
        "items": items["count"],
        "items_bytes": items["size"] or 0,
        "outputs": outputs["count"],
        "outputs_bytes": outputs["size"] or 0,
        "last_upload_at": items["last"],
        "trashed": items["trashed"],
        # Of the items, how many are videos (in the trash or not, as "items" counts), how many of
        # those are in the trash, and what all videos take.
        "videos": items["videos"],
        "videos_trashed": items["videos_trashed"],
        "videos_bytes": items["videos_size"] or 0,
    }


def outputs_described(*, user_id: int) -> list[dict]:
    """The holder's derived outputs described without their content (for the holder's data export)."""
    rows = DerivedOutput.objects.filter(owner_id=user_id).order_by("id").prefetch_related("sources")
    return [
        {"id": row.pk, "kind": row.kind, "purpose": row.purpose, "content_type": row.content_type,
         "size": row.size, "created_at": row.created_at, "sources": sorted(s.pk for s in row.sources.all())}
        for row in rows
    ]
