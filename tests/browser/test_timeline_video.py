"""The /media/ timeline shows a video as its poster with its length, and plays it there: the clip is
served in pieces (HTTP 206, as a player asks), it plays and it seeks, on a phone (390 px) and a
desktop (1280 px). An MP4 and a QuickTime clip, as phones make them."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in, snap
from tests.conftest import PASSWORD, make_user
from tests.vault.clips import PARIS, clip_bytes
from tests.vault.conftest import grant
from vault import services as vault_services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}


@pytest.mark.parametrize("fmt", ["mp4", "mov"])
@pytest.mark.parametrize("size", SIZES, ids=list(SIZES))
def test_the_timeline_shows_a_video_poster_with_its_length_and_plays_it(new_page, vault_keys, size, fmt):
    alice = make_user("alice")
    grant(alice)
    # 4 s at 15 frames a second, with the place an iPhone writes (the copy served has none)
    clip = clip_bytes(fmt=fmt, frames=60, size=(320, 240), rate=15,
                      metadata={"location": PARIS, "creation_time": "2025-06-14T10:00:00Z"})
    item = vault_services.media_upload(user_id=alice.pk, data=clip, filename=f"IMG_0001.{fmt.upper()}").item
    assert item.duration_ms == 4000

    page = new_page()
    page.set_viewport_size(SIZES[size])
    statuses = []
    page.on("response", lambda r: statuses.append(r.status) if f"/media/{item.pk}/original/" in r.url else None)
    log_in(page, "alice", PASSWORD)
    page.goto("/media/")
    video = page.locator("video").first
    expect(video).to_be_visible()
    assert video.evaluate("v => v.controls") is True
    assert video.evaluate("v => v.poster").endswith(f"/media/{item.pk}/thumbnail/")
    # the poster is a real image (it loads), and the length is written beside it
    assert page.evaluate(
        "async url => { const i = new Image(); i.src = url; await i.decode(); return i.naturalWidth; }",
        video.evaluate("v => v.poster")) > 0
    badge = page.locator(".media-video .duration").first
    expect(badge).to_have_text("0:04")
    expect(badge).to_be_visible()
    assert "0:04 long" in video.get_attribute("aria-label")  # what a screen reader says of it
    box = video.bounding_box()
    assert box["width"] > 50 and box["x"] + box["width"] <= SIZES[size]["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= SIZES[size]["width"]

    video.evaluate("v => { v.muted = true; return v.play(); }")
    page.wait_for_function("v => v.currentTime > 0.3 && !v.paused && v.readyState >= 2", arg=video.element_handle())
    assert abs(video.evaluate("v => v.duration") - 4) < 0.2
    video.evaluate("v => { v.pause(); v.currentTime = 3; }")
    page.wait_for_function("v => !v.seeking && v.currentTime >= 2.9 && v.readyState >= 2", arg=video.element_handle())
    assert 206 in statuses, statuses  # served in pieces: the player asked for ranges
    snap(page, f"timeline-video-{fmt}-{size}")
