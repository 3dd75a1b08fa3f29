"""The sealed timeline index (vault.timeline): every live photo's capture time in one blob under the account's
media key. It never shows the database a capture time, follows trash, restore and deletion without hooks,
is destroyed with the account key, and an index that is not this account's own is never believed."""

import datetime as dt
import uuid

import pytest

from core.uow import Actor, account_write
from tests.vault.conftest import grant, withdraw
from tests.vault.test_timeline_pages import upload
from vault import keyring, selectors, timeline, trash
from vault.meta import meta_seal
from vault.models import AccountKey, MediaItem, TimelineIndex

pytestmark = pytest.mark.django_db

SATURDAY = dt.datetime(2025, 6, 14, 9, 30)


def shown(user) -> dict:
    """{day: [item ids]} of every page, as the photos page would show them."""
    return {day: [item_id for item_id, _ in moments]
            for page in selectors.media_timeline_pages(user_id=user.pk, per_page=48) for day, moments in page}


def test_the_index_is_sealed_and_never_holds_a_capture_time_in_clear(consented):
    ids = [upload(consented, when=SATURDAY + dt.timedelta(days=n), n=n) for n in range(3)]
    assert not TimelineIndex.objects.filter(owner_id=consented.pk).exists()
    assert shown(consented) == {SATURDAY.date() + dt.timedelta(days=n): [ids[n]] for n in (2, 1, 0)}
    row = TimelineIndex.objects.get(owner_id=consented.pk)
    blob = bytes(row.sealed)
    for text in (b"2025", b"06-1", b"09:3", str(ids[0]).encode() + b",", b"captured"):
        assert text not in blob
    assert row.key.scope == "media"


def test_trash_restore_and_delete_are_followed_without_a_hook(consented):
    ids = [upload(consented, when=SATURDAY + dt.timedelta(minutes=n), n=n) for n in range(3)]
    assert shown(consented) == {SATURDAY.date(): ids[::-1]}
    trash.media_trash(user_id=consented.pk, item_ids=[ids[1]])
    assert shown(consented) == {SATURDAY.date(): [ids[2], ids[0]]}
    trash.media_restore(user_id=consented.pk, item_id=ids[1])
    assert shown(consented) == {SATURDAY.date(): ids[::-1]}
    trash.media_trash(user_id=consented.pk, item_ids=[ids[0]])
    trash.trash_empty(user_id=consented.pk)
    assert shown(consented) == {SATURDAY.date(): [ids[2], ids[1]]}
    key = AccountKey.objects.get(user_id=consented.pk, scope="media")
    _, data_key = keyring.data_key_get(user_id=consented.pk)
    entries = timeline.timeline_open(data_key=data_key, sealed=TimelineIndex.objects.get(key=key).sealed)
    assert sorted(entries) == sorted(ids[1:])  # the deleted photo is gone from the index too


def test_the_index_is_shredded_with_the_account_key(consented):
    upload(consented, when=SATURDAY, n=1)
    shown(consented)
    assert TimelineIndex.objects.filter(owner_id=consented.pk).exists()
    withdraw(consented)  # turning the feature off destroys the account's media key and what is under it
    assert not AccountKey.objects.filter(user_id=consented.pk, scope="media").exists()
    assert not TimelineIndex.objects.filter(owner_id=consented.pk).exists()
    grant(consented)
    again = upload(consented, when=SATURDAY, n=2)
    assert shown(consented) == {SATURDAY.date(): [again]}


def test_another_accounts_or_a_tampered_index_is_not_believed(consented, bob):
    grant(bob)
    alices = upload(consented, when=SATURDAY, n=1)
    bobs = upload(bob, when=SATURDAY - dt.timedelta(days=3), n=2)
    shown(consented)
    shown(bob)
    stolen = bytes(TimelineIndex.objects.get(owner_id=consented.pk).sealed)
    with account_write(user_id=bob.pk, actor=Actor.holder(bob.pk)):
        TimelineIndex.objects.filter(owner_id=bob.pk).update(sealed=stolen)
    assert shown(bob) == {(SATURDAY - dt.timedelta(days=3)).date(): [bobs]}  # alice's index does not open for bob
    assert alices not in [i for ids in shown(bob).values() for i in ids]
    flipped = bytearray(TimelineIndex.objects.get(owner_id=bob.pk).sealed)
    flipped[-1] ^= 1
    with account_write(user_id=bob.pk, actor=Actor.holder(bob.pk)):
        TimelineIndex.objects.filter(owner_id=bob.pk).update(sealed=bytes(flipped))
    assert shown(bob) == {(SATURDAY - dt.timedelta(days=3)).date(): [bobs]}  # rebuilt from the photos
    assert bytes(TimelineIndex.objects.get(owner_id=bob.pk).sealed) != bytes(flipped)


def test_an_entry_is_not_believed_for_a_row_that_is_no_longer_the_one_indexed(consented):
    """The index names each photo by id and uid: a row with a new uid (an item key given since, or an id
    used again) has its capture time opened again rather than taken from the index."""
    item_id = upload(consented, when=SATURDAY, n=1)
    assert shown(consented) == {SATURDAY.date(): [item_id]}
    _, data_key = keyring.data_key_get(user_id=consented.pk)
    new_uid = uuid.uuid4()
    earlier = SATURDAY - dt.timedelta(days=10)
    sealed = meta_seal(data_key=data_key, uid=new_uid, sha256="0" * 64, captured_at=earlier, lat=None, lon=None,
                       labels=[])
    with account_write(user_id=consented.pk, actor=Actor.holder(consented.pk)):
        MediaItem.objects.filter(pk=item_id).update(uid=new_uid, sealed_meta=sealed)
    assert shown(consented) == {earlier.date(): [item_id]}
