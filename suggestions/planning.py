"""From a holder's item metadata to a ranked list of suggestion plans: still pure, no pixels.

A plan says what to make (collage, recap or stylised), from which candidate items, under what
title, and carries a stable key so that a second run recognises what the first one made. The
job then reads thumbnails to drop near-duplicates, reads the chosen originals and renders.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.places import PlaceName
from suggestions import grouping, render, titles

COLLAGE = "collage"
RECAP = "recap"
STYLIZED = "stylized"
KINDS = (COLLAGE, RECAP, STYLIZED)

COLLAGE_MAX_PHOTOS = 9
RECAP_MIN_ITEMS = 6  # candidates before near-duplicates are dropped
MAX_CANDIDATES = 40  # thumbnails read per group, at most
VISIT_GAP = dt.timedelta(days=7)  # two stays at one place this far apart are two visits


@dataclass(frozen=True)
class Plan:
    kind: str
    group: str  # what it is about, e.g. "event:118" (ids and dates only)
    title: str
    item_ids: tuple[int, ...]  # candidates in the order they should appear
    score: float
    style: str = ""  # stylised only: the preferred style (a pass may turn to another)
    first: dt.date | None = None  # the moment's first and last day (wall clock), shown on the card
    last: dt.date | None = None
    faces: bool = False  # made with face grouping (people in the title): kept only with face_analysis

    @property
    def key(self) -> str:
        """Idempotency key: the same group and kind always give the same key, whatever the style.
        Hashed, because the group of a theme names a label, and labels are not kept in the clear."""
        return hashlib.sha256(f"{self.kind}|{self.group}".encode()).hexdigest()

    @property
    def full_title(self) -> str:
        """The card's title: one moment's collage, recap and stylised image never share one."""
        if self.kind == STYLIZED and self.style:
            return titles.stylized_title(base=self.title, style=self.style)
        if self.kind == RECAP:
            return titles.recap_title(base=self.title)
        return self.title


Namer = Callable[[float, float], PlaceName | None]


def style_for(group: str) -> str:
    """A style per group that does not change between runs, spread across all styles."""
    digest = hashlib.sha256(group.encode()).digest()
    return render.STYLES[digest[0] % len(render.STYLES)]


def _recency(moment: dt.datetime | None, now: dt.datetime) -> float:
    if moment is None:
        return 0.0
    age_days = max(0.0, (now - moment).total_seconds() / 86400)
    return 1.0 / (1.0 + age_days / 30.0)


def _spread(ids: Sequence[int], limit: int) -> tuple[int, ...]:
    """At most `limit` ids, evenly spread across the sequence (first and last included)."""
    if len(ids) <= limit:
        return tuple(ids)
    step = (len(ids) - 1) / (limit - 1)
    return tuple(ids[round(i * step)] for i in range(limit))


def _days(members) -> dict:
    """first= and last= for a Plan: the first and last capture day of the members."""
    days = [i.captured_at.date() for i in members if i.captured_at is not None]
    return {"first": min(days), "last": max(days)} if days else {}


def _named_in(ids: Sequence[int], people: Sequence[grouping.PersonGroup]) -> list[tuple[int, str]]:
    """(id, name) of the named people in at least a third of these photos (and two of them), most seen first."""
    members = set(ids)
    seen = []
    for person in people:
        count = len(members.intersection(person.item_ids))
        if person.name and count >= max(2, len(members) / 3):
            seen.append((-count, person.name, person.person_id))
    return [(person_id, name) for _, name, person_id in sorted(seen)]


def _name(namer: Namer, position: tuple[float, float] | None) -> str | None:
    if position is None:
        return None
    found = namer(*position)
    return found.label if found else None


def plan_suggestions(
    items: Sequence[grouping.ItemLike],
    *,
    now: dt.datetime,
    namer: Namer,
    tz: dt.tzinfo | None = None,
    people: Sequence[grouping.PersonGroup] = (),
) -> list[Plan]:
    """Every plan worth making from these items, best first.

    Capture times are compared as wall-clock times in tz (see grouping.wall_clock)."""
    items = grouping.wall_clock(items, tz or dt.UTC)
    now = grouping.naive_local(now, tz or dt.UTC)
    by_id = {item.id: item for item in items}
    clusters = grouping.place_clusters(items)
    home = grouping.home_cluster(clusters)
    plans: list[Plan] = []

    runs = grouping.merge_trips(grouping.events(items, min_items=1), home)
    for event in (run for run in runs if len(run.items) >= grouping.MIN_EVENT_ITEMS):
        first = event.start.date()
        last = event.end.date()
        position = grouping.main_position(event.items)
        away = grouping.is_away(position, home)
        label = grouping.dominant_label(event.items)
        title = titles.event_title(
            first=first,
            last=last,
            place=_name(namer, position),
            label=label,
            away=away,
            weekend=grouping.is_weekend(event),
        )
        with_people = _named_in(event.ids, people)
        group = f"event:{event.items[0].id}"
        if with_people:
            title = titles.people_title(
                names=[name for _, name in with_people], first=first, last=last, place=_name(namer, position),
                label=label, away=away,
            )
            # A group of its own (ids only): naming people after a moment's suggestions were made
            # gives that moment new ones that say who is in it, instead of "nothing new".
            group += ":with:" + ",".join(str(person_id) for person_id in sorted(pid for pid, _ in with_people))
        ids = _spread(event.ids, MAX_CANDIDATES)
        score = 1.0 + _recency(event.end, now) * 2 + min(len(event.items), 30) / 30 + (0.5 if away else 0)
        days = {"first": first, "last": last, "faces": bool(with_people)}
        plans.append(Plan(COLLAGE, group, title, ids, score, **days))
        if len(event.items) >= RECAP_MIN_ITEMS:
            plans.append(Plan(RECAP, group, title, ids, score - 0.3, **days))
        plans.append(Plan(STYLIZED, group, title, ids, score - 0.6, style_for(group), **days))

    today = now.date()
    for memory in grouping.on_this_day(items, today=today):
        place = _name(namer, grouping.main_position(memory.items))
        title = titles.on_this_day_title(years_ago=memory.years_ago, place=place)
        group = f"onthisday:{memory.day.isoformat()}"
        ids = _spread(memory.ids, MAX_CANDIDATES)
        plans.append(
            Plan(COLLAGE if len(ids) < RECAP_MIN_ITEMS else RECAP, group, title, ids, 4.0, **_days(memory.items))
        )

    for cluster in clusters:
        if cluster is home or not grouping.is_away((cluster.lat, cluster.lon), home):
            continue
        days = cluster.days()
        visits = len(grouping.events(cluster.items, gap=VISIT_GAP, max_span=dt.timedelta.max, min_items=1))
        if visits < 2 or len(cluster.items) < grouping.MIN_THEME_ITEMS:
            continue  # a single visit is already an event
        place = _name(namer, (cluster.lat, cluster.lon))
        if not place:
            continue
        ordered = sorted(cluster.items, key=lambda i: (i.captured_at or now, i.id))
        group = f"place:{ordered[0].id}"
        newest = max((i.captured_at for i in ordered if i.captured_at), default=None)
        plans.append(
            Plan(
                COLLAGE,
                group,
                titles.place_title(place=place, days=days),
                _spread([i.id for i in ordered], MAX_CANDIDATES),
                1.2 + _recency(newest, now),
                **_days(ordered),
            )
        )

    for label, found in grouping.themes(items).items():
        by_year: dict[int, list] = {}
        for item in found:
            if item.captured_at is not None:
                by_year.setdefault(item.captured_at.year, []).append(item)
        for year, members in by_year.items():
            days = {i.captured_at.date() for i in members}
            if len(members) < grouping.MIN_THEME_ITEMS or len(days) < 2:
                continue
            ordered = sorted(members, key=lambda i: (i.captured_at, i.id))
            group = f"theme:{label}:{year}"
            plans.append(
                Plan(
                    COLLAGE,
                    group,
                    titles.theme_title(label=label, year=year if year != today.year else None),
                    _spread([i.id for i in ordered], MAX_CANDIDATES),
                    1.0 + _recency(ordered[-1].captured_at, now) + min(len(members), 20) / 40,
                    **_days(ordered),
                )
            )

    for person in people:
        members = [by_id[i] for i in person.item_ids if i in by_id]
        if len(members) >= grouping.MIN_EVENT_ITEMS:
            ordered = sorted(members, key=lambda i: (i.captured_at or now, i.id))
            title = titles.person_title(name=person.name)
            plans.append(
                Plan(COLLAGE, f"people:{person.person_id}", title, _spread([i.id for i in ordered], MAX_CANDIDATES),
                     1.5, faces=True, **_days(ordered))
            )

    plans.sort(key=lambda p: (-p.score, p.group, p.kind))
    return plans
