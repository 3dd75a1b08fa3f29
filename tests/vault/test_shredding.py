"""Crypto-shredding: erase, withdrawal (at once or after the grace period), purge, orphans."""

import io
import json
import os
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from audit.models import AuditEvent
from core.uow import Actor
from tests.conftest import unit_of
from tests.vault.conftest import grant, jpeg_bytes, withdraw
from vault import exports, gateway, keyring, keys, selectors, services, shredding, storage
from vault.models import AccountKey, DerivedOutput, Exclusion, MediaItem, ShredSchedule

pytestmark = pytest.mark.django_db


def files(tmp_path, user=None):
    root = tmp_path / "blobs" / "vault"
    if user is not None:
        root = root / str(user.pk)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def fill(user, n=2):
    items = [
        services.media_upload(
            user_id=user.pk, data=jpeg_bytes(color=(i * 40, 9, 9), exif={"lat": 51.5, "lon": -0.12}), labels=["x"]
        ).item
        for i in range(n)
    ]
    gateway.output_store(user_id=user.pk, purpose=gateway.PURPOSE_SUGGESTIONS, kind="collage",
                         source_ids=[i.pk for i in items], data=b"out", content_type="image/jpeg")
    return items


@pytest.fixture
def two_accounts(consented, bob):
    grant(bob)
    return fill(consented), fill(bob)


def assert_nothing_left(user, tmp_path):
    assert not AccountKey.objects.filter(user=user, scope=keys.SCOPE_MEDIA).exists()
    assert not MediaItem.objects.filter(owner=user).exists()
    assert not DerivedOutput.objects.filter(owner=user).exists()
    assert files(tmp_path, user) == []
    assert selectors.media_summary(user_id=user.pk)["items"] == 0


def test_it_erases_everything_of_one_account_and_nothing_else(
    two_accounts, consented, bob, tmp_path, django_capture_on_commit_callbacks
):
    assert len(files(tmp_path, consented)) == 5  # two originals, two thumbnails, one output
    with django_capture_on_commit_callbacks(execute=True):
        counts = shredding.media_erase_all(user_id=consented.pk, actor=Actor.support("42"), case_id=7)
    assert counts == {"items": 2, "outputs": 1, "keys": 1, "exclusions": 0}
    assert_nothing_left(consented, tmp_path)
    assert not (tmp_path / "blobs" / "vault" / str(consented.pk)).exists()
    assert len(files(tmp_path, bob)) == 5 and MediaItem.objects.filter(owner=bob).count() == 2
    event = AuditEvent.objects.get(action="media.erased")
    assert (event.subject_id, event.actor_kind, event.details) == (
        consented.pk, "support", {"items": 2, "outputs": 1, "keys": 1, "exclusions": 0, "case_id": 7}
    )


def test_it_makes_blobs_unreadable_the_moment_the_key_is_gone(two_accounts, consented, tmp_path):
    item = two_accounts[0][0]
    data_key = keyring.data_key_by_id(user_id=consented.pk, key_id=item.key.key_id)
    blob_file = next(p for p in files(tmp_path, consented) if p.name == f"{item.uid.hex}.original")
    blob = blob_file.read_bytes()
    shredding.media_erase_all(user_id=consented.pk, actor=Actor.holder(consented.pk))  # on_commit not run
    assert blob_file.exists()  # the delete waits for the commit, but nothing can open it any more:
    with pytest.raises(AccountKey.DoesNotExist):
        keyring.data_key_by_id(user_id=consented.pk, key_id=data_key.key_id)
    assert blob.startswith(b"CSVB") and b"Exif" not in blob


def test_it_leaves_no_location_or_label_in_the_database_after_erase(two_accounts, consented):
    shredding.media_erase_all(user_id=consented.pk, actor=Actor.holder(consented.pk))
    assert not MediaItem.objects.filter(owner=consented).exists()
    for event in AuditEvent.objects.filter(subject_id=consented.pk):
        entry = json.loads(bytes(event.canonical))
        del entry["time"]  # its seconds can read "51.5"
        text = json.dumps(entry)
        assert "51.5" not in text and '"x"' not in text


