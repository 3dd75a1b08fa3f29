"""The key hierarchy: master keys (outside the database) wrap per-account data keys.

Master keys (KEKs) come from ``VAULT_MASTER_KEYS`` (or ``VAULT_MASTER_KEYS_FILE``):
``id:base64key`` entries separated by commas or newlines; the first one is the
active key, the others only unwrap until ``manage.py vault_rotate_master_key`` has
re-wrapped every account key. Development and tests generate a key file with mode
0600 under ``KEYS_DIR``; production refuses to start without one (check vault.E001).

Each account has a random 256-bit data key per scope, stored only wrapped
(AES-256-GCM) with associated data that binds the account, the key's id, its scope
and the master key id, so a wrapped key copied to another row or account does not
unwrap. Destroying the row is crypto-shredding: everything sealed under it is gone.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import uuid
from dataclasses import dataclass, field
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from core.env import dev_secret_file

KEY_BYTES = 32
NONCE_BYTES = 12
_MASTER_ID = re.compile(r"^[A-Za-z0-9._-]{1,32}$")
_ACCOUNT_KEY_AAD = b"consentsvc.vault.account-key.v1\x00"
_SEAL_AAD = b"consentsvc.vault.sealed.v1\x00"

# Scopes of account keys. Media (originals, thumbnails, outputs, their metadata) is
# shredded on withdrawal and erase; settings (place exclusions) survive that, so a
# holder who turns the feature back on keeps the places they excluded.
SCOPE_MEDIA = "media"
SCOPE_SETTINGS = "settings"
# Face boxes and embeddings, and the names a holder gives people (invariant 11): shredded on
# withdrawal of face_analysis or of the main toggle, and at erase.
SCOPE_FACES = "faces"
SCOPES = (SCOPE_MEDIA, SCOPE_SETTINGS, SCOPE_FACES)
# Not an account key scope: one media item's own key (ItemKey), wrapped under the account's media key.
SCOPE_ITEM = "item"
_ITEM_KEY = b"item-key"


class KeyUnwrapError(Exception):
    """A wrapped key or sealed value did not open: wrong key, wrong binding or tampering."""


@dataclass(frozen=True)
class MasterKeys:
    active_id: str
    keys: dict[str, bytes] = field(repr=False)

    def get(self, key_id: str) -> bytes:
        try:
            return self.keys[key_id]
        except KeyError:
            raise KeyUnwrapError(f"master key {key_id!r} is not configured (VAULT_MASTER_KEYS)") from None


def parse_master_keys(value: str) -> MasterKeys:
    entries = [item.strip() for item in value.replace("\n", ",").split(",") if item.strip()]
    if not entries:
        raise ImproperlyConfigured("VAULT_MASTER_KEYS holds no key")
    keys: dict[str, bytes] = {}
    for entry in entries:
        key_id, sep, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not sep or not _MASTER_ID.match(key_id):
            raise ImproperlyConfigured("VAULT_MASTER_KEYS entries are id:base64key (id: letters, digits, . _ -)")
        try:
            raw = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ImproperlyConfigured(f"VAULT_MASTER_KEYS: key {key_id!r} is not valid base64") from None
        if len(raw) != KEY_BYTES:
            raise ImproperlyConfigured(f"VAULT_MASTER_KEYS: key {key_id!r} must be 32 bytes (256 bits)")
        if key_id in keys:
            raise ImproperlyConfigured(f"VAULT_MASTER_KEYS: key id {key_id!r} appears twice")
        keys[key_id] = raw
    return MasterKeys(active_id=next(iter(keys)), keys=keys)


def _generate_dev_master_key() -> bytes:
    key_id = "dev-" + os.urandom(4).hex()
    return f"{key_id}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}\n".encode()


@lru_cache(maxsize=8)
def _parsed(value: str) -> MasterKeys:
    return parse_master_keys(value)


def master_keys() -> MasterKeys:
    value = settings.VAULT_MASTER_KEYS
    if not value:
        if settings.PRODUCTION:
            raise ImproperlyConfigured("VAULT_MASTER_KEYS (or VAULT_MASTER_KEYS_FILE) is required in production")
        value = dev_secret_file(settings.KEYS_DIR / "vault_master_keys", _generate_dev_master_key).decode()
    return _parsed(value)


def _account_aad(*, user_id: int, key_id: uuid.UUID, scope: str, master_id: str) -> bytes:
    return _ACCOUNT_KEY_AAD + f"{user_id}\x00{key_id.hex}\x00{scope}\x00{master_id}".encode()


def wrap_data_key(*, user_id: int, key_id: uuid.UUID, scope: str, key: bytes) -> tuple[str, bytes]:
    """Wrap a data key under the active master key: (master key id, nonce + ciphertext)."""
    masters = master_keys()
    nonce = os.urandom(NONCE_BYTES)
    aad = _account_aad(user_id=user_id, key_id=key_id, scope=scope, master_id=masters.active_id)
    return masters.active_id, nonce + AESGCM(masters.get(masters.active_id)).encrypt(nonce, key, aad)


def unwrap_data_key(*, user_id: int, key_id: uuid.UUID, scope: str, master_id: str, wrapped: bytes) -> bytes:
    master = master_keys().get(master_id)
    aad = _account_aad(user_id=user_id, key_id=key_id, scope=scope, master_id=master_id)
    try:
        key = AESGCM(master).decrypt(bytes(wrapped[:NONCE_BYTES]), bytes(wrapped[NONCE_BYTES:]), aad)
    except InvalidTag:
        raise KeyUnwrapError(
            f"the data key of account {user_id} does not unwrap (wrong master key or tampered row)"
        ) from None
    if len(key) != KEY_BYTES:
        raise KeyUnwrapError("an unwrapped data key has the wrong length")
    return key


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


@dataclass(frozen=True)
class DataKey:
    """An account's unwrapped data key, held only in memory for the length of one operation."""

    user_id: int
    key_id: uuid.UUID
    scope: str
    key: bytes = field(repr=False)

    def _binding(self, purpose: bytes, binding: bytes) -> bytes:
        return _SEAL_AAD + purpose + b"\x00" + f"{self.user_id}\x00{self.key_id.hex}\x00".encode() + binding

    def seal(self, plaintext: bytes, *, purpose: bytes, binding: bytes = b"") -> bytes:
        """AES-256-GCM under this key; the associated data binds account, key, purpose and ``binding``."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + AESGCM(self.key).encrypt(nonce, plaintext, self._binding(purpose, binding))

    def open(self, sealed: bytes, *, purpose: bytes, binding: bytes = b"") -> bytes:
        sealed = bytes(sealed)
        try:
            return AESGCM(self.key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], self._binding(purpose, binding))
        except InvalidTag:
            raise KeyUnwrapError("a sealed value did not open: it was changed or belongs elsewhere") from None

    @property
    def folder_key_id(self) -> uuid.UUID:
        """The account key whose storage folder holds what this key encrypts (vault.storage.key_folder)."""
        return self.key_id

    def tag(self, value: bytes, *, purpose: bytes) -> str:
        """A keyed hash (HMAC-SHA256 under a subkey), so equal values match without storing them in clear."""
        subkey = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"consentsvc.vault.tag." + purpose).derive(
            self.key
        )
        return hmac.new(subkey, value, hashlib.sha256).hexdigest()


# ---------------------------------------------------------------- item keys
#
# Each media item stored since item keys exist has its own random 256-bit key: its blobs
# (original, thumbnail, the file as uploaded) are encrypted under it, and it is kept only
# wrapped under the account's media key, on the item's row, never in a blob. Deleting the
# row (a trash purge, an emptied trash) therefore crypto-shreds that one item: a copy of
# its ciphertext that survives somewhere (a backup of the blob store, an old object
# version) does not open with the account key, which lives on for the other items. An
# account's withdrawal or erasure still destroys the account key, and every item key with it.


@dataclass(frozen=True)
class ItemKey(DataKey):
    """One item's unwrapped key. Its blobs live in the folder of the account key that wraps it."""

    account_key_id: uuid.UUID | None = None

    @property
    def folder_key_id(self) -> uuid.UUID:
        return self.account_key_id


