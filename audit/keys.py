"""The audit MAC key: a secret kept outside the database that every event carries a MAC under.

An event's MAC is HMAC-SHA256(key, MAC_LABEL || leaf hash), in hex; the leaf hash commits to
the event's canonical bytes, so the MAC covers every field, the seq and the link to the event
before. Anyone who can write to the database but does not hold the key cannot make a row that
passes as genuine.

The key comes from AUDIT_MAC_KEY (or AUDIT_MAC_KEY_FILE), at least 32 characters; in
development and tests one is generated once under var/keys with mode 0600; production refuses
to start without one (audit.E004).
"""

import hashlib
import hmac
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from core.env import dev_secret_file, random_token

MAC_LABEL = b"consentsvc-audit-event-mac/v1\n"
MIN_KEY_CHARS = 32


@lru_cache(maxsize=4)
def _load(value: str | None, keys_dir: str, production: bool) -> bytes:
    if value:
        key = value.encode()
    elif production:
        raise ImproperlyConfigured("AUDIT_MAC_KEY is required in production")
    else:
        from pathlib import Path

        key = dev_secret_file(Path(keys_dir) / "audit_mac_key", random_token).strip()
    if len(key) < MIN_KEY_CHARS:
        raise ImproperlyConfigured(f"AUDIT_MAC_KEY must be at least {MIN_KEY_CHARS} characters")
    return key


def mac_key() -> bytes:
    return _load(getattr(settings, "AUDIT_MAC_KEY", None), str(settings.KEYS_DIR), settings.PRODUCTION)


def event_mac(leaf: bytes, key: bytes | None = None) -> str:
    """The hex MAC of an event, from its 32-byte leaf hash."""
    return hmac.digest(key or mac_key(), MAC_LABEL + leaf, "sha256").hex()


@lru_cache(maxsize=8)
def _mac_states(key: bytes, label: bytes):
    """HMAC-SHA256's inner state after the key block and `label`, and its outer state after the key
    block (RFC 2104): each MAC then costs two copies and a few compressions, not a fresh HMAC set-up
    (hmac.digest hashes both key blocks again for every message)."""
    block = hashlib.sha256().block_size
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    return hashlib.sha256(key.translate(hmac.trans_36) + label), hashlib.sha256(key.translate(hmac.trans_5C))


def labelled_macs(messages: list[bytes], key: bytes, label: bytes) -> list[str]:
    """hmac.digest(key, label + message, "sha256").hex() of each message, with the key set up once."""
    inner, outer = _mac_states(key, label)
    macs = []
    append = macs.append
    for message in messages:
        i = inner.copy()
        i.update(message)
        o = outer.copy()
        o.update(i.digest())
        append(o.hexdigest())
    return macs


def event_macs(leaves: list[bytes], key: bytes) -> list[str]:
    """The hex MACs of many events at once, from their leaf hashes: equal to event_mac() of each."""
    return labelled_macs(leaves, key, MAC_LABEL)


def mac_matches(leaf: bytes, mac: str | None, key: bytes | None = None) -> bool:
    return bool(mac) and hmac.compare_digest(event_mac(leaf, key), mac)


def leaf_of(body: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + body).digest()
