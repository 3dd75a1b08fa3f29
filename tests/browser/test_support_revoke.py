"""sam opens a case for alice and revokes Camera Roll Sharing Suggestions with a reason; alice sees the
toggle off and the revocation in her access history; audrey finds the event on the audit page and exports it."""

import csv
import io
from pathlib import Path

import pytest
from playwright.sync_api import expect

from accounts.roles import AUDITOR, SUPPORT
from consent import purposes
from consent import selectors as consent_selectors
from consent import services as consent_services
from tests.browser.conftest import log_in, snap
from tests.conftest import PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CAMERA_ROW = ".toggle-row[data-purpose=camera_roll_cloud_processing]"
REVOKED = "Support agent sam revoked Camera Roll Sharing Suggestions, ticket 4411"


def test_it_carries_a_support_revocation_from_the_console_to_the_holder_and_the_auditor(new_page):
    alice = make_user("alice")
    make_user("sam", SUPPORT)
    make_user("audrey", AUDITOR)
    notice = consent_selectors.notice_current(purpose=purposes.CAMERA_ROLL)
    consent_services.consent_give(user=alice, purpose=purposes.CAMERA_ROLL, notice_version=notice.version,
                                  method="web")

    # sam finds alice, opens a case, revokes with a reason: the console needs no JavaScript.
    sam = new_page(javascript=False)
    log_in(sam, "sam", PASSWORD)
    sam.goto("/support/")
    sam.fill("#id_q", "alice")
    sam.get_by_role("button", name="Find").click()
    row = sam.locator(f".account-row[data-account='{alice.pk}']")
    row.get_by_label("Ticket reference").fill("4411")
    row.get_by_label("Reason").fill("Alice phoned: she wants the camera roll feature off")
    row.get_by_role("button", name="Open a case").click()
    expect(sam.locator("h1")).to_contain_text("alice")
    expect(sam.locator("#consent-state tr[data-purpose=camera_roll_cloud_processing] .badge")).to_have_text("On")
    # No setting is chosen for the agent: the form cannot be sent until one is.
    expect(sam.locator("#id_purpose")).to_have_value("")
    sam.fill("#id_reason", "Alice phoned: she wants the camera roll feature off")
    subject_url = sam.url
    sam.get_by_role("button", name="Continue").click()
    assert sam.url == subject_url
    assert sam.locator("#id_purpose").evaluate("el => el.validity.valueMissing")
    expect(sam.locator("#consent-state tr[data-purpose=camera_roll_cloud_processing] .badge")).to_have_text("On")
    sam.select_option("#id_purpose", purposes.CAMERA_ROLL)
    sam.get_by_role("button", name="Continue").click()
    expect(sam.locator("h1")).to_have_text("Turn off Camera Roll Sharing Suggestions for alice?")
    snap(sam, "support-revoke-confirm")
    sam.get_by_role("button", name="Turn off Camera Roll Sharing Suggestions").click()
    expect(sam.locator(".messages")).to_contain_text("Camera Roll Sharing Suggestions is now off for alice")
    expect(sam.locator("#consent-state tr[data-purpose=camera_roll_cloud_processing] .badge")).to_have_text("Off")
    sam.get_by_role("button", name="Close the case").click()
    expect(sam.locator(".messages")).to_contain_text("is closed")

    # alice sees the toggle off and the revocation in her access history.
    holder = new_page()
    log_in(holder, "alice", PASSWORD)
    holder.goto("/settings/camera-roll/")
    expect(holder.locator(f"{CAMERA_ROW} .badge")).to_have_text("Off")
    notice = holder.locator(".support-notice")
    expect(notice).to_have_count(1)
    expect(notice).to_contain_text("Support agent sam turned off Camera Roll Sharing Suggestions on ")
    expect(notice).to_contain_text("Alice phoned: she wants the camera roll feature off")
    snap(holder, "holder-support-notice")
    holder.goto("/me/access/")
    expect(holder.locator("#access-log")).to_contain_text(REVOKED)
    expect(holder.locator("#access-log")).not_to_contain_text("phoned")
    holder.select_option("#id_category", "support")
    holder.get_by_role("button", name="Show").click()
    expect(holder.locator("#access-log li").first).to_contain_text("closed the support case, ticket 4411")
    expect(holder.locator("#access-log")).to_contain_text(REVOKED)
    expect(holder.locator("#access-chart rect.bar[data-count='0']").first).to_be_attached()

    # audrey finds the event on the audit page and exports it.
    auditor = new_page()
    log_in(auditor, "audrey", PASSWORD)
    auditor.goto("/audit/")
    auditor.fill("#id_action", "consent.revoked_by_support")
    auditor.get_by_role("button", name="Apply").click()
    table = auditor.locator("table").last
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table.locator("tbody tr")).to_contain_text("consent.revoked_by_support")
    expect(table.locator("tbody tr")).to_contain_text(str(alice.pk))
    with auditor.expect_download() as download_info:
        auditor.get_by_role("link", name="Export CSV", exact=True).click()
    exported = Path(download_info.value.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [row["action"] for row in rows] == ["consent.revoked_by_support"]
    assert rows[0]["subject_id"] == str(alice.pk) and rows[0]["purpose"] == purposes.CAMERA_ROLL
    assert "phoned" not in exported
