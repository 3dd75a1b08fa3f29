#!/usr/bin/env python3
"""A witness for the consentsvc audit trail (C2SP tlog-cosignature), run by an auditor on their own machine.

Needs only Python 3.11+ and the `cryptography` package: no Django, no database. It runs from a
copy of the repository (or of tools/ with audit/canonical.py, merkle.py, notes.py, holder_proof.py
and statefile.py beside it).

    # once: make the witness's key and print its verifier key for the operator's AUDIT_WITNESSES
    python witness.py init --key witness.pem --name auditor.example/witness

    # then every few minutes (cron, a systemd timer):
    python witness.py run --log https://consent.example/api/v1/ --token "$AUDITOR_TOKEN" \\
        --log-key 'consentsvc.local/audit+1a2b3c4d+AU...' \\
        --key witness.pem --name auditor.example/witness --state witness-state.json

Each run fetches the log's latest checkpoint and checks its Ed25519 signature. If the state file
holds an earlier checkpoint, it fetches a consistency proof from that tree to the new one and checks
it (RFC 9162): the new tree must contain the old one unchanged. A smaller tree, or a different root
at the same size, or a proof that does not verify, is refused: exit status 1, nothing signed, the
state kept as it was. Otherwise the witness saves the new checkpoint as its state, then signs a
cosignature/v1 over it and posts it to the log, which serves it with the checkpoint from then on.

The state file is the witness's memory: keep it (and back it up) on the witness's machine. With it,
`manage.py audit_verify --witnessed-checkpoint witness-state.json` proves the operator's trail still
extends what this witness saw, even if the database was rolled back, cosignatures included.
Exit status: 0 cosigned, 1 refused (the log misbehaved), 2 could not run (usage, network, files).
"""

import argparse
import base64
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

# Signed notes, cosignatures and RFC 9162 proofs come from the service's own Django-free modules
# (audit.notes, audit.merkle): one copy of each, checked by the service's tests.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from audit import holder_proof, merkle, notes, statefile  # noqa: E402


class Refused(Exception):
    """The log did something a witness must not vouch for."""


class Failed(Exception):
    """The witness could not do its job this time (network, files, usage)."""


# -- signed notes, checkpoints, cosignatures ---------------------------------------------------------


def parse_log_vkey(vkey: str) -> tuple[str, Ed25519PublicKey]:
    """The log's note verifier key <name>+<hex key id>+<base64(0x01 || public key)>."""
    try:
        return holder_proof.parse_vkey(vkey)
    except holder_proof.Invalid as exc:
        raise Failed(str(exc)) from exc


def open_checkpoint(note: str, log_name: str, log_key: Ed25519PublicKey) -> tuple[str, int, bytes, str]:
    """Checks the log's signature on a checkpoint note; returns (origin, size, root, body)."""
    try:
        checkpoint = notes.open_checkpoint(note, public_key=log_key, key_name=log_name)
        body, _ = notes.split_note(note)
    except notes.NoteError as exc:
        raise Refused(f"the checkpoint: {exc}") from exc
    if checkpoint.origin != log_name:
        raise Refused(f"the checkpoint's origin is {checkpoint.origin!r}, not {log_name!r}")
    return checkpoint.origin, checkpoint.tree_size, checkpoint.root_hash, body


def cosign(body: str, key: Ed25519PrivateKey, name: str, timestamp: int) -> str:
    """A cosignature/v1 signature line (C2SP tlog-cosignature, Ed25519)."""
    return notes.sign_cosignature(body, key=key, name=name, timestamp=timestamp)


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: list[bytes]) -> None:
    """RFC 9162 2.1.4.2; Refused when the new tree does not extend the old one."""
    if first == second and (proof or first_root != second_root):
        raise Refused("the same tree size with a different root: the log forked")
    try:
        merkle.verify_consistency(first, second, first_root, second_root, proof)
    except merkle.ProofError as exc:
        raise Refused(f"the new tree does not extend the one this witness saw: {exc}") from exc


# -- the log over HTTP ---------------------------------------------------------------------------


