"""Adding photos from /media/: three real camera photos through the file input, with JavaScript (one request
each, a progress bar and plain words per photo, the grid refreshed without a reload) and without it (one form
post); a file that is not a photo is refused in words; with the feature off there is no control, only a way
to turn it on."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from audit.models import AuditEvent
from tests.browser.conftest import image_widths, log_in, snap
from tests.conftest import PASSWORD, make_user
from tests.vault.conftest import grant
from vault.models import MediaItem

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
THREE = [FIXTURES / "photos" / "gps" / name for name in ("DSCN0010.jpg", "DSCN0012.jpg", "DSCN0021.jpg")]
NOT_A_PHOTO = FIXTURES / "hostile" / "text.jpg"


def test_it_adds_three_photos_with_progress_and_refuses_a_fake_one_in_words(new_page, vault_keys):
    alice = make_user("alice")
    grant(alice)
    page = new_page()
    log_in(page, "alice", PASSWORD)
    page.goto("/media/")
    expect(page.locator("#upload-form")).to_contain_text("or drop them here")
    expect(page.get_by_role("button", name="Add photos")).to_be_hidden()  # with JavaScript, choosing is enough
    snap(page, "upload-before")

    page.set_input_files("#upload-files", [str(path) for path in THREE] + [str(NOT_A_PHOTO)])
    items = page.locator("#upload-list .upload-item")
    expect(items).to_have_count(4)
    expect(page.locator("#upload-list .upload-item[data-result]")).to_have_count(4)
    for n in range(3):
        expect(items.nth(n)).to_have_attribute("data-result", "added")
        expect(items.nth(n).locator("progress")).to_have_attribute("value", "100")
    expect(items.nth(3)).to_have_attribute("data-result", "error")
    expect(items.nth(3)).to_contain_text("Not a photo we can read")
    # The grid and the counts are refreshed in place.
    cards = page.locator(".media-grid .media-card")
    expect(cards).to_have_count(3)
    expect(page.locator("#media-summary")).to_contain_text("3 photos")
    assert all(width > 0 for width in image_widths(page.locator(".media-card img")))
    snap(page, "upload-done")

    assert MediaItem.objects.filter(owner=alice).count() == 3
    uploads = AuditEvent.objects.filter(action="media.uploaded", subject_id=str(alice.pk))
    assert uploads.count() == 3
    assert AuditEvent.objects.filter(action="media.upload_refused", subject_id=str(alice.pk)).count() == 1

    # The same photo again is not a second copy.
    page.set_input_files("#upload-files", [str(THREE[0])])
    expect(items.nth(4)).to_have_attribute("data-result", "duplicate")
    expect(items.nth(4)).to_contain_text("Already in your photos")
    assert MediaItem.objects.filter(owner=alice).count() == 3


def test_it_adds_three_photos_without_javascript(new_page, vault_keys):
    alice, bob = make_user("alice"), make_user("bob")
    grant(alice)
    grant(bob)
    page = new_page(javascript=False)
    log_in(page, "alice", PASSWORD)
    page.goto("/media/")
    submit = page.get_by_role("button", name="Add photos")
    expect(submit).to_be_visible()
    # Nothing chosen: the browser does not send the form.
    submit.click()
    assert page.locator("#upload-files").evaluate("input => input.validity.valueMissing")

    page.set_input_files("#upload-files", [str(path) for path in THREE] + [str(NOT_A_PHOTO)])
    submit.click()
    expect(page).to_have_url(re.compile(r"/media/$"))
    messages = page.locator(".messages")
    expect(messages).to_contain_text("Added 3 photos.")
    expect(messages).to_contain_text("text.jpg: Not a photo we can read")
    expect(page.locator(".media-grid .media-card")).to_have_count(3)
    assert all(width > 0 for width in image_widths(page.locator(".media-card img")))
    snap(page, "upload-nojs")
    assert MediaItem.objects.filter(owner=alice).count() == 3
    assert MediaItem.objects.filter(owner=bob).count() == 0


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
def test_it_offers_no_upload_while_the_feature_is_off_and_links_to_it(new_page, vault_keys, javascript):
    make_user("alice")
    page = new_page(javascript=javascript)
    log_in(page, "alice", PASSWORD)
    page.goto("/media/")
    expect(page.locator("#upload-files")).to_have_count(0)
    off = page.locator("#uploads-off")
    expect(off).to_contain_text("only while Camera Roll Sharing Suggestions is on")
    off.get_by_role("link", name="turn it on in Settings").click()
    expect(page).to_have_url(re.compile(r"/settings/camera-roll/#purpose-camera_roll_cloud_processing$"))
    snap(page, f"upload-off-{'js' if javascript else 'nojs'}")
