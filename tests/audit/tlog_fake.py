"""A tlog-tiles log in memory, built from entry bytes and signed with a key of the test's own: what a
monitor or a phone reads, with nothing of the service in between, so a test can plant what a
misbehaving service would serve."""

import re

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import canonical, notes
from audit.integrate import WIDTH, perfect_root
from audit.merkle import root_of

_TILE = re.compile(r"^tile/(entries|\d+)/((?:x\d{3}/)*\d{3})(?:\.p/(\d+))?$")


class Missing(Exception):
    """A path the log does not serve (a 404)."""


class FakeLog:
    def __init__(self, origin: str, key: Ed25519PrivateKey | None = None, key_name: str | None = None):
        self.origin = origin
        self.key = key or Ed25519PrivateKey.generate()
        self.key_name = key_name or origin
        self.bodies: list[bytes] = []
        self.size = 0  # the signed size
        self.note = ""
        self.fetched: list[str] = []
        self.tile_override: dict[str, bytes] = {}

    @property
    def vkey(self) -> str:
        return notes.verifier_key(self.key_name, self.key.public_key())

    def append(self, *bodies: bytes) -> None:
        self.bodies.extend(bodies)

    def sign(self, size: int | None = None) -> str:
        self.size = len(self.bodies) if size is None else size
        root = root_of([canonical.leaf_hash(b) for b in self.bodies[: self.size]])
        self.note = notes.sign_checkpoint(notes.Checkpoint(self.origin, self.size, root), key=self.key,
                                          key_name=self.key_name)
        return self.note

    def level(self, level: int) -> list[bytes]:
        hashes = [canonical.leaf_hash(b) for b in self.bodies[: self.size]]
        for _ in range(level):
            hashes = [perfect_root(hashes[i : i + WIDTH]) for i in range(0, len(hashes) - WIDTH + 1, WIDTH)]
        return hashes

    def get(self, path: str) -> bytes:
        self.fetched.append(path)
        if path in self.tile_override:
            return self.tile_override[path]
        if path == "checkpoint":
            if not self.note:
                raise Missing(path)
            return self.note.encode()
        match = _TILE.match(path)
        if not match:
            raise Missing(path)
        kind, index_text, width_text = match.groups()
        index = int(index_text.replace("x", "").replace("/", ""))
        width = int(width_text) if width_text else WIDTH
        if kind == "entries":
            items = self.bodies[: self.size][index * WIDTH : index * WIDTH + width]
            if len(items) != width:
                raise Missing(path)
            return b"".join(len(b).to_bytes(2, "big") + b for b in items)
        items = self.level(int(kind))[index * WIDTH : index * WIDTH + width]
        if len(items) != width:
            raise Missing(path)
        return b"".join(items)


def event(seq: int, *, subject_id, action: str = "media.read", details: dict | None = None,
          object_type: str = "media_item", object_id: str | None = None, actor_kind: str = "service") -> bytes:
    """An entry's canonical bytes (v 3)."""
    return canonical.dumps({
        "action": action, "actor_id": "consentsvc", "actor_kind": actor_kind, "details": details or {},
        "event_id": f"00000000-0000-4000-8000-{seq:012d}", "object_id": object_id or str(seq),
        "object_type": object_type, "outcome": "allowed", "purpose": "", "request_id": "",
        "subject_id": subject_id, "time": f"2026-12-06T12:00:{seq % 60:02d}.000000Z", "v": 3,
    })


def holder_head(seq: int, *, global_origin: str, holder: int, log_id: str, bodies: list[bytes]) -> bytes:
    """The audit.holder_head entry naming the holder log made of these bodies (docs/holder-log.md)."""
    root = root_of([canonical.leaf_hash(b) for b in bodies])
    return event(seq, subject_id=None, action="audit.holder_head", object_type="holder_log", object_id=log_id,
                 actor_kind="system",
                 details={"holder": holder, "origin": f"{global_origin}/holder/{log_id}", "root": root.hex(),
                          "size": len(bodies)})


def commitment(trail: FakeLog, holder_log: FakeLog, *, holder: int, log_id: str,
               head_bodies: list[bytes] | None = None) -> dict:
    """Appends the head of `holder_log` (as signed) to the trail, signs the trail, and answers what
    GET /api/v1/me/tlog/commitment/ would (docs/holder-log.md)."""
    import base64

    from audit.merkle import inclusion_proof

    bodies = holder_log.bodies[: holder_log.size] if head_bodies is None else head_bodies
    trail.append(holder_head(len(trail.bodies) + 1, global_origin=trail.origin, holder=holder, log_id=log_id,
                             bodies=bodies))
    trail.sign()
    index = len(trail.bodies) - 1
    leaves = [canonical.leaf_hash(b) for b in trail.bodies]
    proof = inclusion_proof(index, len(leaves), iter(leaves))
    return {"holder_checkpoint": holder_log.note, "global_checkpoint": trail.note, "leaf_index": index,
            "entry": base64.b64encode(trail.bodies[index]).decode(),
            "inclusion_proof": [base64.b64encode(p).decode() for p in proof], "verifier_key": trail.vkey}
