"""Per-item keys: a trash purge crypto-shreds the one item, not just its files.

Each new item's blobs are encrypted under its own key, kept only wrapped (under the account's
media key) on the item's row. These tests keep a copy of an item's ciphertext, as a backup or
an old object version would, purge the item, and then try to open that copy with everything
that is left: the account key (still alive for the other photos), the master key, the database.
"""

import uuid
from datetime import timedelta
from io import StringIO

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from core.errors import ServiceError
from support import access_log
from tests.conftest import unit_of
from tests.vault.conftest import grant, jpeg_bytes, withdraw
from vault import blobs, content, gateway, item_keys, keyring, keys, services, storage, trash
from vault.models import AccountKey, MediaItem

pytestmark = pytest.mark.django_db
PURPOSE = gateway.PURPOSE_SUGGESTIONS


@pytest.fixture
def photos(consented):
    uploaded = [services.media_upload(user_id=consented.pk, data=jpeg_bytes(color=c)).item
                for c in ((200, 0, 0), (0, 200, 0), (0, 0, 200))]
    return list(MediaItem.objects.select_related("key").filter(pk__in=[p.pk for p in uploaded]).order_by("pk"))


def ciphertext(item) -> dict[str, bytes]:
    """Every blob of the item, as a backup of the blob store would hold it."""
    found = {}
    for name in content.item_names(item):
        if storage.blob_exists(name=name):
            found[name.rsplit(".", 1)[-1]] = b"".join(storage.blob_read(name=name))
    return found


def account_key(user) -> keys.DataKey:
    return keyring.data_key_get(user_id=user.pk, scope=keys.SCOPE_MEDIA)[1]


def every_stored_byte_string() -> list[bytes]:
    """All binary and text values in the vault's and audit's tables, as a thief of the database would see them."""
    values = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            if not table.startswith(("vault_", "audit_", "suggestions_", "support_")):
                continue
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 (table names from introspection)
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        values.append(bytes(value))
                    elif isinstance(value, str):
                        values.append(value.encode())
    return values


def test_a_new_item_is_under_its_own_key_which_the_account_key_alone_does_not_open(consented, photos):
    item = MediaItem.objects.select_related("key").get(pk=photos[0].pk)
    account = account_key(consented)
    assert item.item_key_id is not None and item.item_key_id != account.key_id
    assert len({p.item_key_id for p in MediaItem.objects.all()}) == 3  # one key per item
    for variant, blob in ciphertext(item).items():
        header = blobs.parse_header(blob)
        assert header.key_id == item.item_key_id  # the header names the item's key, not the account's
        assert bytes(item.wrapped_item_key) not in blob  # the item key is never in the blob itself
        with pytest.raises(blobs.BlobIntegrityError) as caught:
            blobs.decrypt_bytes(data_key=account, object_uid=item.uid, variant=variant, blob=blob)
        assert caught.value.reason == "wrong_key"
        # Past the id check: the blob key itself does not unwrap under the account key.
        wrapped = header.wrapped_key
        with pytest.raises(InvalidTag):
            AESGCM(account.key).decrypt(wrapped[:12], wrapped[12:], b"consentsvc.vault.blob-key.v1\x00" +
                                        header.prefix())
    # Its own key, unwrapped by the account key, opens it.
    own = content.item_key(account=account, item=item)
    blob = ciphertext(item)["original"]
    assert blobs.decrypt_bytes(data_key=own, object_uid=item.uid, variant="original", blob=blob)[:2] == b"\xff\xd8"


