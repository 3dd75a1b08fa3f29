import io
import os
import stat
import uuid
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from tests.conftest import unit_of
from tests.vault.conftest import new_master_key
from vault import blobs, checks, keyring, keys
from vault.models import AccountKey


def test_it_parses_master_keys_with_the_first_active():
    one, two = new_master_key("k2"), new_master_key("k1")
    parsed = keys.parse_master_keys(f"{one}\n{two}")
    assert parsed.active_id == "k2"
    assert set(parsed.keys) == {"k1", "k2"}
    assert keys.parse_master_keys(f" {one} , {two} ").active_id == "k2"


@pytest.mark.parametrize(
    "value",
    ["", "nokey", "k1:not-base64!", "k1:" + "QUFB", new_master_key("k1") + "," + new_master_key("k1"), "bad id:AAAA"],
)
def test_it_refuses_malformed_master_keys(value):
    with pytest.raises(ImproperlyConfigured):
        keys.parse_master_keys(value)


def test_it_generates_a_development_key_file_with_mode_0600(settings, tmp_path):
    settings.VAULT_MASTER_KEYS = None
    settings.KEYS_DIR = tmp_path / "keys"
    first = keys.master_keys()
    path = settings.KEYS_DIR / "vault_master_keys"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert keys.master_keys() == first  # read back, not regenerated


def test_it_refuses_production_without_a_master_key(settings):
    settings.PRODUCTION = True
    settings.VAULT_MASTER_KEYS = None
    assert [e.id for e in checks.check_master_keys(None)] == ["vault.E001"]
    with pytest.raises(ImproperlyConfigured):
        keys.master_keys()
    settings.VAULT_MASTER_KEYS = "k1:short"
    assert [e.id for e in checks.check_master_keys(None)] == ["vault.E002"]
    settings.VAULT_MASTER_KEYS = new_master_key("k1")
    assert checks.check_master_keys(None) == []


def test_it_binds_a_wrapped_key_to_its_account_scope_and_id(master_key):
    key_id, raw = uuid.uuid4(), keys.new_data_key()
    master_id, wrapped = keys.wrap_data_key(user_id=7, key_id=key_id, scope="media", key=raw)
    assert raw not in wrapped
    assert keys.unwrap_data_key(user_id=7, key_id=key_id, scope="media", master_id=master_id, wrapped=wrapped) == raw
    for change in ({"user_id": 8}, {"key_id": uuid.uuid4()}, {"scope": "settings"}):
        args = {"user_id": 7, "key_id": key_id, "scope": "media", "master_id": master_id, "wrapped": wrapped, **change}
        with pytest.raises(keys.KeyUnwrapError):
            keys.unwrap_data_key(**args)
    flipped = bytearray(wrapped)
    flipped[-1] ^= 1
    with pytest.raises(keys.KeyUnwrapError):
        keys.unwrap_data_key(user_id=7, key_id=key_id, scope="media", master_id=master_id, wrapped=bytes(flipped))


def test_it_stores_account_keys_only_wrapped(alice, master_key):
    with unit_of(alice):
        row, data_key = keyring.data_key_get_or_create(user_id=alice.pk)
    stored = AccountKey.objects.get(pk=row.pk)
    assert data_key.key not in bytes(stored.wrapped)
    assert len(data_key.key) == 32
    with unit_of(alice):
        assert keyring.data_key_get_or_create(user_id=alice.pk)[1] == data_key  # one per account and scope
    with unit_of(alice):
        assert keyring.data_key_get_or_create(user_id=alice.pk, scope=keys.SCOPE_SETTINGS)[1].key != data_key.key


def test_it_seals_values_bound_to_their_purpose_and_binding(alice, master_key):
    with unit_of(alice):
        _, data_key = keyring.data_key_get_or_create(user_id=alice.pk)
    sealed = data_key.seal(b"52.5,13.4", purpose=b"meta", binding=b"item-1")
    assert data_key.open(sealed, purpose=b"meta", binding=b"item-1") == b"52.5,13.4"
    with pytest.raises(keys.KeyUnwrapError):
        data_key.open(sealed, purpose=b"meta", binding=b"item-2")


def test_it_rotates_the_master_key_without_touching_any_blob(alice, bob, settings, master_key, tmp_path):
    from vault import content

    with unit_of(alice):
        _, alice_key = keyring.data_key_get_or_create(user_id=alice.pk)
    with unit_of(bob):
        keyring.data_key_get_or_create(user_id=bob.pk)
    uid = uuid.uuid4()
    name, _ = content.content_write(data_key=alice_key, uid=uid, variant="original", chunks=[b"photo" * 1000])
    from vault.storage import blob_storage

    path = blob_storage().path(name)
    before = (Path(path).read_bytes(), os.stat(path).st_mtime_ns)

    settings.VAULT_MASTER_KEYS = new_master_key("k2") + "," + master_key
    call_command("vault_rotate_master_key", "--no-progress", stdout=io.StringIO())
    assert set(AccountKey.objects.values_list("master_key_id", flat=True)) == {"k2"}
    assert (Path(path).read_bytes(), os.stat(path).st_mtime_ns) == before

    settings.VAULT_MASTER_KEYS = settings.VAULT_MASTER_KEYS.split(",")[0]  # the old key retired
    reloaded = keyring.data_key_by_id(user_id=alice.pk, key_id=alice_key.key_id)
    assert reloaded.key == alice_key.key
    assert content.content_read(data_key=reloaded, uid=uid, variant="original") == b"photo" * 1000
    call_command("vault_rotate_master_key", "--no-progress", stdout=io.StringIO())  # idempotent


def test_it_says_which_master_key_is_missing(alice, settings, master_key):
    with unit_of(alice):
        keyring.data_key_get_or_create(user_id=alice.pk)
    settings.VAULT_MASTER_KEYS = new_master_key("k9")
    with pytest.raises(keys.KeyUnwrapError, match="k1"):
        keyring.data_key_get(user_id=alice.pk)


def test_it_keeps_the_blob_header_format_stable():
    assert blobs.HEADER_BYTES == 4 + 1 + 1 + 8 + 16 + 16 + 1 + 60


def test_a_master_key_rotation_is_audited_once_per_account_it_rewraps(alice, bob, settings, master_key):
    from audit.models import AuditEvent

    with unit_of(alice):
        keyring.data_key_get_or_create(user_id=alice.pk)
    with unit_of(bob):
        keyring.data_key_get_or_create(user_id=bob.pk)
    settings.VAULT_MASTER_KEYS = new_master_key("k2") + "," + master_key
    call_command("vault_rotate_master_key", "--no-progress", stdout=io.StringIO())
    events = AuditEvent.objects.filter(action="key.rewrapped").order_by("subject_id")
    assert [(e.subject_id, e.actor_kind, e.actor_id) for e in events] == [
        (alice.pk, "system", "vault_rotate_master_key"), (bob.pk, "system", "vault_rotate_master_key")]
    assert events[0].details == {"keys": 1, "from": ["k1"], "to": "k2"}
    call_command("vault_rotate_master_key", "--no-progress", stdout=io.StringIO())  # nothing left to re-wrap
    assert AuditEvent.objects.filter(action="key.rewrapped").count() == 2
