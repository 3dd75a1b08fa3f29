"""Grouping of a holder's items into moments worth a suggestion: pure functions on plain data.

Everything here works on ItemMeta-like records (id, captured_at, lat, lon, labels, width,
height) and on Pillow images; nothing touches the database or the vault, so it is tested and
benchmarked on its own.

- time: events split at capture-time gaps (a day out, a weekend, a trip), and "on this day"
  a year or more ago;
- place: positions clustered by haversine distance, with the holder's home cluster found so
  that a cluster far from it reads as a trip;
- themes: the holder's own on-device labels;
- near-duplicates: a 64-bit difference hash (dHash), so a burst of ten shots counts once;
- people: groups found by face grouping (people.py), only when face analysis is granted.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from PIL import Image

from core.places import haversine_km

# A gap longer than a night's sleep starts a new event; a run longer than a fortnight is
# somebody's daily life, not an event, and is cut at its longest gaps.
EVENT_GAP = dt.timedelta(hours=16)
MAX_EVENT_SPAN = dt.timedelta(days=10)
MIN_EVENT_ITEMS = 3

PLACE_RADIUS_KM = 25.0
TRIP_MIN_DISTANCE_KM = 50.0
TRIP_GAP = dt.timedelta(hours=40)
TRIP_SAME_AREA_KM = 60.0

MIN_THEME_ITEMS = 4
DOMINANT_SHARE = 0.5

ON_THIS_DAY_MIN_YEARS = 1

DHASH_NEAR_DUPLICATE_BITS = 10
COLOUR_NEAR = 32  # largest difference of mean red, green or blue within one burst


class ItemLike(Protocol):
    id: int
    captured_at: dt.datetime | None
    lat: float | None
    lon: float | None
    labels: tuple[str, ...]
    width: int
    height: int


# --------------------------------------------------------------------------- time


@dataclass(frozen=True)
class Event:
    items: tuple  # ItemLike, in capture order
    start: dt.datetime
    end: dt.datetime

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(item.id for item in self.items)

    def days(self, tz: dt.tzinfo | None = None) -> int:
        return (local(self.end, tz).date() - local(self.start, tz).date()).days + 1


def local(moment: dt.datetime, tz: dt.tzinfo | None) -> dt.datetime:
    if tz is None or moment.tzinfo is None:
        return moment
    return moment.astimezone(tz)


def wall_clock(items: Iterable[ItemLike], tz: dt.tzinfo) -> list:
    """Copies of the items with capture times as naive wall-clock times in tz.

    The vault gives an aware UTC time when the camera recorded its offset and a naive
    wall-clock time when it did not; days and weekdays are about the wall clock either way,
    and the two kinds cannot be compared until they are made one kind.
    """
    return [replace(item, captured_at=naive_local(item.captured_at, tz)) for item in items]


def naive_local(moment: dt.datetime | None, tz: dt.tzinfo) -> dt.datetime | None:
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone(tz).replace(tzinfo=None)


def _split_long(run: list, max_span: dt.timedelta) -> list[list]:
    if len(run) < 2 or run[-1].captured_at - run[0].captured_at <= max_span:
        return [run]
    middle = (len(run) - 2) / 2
    # The longest gap; among equal ones the most central, so regular shooting halves evenly.
    _, _, cut = max((run[i + 1].captured_at - run[i].captured_at, -abs(i - middle), i) for i in range(len(run) - 1))
    return _split_long(run[: cut + 1], max_span) + _split_long(run[cut + 1 :], max_span)


def events(
    items: Iterable[ItemLike],
    *,
    gap: dt.timedelta = EVENT_GAP,
    max_span: dt.timedelta = MAX_EVENT_SPAN,
    min_items: int = MIN_EVENT_ITEMS,
) -> list[Event]:
    """Runs of photos with no gap longer than `gap`; items without a capture time are left out."""
    dated = sorted((item for item in items if item.captured_at is not None), key=lambda i: (i.captured_at, i.id))
    runs: list[list] = []
    for item in dated:
        if runs and item.captured_at - runs[-1][-1].captured_at <= gap:
            runs[-1].append(item)
        else:
            runs.append([item])
    result = []
    for run in runs:
        for part in _split_long(run, max_span):
            if len(part) >= min_items:
                result.append(Event(tuple(part), part[0].captured_at, part[-1].captured_at))
    return result


def merge_trips(
    found: Sequence[Event], home: PlaceCluster | None, *, max_gap: dt.timedelta = TRIP_GAP
) -> list[Event]:
    """Join consecutive events away from home in the same area: on a trip a quiet day and a
    long night do not end the trip."""
    merged: list[Event] = []
    for event in found:
        if merged and event.start - merged[-1].end <= max_gap:
            here, there = main_position(merged[-1].items), main_position(event.items)
            if (
                here is not None
                and there is not None
                and is_away(here, home)
                and is_away(there, home)
                and haversine_km(*here, *there) <= TRIP_SAME_AREA_KM
            ):
                previous = merged.pop()
                merged.append(Event(previous.items + event.items, previous.start, event.end))
                continue
        merged.append(event)
    return merged


def is_weekend(event: Event, tz: dt.tzinfo | None = None) -> bool:
    """Two or three days from Friday, Saturday or Sunday to Saturday, Sunday or Monday."""
    days = event.days(tz)
    if not 2 <= days <= 3:
        return False
    first = local(event.start, tz).date()
    last = local(event.end, tz).date()
    return first.weekday() in {4, 5, 6} and last.weekday() in {5, 6, 0}


@dataclass(frozen=True)
class OnThisDay:
    items: tuple
    years_ago: int
    day: dt.date

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(item.id for item in self.items)


def on_this_day(
    items: Iterable[ItemLike], *, today: dt.date, tz: dt.tzinfo | None = None, min_items: int = 2
) -> list[OnThisDay]:
    """Photos taken on today's day and month, at least a year ago; one group per year, the oldest first."""
    by_year: dict[int, list] = {}
    for item in items:
        if item.captured_at is None:
            continue
        day = local(item.captured_at, tz).date()
        if (day.month, day.day) == (today.month, today.day) and today.year - day.year >= ON_THIS_DAY_MIN_YEARS:
            by_year.setdefault(day.year, []).append(item)
    groups = []
    for year in sorted(by_year):
        found = sorted(by_year[year], key=lambda i: (i.captured_at, i.id))
        if len(found) >= min_items:
            groups.append(OnThisDay(tuple(found), today.year - year, found[0].captured_at.date()))
    return groups


