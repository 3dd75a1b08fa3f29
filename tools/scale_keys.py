"""Make the secrets every process of a scaled-out deployment must share, once, as files.

    python tools/scale_keys.py DIR

Writes (only those missing, mode 0600 in a 0700 folder) the Django secret key, the vault master
key, the audit and receipt signing keys (Ed25519 PEM) and the audit MAC key, then prints the
``NAME_FILE=path`` lines that point the service at them. Every web process, worker and the
scheduler must read the same files (copy them to each machine, or keep them in a secret store):
a process with another master key could not read the photos the others stored.
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
from pathlib import Path


def _ed25519_pem() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


MAKERS = {
    "SECRET_KEY": ("secret_key", lambda: secrets.token_urlsafe(64).encode()),
    "VAULT_MASTER_KEYS": ("vault_master_keys", lambda: b"k1:" + base64.b64encode(os.urandom(32))),
    "AUDIT_SIGNING_KEY": ("audit_signing_key.pem", _ed25519_pem),
    "RECEIPT_SIGNING_KEY": ("receipt_signing_key.pem", _ed25519_pem),
    "AUDIT_MAC_KEY": ("audit_mac_key", lambda: secrets.token_urlsafe(48).encode()),
}


def ensure_keys(folder: Path) -> dict[str, str]:
    """Create what is missing under ``folder``; return {NAME_FILE: path} for every key."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    variables = {}
    for name, (filename, make) in MAKERS.items():
        path = folder / filename
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(make())
        variables[f"{name}_FILE"] = str(path.resolve())
    return variables


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    for name, path in ensure_keys(Path(argv[0])).items():
        print(f"{name}={path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
