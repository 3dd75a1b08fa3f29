import datetime as dt

import pytest

from core import places
from core.places import Place, PlaceIndex
from suggestions import titles
from tests.suggestions.factories import AREZZO, LISBON

SAT = dt.date(2025, 3, 15)
SUN = dt.date(2025, 3, 16)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"first": SAT, "last": SAT, "label": "beach"}, "Saturday at the beach"),
        ({"first": SAT, "last": SAT, "label": "birthday"}, "A birthday on Saturday"),
        ({"first": SAT, "last": SAT, "label": "christmas"}, "Christmas on Saturday"),
        ({"first": SAT, "last": SAT, "place": "Porto", "away": True}, "Saturday in Porto"),
        ({"first": SAT, "last": SAT, "place": "Porto", "away": True, "label": "city"}, "Saturday in Porto"),
        ({"first": SAT, "last": SAT, "place": "Porto", "away": True, "label": "beach"}, "Saturday at the beach"),
        ({"first": SAT, "last": SAT, "place": "near Porto", "away": True, "label": "city"}, "Saturday in the city"),
        ({"first": SAT, "last": SAT, "place": "Bath"}, "Saturday in Bath, 15 March"),
        ({"first": SAT, "last": SAT}, "Saturday, 15 March"),
        ({"first": SAT, "last": SUN, "place": "Porto", "away": True, "weekend": True}, "A weekend in Porto"),
        ({"first": SAT, "last": SUN, "label": "snow", "weekend": True}, "A weekend in the snow"),
        ({"first": SAT, "last": SUN, "label": "birthday", "weekend": True}, "Birthday weekend"),
        ({"first": SAT, "last": SUN, "weekend": True}, "Weekend of 15 March"),
        ({"first": SAT, "last": dt.date(2025, 3, 17), "place": "Lisbon", "away": True}, "Lisbon, 3 days"),
        ({"first": SAT, "last": dt.date(2025, 3, 19), "place": "near Óbidos", "away": True}, "5 days near Óbidos"),
        ({"first": SAT, "last": dt.date(2025, 3, 18), "label": "mountains"}, "4 days in the mountains"),
        ({"first": dt.date(2025, 3, 30), "last": dt.date(2025, 4, 2)}, "4 days, 30 March – 2 April"),
    ],
)
def test_it_writes_event_titles_a_person_would_write(kwargs, expected):
    assert titles.event_title(**kwargs) == expected


def test_it_writes_other_titles():
    assert titles.on_this_day_title(years_ago=1) == "On this day, 1 year ago"
    assert titles.on_this_day_title(years_ago=3, place="Lisbon") == "On this day, 3 years ago in Lisbon"
    assert titles.theme_title(label="dog") == "Dog days"
    assert titles.theme_title(label="kayak", year=2024) == "Kayak moments of 2024"
    assert titles.place_title(place="Lisbon", days=3) == "Lisbon, 3 days"
    assert titles.place_title(place="near Sintra", days=1) == "Near Sintra"
    assert titles.stylized_title(base="Lisbon, 3 days", style="sketch") == "Lisbon, 3 days, as a sketch"


def test_it_names_places_offline_from_the_packaged_dataset():
    assert places.place_name(*AREZZO).label == "Arezzo"
    assert places.place_name(*LISBON).label == "Lisbon"
    assert places.place_name(0.0, -140.0) is None  # the middle of the Pacific


def test_it_prefers_a_big_city_close_by_to_a_village_next_door():
    index = PlaceIndex([Place("Village", "PT", 5500, 38.80, -9.30), Place("Capital", "PT", 550_000, 38.72, -9.14)])
    assert index.name(38.79, -9.29).label == "Capital"  # 16 km from it, 1.4 km from the village
    assert index.name(39.05, -9.30).label == "near Village"  # 28 km from the village, the capital too far


def test_it_says_near_when_the_nearest_place_is_a_little_way_off():
    index = PlaceIndex([Place("Smalltown", "PT", 6000, 39.0, -8.0)])
    assert index.name(39.0, -8.0).label == "Smalltown"
    assert index.name(39.2, -8.0).label == "near Smalltown"  # 22 km
    assert index.name(40.0, -8.0) is None  # 111 km


def test_it_finds_places_across_the_antimeridian():
    index = PlaceIndex([Place("Eastside", "FJ", 9000, -16.5, 179.95)])
    found = index.name(-16.5, -179.97)
    assert found is not None and found.name == "Eastside" and found.distance_km < 10