def _item_binding(item_uid: uuid.UUID, key_id: uuid.UUID) -> bytes:
    return item_uid.bytes + key_id.bytes


def item_key_new(account: DataKey, *, item_uid: uuid.UUID) -> tuple[ItemKey, bytes]:
    """A fresh key for one item and its wrapped form (sealed under the account's media key, bound
    to the item and the key's id, so a wrapped key copied to another row does not open)."""
    if account.scope != SCOPE_MEDIA:
        raise ValueError("item keys are wrapped under the account's media key")
    key_id = uuid.uuid4()
    raw = new_data_key()
    wrapped = account.seal(raw, purpose=_ITEM_KEY, binding=_item_binding(item_uid, key_id))
    item_key = ItemKey(user_id=account.user_id, key_id=key_id, scope=SCOPE_ITEM, key=raw,
                       account_key_id=account.key_id)
    return item_key, wrapped


def item_key_open(account: DataKey, *, item_uid: uuid.UUID, key_id: uuid.UUID, wrapped: bytes) -> ItemKey:
    """Unwrap an item's key; KeyUnwrapError if it is not this item's, or was changed."""
    raw = account.open(bytes(wrapped), purpose=_ITEM_KEY, binding=_item_binding(item_uid, key_id))
    if len(raw) != KEY_BYTES:
        raise KeyUnwrapError("an unwrapped item key has the wrong length")
    return ItemKey(user_id=account.user_id, key_id=key_id, scope=SCOPE_ITEM, key=raw, account_key_id=account.key_id)
