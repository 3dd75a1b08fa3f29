import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.notes import Checkpoint, NoteError, key_id, open_checkpoint, sign_checkpoint, verifier_key

KEY = Ed25519PrivateKey.generate()
ROOT = hashlib.sha256(b"root").digest()
NAME = "example.org/audit"


def test_it_writes_a_c2sp_checkpoint_note():
    note = sign_checkpoint(Checkpoint(NAME, 42, ROOT), key=KEY, key_name=NAME)
    body, signatures = note.split("\n\n")
    assert body == f"{NAME}\n42\n{base64.b64encode(ROOT).decode()}"
    assert signatures.startswith(f"\u2014 {NAME} ") and signatures.endswith("\n")
    blob = base64.b64decode(signatures.rsplit(" ", 1)[1])
    assert blob[:4] == key_id(NAME, KEY.public_key()) and len(blob) == 68
    KEY.public_key().verify(blob[4:], (body + "\n").encode())
    assert verifier_key(NAME, KEY.public_key()).startswith(f"{NAME}+{blob[:4].hex()}+")


def test_it_opens_a_note_it_signed():
    note = sign_checkpoint(Checkpoint(NAME, 7, ROOT), key=KEY, key_name=NAME)
    assert open_checkpoint(note, public_key=KEY.public_key(), key_name=NAME) == Checkpoint(NAME, 7, ROOT)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda n: n.replace("\n7\n", "\n8\n"),
        lambda n: n.replace(NAME, "other.org/audit", 1),
        lambda n: n[:-3] + ("A" if n[-3] != "A" else "B") + n[-2:],
        lambda n: n.replace("\n\n", "\n"),
        lambda n: n.rstrip("\n"),
        lambda n: n.split("\n\n")[0] + "\n\n",
    ],
)
def test_it_refuses_a_changed_note(tamper):
    note = sign_checkpoint(Checkpoint(NAME, 7, ROOT), key=KEY, key_name=NAME)
    with pytest.raises(NoteError):
        open_checkpoint(tamper(note), public_key=KEY.public_key(), key_name=NAME)


def test_it_refuses_a_note_signed_by_another_key():
    note = sign_checkpoint(Checkpoint(NAME, 7, ROOT), key=Ed25519PrivateKey.generate(), key_name=NAME)
    with pytest.raises(NoteError):
        open_checkpoint(note, public_key=KEY.public_key(), key_name=NAME)
