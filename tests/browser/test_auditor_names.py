"""The auditor reads people by name: the page's sentences and raw fields name accounts (looked up as the
page is drawn; the trail holds ids), a CSV export gives usernames in columns of their own when asked, and
"Public key" downloads the PEM the offline verifier takes. At 390 and 1280 px."""

import csv
import io
from pathlib import Path

import pytest
from playwright.sync_api import expect

from accounts.roles import AUDITOR, SUPPORT
from audit.models import AuditEvent
from core.uow import Actor
from support import services as support_services
from tests.browser.conftest import log_in, snap
from tests.browser.test_audit_trail import verify
from tests.conftest import PASSWORD, make_user
from tests.vault.conftest import grant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}


def _download(page, link_name: str, folder: Path):
    with page.expect_download() as info:
        page.get_by_role("link", name=link_name, exact=True).click()
    path = folder / info.value.suggested_filename
    info.value.save_as(path)
    return path


@pytest.mark.parametrize("size", SIZES)
def test_it_names_people_for_the_auditor_on_the_page_in_the_csv_and_serves_a_pem_key(new_page, tmp_path, size):
    alice = make_user("alice")
    sam = make_user("sam", SUPPORT)
    make_user("audrey", AUDITOR)
    grant(alice)
    support_services.case_open(actor=Actor.support(sam.pk), user_id=alice.pk, reason="Phoned in", ticket="4411")

    page = new_page()
    page.set_viewport_size(SIZES[size])
    log_in(page, "audrey", PASSWORD)
    opened = page.locator("table.audit-events tbody tr[data-action='support.case_opened']")
    expect(opened).to_contain_text("Support agent sam opened a case about alice")
    expect(page.locator("table.audit-events")).to_contain_text("Holder alice turned on Camera Roll Sharing")
    snap(page, f"{size}-audit-names")

    plain = list(csv.DictReader(io.StringIO(_download(page, "Export CSV", tmp_path).read_text())))
    assert "subject_username" not in plain[0]
    named_file = _download(page, "Export CSV with usernames", tmp_path)
    named = list(csv.DictReader(io.StringIO(named_file.read_text())))
    by_action = {row["action"]: row for row in named}
    opened_row = by_action["support.case_opened"]
    assert (opened_row["actor_id"], opened_row["actor_username"]) == (str(sam.pk), "sam")
    assert (opened_row["subject_id"], opened_row["subject_username"]) == (str(alice.pk), "alice")
    assert by_action["consent.given"]["subject_username"] == "alice"
    # The names are the file's, not the trail's: the events still hold ids only.
    assert all(b"alice" not in bytes(body) for body in AuditEvent.objects.values_list("canonical", flat=True))
    assert [row["seq"] for row in named][:len(plain)] == [row["seq"] for row in plain]

    key = _download(page, "Public key (PEM)", tmp_path)
    assert key.name == "audit-public-key.pem"
    assert key.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    export = _download(page, "Export JSON Lines (verifiable)", tmp_path)
    checked = verify(export, key)
    assert checked.returncode == 0 and checked.stdout.startswith("OK"), checked.stdout + checked.stderr
