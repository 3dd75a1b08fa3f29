"""No made-up facts on the photos page: photos read as a timeline of the days they were taken, the ones
without a capture time under "Date unknown" (the phone client no longer sends a file's copy time as one),
places named offline instead of "Place known", and what to do with photos chosen with tick boxes and one
bar of actions, not two buttons on every card. Suggestions made from undated photos carry no date.
At 390 and 1280 px; the tick-a-day box with JavaScript, the rest also without."""

import datetime as dt
import re

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from camera_roll_sync import cli
from camera_roll_sync import config as sync_config
from suggestions.jobs import suggestions_generate_now
from tests.browser.conftest import log_in, snap
from tests.conftest import PASSWORD, make_user
from tests.suggestions.conftest import COLOURS, grant, photo, titled
from tests.suggestions.factories import AREZZO, LISBON
from tests.sync.conftest import PHOTOS, copy_photo
from vault import services as vault_services
from vault.models import MediaItem

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}
SATURDAY = dt.datetime(2025, 6, 14, 10, 0)
DATE_WORDS = re.compile(r"\b(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|January|February|March|April|"
                        r"May|June|July|August|September|October|November|December|Weekend|\d{4})\b")


def _sync_undated_photos(live_server, tmp_path, monkeypatch, count: int) -> None:
    """The phone client uploads corpus photos that hold no capture time (their files' time is an hour ago)."""
    roll = tmp_path / "DCIM" / "100CAMERA"
    for source in sorted((PHOTOS / "orientation").glob("*.jpg"))[:count]:
        copy_photo(source, roll / source.name)
    cache.clear()  # the token endpoint's rate limit counts the session's logins
    config_path = tmp_path / "device" / "config.json"
    monkeypatch.setenv(sync_config.ENV_PASSWORD, PASSWORD)
    assert cli.main(["login", "--server", live_server.url, "--username", "alice", "--device", "phone",
                     "--config", str(config_path)]) == 0
    assert cli.main(["run", "--once", "--no-progress", "--config", str(config_path), str(tmp_path / "DCIM")]) == 0


@pytest.mark.parametrize("size", SIZES)
def test_it_shows_a_timeline_with_named_places_date_unknown_and_one_bar_of_actions(
        new_page, vault_keys, live_server, tmp_path, monkeypatch, size):
    alice = make_user("alice")
    grant(alice)
    lisbon = [vault_services.media_upload(user_id=alice.pk, method="api", data=photo(
        colour, when=SATURDAY + dt.timedelta(minutes=20 * n), where=LISBON, mark=n + 1)).item.pk
        for n, colour in enumerate(COLOURS[:2])]
    arezzo = vault_services.media_upload(user_id=alice.pk, method="api", data=photo(
        COLOURS[2], when=SATURDAY + dt.timedelta(days=1), where=AREZZO)).item.pk
    _sync_undated_photos(live_server, tmp_path, monkeypatch, 3)
    undated = list(MediaItem.objects.filter(owner=alice).exclude(pk__in=[*lisbon, arezzo]).values_list("pk", flat=True))
    assert len(undated) == 3

    page = new_page(javascript=False)
    page.set_viewport_size(SIZES[size])
    log_in(page, "alice", PASSWORD)
    page.goto("/media/")
    days = page.locator(".timeline-day")
    expect(days.locator("h2")).to_have_text([re.compile(rf"^\s*{day}") for day in (
        "Sunday 15 June 2025", "Saturday 14 June 2025", "Date unknown")])
    expect(days.nth(1).locator(".media-card")).to_have_count(2)
    expect(days.nth(2).locator(".media-card")).to_have_count(3)
    for item in undated:
        expect(page.locator(f"#media-{item} .media-when")).to_have_text("Date unknown")
    for item in lisbon:
        expect(page.locator(f"#media-{item} .media-place")).to_have_text("Lisbon")
    expect(page.locator(f"#media-{arezzo} .media-place")).to_have_text("Arezzo")
    expect(page.locator("main")).not_to_contain_text("Place known")
    # One bar of actions for the ticked photos, no buttons on the cards.
    expect(page.locator(".media-card button")).to_have_count(0)
    expect(page.locator(".media-card form")).to_have_count(0)
    snap(page, f"{size}-media-timeline")

    for item in lisbon:
        page.locator(f"#media-{item} input[name=items]").check()
    page.locator("#bulk-form").get_by_role("button", name="Exclude").click()
    expect(page.locator(".messages")).to_contain_text("2 photos kept out of suggestions.")
    for item in lisbon:
        expect(page.locator(f"#media-{item} .badge")).to_have_text("Kept out of suggestions")
    page.locator(f"#media-{undated[0]} input[name=items]").check()
    page.locator("#bulk-form").get_by_role("button", name="Move to trash").click()
    expect(page.locator(".messages")).to_contain_text("Moved 1 photo to the trash")
    expect(page.locator(f"#media-{undated[0]}")).to_have_count(0)
    expect(days.nth(2).locator(".media-card")).to_have_count(2)

    # With JavaScript, one box ticks a whole day, and the bar counts what is ticked.
    page = new_page()
    page.set_viewport_size(SIZES[size])
    log_in(page, "alice", PASSWORD)
    page.goto("/media/")
    saturday = page.locator(".timeline-day[data-day='2025-06-14']")
    saturday.get_by_label("Tick all of this day").check()
    for item in lisbon:
        expect(page.locator(f"#media-{item} input[name=items]")).to_be_checked()
    expect(page.locator(f"#media-{arezzo} input[name=items]")).not_to_be_checked()
    expect(page.locator(".bulk-count")).to_have_text("2 photos ticked")
    page.locator("#bulk-form").get_by_role("button", name="Use in suggestions").click()
    expect(page.locator(".messages")).to_contain_text("2 photos may be used in suggestions again.")


@pytest.mark.parametrize("size", SIZES)
def test_it_gives_no_suggestion_made_of_undated_photos_a_date(new_page, vault_keys, live_server, tmp_path,
                                                               monkeypatch, size):
    alice = make_user("alice")
    grant(alice)
    _sync_undated_photos(live_server, tmp_path, monkeypatch, 8)
    suggestions_generate_now(user_id=alice.pk)
    for suggestion in titled(alice):
        assert not DATE_WORDS.search(suggestion.title or ""), suggestion.title
    page = new_page(javascript=False)
    page.set_viewport_size(SIZES[size])
    log_in(page, "alice", PASSWORD)
    page.goto("/suggestions/")
    for title in page.locator(".suggestion h2").all_inner_texts():
        assert not DATE_WORDS.search(title), title
    expect(page.locator(".moment-dates")).to_have_count(0)
    snap(page, f"{size}-suggestions-undated")
