"""Signed consent receipts: a holder can prove what they agreed to, and when.

A receipt is a JSON object. Its `signature` is Ed25519 over the canonical JSON
(keys sorted, no spaces, UTF-8) of `receipt`, made with RECEIPT_SIGNING_KEY;
the public key is published at /api/v1/consent/receipts/public-key/.
"""

import base64
import hashlib
import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from consent import purposes
from consent.models import ConsentEntry
from core import signing

KEY_SETTING = "RECEIPT_SIGNING_KEY"
RECEIPT_VERSION = "consentsvc-receipt/1"


def canonical(payload: dict) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def receipt_payload(entry: ConsentEntry) -> dict:
    # Field names follow the consent record of ISO/IEC TS 27560.
    return {
        "schema": RECEIPT_VERSION,
        "record_id": str(entry.record_id),
        "subject_id": str(entry.subject_id),
        "purpose": entry.purpose,
        "purpose_name": purposes.PURPOSE_LABELS.get(entry.purpose, entry.purpose),
        "notice_version": entry.notice_version,
        "notice_sha256": entry.notice_sha256,
        "event": entry.event,
        "timestamp": entry.created_at.isoformat(),
        "collection_method": entry.method,
        "actor": {"kind": entry.actor_kind, "id": entry.actor_id},
        "jurisdiction": entry.jurisdiction,
        "retention": entry.retention,
        "controller": "consentsvc",
    }


def receipt_sign(entry: ConsentEntry) -> dict:
    payload = receipt_payload(entry)
    key = signing.private_key(KEY_SETTING)
    return {
        "receipt": payload,
        "alg": "Ed25519",
        "key_id": key_id(key.public_key()),
        "signature": base64.b64encode(key.sign(canonical(payload))).decode(),
    }


def receipt_verify(signed: dict, public_key_pem: str | bytes) -> bool:
    """True when `signed` carries a valid signature by the key in `public_key_pem`."""
    public_key = serialization.load_pem_public_key(
        public_key_pem.encode() if isinstance(public_key_pem, str) else public_key_pem
    )
    if not isinstance(public_key, Ed25519PublicKey):
        return False
    try:
        public_key.verify(base64.b64decode(signed["signature"], validate=True), canonical(signed["receipt"]))
    except (InvalidSignature, KeyError, ValueError, TypeError):
        return False
    return True


def public_key_pem() -> str:
    return signing.public_key_pem(KEY_SETTING)