@pytest.mark.parametrize("how", ["housekeeping", "empty_trash", "empty_one"])
def test_a_purged_items_surviving_ciphertext_no_longer_opens(consented, photos, how,
                                                             django_capture_on_commit_callbacks):
    doomed, kept = photos[0], photos[1:]
    doomed = MediaItem.objects.select_related("key").get(pk=doomed.pk)
    backup = ciphertext(doomed)  # a copy that outlives the delete (backup, S3 object version)
    assert set(backup) == {"original", "thumbnail"}
    wrapped_before = bytes(doomed.wrapped_item_key)
    assert any(wrapped_before in value for value in every_stored_byte_string())  # the scan below sees it
    account_before = account_key(consented)
    # Proof the copy was readable before the purge, with what the database held then.
    own = content.item_key(account=account_before, item=doomed)
    assert blobs.decrypt_bytes(data_key=own, object_uid=doomed.uid, variant="original", blob=backup["original"])

    trash.media_trash(user_id=consented.pk, item_ids=[doomed.pk])
    with django_capture_on_commit_callbacks(execute=True):
        if how == "housekeeping":
            later = timezone.now() + timedelta(days=31)
            assert trash.trash_purge_due(now=later) == 1
        elif how == "empty_trash":
            assert trash.trash_empty(user_id=consented.pk) == 1
        else:
            assert trash.trash_empty(user_id=consented.pk, item_ids=[doomed.pk]) == 1

    # The account key lives on (the other photos need it), unchanged.
    account_after = account_key(consented)
    assert account_after.key_id == account_before.key_id and account_after.key == account_before.key
    # The row, and the wrapped item key with it, are gone, and no other row holds that key.
    assert not MediaItem.objects.filter(pk=doomed.pk).exists()
    assert not MediaItem.objects.filter(item_key_id=doomed.item_key_id).exists()
    assert not any(wrapped_before in value for value in every_stored_byte_string())
    assert ciphertext(doomed) == {}  # the files went too
    # Try to open the surviving copy with everything that is left.
    for variant, blob in backup.items():
        with pytest.raises(blobs.BlobIntegrityError) as caught:
            blobs.decrypt_bytes(data_key=account_after, object_uid=doomed.uid, variant=variant, blob=blob)
        assert caught.value.reason == "wrong_key"
        # Claiming the account key is the key the header names gets no further: the blob key
        # was wrapped by the destroyed item key, not the account key.
        impostor = keys.DataKey(user_id=consented.pk, key_id=doomed.item_key_id, scope=keys.SCOPE_MEDIA,
                                key=account_after.key)
        with pytest.raises(blobs.BlobIntegrityError) as caught:
            blobs.decrypt_bytes(data_key=impostor, object_uid=doomed.uid, variant=variant, blob=blob)
        assert caught.value.reason == "tampered"
        # Nor does any key the service could derive from the account key for that item.
        with pytest.raises(keys.KeyUnwrapError):
            keys.item_key_open(account_after, item_uid=doomed.uid, key_id=doomed.item_key_id,
                               wrapped=b"\x00" * len(wrapped_before))
    # Restoring it fails cleanly, as a missing item: in the service and over the API.
    with pytest.raises(ServiceError) as caught:
        trash.media_restore(user_id=consented.pk, item_id=doomed.pk)
    assert caught.value.code == "not_found"
    # The other photos still decrypt, for a purpose and for their owner.
    released = gateway.release(user_id=consented.pk, purpose=PURPOSE, item_ids=[p.pk for p in kept])
    assert sorted(r.meta.id for r in released) == sorted(p.pk for p in kept)
    assert all(r.data[:2] == b"\xff\xd8" for r in released)
    for item in kept:
        opened = gateway.owner_open(user_id=consented.pk, item_id=item.pk, variant="thumbnail")
        assert b"".join(opened.chunks)[:2] == b"\xff\xd8"


