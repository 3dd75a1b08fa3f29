"""The trash on /media/: tick two photos and move them to the trash, look at them there (thumbnails load),
restore one, then empty the trash after ticking its confirmation; with and without JavaScript."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import image_widths, log_in, snap
from tests.conftest import PASSWORD, make_user
from tests.vault.conftest import grant, jpeg_bytes
from vault import services as vault_services
from vault.models import MediaItem

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
def test_it_moves_to_the_trash_restores_and_empties(new_page, vault_keys, javascript):
    alice = make_user("alice")
    grant(alice)
    first, second, third = (
        vault_services.media_upload(user_id=alice.pk, data=jpeg_bytes(color=c), method="api").item.pk
        for c in ((200, 40, 40), (40, 160, 60), (40, 70, 220))
    )
    page = new_page(javascript=javascript)
    log_in(page, "alice", PASSWORD)
    page.goto("/media/")
    cards = page.locator(".media-grid .media-card")
    expect(cards).to_have_count(3)
    page.locator(f"#media-{first} .pick input").check()
    page.locator(f"#media-{second} .pick input").check()
    snap(page, "trash-ticked")
    page.locator("#bulk-form").get_by_role("button", name="Move to trash").click()
    expect(page.locator(".messages")).to_contain_text("Moved 2 photos to the trash")
    expect(cards).to_have_count(1)
    expect(page.locator("#media-summary")).to_contain_text("1 photo and 2 in the trash")

    page.get_by_role("link", name="Trash (2)").click()
    expect(page).to_have_url(re.compile(r"/media/trash/$"))
    trashed = page.locator("#trash-list .media-card")
    expect(trashed).to_have_count(2)
    expect(trashed.first).to_contain_text("destroyed on")
    assert all(width > 0 for width in image_widths(page.locator("#trash-list img")))
    snap(page, "trash")

    page.locator(f"#trash-{first}").get_by_role("button", name="Restore this photo").click()
    expect(page.locator(".messages")).to_contain_text("Restored")
    expect(trashed).to_have_count(1)
    assert MediaItem.objects.get(pk=first).trashed_at is None

    empty = page.get_by_role("button", name="Empty the trash")
    empty.click()  # the box is not ticked: the browser does not send the form
    assert page.locator(".danger-zone input[type=checkbox]").evaluate("box => box.validity.valueMissing")
    page.locator(".danger-zone input[type=checkbox]").check()
    empty.click()
    expect(page.locator(".messages")).to_contain_text("Emptied the trash: 1 photo destroyed for good.")
    expect(page.locator("#trash-empty-state")).to_contain_text("The trash is empty.")
    assert sorted(MediaItem.objects.filter(owner=alice).values_list("pk", flat=True)) == sorted([first, third])

    page.goto("/media/")
    expect(cards).to_have_count(2)
