"""Proofs served by the API verify with the RFC 9162 algorithms against the signed checkpoints."""

import hashlib

import pytest
from django.urls import reverse

from audit import merkle
from audit.models import AuditEvent
from audit.notes import open_checkpoint
from audit.services import audit_checkpoint_create
from core import signing

pytestmark = pytest.mark.django_db


@pytest.fixture
def trail(settings, many_events):
    settings.AUDIT_CHECKPOINT_EVERY = 7
    many_events(30)
    audit_checkpoint_create()


def _signed_root(note: str, settings) -> tuple[int, bytes]:
    opened = open_checkpoint(note, public_key=signing.public_key("AUDIT_SIGNING_KEY"),
                             key_name=settings.AUDIT_CHECKPOINT_ORIGIN)
    return opened.tree_size, opened.root_hash


def test_it_proves_every_event_is_in_the_signed_tree(trail, audrey, api, settings):
    client = api(audrey)
    for seq in range(1, 31):
        body = client.get(reverse("api-audit-proof-inclusion"), {"seq": seq}).json()
        size, root = _signed_root(body["checkpoint"], settings)
        assert body["tree_size"] == size == 30
        leaf = hashlib.sha256(b"\x00" + bytes(AuditEvent.objects.get(seq=seq).canonical)).digest()
        merkle.verify_inclusion(seq - 1, size, leaf, [bytes.fromhex(p) for p in body["proof"]], root)


def test_it_proves_inclusion_in_an_earlier_checkpoint(trail, audrey, api, settings):
    body = api(audrey).get(reverse("api-audit-proof-inclusion"), {"seq": 3, "tree_size": 14}).json()
    size, root = _signed_root(body["checkpoint"], settings)
    assert size == 14 and body["root_hash"] == root.hex()
    merkle.verify_inclusion(2, 14, bytes.fromhex(body["leaf_hash"]), [bytes.fromhex(p) for p in body["proof"]], root)


def test_it_proves_each_checkpoint_extends_the_one_before(trail, audrey, api, settings):
    client = api(audrey)
    sizes = [7, 14, 21, 28, 30]
    for first, second in zip(sizes, sizes[1:], strict=False):
        body = client.get(reverse("api-audit-proof-consistency"), {"first": first, "second": second}).json()
        _, first_root = _signed_root(body["first_checkpoint"], settings)
        _, second_root = _signed_root(body["second_checkpoint"], settings)
        assert (body["first_root"], body["second_root"]) == (first_root.hex(), second_root.hex())
        merkle.verify_consistency(first, second, first_root, second_root, [bytes.fromhex(p) for p in body["proof"]])


def test_it_serves_an_empty_proof_between_equal_sizes(trail, audrey, api):
    body = api(audrey).get(reverse("api-audit-proof-consistency"), {"first": 30, "second": 30}).json()
    assert body["proof"] == [] and body["first_root"] == body["second_root"]


@pytest.mark.parametrize(
    ("name", "query"),
    [
        ("api-audit-proof-inclusion", {"seq": 31}),
        ("api-audit-proof-inclusion", {"seq": 5, "tree_size": 4}),
        ("api-audit-proof-inclusion", {"seq": 5, "tree_size": 99}),
        ("api-audit-proof-consistency", {"first": 20, "second": 10}),
        ("api-audit-proof-consistency", {"first": 10, "second": 99}),
    ],
)
def test_it_refuses_proofs_outside_the_trail(name, query, trail, audrey, api):
    response = api(audrey).get(reverse(name), query)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "audit_proof_out_of_range"


@pytest.mark.parametrize(("name", "query"), [("api-audit-proof-inclusion", {"seq": 0}),
                                             ("api-audit-proof-inclusion", {}),
                                             ("api-audit-proof-consistency", {"first": "x"})])
def test_it_refuses_malformed_proof_requests(name, query, trail, audrey, api):
    response = api(audrey).get(reverse(name), query)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
