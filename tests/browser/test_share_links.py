"""Sharing that works, in Chromium at 390 and 1280 px: the holder names themselves, makes a link, copies it with
the Copy button (Clipboard API, and the fallback where there is none), shares it through the system share sheet
where the browser has one; the recipient, with no account, sees the title, the date, that name and the expiry."""

import pytest
from playwright.sync_api import expect

from suggestions import render
from suggestions.models import ShareLink, Suggestion
from tests.browser.conftest import axe_violations, image_widths, log_in, small_targets, snap
from tests.conftest import PASSWORD, make_user
from tests.suggestions.conftest import COLOURS, a_day_out, grant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}

# A stand-in for a phone's share sheet: records what the page asked to share.
FAKE_SHARE = "navigator.share = (data) => { window.__shared = data; return Promise.resolve(); };"


@pytest.fixture(autouse=True)
def small_outputs(monkeypatch):
    monkeypatch.setattr(render, "COLLAGE_SIZE", 320)
    monkeypatch.setattr(render, "RECAP_SIZE", 160)
    monkeypatch.setattr(render, "STYLIZED_SIZE", 320)


@pytest.fixture
def collage(vault_keys):
    from suggestions.jobs import suggestions_generate_now

    alice = make_user("alice")
    grant(alice)
    a_day_out(alice, COLOURS[:3])
    suggestions_generate_now(user_id=alice.pk)
    return Suggestion.objects.filter(owner=alice, kind="collage").first()


@pytest.mark.parametrize("size", SIZES, ids=list(SIZES))
def test_it_copies_and_shares_a_link_and_the_recipient_sees_who_shared_what(new_page, collage, axe_source, size):
    page = new_page()
    page.set_viewport_size(SIZES[size])
    if size == "phone":
        page.add_init_script(FAKE_SHARE)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    log_in(page, "alice", PASSWORD)
    page.goto("/suggestions/")
    card = page.locator(f"#suggestion-{collage.pk}")
    expect(card.get_by_label("Your name on the shared page")).to_be_hidden()  # folded away until asked for
    card.locator("summary", has_text="Share").click()
    card.get_by_label("Your name on the shared page").fill("Ally F.")
    card.get_by_role("button", name="Share link").click()
    expect(page.locator(".messages")).to_contain_text("Link made")
    url = card.locator(".share-url").input_value()
    assert "/s/" in url
    card.get_by_role("button", name="Copy link").click()
    expect(card.locator(".copy-state")).to_have_text("Link copied.")
    assert page.evaluate("navigator.clipboard.readText()") == url
    share_button = card.get_by_role("button", name="Share…")
    if size == "phone":
        share_button.click()
        page.wait_for_function("() => window.__shared !== undefined")
        assert page.evaluate("window.__shared") == {"title": "Saturday in Lisbon", "url": url}
    else:
        expect(share_button).to_be_hidden()  # no share sheet in this browser: no button that does nothing
    assert page.evaluate("document.documentElement.scrollWidth") <= SIZES[size]["width"]
    snap(page, f"share-made-{size}")
    assert axe_violations(page, axe_source) == [] and small_targets(page) == []

    recipient = new_page()
    recipient.set_viewport_size(SIZES[size])
    recipient.goto(url)
    expect(recipient.get_by_role("heading", level=1)).to_have_text("Saturday in Lisbon")
    expect(recipient.locator(".shared-dates")).to_have_text("14 June 2025")
    expect(recipient.locator(".shared-by")).to_have_text("Shared by Ally F. with a link.")
    link = ShareLink.objects.get(suggestion=collage)
    expect(recipient.locator(".shared-expiry")).to_contain_text(f"{link.expires_at:%-d %B %Y}")
    assert all(width > 0 for width in image_widths(recipient.locator(".shared img")))
    text = recipient.locator("body").inner_text()
    assert "alice" not in text.lower()
    assert recipient.evaluate("document.documentElement.scrollWidth") <= SIZES[size]["width"]
    snap(recipient, f"share-recipient-{size}")
    assert axe_violations(recipient, axe_source) == [] and small_targets(recipient) == []


def test_copy_falls_back_to_the_selection_without_the_clipboard_api(new_page, collage):
    page = new_page()
    page.add_init_script("Object.defineProperty(navigator, 'clipboard', {value: undefined});")
    log_in(page, "alice", PASSWORD)
    page.goto("/suggestions/")
    card = page.locator(f"#suggestion-{collage.pk}")
    card.locator("summary", has_text="Share").click()
    card.get_by_role("button", name="Share link").click()
    card.get_by_role("button", name="Copy link").click()
    # execCommand("copy") of the selected link, or the link left selected with how to copy it
    expect(card.locator(".copy-state")).to_have_text(
        __import__("re").compile(r"^(Link copied\.|The link is selected: press Ctrl\+C)"))
    selected = page.evaluate("() => { const i = document.querySelector('.share-url');"
                             " return i.value.substring(i.selectionStart, i.selectionEnd); }")
    assert selected == card.locator(".share-url").input_value()


def test_without_javascript_the_link_is_still_there_to_copy(new_page, collage):
    page = new_page(javascript=False)
    log_in(page, "alice", PASSWORD)
    page.goto("/suggestions/")
    card = page.locator(f"#suggestion-{collage.pk}")
    card.locator("summary", has_text="Share").click()
    card.get_by_role("button", name="Share link").click()
    assert "/s/" in card.locator(".share-url").input_value()
    expect(card.get_by_role("button", name="Copy link")).to_be_hidden()
