"""Suggestions worth sharing: a trip is one story, cards carry the moment's dates, titles differ,
and a pass that makes nothing says why."""

import datetime as dt

import pytest
from django.test import Client

from suggestions import jobs, services, titles
from suggestions.models import SuggestionJob
from tests.suggestions.conftest import COLOURS, a_day_out, grant, photo, titled, upload
from tests.suggestions.factories import LISBON, PORTO, at

pytestmark = pytest.mark.django_db


TRIP_START = at(2025, 5, 10, 9)


def a_trip(user, where=LISBON, first=TRIP_START, days=3, per_day=3) -> list[int]:
    """A holder's first photos: a few a day on consecutive days, nights in between."""
    ids, n = [], 0
    for day in range(days):
        for shot in range(per_day):
            when = first + dt.timedelta(days=day, hours=3 * shot)
            ids.append(upload(user, photo(COLOURS[n % len(COLOURS)], when=when, where=where, mark=n + 1)))
            n += 1
    return ids


def test_it_makes_a_three_day_trip_one_story_with_its_dates(alice):
    grant(alice)
    trip = a_trip(alice)
    services.suggestions_generate(user_id=alice.pk)
    made = titled(alice)
    assert made, "a trip of nine photos makes something"
    # One story: no card is about a single day of it, and every card carries the trip's dates.
    assert {(s.first_day, s.last_day) for s in made} == {(dt.date(2025, 5, 10), dt.date(2025, 5, 12))}
    assert {s.dates for s in made} == {"10–12 May 2025"}
    assert max(s.source_count for s in made) > 3  # photos from more than one day
    assert all("Saturday" not in s.title and "Sunday" not in s.title for s in made)
    assert len(trip) == 9


def test_it_never_gives_two_suggestions_of_the_same_photos_one_title(alice):
    grant(alice)
    a_day_out(alice, COLOURS[:6], where=PORTO)
    services.suggestions_generate(user_id=alice.pk)
    made = titled(alice)
    kinds = {s.kind for s in made}
    assert {"collage", "recap"} <= kinds
    assert len({s.title for s in made}) == len(made), [s.title for s in made]


def test_it_makes_a_taken_title_distinct_with_the_dates_then_a_number():
    may = (dt.date(2025, 5, 10), dt.date(2025, 5, 12))
    assert titles.distinct("Lisbon, 3 days", taken=set(), first=may[0], last=may[1]) == "Lisbon, 3 days"
    taken = {"Lisbon, 3 days"}
    assert titles.distinct("Lisbon, 3 days", taken=taken, first=may[0], last=may[1]) == (
        "Lisbon, 3 days, 10–12 May 2025"
    )
    taken.add("Lisbon, 3 days, 10–12 May 2025")
    assert titles.distinct("Lisbon, 3 days", taken=taken, first=may[0], last=may[1]) == (
        "Lisbon, 3 days, 10–12 May 2025 (2)"
    )
    assert titles.moment_dates(dt.date(2024, 12, 30), dt.date(2025, 1, 2)) == "30 December 2024 – 2 January 2025"


def test_it_shows_the_dates_of_the_moment_on_the_card_not_the_day_it_was_made(made, alice):
    client = Client()
    client.force_login(alice)
    html = client.get("/suggestions/").content.decode()
    assert "14 June 2025" in html


def _last_reason(user) -> str:
    client = Client()
    client.force_login(user)
    html = client.get("/suggestions/").content.decode()
    start = html.find('class="pass-reason"')
    return html[start : html.find("</span>", start)] if start >= 0 else ""


def test_it_says_why_a_pass_made_nothing(alice):
    grant(alice)
    job = jobs.suggestions_generate_now(user_id=alice.pk)
    assert (job.status, job.created_count, job.error_code) == (SuggestionJob.Status.DONE, 0, "no_photos")
    assert "no photos in the cloud yet" in _last_reason(alice)

    upload(alice, photo(COLOURS[0], when=at(2025, 6, 14, 10), where=LISBON))
    jobs.suggestions_generate_now(user_id=alice.pk)
    assert "Not enough photos of one moment" in _last_reason(alice)

    ids = a_day_out(alice, COLOURS[1:4], day=at(2025, 7, 5, 10))
    first = jobs.suggestions_generate_now(user_id=alice.pk)
    assert first.created_count > 0 and _last_reason(alice) == ""
    again = jobs.suggestions_generate_now(user_id=alice.pk)
    assert (again.created_count, again.error_code) == (0, "nothing_new")
    assert "Not enough new photos since the last suggestions" in _last_reason(alice)

    from vault.models import MediaItem
    from vault.services import media_set_excluded

    assert set(ids) < set(MediaItem.objects.filter(owner=alice).values_list("pk", flat=True))
    for item in MediaItem.objects.filter(owner=alice):
        media_set_excluded(user_id=alice.pk, item_id=item.pk, excluded=True)
    jobs.suggestions_generate_now(user_id=alice.pk)
    assert "Every photo is excluded" in _last_reason(alice)