def test_restoring_a_purged_item_over_the_api_is_a_clean_404(consented, photos, api,
                                                              django_capture_on_commit_callbacks):
    doomed = photos[0]
    client = api(consented)
    assert client.delete(f"/api/v1/media/{doomed.pk}/").status_code in (200, 204)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete("/api/v1/media/trash/").status_code == 200
    response = client.post(f"/api/v1/media/{doomed.pk}/restore/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    # Uploading the same photo again makes a new item under a new key (nothing of the old comes back).
    again = services.media_upload(user_id=consented.pk, data=jpeg_bytes(color=(200, 0, 0))).item
    assert again.pk != doomed.pk and again.item_key_id != doomed.item_key_id


def test_a_changed_or_swapped_wrapped_item_key_is_unreadable_and_audited(consented, photos):
    first, second = (MediaItem.objects.get(pk=p.pk) for p in photos[:2])
    # Another item's wrapped key on this row: bound to the other item, it does not open here.
    with unit_of(consented):
        MediaItem.objects.filter(pk=first.pk).update(wrapped_item_key=second.wrapped_item_key,
                                                     item_key_id=second.item_key_id)
    with pytest.raises(ServiceError) as caught:
        gateway.release(user_id=consented.pk, purpose=PURPOSE, item_ids=[first.pk])
    assert caught.value.code == "media_unreadable"
    event = AuditEvent.objects.filter(action="media.read", outcome="error").latest("seq")
    assert event.details == {"code": "item_key_invalid"} and event.object_id == str(first.pk)
    flipped = bytearray(bytes(second.wrapped_item_key))
    flipped[-1] ^= 1
    with unit_of(consented):
        MediaItem.objects.filter(pk=second.pk).update(wrapped_item_key=bytes(flipped))
    with pytest.raises(ServiceError) as caught:
        gateway.owner_open(user_id=consented.pk, item_id=second.pk)
    assert caught.value.code == "media_unreadable"


def _make_legacy(item) -> MediaItem:
    """Rewrite an item as the vault stored items before item keys: blobs under the account key,
    no item key on the row (what the migration leaves for rows that existed before it)."""
    item = MediaItem.objects.select_related("key").get(pk=item.pk)
    account = keyring.data_key_by_id(user_id=item.owner_id, key_id=item.key.key_id)
    own = content.item_key(account=account, item=item)
    for variant in ("original", "thumbnail"):
        plain = content.content_read(data_key=own, uid=item.uid, variant=variant)
        name = storage.blob_name(user_id=item.owner_id, key_id=item.key.key_id, object_uid=item.uid, variant=variant)
        storage.blob_delete(name=name)
        content.content_write(data_key=account, uid=item.uid, variant=variant, chunks=[plain])
    with unit_of(item.owner_id):
        MediaItem.objects.filter(pk=item.pk).update(item_key_id=None, wrapped_item_key=None)
    return MediaItem.objects.select_related("key").get(pk=item.pk)


def test_items_stored_before_item_keys_still_decrypt_and_purge(consented, photos,
                                                               django_capture_on_commit_callbacks):
    legacy = _make_legacy(photos[0])
    header = blobs.parse_header(ciphertext(legacy)["original"])
    assert header.key_id == legacy.key.key_id  # under the account key, as before
    released = gateway.release(user_id=consented.pk, purpose=PURPOSE, item_ids=[p.pk for p in photos])
    assert sorted(r.meta.id for r in released) == sorted(p.pk for p in photos)
    opened = gateway.owner_open(user_id=consented.pk, item_id=legacy.pk)
    assert b"".join(opened.chunks)[:2] == b"\xff\xd8"
    trash.media_trash(user_id=consented.pk, item_ids=[legacy.pk])
    with django_capture_on_commit_callbacks(execute=True):
        assert trash.trash_empty(user_id=consented.pk) == 1
    assert ciphertext(legacy) == {}
    # A new upload beside it gets its own key.
    fresh = services.media_upload(user_id=consented.pk, data=jpeg_bytes(color=(1, 2, 3))).item
    assert fresh.item_key_id is not None


def test_withdrawal_still_shreds_everything_at_once_with_the_account_key(consented, photos, tmp_path,
                                                                         django_capture_on_commit_callbacks):
    legacy = _make_legacy(photos[0])
    backups = {p.pk: ciphertext(p) for p in photos}
    account = account_key(consented)
    with django_capture_on_commit_callbacks(execute=True):
        withdraw(consented)
    assert not AccountKey.objects.filter(user=consented, scope=keys.SCOPE_MEDIA).exists()
    assert not MediaItem.objects.filter(owner=consented).exists()  # item keys went with the rows
    assert not (tmp_path / "blobs" / "vault" / str(consented.pk)).exists() or not any(
        p.is_file() for p in (tmp_path / "blobs" / "vault" / str(consented.pk)).rglob("*"))
    assert not any(bytes(p.wrapped_item_key) in v for p in photos[1:] for v in every_stored_byte_string())
    # Only with the destroyed account key could a backup of the legacy item be read.
    assert blobs.decrypt_bytes(data_key=account, object_uid=legacy.uid, variant="original",
                               blob=backups[legacy.pk]["original"])[:2] == b"\xff\xd8"
    assert keyring.data_key_get(user_id=consented.pk, scope=keys.SCOPE_MEDIA) is None


def test_an_item_key_is_bound_to_its_item_and_its_account():
    account = keys.DataKey(user_id=1, key_id=uuid.uuid4(), scope=keys.SCOPE_MEDIA, key=AESGCM.generate_key(256))
    uid = uuid.uuid4()
    item_key, wrapped = keys.item_key_new(account, item_uid=uid)
    assert item_key.folder_key_id == account.key_id and item_key.key_id != account.key_id
    assert keys.item_key_open(account, item_uid=uid, key_id=item_key.key_id, wrapped=wrapped).key == item_key.key
    with pytest.raises(keys.KeyUnwrapError):
        keys.item_key_open(account, item_uid=uuid.uuid4(), key_id=item_key.key_id, wrapped=wrapped)
    with pytest.raises(keys.KeyUnwrapError):
        keys.item_key_open(account, item_uid=uid, key_id=uuid.uuid4(), wrapped=wrapped)
    other = keys.DataKey(user_id=2, key_id=account.key_id, scope=keys.SCOPE_MEDIA, key=account.key)
    with pytest.raises(keys.KeyUnwrapError):
        keys.item_key_open(other, item_uid=uid, key_id=item_key.key_id, wrapped=wrapped)
    settings_key = keys.DataKey(user_id=1, key_id=uuid.uuid4(), scope=keys.SCOPE_SETTINGS, key=account.key)
    with pytest.raises(ValueError):
        keys.item_key_new(settings_key, item_uid=uid)


# --- giving older items keys of their own (manage.py vault_item_keys) ---------------------------------


def test_the_command_gives_older_items_keys_of_their_own_and_then_a_purge_shreds_them(
        consented, photos, bob, django_capture_on_commit_callbacks):
    grant(bob)
    bobs = services.media_upload(user_id=bob.pk, data=jpeg_bytes(color=(5, 6, 7)), labels=["sea"]).item
    legacy = [_make_legacy(photos[0]), _make_legacy(photos[1]), _make_legacy(bobs)]
    trash.media_trash(user_id=consented.pk, item_ids=[legacy[1].pk])  # in the trash: moved too
    before = {item.pk: (gateway.owner_open(user_id=item.owner_id, item_id=item.pk, include_trashed=True),
                        ciphertext(item)) for item in legacy}
    plain = {pk: b"".join(opened.chunks) for pk, (opened, _) in before.items()}
    metas = {pk: opened.meta for pk, (opened, _) in before.items()}
    untouched = MediaItem.objects.get(pk=photos[2].pk)

    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("vault_item_keys", "--no-progress", "--batch-size", "2", stdout=out)
    assert "3 item(s) given a key of their own; 0 left" in out.getvalue()
    assert not MediaItem.objects.filter(item_key_id__isnull=True).exists()
    assert MediaItem.objects.get(pk=untouched.pk).uid == untouched.uid  # already had one: not touched
    account = account_key(consented)
    for old in legacy:
        item = MediaItem.objects.select_related("key").get(pk=old.pk)
        assert item.item_key_id is not None and item.uid != old.uid
        assert ciphertext(old) == {}  # the files under the account key are gone
        opened = gateway.owner_open(user_id=item.owner_id, item_id=item.pk, include_trashed=True)
        assert b"".join(opened.chunks) == plain[item.pk]  # same photo, same metadata
        assert opened.meta == metas[item.pk]
        assert item.stored_bytes == sum(len(b) for b in ciphertext(item).values())
        assert blobs.parse_header(ciphertext(item)["original"]).key_id == item.item_key_id
    # Now the purge of the trashed one is a crypto-shred: its new files, copied, do not open.
    moved = MediaItem.objects.select_related("key").get(pk=legacy[1].pk)
    copy = ciphertext(moved)
    with django_capture_on_commit_callbacks(execute=True):
        assert trash.trash_empty(user_id=consented.pk) == 1
    for variant, blob in copy.items():
        with pytest.raises(blobs.BlobIntegrityError):
            blobs.decrypt_bytes(data_key=account, object_uid=moved.uid, variant=variant, blob=blob)
    # Audited once per account batch, in words in the holder's history.
    events = AuditEvent.objects.filter(action="media.rekeyed")
    assert sorted((e.subject_id, e.details["items"]) for e in events) == sorted([(consented.pk, 2), (bob.pk, 1)])
    lines = [e.summary for e in access_log.access_log_entries(user_id=bob.pk)]
    assert "A photo got a key of its own, so deleting it destroys it for good; no one looked at them" in lines
    # Run again: nothing left to do.
    out = StringIO()
    call_command("vault_item_keys", "--no-progress", stdout=out)
    assert out.getvalue().startswith("0 item(s)")


def test_the_command_leaves_an_item_deleted_meanwhile_and_its_new_files_go(consented, photos, monkeypatch,
                                                                           django_capture_on_commit_callbacks):
    legacy = _make_legacy(photos[0])
    real = item_keys._reencrypt

    def reencrypt_then_lose_the_race(item):
        prepared = real(item)
        with django_capture_on_commit_callbacks(execute=True):  # the holder empties the trash meanwhile
            trash.media_trash(user_id=consented.pk, item_ids=[item.pk])
            trash.trash_empty(user_id=consented.pk)
        return prepared

    monkeypatch.setattr(item_keys, "_reencrypt", reencrypt_then_lose_the_race)
    assert item_keys.legacy_items_rekey() == {"items": 0, "skipped": 1}
    assert not MediaItem.objects.filter(pk=legacy.pk).exists()
    held = storage.folder_list(folder=storage.key_folder(user_id=consented.pk, key_id=legacy.key.key_id))
    assert len(held) == 4  # the two other photos' original and thumbnail: no new file was left behind


# --- derived outputs have keys of their own too ----------------------------------------------------


def _output(user, items) -> int:
    return gateway.output_store(user_id=user.pk, purpose=PURPOSE, kind="collage", source_ids=[i.pk for i in items],
                                data=b"\xff\xd8 a collage of the photos", content_type="image/jpeg",
                                meta={"title": "Beach"})


def test_an_output_made_from_a_trashed_photo_is_crypto_shredded_with_it(consented, photos,
                                                                          django_capture_on_commit_callbacks):
    from vault.models import DerivedOutput

    output = DerivedOutput.objects.select_related("key").get(pk=_output(consented, photos[:2]))
    assert output.item_key_id is not None
    name = content.names_for(user_id=consented.pk, key_id=output.key.key_id, uid=output.uid, variants=["output"])[0]
    copy = b"".join(storage.blob_read(name=name))
    assert blobs.parse_header(copy).key_id == output.item_key_id
    assert gateway.output_open(user_id=consented.pk, output_id=output.pk) == b"\xff\xd8 a collage of the photos"
    assert gateway.outputs_meta(user_id=consented.pk, output_ids=[output.pk]) == {output.pk: {"title": "Beach"}}
    with django_capture_on_commit_callbacks(execute=True):
        trash.media_trash(user_id=consented.pk, item_ids=[photos[0].pk])  # the output goes at once
    assert not DerivedOutput.objects.filter(pk=output.pk).exists() and not storage.blob_exists(name=name)
    account = account_key(consented)
    with pytest.raises(blobs.BlobIntegrityError):
        blobs.decrypt_bytes(data_key=account, object_uid=output.uid, variant="output", blob=copy)
    impostor = keys.DataKey(user_id=consented.pk, key_id=output.item_key_id, scope=keys.SCOPE_MEDIA, key=account.key)
    with pytest.raises(blobs.BlobIntegrityError):
        blobs.decrypt_bytes(data_key=impostor, object_uid=output.uid, variant="output", blob=copy)


def test_an_output_made_before_outputs_had_keys_still_opens(consented, photos):
    from vault.models import DerivedOutput

    output = DerivedOutput.objects.select_related("key").get(pk=_output(consented, photos[:1]))
    account = account_key(consented)
    name = content.names_for(user_id=consented.pk, key_id=output.key.key_id, uid=output.uid, variants=["output"])[0]
    storage.blob_delete(name=name)
    content.content_write(data_key=account, uid=output.uid, variant="output", chunks=[b"made long ago"])
    with unit_of(consented):
        DerivedOutput.objects.filter(pk=output.pk).update(item_key_id=None, wrapped_item_key=None)
    assert gateway.output_open(user_id=consented.pk, output_id=output.pk) == b"made long ago"
