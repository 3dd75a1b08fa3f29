"""Each holder's own log (docs/holder-log.md), read as a holder's client would: only over
/api/v1/me/tlog/, checked with the audit key and the Django-free proof code (audit.merkle,
audit.notes) that tools/witness.py uses. It holds exactly that holder's events, only grows, its
head is included in a signed global checkpoint, and nobody else can read it."""

import base64
import json
import re

import pytest
from django.conf import settings
from django.db import connection

from audit import canonical, merkle, notes
from audit.models import AuditEvent, HolderLog
from audit.services import EventInput, audit_append_many, audit_checkpoint_create, audit_checkpoint_if_due
from core import signing
from tests.audit.test_tlog_tiles import TileClient, _path_index

pytestmark = pytest.mark.django_db

PREFIX = "/api/v1/me/tlog/"


class HolderClient(TileClient):
    """The tlog-tiles client of test_tlog_tiles, on a holder's log: its notes are signed under the
    global key name, and their origin names the holder's log."""

    def get(self, path: str):
        return self.client.get(PREFIX + path)

    def note(self) -> str:
        response = self.get("checkpoint")
        assert response.status_code == 200, response.content
        assert response["Content-Type"] == "text/plain; charset=utf-8"
        return response.content.decode()

    def checkpoint(self) -> tuple[int, bytes]:
        opened = notes.open_checkpoint(self.note(), public_key=self.public_key,
                                       key_name=settings.AUDIT_CHECKPOINT_ORIGIN)
        self.origin = opened.origin
        return opened.tree_size, opened.root_hash

    def all_entries(self, size: int) -> list[bytes]:
        out = []
        for index in range((size + 255) // 256):
            out += self.entries(index, min(256, size - 256 * index))
        return out


def _events(subjects: list[int | None], action: str = "media.read") -> list:
    return audit_append_many(events=[
        EventInput(action=action, actor_kind="service", actor_id="suggestions", subject_id=subject,
                   object_type="media_item", object_id=i, purpose="sharing_suggestions", details={"count": i})
        for i, subject in enumerate(subjects)
    ])


def _global_about(subject_id: int) -> list[bytes]:
    """The global trail's entries about this holder, in order, as stored (the holder head events
    name their holder in details, not as subject)."""
    return [bytes(body) for body in AuditEvent.unchecked.filter(subject_id=subject_id).order_by("seq")
            .values_list("canonical", flat=True)]


@pytest.fixture
def client_for(api):
    def make(user) -> HolderClient:
        return HolderClient(api(user), signing.public_key("AUDIT_SIGNING_KEY"), "")

    return make


def test_a_holder_log_holds_exactly_its_holders_events(alice, bob, client_for):
    # 300 about alice (a full tile and a partial one), interleaved with bob's and with events about nobody.
    subjects = []
    for i in range(300):
        subjects += [alice.pk] + ([bob.pk] if i % 3 == 0 else []) + ([None] if i % 7 == 0 else [])
    _events(subjects)
    assert audit_checkpoint_if_due() is not None
    client = client_for(alice)
    size, root = client.checkpoint()
    about_alice = _global_about(alice.pk)
    assert size == len(about_alice) >= 300
    bodies = client.all_entries(size)
    assert bodies == about_alice  # the same bytes, in the global order, and nothing else
    assert {json.loads(body)["subject_id"] for body in bodies} == {alice.pk}
    leaves = client.level_hashes(0, size)
    assert leaves == [canonical.leaf_hash(body) for body in bodies]  # the same leaf hashes
    assert merkle.root_of(leaves) == root
    assert client.tile(1, 0, 1) == [merkle.root_of(leaves[:256])]
    # The origin names the log by an opaque id: not the username, not the user id.
    assert re.fullmatch(re.escape(settings.AUDIT_CHECKPOINT_ORIGIN) + r"/holder/[0-9a-f]{32}", client.origin)
    assert "alice" not in client.origin and not client.origin.endswith(f"/{alice.pk}")
    # bob's log is bob's alone.
    bob_client = client_for(bob)
    bob_size, bob_root = bob_client.checkpoint()
    assert bob_client.all_entries(bob_size) == _global_about(bob.pk)
    assert bob_client.origin != client.origin


def test_events_before_the_log_existed_are_in_it(alice, client_for):
    from audit.holder_logs import backfill
    from audit.keys import mac_key
    from audit.triggers import suspended

    _events([alice.pk, None, alice.pk])
    # As the trail was before holder logs: the same events, no holder log (what migration 0014 finds).
    with suspended(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_holderlogentry")
        cursor.execute("DELETE FROM audit_holderlog")
        assert backfill(cursor, mac_key()) == 2
        assert backfill(cursor, mac_key()) == 0  # once only
    _events([alice.pk])
    audit_checkpoint_if_due()
    client = client_for(alice)
    size, _ = client.checkpoint()
    assert client.all_entries(size) == _global_about(alice.pk) and size == 3


def test_a_holder_log_only_grows(alice, bob, client_for):
    client = client_for(alice)
    _events([alice.pk] * 40 + [bob.pk] * 3)
    audit_checkpoint_if_due()
    first, first_root = client.checkpoint()
    _events([bob.pk, alice.pk] * 250)
    audit_checkpoint_if_due()
    second, second_root = client.checkpoint()
    assert (first, second) == (40, 290)
    # Consistency from the tiles alone: the proof is computed here from hashes read as tiles.
    leaves = client.level_hashes(0, second)
    proof = merkle.consistency_proof(first, second, iter(leaves))
    merkle.verify_consistency(first, second, first_root, second_root, proof)
    # The earlier tree is still served as partial tiles of the same content.
    assert client.tile(0, 0, first) == leaves[:first]
    # A rolled-back or forked head would not verify against the earlier one.
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(first, second, first_root, merkle.root_of(leaves[:-1] + [leaves[0]]), proof)
    # Nothing new about alice: no new holder checkpoint, however much else is appended.
    _events([bob.pk] * 5)
    audit_checkpoint_if_due()
    assert client.checkpoint() == (second, second_root)


def test_its_head_is_included_in_a_signed_global_checkpoint(alice, bob, client_for):
    client = client_for(alice)
    assert client.get("commitment/").json()["error"]["code"] == "holder_log_not_committed"
    _events([alice.pk, bob.pk, None] * 20)
    audit_checkpoint_if_due()
    _events([alice.pk] * 3)  # grown since, not yet committed
    body = client.get("commitment/").json()
    key = signing.public_key("AUDIT_SIGNING_KEY")
    name = settings.AUDIT_CHECKPOINT_ORIGIN
    assert body["verifier_key"] == notes.verifier_key(name, key)
    holder = notes.open_checkpoint(body["holder_checkpoint"], public_key=key, key_name=name)
    trail = notes.open_checkpoint(body["global_checkpoint"], public_key=key, key_name=name)
    assert trail.origin == name and holder.origin.startswith(name + "/holder/")
    assert holder.tree_size == 20
    entry = base64.b64decode(body["entry"])
    head = json.loads(entry)
    assert head["action"] == "audit.holder_head" and head["subject_id"] is None
    assert head["details"] == {"holder": alice.pk, "origin": holder.origin, "root": holder.root_hash.hex(),
                               "size": holder.tree_size}
    assert head["object_type"] == "holder_log" and holder.origin.endswith("/" + head["object_id"])
    proof = [base64.b64decode(node) for node in body["inclusion_proof"]]
    merkle.verify_inclusion(body["leaf_index"], trail.tree_size, canonical.leaf_hash(entry), proof, trail.root_hash)
    # The head names exactly the first 20 global entries about alice.
    about = _global_about(alice.pk)[:20]
    assert merkle.root_of([canonical.leaf_hash(b) for b in about]) == holder.root_hash
    # A tampered entry or proof does not verify.
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(body["leaf_index"], trail.tree_size, canonical.leaf_hash(entry.replace(b"20}", b"21}")),
                                proof, trail.root_hash)
    # The next checkpoint commits the newer head.
    audit_checkpoint_if_due()
    newer = client.get("commitment/").json()
    assert notes.open_checkpoint(newer["holder_checkpoint"], public_key=key, key_name=name).tree_size == 23
    assert newer["leaf_index"] > body["leaf_index"]


def test_a_checkpoint_without_holder_heads_commits_nothing(alice, client_for):
    """An export's checkpoint (audit_checkpoint_create) signs the trail only; the periodic one commits heads."""
    _events([alice.pk] * 2)
    audit_checkpoint_create()
    assert client_for(alice).get("checkpoint").json()["error"]["code"] == "holder_log_no_checkpoint"
    assert not AuditEvent.objects.filter(action="audit.holder_head").exists()
    audit_checkpoint_if_due()
    assert AuditEvent.objects.filter(action="audit.holder_head").count() == 1


def test_a_holder_cannot_read_another_holders_log(alice, bob, audrey, sam, client_for, api):
    _events([alice.pk] * 300)
    audit_checkpoint_if_due()
    alice_client = client_for(alice)
    alice_note = alice_client.note()
    log_id = HolderLog.objects.get(subject_id=alice.pk).log_id
    paths = ["checkpoint", "commitment/", "tile/0/000", "tile/0/000.p/1", "tile/1/000.p/1", "tile/entries/000",
             "tile/entries/000.p/1"]
    # Another holder: their own log (empty), nothing of alice's, whatever they ask for.
    other = client_for(bob)
    assert other.get("checkpoint").json()["error"]["code"] == "holder_log_no_checkpoint"
    assert other.get("commitment/").json()["error"]["code"] == "holder_log_not_committed"
    for path in paths[2:]:
        response = other.get(path)
        assert response.status_code == 404 and response.json()["error"]["code"] == "holder_tile_not_found"
    # Naming alice's log, her user id or her username in the path or the query gets nothing of it.
    for path in (f"{log_id}/checkpoint", f"{alice.pk}/checkpoint", f"holder/{log_id}/checkpoint",
                 "alice/checkpoint", f"checkpoint/{log_id}", f"tile/0/000?subject={alice.pk}",
                 f"checkpoint?subject_id={alice.pk}", f"checkpoint?log={log_id}", f"commitment/?holder={alice.pk}"):
        response = other.get(path)
        assert response.status_code == 404, path
        assert alice_note.encode() not in response.content
    # Auditors and support agents have no holder log here: refused.
    for who in (audrey, sam):
        for path in paths:
            response = client_for(who).get(path)
            assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"
    # Nor anonymously.
    response = api().get(PREFIX + "checkpoint")
    assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"
    assert api().get(PREFIX + "tile/0/000").status_code == 401
    # Once bob has a log of his own, he reads his, not alice's.
    _events([bob.pk])
    audit_checkpoint_if_due()
    bob_client = client_for(bob)
    assert bob_client.checkpoint()[0] == 1 and bob_client.origin.rsplit("/", 1)[1] != log_id
    assert bob_client.get("tile/0/000.p/2").status_code == 404
    assert bob_client.all_entries(1) == _global_about(bob.pk)


@pytest.mark.parametrize("path", [
    "tile/0/002",            # beyond the signed tree
    "tile/0/001",            # partial: only .p/44 exists
    "tile/0/001.p/45",       # wider than the tree
    "tile/0/1",              # not the spec's spelling
    "tile/0/000.p/0",        # width 0
    "tile/0/000.p/256",      # a full tile has no .p
    "tile/2/000.p/1",        # no level 2 entry yet
    "tile/entries/001",      # the entries of a partial tile
    "tile/entries/002.p/1",
])
def test_it_refuses_tiles_the_signed_holder_tree_does_not_have(alice, client_for, path):
    _events([alice.pk] * 300)
    audit_checkpoint_if_due()
    client = client_for(alice)
    assert client.checkpoint()[0] == 300
    assert len(client.tile(0, 1, 44)) == 44 and len(client.entries(1, 44)) == 44
    response = client.get(path)
    assert response.status_code == 404
    if response["Content-Type"].startswith("application/json"):
        assert response.json()["error"]["code"] in ("holder_tile_not_found", "not_found")


def test_only_the_signed_holder_tree_is_served(alice, client_for):
    _events([alice.pk] * 10)
    audit_checkpoint_if_due()
    _events([alice.pk] * 5)  # integrated, not yet signed
    client = client_for(alice)
    assert client.checkpoint()[0] == 10
    assert client.get(f"tile/0/{_path_index(0)}.p/10").status_code == 200
    assert client.get("tile/0/000.p/11").status_code == 404
    assert client.get("tile/entries/000.p/11").status_code == 404


def _holder_statements(subjects: list[int]) -> list[str]:
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        _events(subjects)
    return [q["sql"] for q in captured.captured_queries
            if re.search(r"audit_holderlog|audit_headwrite|audit_audithead", q["sql"])]


def test_a_pass_over_many_holders_costs_the_statements_of_a_pass_over_one(alice):
    # The heads of 1,200 holders are read with the global head's lock and written with it, each in
    # one statement, as one holder's are: none per holder, nor per few hundred (PostgreSQL wrote them
    # 500 at a time). Each gets its entry, at index 0, and the pass moves the global head.
    one = _holder_statements([alice.pk])
    many = _holder_statements(list(range(10_000, 11_200)))
    assert len(many) == len(one) == 2, "\n".join(sql[:120] for sql in many)
    logs = dict(HolderLog.objects.filter(subject_id__gte=10_000).values_list("subject_id", "size"))
    assert logs == dict.fromkeys(range(10_000, 11_200), 1)
    about = dict(AuditEvent.unchecked.filter(subject_id__gte=10_000).values_list("subject_id", "seq"))
    with connection.cursor() as cursor:
        cursor.execute('SELECT subject_id, "index", seq FROM audit_holderlogentry WHERE subject_id >= 10000')
        entries = cursor.fetchall()
    assert sorted(entries) == sorted((subject, 0, seq) for subject, seq in about.items())