def test_it_erases_exclusions_and_their_key_but_a_withdrawal_keeps_them(two_accounts, consented, bob):
    # Erase leaves no location of the account (invariant 5). A withdrawal keeps the
    # holder's exclusions, so photos from "home" stay out if they opt in again.
    for user in (consented, bob):
        services.exclusion_create_place(user_id=user.pk, name="Home", lat=10.0, lon=10.0, radius_m=100)
        services.exclusion_create_date_range(user_id=user.pk, start=date(2024, 1, 1), end=date(2024, 1, 2))
    withdraw(bob)
    assert len(selectors.exclusion_list(user_id=bob.pk)) == 2
    assert AccountKey.objects.filter(user=bob, scope=keys.SCOPE_SETTINGS).exists()
    counts = shredding.media_erase_all(user_id=consented.pk, actor=Actor.holder(consented.pk))
    assert counts == {"items": 2, "outputs": 1, "keys": 2, "exclusions": 2}
    assert not Exclusion.objects.filter(owner=consented).exists()
    assert not AccountKey.objects.filter(user=consented).exists()


def test_it_shreds_at_once_on_withdrawal_by_default(
    two_accounts, consented, tmp_path, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        withdraw(consented)
    assert_nothing_left(consented, tmp_path)
    event = AuditEvent.objects.get(action="media.erased", subject_id=consented.pk)
    assert event.details["items"] == 2 and event.purpose == "camera_roll_cloud_processing"


def test_it_shreds_after_the_grace_period_and_purge_is_idempotent(
    two_accounts, consented, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.WITHDRAWAL_GRACE_DAYS = 3
    withdraw(consented)
    assert not DerivedOutput.objects.filter(owner=consented).exists()  # outputs go at once
    assert MediaItem.objects.filter(owner=consented).count() == 2
    schedule = ShredSchedule.objects.get(owner=consented)
    assert timedelta(days=2, hours=23) < schedule.due_at - timezone.now() <= timedelta(days=3)
    assert shredding.vault_purge_due()["shredded"] == 0
    with django_capture_on_commit_callbacks(execute=True):
        result = shredding.vault_purge_due(now=timezone.now() + timedelta(days=3, minutes=1))
    assert result["shredded"] == 1
    assert_nothing_left(consented, tmp_path)
    assert shredding.vault_purge_due(now=timezone.now() + timedelta(days=4))["shredded"] == 0


def test_it_keeps_the_copies_when_consent_comes_back_within_the_grace_period(two_accounts, consented, settings):
    settings.WITHDRAWAL_GRACE_DAYS = 3
    withdraw(consented)
    grant(consented)
    result = shredding.vault_purge_due(now=timezone.now() + timedelta(days=5))
    assert (result["shredded"], result["cancelled"]) == (0, 1)
    assert MediaItem.objects.filter(owner=consented).count() == 2
    assert gateway.candidates(user_id=consented.pk, purpose=gateway.PURPOSE_SUGGESTIONS)


def test_the_purge_command_says_what_it_did(two_accounts, consented, settings):
    settings.WITHDRAWAL_GRACE_DAYS = 1
    withdraw(consented)
    with unit_of(consented):
        ShredSchedule.objects.update(due_at=timezone.now() - timedelta(seconds=1))
    out = io.StringIO()
    call_command("vault_purge", stdout=out)
    assert "1 account(s) shredded" in out.getvalue()
    out = io.StringIO()
    call_command("vault_purge", stdout=out)
    assert "0 account(s) shredded" in out.getvalue()


def test_it_sweeps_orphan_blobs_left_by_a_crash(two_accounts, consented, bob, tmp_path, monkeypatch):
    # A crash after the key row went but before its folder was deleted:
    monkeypatch.setattr("vault.content.delete_key_folder_after_commit", lambda *args, **kw: None)
    shredding.media_erase_all(user_id=consented.pk, actor=Actor.holder(consented.pk))
    assert len(files(tmp_path, consented)) == 5
    # The sweep weighs the files' times, which the file system's clock wrote: its `now` is taken from
    # them, not from the wall clock (which may be another, or moved by TEST_CLOCK_AT).
    now = datetime.fromtimestamp(max(p.stat().st_mtime for p in files(tmp_path)), tz=UTC)
    # Young files are left even under a dead key: an upload or an export may still be writing them.
    assert shredding.orphans_sweep(now=now) == 0
    old = now.timestamp() - 7200
    for path in files(tmp_path, consented):
        os.utime(path, (old, old))
    # ...and a crashed upload that wrote its blob but never committed its row:
    with unit_of(bob):
        _, bob_key = keyring.data_key_get_or_create(user_id=bob.pk)
    import uuid

    from vault import content

    name, _ = content.content_write(data_key=bob_key, uid=uuid.uuid4(), variant="original", chunks=[b"half"])
    fresh, _ = content.content_write(data_key=bob_key, uid=uuid.uuid4(), variant="original", chunks=[b"new"])
    os.utime(storage.blob_storage().path(name), (old, old))
    now = datetime.fromtimestamp(os.stat(storage.blob_storage().path(fresh)).st_mtime, tz=UTC)
    assert shredding.orphans_sweep(now=now) == 6
    assert files(tmp_path, consented) == []
    assert len(files(tmp_path, bob)) == 6  # bob's five live blobs and the in-flight one
    assert storage.blob_exists(name=fresh) and not storage.blob_exists(name=name)


def test_it_deletes_a_waiting_data_export_with_the_key_it_was_sealed_under(
    two_accounts, consented, tmp_path, django_capture_on_commit_callbacks
):
    import uuid

    export_uid = uuid.uuid4()
    exports.export_store(user_id=consented.pk, export_uid=export_uid, chunks=[b"zip-bytes"])
    assert b"".join(exports.export_open(user_id=consented.pk, export_uid=export_uid)) == b"zip-bytes"
    exports_root = tmp_path / "blobs" / "exports"
    assert len([p for p in exports_root.rglob("*") if p.is_file()]) == 1
    with django_capture_on_commit_callbacks(execute=True):
        withdraw(consented)
    assert not (exports_root / str(consented.pk)).exists()
    with pytest.raises(FileNotFoundError):
        exports.export_open(user_id=consented.pk, export_uid=export_uid)


def test_the_sweep_asks_about_each_key_again_right_before_deleting(consented, tmp_path, monkeypatch):
    """A key made while the sweep runs (its row committed after the folder was first looked at)
    keeps its blobs."""
    import uuid

    from vault import content

    with unit_of(consented):
        _, data_key = keyring.data_key_get_or_create(user_id=consented.pk)
    name, _ = content.content_write(data_key=data_key, uid=uuid.uuid4(), variant="original", chunks=[b"x"])
    old = time.time() - 7200
    os.utime(storage.blob_storage().path(name), (old, old))
    row = AccountKey.objects.get(key_id=data_key.key_id)
    saved = {f.attname: getattr(row, f.attname) for f in AccountKey._meta.concrete_fields}
    with unit_of(consented):
        row.delete()  # as seen by the sweep's first look: no such key yet
    real_young = shredding._young

    def young_then_key_appears(st, names, now):
        with unit_of(consented):
            AccountKey.objects.create(**saved)  # ...committed meanwhile
        return real_young(st, names, now)

    monkeypatch.setattr(shredding, "_young", young_then_key_appears)
    assert shredding.orphans_sweep() == 0
    assert storage.blob_exists(name=name)
