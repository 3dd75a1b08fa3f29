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

from consentsvc.env import dev_secret_file, random_token

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


@lru_cache(maxsize=4)
def _mac_states(key: bytes):
    """HMAC-SHA256's inner state after the key block and MAC_LABEL, and its outer state after the
    key block (RFC 2104): each event's MAC then costs two copies and three compressions, not a fresh
    HMAC set-up (hmac.digest hashes both key blocks again for every message)."""
    if len(key) > hashlib.sha256().block_size:
        key = hashlib.sha256(key).digest()
    key = key.ljust(hashlib.sha256().block_size, b"\0")
    return hashlib.sha256(key.translate(hmac.trans_36) + MAC_LABEL), hashlib.sha256(key.translate(hmac.trans_5C))


def event_macs(leaves: list[bytes], key: bytes) -> list[str]:
    """The hex MACs of many events at once, from their leaf hashes: equal to event_mac() of each."""
    inner, outer = _mac_states(key)
    macs = []
    append = macs.append
    for leaf in leaves:
        i = inner.copy()
        i.update(leaf)
        o = outer.copy()
        o.update(i.digest())
        append(o.hexdigest())
    return macs


def mac_matches(leaf: bytes, mac: str | None, key: bytes | None = None) -> bool:
    return bool(mac) and hmac.compare_digest(event_mac(leaf, key), mac)


def leaf_of(body: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + body).digest()