# --------------------------------------------------------------------------- place


@dataclass
class PlaceCluster:
    lat: float
    lon: float
    items: list = field(default_factory=list)

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(item.id for item in self.items)

    def days(self, tz: dt.tzinfo | None = None) -> int:
        return len({local(i.captured_at, tz).date() for i in self.items if i.captured_at is not None})


def place_clusters(items: Iterable[ItemLike], *, radius_km: float = PLACE_RADIUS_KM) -> list[PlaceCluster]:
    """Leader clustering: each positioned item joins the nearest cluster whose centre is within
    radius_km (the centre then moves to the mean), otherwise it starts a new cluster.

    O(items × clusters), which for a camera roll (hundreds of places at most) is plenty.
    Largest cluster first.
    """
    clusters: list[PlaceCluster] = []
    positioned = sorted(
        (i for i in items if i.lat is not None and i.lon is not None),
        key=lambda i: (i.captured_at is not None, i.captured_at or 0, i.id),
    )
    for item in positioned:
        best, best_distance = None, radius_km
        for cluster in clusters:
            distance = haversine_km(item.lat, item.lon, cluster.lat, cluster.lon)
            if distance <= best_distance:
                best, best_distance = cluster, distance
        if best is None:
            clusters.append(PlaceCluster(item.lat, item.lon, [item]))
        else:
            best.items.append(item)
            n = len(best.items)
            best.lat += (item.lat - best.lat) / n
            best.lon += (item.lon - best.lon) / n
    clusters.sort(key=lambda c: (-len(c.items), c.items[0].id))
    return clusters


def home_cluster(clusters: Sequence[PlaceCluster], tz: dt.tzinfo | None = None) -> PlaceCluster | None:
    """Where the holder spends most days with a camera; None if no place stands out yet (< 3 days)
    or if its days are one stay (a run of days without a two-day break): a new holder whose
    only photos are of a three-day trip has not shown us home, they have shown us the trip."""
    if not clusters:
        return None
    best = max(clusters, key=lambda c: (c.days(tz), len(c.items)))
    if best.days(tz) < 3:
        return None
    days = sorted({local(i.captured_at, tz).date() for i in best.items if i.captured_at is not None})
    one_stay = all((later - earlier).days <= 2 for earlier, later in zip(days, days[1:], strict=False))
    return None if one_stay else best


def cluster_of(item: ItemLike, clusters: Sequence[PlaceCluster]) -> PlaceCluster | None:
    for cluster in clusters:
        if any(member.id == item.id for member in cluster.items):
            return cluster
    return None


