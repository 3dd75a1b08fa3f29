import datetime as dt
import io

import pytest
from PIL import Image, ImageEnhance

from core.places import haversine_km
from suggestions import grouping
from tests.suggestions.factories import LISBON, LONDON, PORTO, Item, at, pattern_jpeg


def test_it_splits_events_at_gaps_longer_than_a_night():
    items = [
        Item(1, at(2025, 3, 15, 10)),  # Saturday out
        Item(2, at(2025, 3, 15, 13)),
        Item(3, at(2025, 3, 15, 18)),
        Item(4, at(2025, 3, 17, 9)),  # Monday: 39 h later
        Item(5, at(2025, 3, 17, 9, 5)),
        Item(6, at(2025, 3, 17, 9, 10)),
    ]
    events = grouping.events(items)
    assert [e.ids for e in events] == [(1, 2, 3), (4, 5, 6)]
    assert [e.days() for e in events] == [1, 1]


def test_it_keeps_a_weekend_together_across_the_night():
    items = [Item(i, at(2025, 3, 15, h)) for i, h in enumerate((9, 12, 20), start=1)]
    items += [Item(i, at(2025, 3, 16, h)) for i, h in enumerate((8, 11, 17), start=4)]
    (event,) = grouping.events(items)
    assert event.days() == 2
    assert grouping.is_weekend(event)


def test_it_does_not_call_two_weekdays_a_weekend():
    items = [Item(i, at(2025, 3, 11 + i // 3, 9 + i % 3 * 4)) for i in range(6)]  # Tue-Wed
    (event,) = grouping.events(items)
    assert event.days() == 2
    assert not grouping.is_weekend(event)


def test_it_cuts_a_run_longer_than_the_maximum_span_at_its_longest_gap():
    # Photos every 12 hours for three weeks are daily life, not one event.
    start = at(2025, 1, 1, 8)
    items = [Item(i, start + dt.timedelta(hours=12 * i)) for i in range(42)]
    events = grouping.events(items)
    assert [len(e.items) for e in events] == [21, 21]
    assert all(e.end - e.start <= grouping.MAX_EVENT_SPAN for e in events)
    assert sum(len(e.items) for e in events) == 42


def test_it_leaves_undated_items_and_tiny_events_out():
    items = [Item(1, None), Item(2, None), Item(3, None), Item(4, at(2025, 1, 1)), Item(5, at(2025, 1, 1, 13))]
    assert grouping.events(items) == []


def test_it_finds_on_this_day_only_a_year_or_more_ago():
    today = dt.date(2026, 6, 10)
    items = [
        Item(1, at(2024, 6, 10, 9)),
        Item(2, at(2024, 6, 10, 15)),
        Item(3, at(2025, 6, 10, 9)),
        Item(4, at(2025, 6, 10, 10)),
        Item(5, at(2026, 6, 10, 8)),  # today: not a memory
        Item(6, at(2026, 6, 10, 9)),
        Item(7, at(2025, 6, 11, 9)),  # the day after
        Item(8, at(2025, 6, 9, 9)),
    ]
    memories = grouping.on_this_day(items, today=today)
    assert [(m.years_ago, m.ids) for m in memories] == [(2, (1, 2)), (1, (3, 4))]


def test_it_measures_great_circle_distances():
    assert haversine_km(*LONDON, 48.8566, 2.3522) == pytest.approx(344, abs=3)
    assert haversine_km(*LISBON, *PORTO) == pytest.approx(274, abs=3)
    assert haversine_km(0, 179.9, 0, -179.9) == pytest.approx(22.2, abs=0.2)


def test_it_clusters_positions_by_place():
    items = [Item(i, at(2025, 5, 1, i), LISBON[0] + i * 0.01, LISBON[1]) for i in range(4)]
    items += [Item(10 + i, at(2025, 5, 3, i), PORTO[0], PORTO[1] - i * 0.01) for i in range(3)]
    items += [Item(20, at(2025, 5, 4))]  # no position
    clusters = grouping.place_clusters(items)
    assert [c.ids for c in clusters] == [(0, 1, 2, 3), (10, 11, 12)]
    assert haversine_km(clusters[0].lat, clusters[0].lon, *LISBON) < 3


def test_it_takes_the_place_of_most_days_for_home():
    home_items = [Item(i, at(2025, 1, 1 + 4 * i), *LONDON) for i in range(5)]
    trip = [Item(100 + i, at(2025, 2, 1, 9 + i), *LISBON) for i in range(9)]
    clusters = grouping.place_clusters(home_items + trip)
    home = grouping.home_cluster(clusters)
    assert home is not None and home.ids == tuple(range(5))
    assert grouping.is_away(LISBON, home)
    assert not grouping.is_away(LONDON, home)


def test_it_does_not_take_one_stay_for_home():
    """A new holder whose only photos are of three days in Lisbon has shown us a trip, not home."""
    trip = [Item(10 * d + h, at(2025, 5, 10 + d, 9 + 3 * h), *LISBON) for d in range(3) for h in range(3)]
    clusters = grouping.place_clusters(trip)
    assert grouping.home_cluster(clusters) is None
    visits = trip + [Item(100 + i, at(2025, 6, 1 + 5 * i), *LISBON) for i in range(3)]
    assert grouping.home_cluster(grouping.place_clusters(visits)) is not None


def test_it_finds_a_dominant_label_and_themes():
    items = [
        Item(1, labels=("Beach", "sea")),
        Item(2, labels=("beach",)),
        Item(3, labels=("dog",)),
        Item(4, labels=("beach", "dog")),
    ]
    assert grouping.dominant_label(items) == "beach"
    assert grouping.dominant_label(items[2:3]) is None
    assert list(grouping.themes(items, min_items=2)) == ["beach", "dog"]
    assert grouping.themes(items, min_items=4) == {}


def _image(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def test_it_sees_a_resized_recompressed_shot_as_the_same_and_others_as_different():
    original = _image(pattern_jpeg(3, (800, 600)))
    smaller = original.resize((200, 150))
    brighter = ImageEnhance.Brightness(original).enhance(1.1)
    other = _image(pattern_jpeg(4, (800, 600)))
    h = grouping.dhash(original)
    assert grouping.hamming(h, grouping.dhash(smaller)) <= 4
    assert grouping.hamming(h, grouping.dhash(brighter)) <= 4
    assert grouping.hamming(h, grouping.dhash(other)) > grouping.DHASH_NEAR_DUPLICATE_BITS


def test_it_keeps_one_shot_of_a_burst():
    base = _image(pattern_jpeg(7, (640, 480)))
    burst = {i: grouping.fingerprint(ImageEnhance.Brightness(base).enhance(1 + i / 100)) for i in range(10)}
    burst[50] = grouping.fingerprint(_image(pattern_jpeg(8)))
    burst[51] = grouping.fingerprint(_image(pattern_jpeg(9)))
    ids = [*range(10), 50, 51]
    assert grouping.dedupe(ids, burst) == [0, 50, 51]
    # A better shot replaces its twin where the twin stood.
    assert grouping.dedupe(ids, burst, better=lambda new, kept: new == 6) == [6, 50, 51]


def test_it_does_not_take_flat_pictures_of_different_colours_for_one_shot():
    red, blue = (Image.new("RGB", (64, 48), colour) for colour in ((220, 40, 40), (40, 70, 220)))
    assert grouping.dhash(red) == grouping.dhash(blue)
    assert not grouping.near_duplicate(grouping.fingerprint(red), grouping.fingerprint(blue))
    assert grouping.near_duplicate(grouping.fingerprint(red), grouping.fingerprint(red.resize((32, 24))))
