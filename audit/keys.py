"""The audit MAC key: a secret kept outside the database that every event carries a MAC under.

An entry's MAC is HMAC-SHA256(key, label || leaf hash), in hex (audit.canonical.mac); the leaf
hash commits to the entry's bytes, so the MAC covers every field. Anyone who can write to the
database but does not hold the key cannot make a row that passes as genuine.

The key comes from AUDIT_MAC_KEY (or AUDIT_MAC_KEY_FILE), at least 32 characters; in
development and tests one is generated once under var/keys with mode 0600; production refuses
to start without one (audit.E004).
"""

from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from audit import canonical
from core.env import dev_secret_file, random_token

MIN_KEY_CHARS = 32


@lru_cache(maxsize=4)
def _load(value: str | None, keys_dir: str, production: bool) -> bytes:
    if value:
        key = value.encode()
    elif production:
        raise ImproperlyConfigured("AUDIT_MAC_KEY is required in production")
    else:
        key = dev_secret_file(Path(keys_dir) / "audit_mac_key", random_token).strip()
    if len(key) < MIN_KEY_CHARS:
        raise ImproperlyConfigured(f"AUDIT_MAC_KEY must be at least {MIN_KEY_CHARS} characters")
    return key


def mac_key() -> bytes:
    return _load(getattr(settings, "AUDIT_MAC_KEY", None), str(settings.KEYS_DIR), settings.PRODUCTION)


def event_mac(leaf: bytes, key: bytes | None = None) -> str:
    """The hex MAC of an entry (v 3) from its leaf hash (audit.canonical.mac)."""
    return canonical.mac(leaf, key or mac_key())


def chained_event_mac(leaf: bytes, key: bytes | None = None) -> str:
    """The hex MAC of an event in the chained format (v 2), as they were written before entries."""
    return canonical.mac(leaf, key or mac_key(), canonical.CHAINED_MAC_LABEL)


def leaf_of(body: bytes) -> bytes:
    return canonical.leaf_hash(body)