def main_position(items: Sequence[ItemLike]) -> tuple[float, float] | None:
    """Mean position of the items that have one (enough for a group within one place cluster)."""
    points = [(i.lat, i.lon) for i in items if i.lat is not None and i.lon is not None]
    if not points:
        return None
    return sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points)


def is_away(position: tuple[float, float] | None, home: PlaceCluster | None) -> bool:
    if position is None or home is None:
        return position is not None
    return haversine_km(position[0], position[1], home.lat, home.lon) >= TRIP_MIN_DISTANCE_KM


# --------------------------------------------------------------------------- themes


def normalise_label(label: str) -> str:
    return " ".join(label.strip().lower().replace("_", " ").split())


def dominant_label(items: Sequence[ItemLike], *, share: float = DOMINANT_SHARE) -> str | None:
    """The label on at least `share` of the items (and on two or more), most frequent first."""
    counts = Counter(normalise_label(label) for item in items for label in set(item.labels) if label.strip())
    if not counts:
        return None
    label, count = min(counts.items(), key=lambda pair: (-pair[1], pair[0]))
    return label if count >= max(2, share * len(items)) else None


def themes(items: Iterable[ItemLike], *, min_items: int = MIN_THEME_ITEMS) -> dict[str, list]:
    """label -> items carrying it (newest first), for labels with at least min_items items."""
    by_label: dict[str, list] = {}
    for item in items:
        for label in {normalise_label(label) for label in item.labels if label.strip()}:
            by_label.setdefault(label, []).append(item)
    def newest_first(item) -> tuple:
        return (item.captured_at is None, -(item.captured_at.timestamp() if item.captured_at else 0), item.id)

    return {
        label: sorted(found, key=newest_first) for label, found in sorted(by_label.items()) if len(found) >= min_items
    }


# --------------------------------------------------------------------------- near-duplicates


def dhash(image: Image.Image, size: int = 8) -> int:
    """Difference hash: a (size × size)-bit fingerprint of brightness gradients, robust to scaling,
    compression and small exposure changes. Hamming distance ≤ ~10 of 64 means the same shot."""
    small = image.convert("L").resize((size + 1, size), Image.Resampling.BOX, reducing_gap=2.0)
    pixels = small.tobytes()
    bits = 0
    for row in range(size):
        offset = row * (size + 1)
        for col in range(size):
            bits = (bits << 1) | (pixels[offset + col] > pixels[offset + col + 1])
    return bits


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


@dataclass(frozen=True)
class Fingerprint:
    """What makes two shots the same shot: the gradients (dHash) and the overall colour, which
    dHash alone cannot see (two flat pictures of different colours have the same dHash)."""

    bits: int
    colour: tuple[int, int, int]


def fingerprint(image: Image.Image) -> Fingerprint:
    tiny = image.convert("RGB").resize((1, 1), Image.Resampling.BOX, reducing_gap=2.0)
    return Fingerprint(dhash(image), tiny.getpixel((0, 0)))


def near_duplicate(
    a: Fingerprint, b: Fingerprint, *, max_bits: int = DHASH_NEAR_DUPLICATE_BITS, max_colour: int = COLOUR_NEAR
) -> bool:
    colour_gap = max(abs(x - y) for x, y in zip(a.colour, b.colour, strict=True))
    return hamming(a.bits, b.bits) <= max_bits and colour_gap <= max_colour


def dedupe(
    ids: Sequence[int],
    prints: dict[int, Fingerprint],
    *,
    better: Callable[[int, int], bool] | None = None,
) -> list[int]:
    """Keep one item per near-duplicate run, in the given order.

    An item that is a near duplicate of a kept one is dropped, unless `better(new, kept)` says
    it is the better shot, in which case it takes the kept one's place.
    """
    kept: list[int] = []
    for item_id in ids:
        mine = prints.get(item_id)
        if mine is None:
            kept.append(item_id)
            continue
        twin = next((k for k in kept if k in prints and near_duplicate(prints[k], mine)), None)
        if twin is None:
            kept.append(item_id)
        elif better is not None and better(item_id, twin):
            kept[kept.index(twin)] = item_id
    return kept


# --------------------------------------------------------------------------- people


@dataclass(frozen=True)
class PersonGroup:
    """Photos that show one person (found by face grouping, only with face_analysis granted),
    and the name the holder gave them ("" if none)."""

    person_id: int
    name: str
    item_ids: tuple[int, ...]
