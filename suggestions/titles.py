"""Titles a person would write: "Saturday at the beach", "Lisbon, 3 days", "A weekend in Porto"."""

from __future__ import annotations

import datetime as dt

# Labels that read as where or with whom: "<when> at the beach".
SETTING_PHRASES = {
    "beach": "at the beach",
    "sea": "by the sea",
    "lake": "by the lake",
    "park": "in the park",
    "garden": "in the garden",
    "snow": "in the snow",
    "mountain": "in the mountains",
    "mountains": "in the mountains",
    "hiking": "on the trail",
    "forest": "in the woods",
    "boat": "on the water",
    "dog": "with the dog",
    "cat": "with the cat",
    "city": "in the city",
    "museum": "at the museum",
    "zoo": "at the zoo",
    "concert": "at the concert",
    "restaurant": "out for dinner",
    "food": "and good food",
}

# Settings that say less than the name of the place they are in.
GENERIC_SETTINGS = {"city", "restaurant", "food", "museum", "park", "garden"}

# Labels that name an occasion: "A birthday on Saturday", "Birthday weekend".
OCCASIONS = {
    "birthday": "birthday",
    "wedding": "wedding",
    "party": "party",
    "graduation": "graduation",
    "christmas": "Christmas",
    "halloween": "Halloween",
    "picnic": "picnic",
    "barbecue": "barbecue",
}

# Whole-collection titles for a label seen across many days.
THEME_TITLES = {
    "dog": "Dog days",
    "cat": "The cat, starring",
    "beach": "Beach days",
    "food": "Good food",
    "sunset": "Sunsets",
    "snow": "Snow days",
    "birthday": "Birthdays",
    "flowers": "In bloom",
    "flower": "In bloom",
    "mountains": "In the mountains",
    "mountain": "In the mountains",
    "hiking": "Out walking",
    "baby": "Little one",
    "party": "Party time",
    "car": "On the road",
    "sky": "Looking up",
}

STYLE_NAMES = {
    "film": "on film",
    "sketch": "as a sketch",
    "comic": "comic style",
    "vintage": "warm vintage",
    "noir": "in black and white",
}


def day_month(day: dt.date) -> str:
    return f"{day.day} {day:%B}"


def day_range(first: dt.date, last: dt.date) -> str:
    if first == last:
        return day_month(first)
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}–{last.day} {last:%B}"
    return f"{day_month(first)} – {day_month(last)}"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def event_title(
    *,
    first: dt.date,
    last: dt.date,
    place: str | None = None,
    label: str | None = None,
    away: bool = False,
    weekend: bool = False,
) -> str:
    """One event. `place` is a label like "Lisbon" or "near Óbidos"; it is used when the holder
    was away from home (a trip) or when nothing else says what the event was."""
    days = (last - first).days + 1
    setting = SETTING_PHRASES.get(label or "")
    occasion = OCCASIONS.get(label or "")
    in_place = None
    if place:
        in_place = place if place.startswith("near ") else f"in {place}"

    # A vague setting ("in the city") gives way to the name of the place on a trip ("Saturday in
    # Porto"); a telling one ("at the beach") does not.
    named_trip = bool(place and away and not place.startswith("near "))
    if named_trip and label in GENERIC_SETTINGS:
        setting = None

    if days == 1:
        weekday = f"{first:%A}"
        if occasion:
            return _capital(f"{'A ' if occasion[0].islower() else ''}{occasion} on {weekday}")
        if setting:
            return f"{weekday} {setting}"
        if place and away:
            return f"{weekday} {in_place}"
        if place:
            return f"{weekday} {in_place}, {day_month(first)}"
        return f"{weekday}, {day_month(first)}"

    if weekend:
        if occasion:
            return _capital(f"{occasion} weekend")
        if place and away:
            return f"A weekend {in_place}"
        if setting:
            return f"A weekend {setting}"
        return f"Weekend of {day_month(first)}"

    if place and away and not place.startswith("near "):
        return f"{place}, {days} days"
    if place and away:
        return f"{days} days {place}"
    if occasion:
        return _capital(f"{occasion}, {day_range(first, last)}")
    if setting:
        return f"{days} days {setting}"
    return f"{days} days, {day_range(first, last)}"


def on_this_day_title(*, years_ago: int, place: str | None = None) -> str:
    ago = "1 year ago" if years_ago == 1 else f"{years_ago} years ago"
    base = f"On this day, {ago}"
    if place:
        return f"{base} {place}" if place.startswith("near ") else f"{base} in {place}"
    return base


def theme_title(*, label: str, year: int | None = None) -> str:
    base = THEME_TITLES.get(label) or _capital(f"{label} moments")
    return f"{base} of {year}" if year else base


def place_title(*, place: str, days: int) -> str:
    if place.startswith("near "):
        return _capital(f"{place}, {days} days") if days > 1 else _capital(place)
    return f"{place}, {days} days" if days > 1 else place


def _who(names: list[str]) -> str:
    """The people named, as they appear: "Ana", "Ana and Ben", "Ana, Ben and Cy", "Ana, Ben and friends".
    Only who is seen in the photos: the holder, who mostly took them, is not assumed to be in them."""
    if len(names) > 3:
        return f"{', '.join(names[:2])} and friends"
    if len(names) == 1:
        return names[0]
    return f"{', '.join(names[:-1])} and {names[-1]}"


def people_title(
    *,
    names: list[str],
    first: dt.date,
    last: dt.date,
    place: str | None = None,
    label: str | None = None,
    away: bool = False,
) -> str:
    """A moment with people the holder has named: "Ana and Ben in Lisbon", "Ana by the lake"."""
    who = _who(names)
    setting = SETTING_PHRASES.get(label or "")
    if setting and label not in GENERIC_SETTINGS:
        return f"{who} {setting}"
    if place:
        return f"{who} {place}" if place.startswith("near ") else f"{who} in {place}"
    if first == last:
        return f"{who}, {first:%A} {day_month(first)}"
    return f"{who}, {day_range(first, last)}"


def person_title(*, name: str) -> str:
    return f"{name}, best moments" if name else "Together"


def recap_title(*, base: str) -> str:
    return f"{base}, the highlights"


def moment_dates(first: dt.date | None, last: dt.date | None) -> str:
    """The dates of a moment as a card shows them: "14 June 2025", "10–12 May 2025"."""
    if first is None or last is None:
        return ""
    if first.year != last.year:
        return f"{day_month(first)} {first.year} – {day_month(last)} {last.year}"
    return f"{day_range(first, last)} {last.year}"


def distinct(title: str, *, taken: set[str], first: dt.date | None, last: dt.date | None) -> str:
    """A title none of `taken` has: as it is, else with the moment's dates, else numbered."""
    if title not in taken:
        return title
    dated = f"{title}, {moment_dates(first, last)}" if first else title
    if dated not in taken:
        return dated
    n = 2
    while f"{dated} ({n})" in taken:
        n += 1
    return f"{dated} ({n})"


def stylized_title(*, base: str, style: str) -> str:
    return f"{base}, {STYLE_NAMES.get(style, style)}"
