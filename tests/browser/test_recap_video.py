"""The suggestions page plays a recap: a <video> with controls and a poster, served in pieces (HTTP 206) so it
seeks, that goes full screen, on a phone (390 px) and a desktop (1280 px)."""

import pytest
from playwright.sync_api import expect

from suggestions import render
from suggestions.jobs import suggestions_generate_now
from suggestions.models import Suggestion
from tests.browser.conftest import axe_violations, log_in, small_targets, snap
from tests.conftest import PASSWORD, make_user
from tests.suggestions.conftest import COLOURS, a_day_out, grant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}


@pytest.fixture(autouse=True)
def small_outputs(monkeypatch):
    monkeypatch.setattr(render, "COLLAGE_SIZE", 320)
    monkeypatch.setattr(render, "RECAP_SIZE", 160)
    monkeypatch.setattr(render, "RECAP_VIDEO_SIZE", 240)
    monkeypatch.setattr(render, "STYLIZED_SIZE", 320)


@pytest.mark.parametrize("size", SIZES, ids=list(SIZES))
def test_it_plays_and_seeks_a_recap_on_the_page(new_page, vault_keys, axe_source, size):
    alice = make_user("alice")
    grant(alice)
    a_day_out(alice, COLOURS[:6])
    suggestions_generate_now(user_id=alice.pk)
    recap = Suggestion.objects.get(owner=alice, kind="recap")

    page = new_page()
    page.set_viewport_size(SIZES[size])
    statuses = []
    page.on("response", lambda r: statuses.append(r.status) if f"/suggestions/{recap.pk}/video/" in r.url else None)
    log_in(page, "alice", PASSWORD)
    page.goto("/suggestions/")
    video = page.locator(f"#suggestion-{recap.pk} video")
    expect(video).to_be_visible()
    assert video.evaluate("v => v.controls") is True
    assert video.evaluate("v => v.poster").endswith(f"/suggestions/{recap.pk}/poster/")
    # the poster is a real image: it loads
    assert page.evaluate(
        "async url => { const i = new Image(); i.src = url; await i.decode(); return i.naturalWidth; }",
        video.evaluate("v => v.poster")) > 0

    video.evaluate("v => { v.muted = true; return v.play(); }")
    page.wait_for_function("v => v.currentTime > 0.3 && !v.paused", arg=video.element_handle())
    duration = video.evaluate("v => v.duration")
    assert duration > 2
    # seek near the end: it plays from there
    video.evaluate("(v, t) => { v.currentTime = t; }", duration - 1)
    page.wait_for_function("(v) => !v.seeking && v.currentTime >= v.duration - 1.05 && v.readyState >= 2",
                           arg=video.element_handle())
    assert 206 in statuses, statuses  # served in pieces, as a player asks
    # the WebP is only the fallback: no animated image shows beside the video
    expect(page.locator(f"#suggestion-{recap.pk} img:visible")).to_have_count(0)
    assert page.evaluate("document.documentElement.scrollWidth") <= SIZES[size]["width"]
    box = video.bounding_box()
    assert box["width"] >= min(SIZES[size]["width"] - 80, 250)
    snap(page, f"recap-{size}")
    assert axe_violations(page, axe_source) == [] and small_targets(page) == []

    # full screen (a phone's tap on the control does this)
    video.evaluate("v => v.requestFullscreen()")
    page.wait_for_function("() => document.fullscreenElement && document.fullscreenElement.tagName === 'VIDEO'")
    page.evaluate("() => document.exitFullscreen()")


def test_a_recap_falls_back_to_its_animation_where_the_video_cannot_play(new_page, vault_keys):
    alice = make_user("alice")
    grant(alice)
    a_day_out(alice, COLOURS[:6])
    suggestions_generate_now(user_id=alice.pk)
    recap = Suggestion.objects.get(owner=alice, kind="recap")
    page = new_page()
    page.add_init_script("HTMLMediaElement.prototype.canPlayType = () => '';")
    log_in(page, "alice", PASSWORD)
    page.goto("/suggestions/")
    card = page.locator(f"#suggestion-{recap.pk}")
    expect(card.locator("video")).to_have_count(0)
    fallback = card.locator("img.recap-fallback")
    expect(fallback).to_be_visible()
    page.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=fallback.element_handle())


@pytest.mark.parametrize("size", SIZES, ids=list(SIZES))
def test_a_shared_recap_plays_and_seeks_for_the_recipient(new_page, vault_keys, axe_source, size):
    from suggestions import sharing

    alice = make_user("alice")
    grant(alice)
    a_day_out(alice, COLOURS[:6])
    suggestions_generate_now(user_id=alice.pk)
    recap = Suggestion.objects.get(owner=alice, kind="recap")
    made = sharing.share_link_create(user_id=alice.pk, suggestion_id=recap.pk, display_name="Ally")

    page = new_page()
    page.set_viewport_size(SIZES[size])
    statuses = []
    page.on("response", lambda r: statuses.append(r.status) if "/content/?format=mp4" in r.url else None)
    page.goto(f"/s/{made.token}/")
    expect(page.locator(".shared-by")).to_have_text("Shared by Ally with a link.")
    video = page.locator(".shared video")
    video.evaluate("v => { v.muted = true; return v.play(); }")
    page.wait_for_function("v => v.currentTime > 0.3", arg=video.element_handle())
    video.evaluate("v => { v.currentTime = v.duration - 1; }")
    page.wait_for_function("v => !v.seeking && v.currentTime >= v.duration - 1.05", arg=video.element_handle())
    assert 206 in statuses, statuses
    assert page.evaluate("document.documentElement.scrollWidth") <= SIZES[size]["width"]
    assert axe_violations(page, axe_source) == [] and small_targets(page) == []
