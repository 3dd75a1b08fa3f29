"""Ed25519 signing keys that live outside the database.

A key comes from a PEM in the environment (``<NAME>`` or ``<NAME>_FILE``); in
development and tests a key is generated once under ``var/keys`` with mode 0600.
"""

from functools import cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from core.env import dev_secret_file


def _generate_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@cache
def private_key(setting_name: str) -> Ed25519PrivateKey:
    pem = getattr(settings, setting_name)
    if pem:
        data = pem.encode()
    elif settings.PRODUCTION:
        raise ImproperlyConfigured(f"{setting_name} is required in production")
    else:
        data = dev_secret_file(settings.KEYS_DIR / f"{setting_name.lower()}.pem", _generate_pem)
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured(f"{setting_name} is not an Ed25519 private key")
    return key


def public_key(setting_name: str) -> Ed25519PublicKey:
    return private_key(setting_name).public_key()


def public_key_pem(setting_name: str) -> str:
    return public_key(setting_name).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
