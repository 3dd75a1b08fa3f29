"""/me/access/ says whether the holder's history is verified and since when, and its download checks out with
tools/monitor.py --holder, without the service."""

import json

import pytest
from django.urls import reverse

from audit import holder_proof
from audit.holder_history import verifier_key
from audit.services import EventInput, audit_append_many, audit_checkpoint_if_due
from tests.tools import load_tool

pytestmark = pytest.mark.django_db

DOWNLOAD = reverse("support:me-access-download")


def _monitor():
    return load_tool("monitor")


def _events(*subjects):
    audit_append_many(events=[
        EventInput(action="media.read", actor_kind="service", actor_id="suggestions", subject_id=subject,
                   object_type="media_item", object_id=i, purpose="sharing_suggestions")
        for i, subject in enumerate(subjects)
    ])


def test_the_page_says_verified_and_since_when_and_the_download_checks_out(client, alice, bob, tmp_path, capsys):
    _events(alice.pk, bob.pk, alice.pk, None, alice.pk)
    assert audit_checkpoint_if_due() is not None
    client.force_login(alice)
    page = client.get(reverse("support:me-access"))
    html = page.content.decode()
    assert 'id="access-proof" data-state="verified"' in html
    assert "Verified" in html and "It has been committed since" in html
    assert page.context["proof"].since is not None
    entries = page.context["proof"].entries
    assert entries >= 3

    response = client.get(DOWNLOAD)
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="access-history.json"'
    path = tmp_path / "access-history.json"
    path.write_bytes(response.content)
    bundle = json.loads(response.content)
    assert len(bundle["entries"]) == entries
    assert {json.loads(holder_proof.b64(e, "entry"))["subject_id"] for e in bundle["entries"]} == {alice.pk}
    assert _monitor().main(["--holder", str(path), "--log-key", verifier_key()]) == 0
    assert f"{entries} entries, all about holder {alice.pk}" in capsys.readouterr().out


def test_before_anything_is_committed_the_page_says_so_and_offers_no_download(client, alice):
    client.force_login(alice)
    html = client.get(reverse("support:me-access")).content.decode()
    assert 'data-state="pending"' in html and "access-proof-download" not in html
    assert client.get(DOWNLOAD).status_code == 404


def test_a_holder_downloads_their_own_history_only(client, alice, bob, audrey):
    _events(alice.pk, bob.pk)
    audit_checkpoint_if_due()
    client.force_login(bob)
    bundle = json.loads(client.get(DOWNLOAD).content)
    assert holder_proof.verify_bundle(bundle, verifier_key()).holder == bob.pk
    client.force_login(audrey)  # an auditor has no history of their own here
    assert client.get(DOWNLOAD).status_code in (403, 404)
    client.logout()
    assert client.get(DOWNLOAD).status_code == 302
