"""Sealed metadata of media and exclusions, and the rules that decide what is excluded."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date, datetime

from django.utils import timezone

from vault.keys import DataKey

_META = b"media-meta"
_PLACE = b"exclusion-place"
_OUTPUT_META = b"output-meta"
OUTPUT_META_MAX_BYTES = 2048
DEDUP = b"media-sha256"
EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class ItemMeta:
    """One item's decrypted metadata, as the gateway hands it out."""

    id: int
    captured_at: datetime | None
    lat: float | None
    lon: float | None
    labels: tuple[str, ...]
    width: int
    height: int
    content_type: str
    sha256: str
    # The name the file had on the phone or computer (sealed like the rest; "" when not known).
    filename: str = ""
    # A video's length in milliseconds; None for a photo.
    duration_ms: int | None = None

    @property
    def is_video(self) -> bool:
        return self.duration_ms is not None


MAX_FILENAME_CHARS = 255


def clean_filename(name: str) -> str:
    """The last path part of an uploaded file's name, without control characters, at most 255 characters."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip().strip(".")
    return name[:MAX_FILENAME_CHARS]


def meta_seal(
    *,
    data_key: DataKey,
    uid,
    sha256: str,
    captured_at: datetime | None,
    lat: float | None,
    lon: float | None,
    labels: list[str] | tuple[str, ...],
    filename: str = "",
) -> bytes:
    payload = {
        "filename": clean_filename(filename),
        "sha256": sha256,
        "captured_at": captured_at.isoformat() if captured_at else None,
        "lat": lat,
        "lon": lon,
        "labels": list(labels),
    }
    return data_key.seal(json.dumps(payload, separators=(",", ":")).encode(), purpose=_META, binding=uid.bytes)


def meta_rebind(*, data_key: DataKey, sealed: bytes, old_uid, new_uid) -> bytes:
    """An item's sealed metadata, bound to a new uid instead of its old one (vault.item_keys)."""
    plaintext = data_key.open(sealed, purpose=_META, binding=old_uid.bytes)
    return data_key.seal(plaintext, purpose=_META, binding=new_uid.bytes)


def meta_open(*, data_key: DataKey, item) -> ItemMeta:
    payload = json.loads(data_key.open(bytes(item.sealed_meta), purpose=_META, binding=item.uid.bytes))
    captured = payload.get("captured_at")
    return ItemMeta(
        id=item.pk,
        captured_at=datetime.fromisoformat(captured) if captured else None,
        lat=payload.get("lat"),
        lon=payload.get("lon"),
        labels=tuple(payload.get("labels") or ()),
        width=item.width,
        height=item.height,
        content_type=item.content_type,
        sha256=payload["sha256"],
        filename=payload.get("filename") or "",
        duration_ms=item.duration_ms,
    )


def meta_captured_at(*, data_key: DataKey, uid, sealed: bytes) -> datetime | None:
    """Only the capture time of an item's sealed metadata (the timeline's scan of a whole library)."""
    captured = json.loads(data_key.open(bytes(sealed), purpose=_META, binding=uid.bytes)).get("captured_at")
    return datetime.fromisoformat(captured) if captured else None


_TIMELINE = b"media-timeline"
TimelineEntries = dict[int, tuple[str, datetime | None]]  # item id -> (uid hex, capture time)


def timeline_seal(*, data_key: DataKey, entries: TimelineEntries) -> bytes:
    """The holder's timeline index as one sealed blob (bound to the account and key by the key's AAD)."""
    rows = [[item_id, uid, captured.isoformat() if captured else None] for item_id, (uid, captured) in entries.items()]
    return data_key.seal(json.dumps(rows, separators=(",", ":")).encode(), purpose=_TIMELINE)


def timeline_open(*, data_key: DataKey, sealed: bytes) -> TimelineEntries:
    rows = json.loads(data_key.open(bytes(sealed), purpose=_TIMELINE))
    return {int(item_id): (uid, datetime.fromisoformat(captured) if captured else None)
            for item_id, uid, captured in rows}


def output_meta_seal(*, data_key: DataKey, uid, meta: dict) -> bytes:
    """A derived output's small metadata (a suggestion's title, ...), sealed like an item's."""
    if not isinstance(meta, dict) or not all(isinstance(k, str) for k in meta):
        raise TypeError("output metadata is a dict with string keys")
    encoded = json.dumps(meta, separators=(",", ":"), allow_nan=False).encode()
    if len(encoded) > OUTPUT_META_MAX_BYTES:
        raise ValueError(f"output metadata is limited to {OUTPUT_META_MAX_BYTES} bytes of JSON")
    return data_key.seal(encoded, purpose=_OUTPUT_META, binding=uid.bytes)


def output_meta_open(*, data_key: DataKey, output) -> dict:
    if output.sealed_meta is None:
        return {}
    return json.loads(data_key.open(bytes(output.sealed_meta), purpose=_OUTPUT_META, binding=output.uid.bytes))


@dataclass(frozen=True)
class Place:
    name: str
    lat: float
    lon: float
    radius_m: float


def place_seal(*, data_key: DataKey, uid, place: Place) -> bytes:
    payload = {"name": place.name, "lat": place.lat, "lon": place.lon, "radius_m": place.radius_m}
    return data_key.seal(json.dumps(payload, separators=(",", ":")).encode(), purpose=_PLACE, binding=uid.bytes)


def place_open(*, data_key: DataKey, exclusion) -> Place:
    payload = json.loads(data_key.open(bytes(exclusion.sealed_place), purpose=_PLACE, binding=exclusion.uid.bytes))
    return Place(name=payload["name"], lat=payload["lat"], lon=payload["lon"], radius_m=payload["radius_m"])


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def capture_day(captured_at: datetime) -> date:
    """The calendar day a photo was taken: EXIF times are the phone's wall clock (naive)."""
    if timezone.is_aware(captured_at):
        return timezone.localtime(captured_at).date()
    return captured_at.date()


@dataclass(frozen=True)
class ExclusionRules:
    date_ranges: tuple[tuple[date, date], ...] = ()
    places: tuple[Place, ...] = ()

    def reason(self, meta: ItemMeta) -> str | None:
        """Why this item is excluded ("date_range" / "place"), or None.

        An item without a capture time or a location cannot match a date or place
        rule; holders exclude such items one by one.
        """
        if meta.captured_at is not None and self.date_ranges:
            day = capture_day(meta.captured_at)
            if any(start <= day <= end for start, end in self.date_ranges):
                return "date_range"
        if meta.lat is not None and meta.lon is not None:
            for place in self.places:
                if haversine_m(meta.lat, meta.lon, place.lat, place.lon) <= place.radius_m:
                    return "place"
        return None
