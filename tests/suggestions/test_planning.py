import datetime as dt
from zoneinfo import ZoneInfo

from core.places import PlaceName
from suggestions import planning
from suggestions.grouping import PersonGroup
from tests.suggestions.factories import LISBON, LONDON, Item, at

NOW = at(2026, 3, 20, 12)


def namer(lat, lon):
    if abs(lat - LISBON[0]) < 0.5:
        return PlaceName("Lisbon", "PT", 1.0, near=False)
    if abs(lat - LONDON[0]) < 0.5:
        return PlaceName("London", "GB", 1.0, near=False)
    return None


def a_camera_roll():
    items = []
    # Home in London on many days.
    for day in range(1, 9):
        items.append(Item(len(items) + 1, at(2026, 1, day * 3, 18), *LONDON))
    # A Saturday at the beach at home (7 March 2026 is a Saturday).
    for hour in (10, 11, 12, 13):
        items.append(Item(len(items) + 1, at(2026, 3, 7, hour), *LONDON, labels=("beach",)))
    # Three days in Lisbon.
    for day, hour in [(12, 9), (12, 15), (13, 10), (13, 20), (14, 9), (14, 11), (14, 16)]:
        items.append(Item(len(items) + 1, at(2026, 2, day, hour), *LISBON))
    # On this day, two years ago.
    items += [Item(100, at(2024, 3, 20, 9)), Item(101, at(2024, 3, 20, 10))]
    return items


def test_it_plans_titled_suggestions_from_a_camera_roll():
    plans = planning.plan_suggestions(a_camera_roll(), now=NOW, namer=namer)
    titles = {(p.kind, p.full_title) for p in plans}
    assert ("collage", "Saturday at the beach") in titles
    assert ("collage", "Lisbon, 3 days") in titles
    assert ("recap", "Lisbon, 3 days, the highlights") in titles
    assert ("collage", "On this day, 2 years ago") in titles
    assert any(kind == "stylized" and title.startswith("Lisbon, 3 days, ") for kind, title in titles)
    # The memory of today ranks first.
    assert plans[0].group == "onthisday:2024-03-20"
    assert set(plans[0].item_ids) == {100, 101}


def test_it_gives_the_same_plans_the_same_keys_on_every_run():
    first = planning.plan_suggestions(a_camera_roll(), now=NOW, namer=namer)
    again = planning.plan_suggestions(list(reversed(a_camera_roll())), now=NOW + dt.timedelta(hours=1), namer=namer)
    assert {p.key for p in first} == {p.key for p in again}
    assert len({p.key for p in first}) == len(first)
    assert all(len(p.key) == 64 and "beach" not in p.key for p in first)


def test_it_reads_weekdays_on_the_holders_wall_clock():
    # 23:30 UTC on Friday is Saturday morning in Auckland; naive times are already wall-clock.
    items = [Item(i, at(2026, 3, 6, 23, 30 + i), *LONDON, labels=("beach",)) for i in range(3)]
    items += [Item(9, dt.datetime(2026, 3, 7, 11, 0), *LONDON, labels=("beach",))]
    plans = planning.plan_suggestions(items, now=NOW, namer=namer, tz=ZoneInfo("Pacific/Auckland"))
    assert plans[0].title == "Saturday at the beach"


def test_it_only_makes_people_plans_from_the_groups_it_is_given():
    items = a_camera_roll()
    assert not any(p.group.startswith("people:") for p in planning.plan_suggestions(items, now=NOW, namer=namer))
    plans = planning.plan_suggestions(items, now=NOW, namer=namer, people=[PersonGroup(5, "", (1, 2, 3))])
    assert [p.title for p in plans if p.group.startswith("people:")] == ["Together"]


def test_it_spreads_styles_across_groups():
    styles = {planning.style_for(f"event:{n}") for n in range(60)}
    assert styles == set(planning.render.STYLES)
