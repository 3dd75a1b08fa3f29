"""The screenshots in docs/screenshots/, taken in Chromium at 390 and 1280 px with the README tour's demo camera
roll (tests/fixtures/demo/): the suggestions page with a recap playing, a person's page, a share recipient's
page and support's revoke confirmation.

Runs only when DOCS_SCREENSHOTS names the folder to write to (it takes a minute of face analysis and video
encoding, and the pages themselves are tested elsewhere):

    DOCS_SCREENSHOTS=docs/screenshots python -m pytest -m browser tests/browser/test_screenshots.py
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from accounts.roles import SUPPORT
from consent import purposes
from suggestions import people, sharing
from suggestions.jobs import suggestions_generate_now
from suggestions.models import Suggestion
from tests.browser.conftest import log_in
from tests.conftest import PASSWORD, make_user
from tests.suggestions.conftest import grant, upload

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("DOCS_SCREENSHOTS"), reason="set DOCS_SCREENSHOTS=<folder> to take them"),
]

SIZES = {390: {"width": 390, "height": 844}, 1280: {"width": 1280, "height": 900}}
DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "demo"  # the README tour's camera roll


def save(page, name: str, width: int, *, full_page: bool = True) -> None:
    folder = Path(os.environ["DOCS_SCREENSHOTS"])
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}-{width}.png"), full_page=full_page)


@pytest.fixture
def holder(vault_keys):
    """alice after the README's tour: the demo camera roll uploaded with face grouping on, the two people
    named Ana and Ben, and the suggestions of both passes made."""
    alice = make_user("alice")
    grant(alice, purposes.CAMERA_ROLL, purposes.FACE_ANALYSIS)
    ids = {path.name: upload(alice, path.read_bytes()) for path in sorted(DEMO.rglob("*.jpg"))}
    suggestions_generate_now(user_id=alice.pk)
    found = people.people_list(user_id=alice.pk)
    ana = next(p for p in found if ids["IMG_0202.jpg"] in p.item_ids)
    ben = next(p for p in found if ids["IMG_0203.jpg"] in p.item_ids)
    people.people_name(user_id=alice.pk, names={ana.id: "Ana", ben.id: "Ben"})
    suggestions_generate_now(user_id=alice.pk)
    return alice, ana


@pytest.mark.parametrize("width", SIZES)
def test_screenshots(new_page, holder, width):
    alice, ana = holder
    recap = Suggestion.objects.filter(owner=alice, kind="recap").order_by("-id").first()  # Ana and Ben in Lisbon
    assert recap is not None and recap.video_output_id is not None

    page = new_page()
    page.set_viewport_size(SIZES[width])
    log_in(page, "alice", PASSWORD)
    page.goto("/suggestions/")
    card = page.locator(f"#suggestion-{recap.pk}")
    card.scroll_into_view_if_needed()
    video = card.locator("video")
    video.evaluate("v => { v.muted = true; return v.play(); }")
    page.wait_for_function("v => v.currentTime > 2.5 && !v.paused", arg=video.element_handle())
    card.evaluate("c => c.scrollIntoView({block: 'center'})")
    video.hover()  # the player shows its controls (play, seek bar, full screen) while the pointer is on it
    page.wait_for_timeout(300)
    save(page, "suggestions-recap-playing", width, full_page=False)

    page.goto(f"/people/{ana.id}/")
    page.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
    expect(page.get_by_role("heading", level=1)).to_have_text("Ana")
    save(page, "person", width)

    made = sharing.share_link_create(user_id=alice.pk, suggestion_id=recap.pk, display_name="Ally")
    recipient = new_page()
    recipient.set_viewport_size(SIZES[width])
    recipient.goto(f"/s/{made.token}/")
    shared = recipient.locator(".shared video")
    shared.evaluate("v => { v.muted = true; return v.play(); }")
    recipient.wait_for_function("v => v.currentTime > 2.5", arg=shared.element_handle())
    shared.hover()
    recipient.wait_for_timeout(300)
    save(recipient, "share-recipient", width)

    make_user(f"sam{width}", SUPPORT)
    sam = new_page()
    sam.set_viewport_size(SIZES[width])
    log_in(sam, f"sam{width}", PASSWORD)
    sam.goto("/support/")
    sam.fill("#id_q", "alice")
    sam.get_by_role("button", name="Find").click()
    row = sam.locator(f".account-row[data-account='{alice.pk}']")
    row.get_by_label("Ticket reference").fill("4411")
    row.get_by_label("Reason").fill("Alice phoned: she wants the camera roll feature off")
    row.get_by_role("button", name="Open a case").click()
    sam.select_option("#id_purpose", purposes.CAMERA_ROLL)
    sam.fill("#id_reason", "Alice phoned: she wants the camera roll feature off")
    sam.get_by_role("button", name="Continue").click()
    expect(sam.locator("h1")).to_contain_text("Turn off Camera Roll Sharing Suggestions")
    save(sam, "support-revoke-confirm", width)
