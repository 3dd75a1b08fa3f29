"""The photos page is a timeline of days, and its pages never split a day: a day's photos are all on one
page, whatever order they were uploaded in; pages go from the newest day to the oldest, the undated last."""

import datetime as dt
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.vault.conftest import jpeg_bytes
from vault import selectors, services, timeline, trash, views
from vault.models import MediaItem

pytestmark = pytest.mark.django_db

DAY = re.compile(r'data-day="([0-9-]+|unknown)"')
ITEM = re.compile(r'src="/media/(\d+)/thumbnail/"')


def upload(user, *, when: dt.datetime | None, n: int) -> int:
    data = jpeg_bytes(color=(n * 7 % 256, n * 13 % 256, n * 29 % 256),
                      exif={"captured_at": when} if when else None)
    return services.media_upload(user_id=user.pk, data=data, labels=[], method="api").item.pk


def pages_of(user) -> list[dict[str, list[int]]]:
    """Every page of /media/, as {day: [item ids]} in the order shown."""
    client = Client()
    client.force_login(user)
    found, number = [], 1
    while True:
        html = client.get(f"/media/?page={number}").content.decode()
        page: dict[str, list[int]] = {}
        for section in html.split('<section class="timeline-day"')[1:]:
            day = DAY.search(section).group(1)
            page[day] = [int(i) for i in ITEM.findall(section)]
        found.append(page)
        if f'href="?page={number + 1}"' not in html:
            return found
        number += 1


def test_a_day_is_never_split_across_pages(consented, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 4)
    saturday = dt.datetime(2025, 6, 14, 9, 0)
    sunday = saturday + dt.timedelta(days=1)
    monday = saturday + dt.timedelta(days=2)
    # Uploaded out of order: Saturday's photos come in two batches, around Sunday's and Monday's.
    plan = [saturday, saturday, sunday, sunday, sunday, saturday, monday, None, saturday, monday, None]
    ids = {}
    for n, when in enumerate(plan):
        ids[upload(consented, when=when and when + dt.timedelta(minutes=n), n=n)] = when

    pages = pages_of(consented)
    days_seen = [day for page in pages for day in page]
    assert days_seen == ["2025-06-16", "2025-06-15", "2025-06-14", "unknown"]  # each day once, newest first
    for page in pages:
        assert page
    shown = {day: items for page in pages for day, items in page.items()}
    for item_id, when in ids.items():
        day = when.date().isoformat() if when else "unknown"
        assert item_id in shown[day]
    assert sorted(i for items in shown.values() for i in items) == sorted(ids)
    assert len(shown["2025-06-14"]) == 4  # a whole day on one page, though it had been uploaded in three batches


def test_a_day_larger_than_a_page_is_one_page_of_its_own(consented, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    saturday = dt.datetime(2025, 6, 14, 9, 0)
    for n in range(3):
        upload(consented, when=saturday + dt.timedelta(minutes=n), n=n)
    upload(consented, when=saturday - dt.timedelta(days=1), n=9)
    pages = pages_of(consented)
    assert [list(page) for page in pages] == [["2025-06-14"], ["2025-06-13"]]
    assert len(pages[0]["2025-06-14"]) == 3


def test_a_page_out_of_range_shows_the_last_and_nonsense_the_first(consented, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 1)
    for n in range(2):
        upload(consented, when=dt.datetime(2025, 6, 10 + n, 9, 0), n=n)
    client = Client()
    client.force_login(consented)
    assert 'data-day="2025-06-10"' in client.get("/media/?page=99").content.decode()
    assert 'data-day="2025-06-11"' in client.get("/media/?page=nonsense").content.decode()


def test_a_page_costs_the_same_queries_and_opens_only_its_own_photos_however_large_the_library(consented,
                                                                                              monkeypatch):
    """Capture times come from the sealed timeline index: once it is up to date, a view costs the same
    queries from 20 photos to 200, opens no photo's capture time, and builds and opens in full only the
    page's photos."""
    monkeypatch.setattr(views, "PAGE_SIZE", 4)
    built, opened, scanned = [], [], []
    from_db = MediaItem.from_db.__func__
    monkeypatch.setattr(MediaItem, "from_db",
                        classmethod(lambda cls, *a, **k: built.append(1) or from_db(cls, *a, **k)))
    meta_open = selectors.meta_open
    monkeypatch.setattr(selectors, "meta_open", lambda **kw: opened.append(kw["item"].pk) or meta_open(**kw))
    captured_at = timeline.meta_captured_at
    monkeypatch.setattr(timeline, "meta_captured_at", lambda **kw: scanned.append(1) or captured_at(**kw))
    client = Client()
    client.force_login(consented)
    first = dt.datetime(2025, 6, 1, 9, 0)

    def view(page: int) -> tuple[int, str]:
        built.clear()
        opened.clear()
        scanned.clear()
        with CaptureQueriesContext(connection) as queries:
            html = client.get(f"/media/?page={page}").content.decode()
        return len(queries), html

    for n in range(20):
        upload(consented, when=first + dt.timedelta(days=n // 2, minutes=n), n=n)  # two photos a day
    view(1)  # writes the session, and the index with the 20 photos' capture times
    assert len(scanned) == 20
    small, html = view(2)
    assert ITEM.findall(html) and len(built) == len(opened) == 4 and not scanned
    for n in range(20, 200):
        upload(consented, when=first + dt.timedelta(days=n // 2, minutes=n), n=n)
    view(1)
    assert len(scanned) == 180  # only the photos the index lacked
    large, html = view(2)
    assert large == small
    assert len(built) == len(opened) == 4 and not scanned  # the page's photos only, not the 200
    assert sorted(int(i) for i in ITEM.findall(html)) == sorted(opened)


def test_a_photo_trashed_between_the_scan_and_the_page_is_left_out(consented):
    days = [dt.datetime(2025, 6, 10 + n, 9, 0) for n in range(3)]
    ids = [upload(consented, when=when, n=n) for n, when in enumerate(days)]
    pages = selectors.media_timeline_pages(user_id=consented.pk, per_page=10)
    trash.media_trash(user_id=consented.pk, item_ids=[ids[1]])
    shown = selectors.media_timeline(user_id=consented.pk, page=pages[0])
    assert [(d.day, [r.item.pk for r in d.rows]) for d in shown] == [(days[2].date(), [ids[2]]),
                                                                      (days[0].date(), [ids[0]])]
