"""The holder's rights pages: /me/access/ reads as sentences after some activity; /me/data/ makes an export
that downloads as a zip holding the originals, and erases all photos in the cloud after its confirmation."""

import hashlib
import json
import zipfile

import pytest
from playwright.sync_api import expect

from support.models import DataExport
from tests.browser.conftest import image_widths, log_in, snap
from tests.conftest import PASSWORD, make_user
from tests.vault.conftest import grant, jpeg_bytes
from vault import services as vault_services
from vault.models import MediaItem

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_shows_the_access_history_exports_everything_and_erases_on_confirmation(new_page, vault_keys):
    alice = make_user("alice")
    grant(alice)
    uploaded = [
        vault_services.media_upload(user_id=alice.pk, data=jpeg_bytes(color=colour), method="api").item.pk
        for colour in ((200, 40, 40), (40, 70, 220))
    ]

    page = new_page()
    log_in(page, "alice", PASSWORD)
    page.goto("/media/")
    originals = {}
    for item_id in uploaded:  # alice looks at her photos: owner reads, in her history below
        response = page.request.get(f"/media/{item_id}/original/")
        assert response.ok
        originals[item_id] = response.body()
    assert all(width > 0 for width in image_widths(page.locator(".media-card img")))

    page.get_by_role("link", name="Access history").click()
    log = page.locator("#access-log")
    expect(log.locator("li").first).to_be_visible()
    text = log.inner_text()
    assert "You turned on Camera Roll Sharing Suggestions" in text, text
    assert "uploaded 2" in text, text
    for code in ("media.", "consent.", "owner_access", "camera_roll_cloud_processing"):
        assert code not in text, f"{code!r} in {text!r}"
    expect(page.locator("#access-chart rect.bar").first).to_be_attached()
    snap(page, "me-access")

    page.get_by_role("link", name="My data").click()
    expect(page.locator("[data-testid=held-items]")).to_have_text("2")
    page.get_by_role("button", name="Make an export").click()
    expect(page.locator(".messages")).to_contain_text("We are putting your export together.")
    ready = page.locator("#exports tbody tr[data-status=ready]")
    expect(ready).to_have_count(1)  # built inline once the request committed
    expect(ready).to_contain_text("2 photos")
    snap(page, "me-data")
    with page.expect_download() as download_info:
        ready.get_by_role("link", name="Download").click()
    download = download_info.value
    assert download.suggested_filename.startswith("consentsvc-export-") and download.suggested_filename.endswith(
        ".zip")
    with zipfile.ZipFile(download.path()) as archive:
        names = archive.namelist()
        assert {"README.txt", "media/metadata.json", "consent/ledger.json", "access-log.txt"} <= set(names)
        metadata = {entry["id"]: entry for entry in json.loads(archive.read("media/metadata.json"))}
        assert sorted(metadata) == sorted(uploaded)
        for item_id, original in originals.items():
            data = archive.read(metadata[item_id]["file"])
            assert data == original
            assert hashlib.sha256(data).hexdigest() == metadata[item_id]["sha256"]

    # Erasing: the link leads to a confirmation that will not go without its box ticked.
    page.get_by_role("link", name="Erase all photos in the cloud…").click()
    expect(page.locator("h1")).to_have_text("Erase all your photos in the cloud?")
    expect(page.locator("main")).to_contain_text("You have 2 photos")
    page.get_by_role("button", name="Erase now").click()
    assert page.locator("#id_confirm").evaluate("box => box.validity.valueMissing")
    expect(page.locator("h1")).to_have_text("Erase all your photos in the cloud?")
    assert MediaItem.objects.filter(owner=alice).count() == 2
    snap(page, "me-erase-confirm")
    page.locator("#id_confirm").check()
    page.get_by_role("button", name="Erase now").click()
    expect(page.locator(".messages")).to_contain_text("Done: 2 photos in the cloud and everything made from them")
    expect(page.locator("[data-testid=held-items]")).to_have_text("0")
    expect(page.locator("#exports tbody tr")).to_have_count(0)
    assert not MediaItem.objects.filter(owner=alice).exists()
    assert not DataExport.objects.filter(holder=alice).exists()
    assert page.request.get(download.url).status == 404
