"""/audit/ as audrey: filter by action, export the matching events as JSON Lines, and check the download with the
standalone verifier and the PEM the public-key link downloads: it says OK, and one changed byte makes it fail."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect

from accounts.roles import AUDITOR
from tests.browser.conftest import log_in, snap
from tests.conftest import PASSWORD, make_user
from tests.vault.conftest import grant, withdraw

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VERIFIER = Path(__file__).resolve().parents[2] / "tools" / "verify_audit_export.py"


def verify(export: Path, key: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(VERIFIER), str(export), "--public-key", str(key)],
                          capture_output=True, text=True, timeout=60, check=False)


def test_it_filters_exports_and_verifies_the_trail_offline(new_page, tmp_path):
    alice, bob = make_user("alice"), make_user("bob")
    make_user("audrey", AUDITOR)
    grant(alice)
    grant(bob)
    withdraw(alice)

    page = new_page()
    log_in(page, "audrey", PASSWORD)
    page.goto("/audit/")
    page.fill("#id_action", "consent.given")
    page.get_by_role("button", name="Apply").click()
    rows = page.locator("table").last.locator("tbody tr")
    expect(rows).to_have_count(2)
    for n in range(2):
        expect(rows.nth(n)).to_contain_text("consent.given")
    snap(page, "audit")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export JSON Lines (verifiable)").click()
    export = tmp_path / "audit.jsonl"
    download_info.value.save_as(export)
    lines = [json.loads(line) for line in export.read_text(encoding="utf-8").splitlines()]
    assert lines[0]["type"] == "header" and lines[0]["filters"] == {"action": "consent.given"}
    events = [line["event"] for line in lines if line["type"] == "event"]
    assert [e["action"] for e in events] == ["consent.given", "consent.given"]
    assert {e["subject_id"] for e in events} == {alice.pk, bob.pk}

    # The "Public key" link downloads the PEM file the verifier takes, as it is.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Public key").click()
    assert download_info.value.suggested_filename == "audit-public-key.pem"
    key = tmp_path / "audit-public-key.pem"
    download_info.value.save_as(key)

    checked = verify(export, key)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith("OK")

    data = bytearray(export.read_bytes())
    position = data.index(b'"consent.given"') + 1  # one byte of an exported event's action
    data[position] ^= 0x01
    changed = tmp_path / "changed.jsonl"
    changed.write_bytes(bytes(data))
    refused = verify(changed, key)
    assert refused.returncode == 1
    assert not refused.stdout.startswith("OK")
