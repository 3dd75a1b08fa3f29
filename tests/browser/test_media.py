"""/media/ without JavaScript: alice's thumbnails load, she ticks one photo and excludes it with the bar,
ticks another and moves it to the trash, then deletes all her photos in the cloud after ticking the
confirmation; bob sees none of her photos and cannot open them."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import image_widths, log_in, snap
from tests.conftest import PASSWORD, make_user
from tests.vault.conftest import grant, jpeg_bytes
from vault import services as vault_services
from vault.models import MediaItem

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

COLOURS = [(200, 40, 40), (40, 160, 60), (40, 70, 220)]


def upload(user, colour) -> int:
    return vault_services.media_upload(user_id=user.pk, data=jpeg_bytes(color=colour), method="api").item.pk


def test_it_lets_a_holder_exclude_delete_and_erase_her_cloud_copies(new_page, vault_keys):
    alice, bob = make_user("alice"), make_user("bob")
    grant(alice)
    grant(bob)
    first, second, third = (upload(alice, colour) for colour in COLOURS)
    bobs = upload(bob, (230, 200, 40))

    page = new_page(javascript=False)
    log_in(page, "alice", PASSWORD)
    page.goto("/media/")
    cards = page.locator(".media-grid .media-card")
    expect(cards).to_have_count(3)
    expect(page.locator("main > p.muted").first).to_contain_text("3 photos")
    assert all(width > 0 for width in image_widths(page.locator(".media-card img")))
    snap(page, "media")

    bar = page.locator("#bulk-form")
    page.locator(f"#media-{first} input[name=items]").check()
    bar.get_by_role("button", name="Exclude").click()
    expect(page.locator(".messages")).to_contain_text("1 photo kept out of suggestions.")
    expect(page.locator(f"#media-{first}")).to_have_class("media-card excluded")
    expect(page.locator(f"#media-{first} .badge")).to_have_text("Kept out of suggestions")
    assert MediaItem.objects.get(pk=first).excluded

    page.locator(f"#media-{second} input[name=items]").check()
    bar.get_by_role("button", name="Move to trash").click()
    expect(page.locator(".messages")).to_contain_text("Moved 1 photo to the trash")
    expect(page.locator(f"#media-{second}")).to_have_count(0)
    expect(cards).to_have_count(2)
    assert MediaItem.objects.get(pk=second).trashed_at is not None

    # bob, at the same time, sees only his own photo and cannot open alice's.
    other = new_page()
    log_in(other, "bob", PASSWORD)
    other.goto("/media/")
    expect(other.locator(".media-grid .media-card")).to_have_count(1)
    expect(other.locator(f"#media-{bobs}")).to_be_visible()
    expect(other.locator(f"#media-{third}")).to_have_count(0)
    assert other.request.get(f"/media/{third}/thumbnail/").status == 404
    assert other.request.get(f"/media/{third}/original/").status == 404

    # Erasing everything needs the box ticked: without it the browser does not send the form.
    erase = page.get_by_role("button", name="Delete all photos in the cloud now")
    erase.click()
    confirm = page.locator(".danger-zone input[type=checkbox]")
    assert confirm.evaluate("box => box.validity.valueMissing")
    expect(cards).to_have_count(2)
    confirm.check()
    erase.click()
    expect(page.locator(".messages")).to_contain_text("Destroyed 3 photos")
    expect(cards).to_have_count(0)
    # The empty state agrees with the line above it: uploads are still on, only the copies are gone.
    expect(page.locator("#no-media")).to_contain_text(
        "uploads recent photos while Camera Roll Sharing Suggestions is on")
    snap(page, "media-erased")
    assert list(MediaItem.objects.filter(owner=alice)) == []
    assert list(MediaItem.objects.filter(owner=bob).values_list("pk", flat=True)) == [bobs]