class Log:
    def __init__(self, base_url: str, token: str | None, timeout: float = 30):
        if not base_url.startswith(("https://", "http://", "/")):
            raise Failed(f"the log's URL must be http(s): {base_url!r}")
        self.base = base_url.rstrip("/") + "/"
        self.token = token
        self.timeout = timeout

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(self.base + path, data=body, method=method)  # noqa: S310 (http(s) only)
        if self.token:
            request.add_header("Authorization", f"Token {self.token}")
        if body is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (the log's URL)
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except (urllib.error.URLError, OSError) as exc:
            raise Failed(f"{method} {self.base + path}: {exc}") from exc

    def get(self, path: str) -> bytes:
        status, body = self.request("GET", path)
        if status != 200:
            raise Failed(f"GET {path}: HTTP {status}: {body[:300]!r}")
        return body


# -- the witness ---------------------------------------------------------------------------------


def load_state(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as handle:
            state = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise Failed(f"{path}: {exc}") from exc
    if not isinstance(state, dict) or not {"origin", "tree_size", "root_hash", "note"} <= set(state):
        raise Failed(f"{path} is not a witness state file")
    return state


def save_state(path: str, state: dict) -> None:
    """Writes the state atomically (a new file renamed over the old), readable by its owner only."""
    statefile.state_save(path, state, prefix=".witness-")


def witness_once(*, log: Log, log_vkey: str, key: Ed25519PrivateKey, name: str, state_path: str,
                 now=time.time, say=print) -> dict:
    """One round: check the log's newest checkpoint against the last one seen, then cosign it."""
    log_name, log_key = parse_log_vkey(log_vkey)
    note = log.get("audit/tlog/checkpoint").decode()
    origin, size, root, body = open_checkpoint(note, log_name, log_key)
    old = load_state(state_path)
    if old is None:
        say(f"first checkpoint seen for {origin}: {size} events (trusted on first use)")
    else:
        if old["origin"] != origin:
            raise Refused(f"the state file is for {old['origin']}, not {origin}")
        old_size, old_root = int(old["tree_size"]), base64.b64decode(old["root_hash"])
        if size < old_size:
            raise Refused(f"the log now has {size} events but this witness saw {old_size}: it was rolled back")
        if size == old_size:
            verify_consistency(size, size, old_root, root, [])
        else:
            query = urllib.parse.urlencode({"first": old_size, "second": size})
            answer = json.loads(log.get(f"audit/proofs/consistency/?{query}"))
            proof = [bytes.fromhex(node) for node in answer["proof"]]
            verify_consistency(old_size, size, old_root, root, proof)
        say(f"{origin}: {old_size} -> {size} events, consistent")
    state = {"origin": origin, "tree_size": size, "root_hash": base64.b64encode(root).decode(),
             "note": note, "seen_at": int(now())}
    save_state(state_path, state)
    line = cosign(body, key, name, int(now()))
    status, answer = log.request("POST", "audit/witness/cosignatures/",
                                 json.dumps({"note": note + line + "\n"}).encode())
    if status != 201:
        raise Failed(f"the log did not take the cosignature: HTTP {status}: {answer[:300]!r}")
    say(f"cosigned {origin} at {size} events")
    return state


def load_key(path: str) -> Ed25519PrivateKey:
    try:
        with open(path, "rb") as handle:
            key = serialization.load_pem_private_key(handle.read(), password=None)
    except (OSError, ValueError) as exc:
        raise Failed(f"{path}: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise Failed(f"{path} is not an Ed25519 private key")
    return key


def init(key_path: str, name: str) -> str:
    if os.path.exists(key_path):
        key = load_key(key_path)
    else:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
    public_key = key.public_key()
    return notes.Cosigner(name=name, key_id=notes.cosigner_key_id(name, public_key), public_key=public_key).vkey()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_init = sub.add_parser("init", help="make the witness key (if missing) and print its verifier key")
    p_init.add_argument("--key", required=True, help="the witness's Ed25519 private key (PEM), created mode 0600")
    p_init.add_argument("--name", required=True, help="the witness's name, e.g. auditor.example/witness")
    p_run = sub.add_parser("run", help="check the log's newest checkpoint and cosign it")
    p_run.add_argument("--log", required=True, help="the API base URL, e.g. https://consent.example/api/v1/")
    p_run.add_argument("--token", default=os.environ.get("CONSENTSVC_AUDITOR_TOKEN"),
                       help="an auditor API token (default: $CONSENTSVC_AUDITOR_TOKEN)")
    p_run.add_argument("--log-key", required=True,
                       help="the log's verifier key (GET audit/public-key/ -> verifier_key, got through a channel "
                            "you trust)")
    p_run.add_argument("--key", required=True)
    p_run.add_argument("--name", required=True)
    p_run.add_argument("--state", required=True, help="where the last checkpoint seen is kept (JSON)")
    args = parser.parse_args(argv)
    try:
        if args.command == "init":
            print(init(args.key, args.name))
            return 0
        witness_once(log=Log(args.log, args.token), log_vkey=args.log_key, key=load_key(args.key),
                     name=args.name, state_path=args.state)
        return 0
    except Refused as exc:
        print(f"REFUSED: {exc}", file=sys.stderr)
        return 1
    except Failed as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
