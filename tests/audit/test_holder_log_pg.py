"""Holder logs under concurrent writers on PostgreSQL, inline and as production runs it (the queue and
this process's sequencer thread): every holder's log is exactly the global entries about them, in
the global order, and each head committed at the checkpoint is in the signed global tree."""

import base64
import json
import threading

from django.conf import settings
from django.db import connections

from audit import canonical, merkle, notes
from audit.models import AuditEvent, HolderCheckpoint, HolderLog
from audit.services import EventInput, audit_append_many, audit_checkpoint_if_due
from core import signing, uow
from tests.audit.test_holder_log import HolderClient
from tests.conftest import make_user
from tests.threads import POSTGRES_THREADS, drain_sequencer, sequencer

_ = sequencer  # inline, and as production runs it

pytestmark = POSTGRES_THREADS

THREADS = 4
ROUNDS = 6


def _writer(number: int, holders: list[int], barrier: threading.Barrier, errors: list) -> None:
    try:
        barrier.wait(timeout=10)
        for round_ in range(ROUNDS):
            if round_ % 2:
                # Through a unit of work, as the product writes: events about one holder at a time.
                holder = holders[(number + round_) % len(holders)]
                with uow.events_write(actor=uow.Actor.service("suggestions"), user_id=holder) as unit:
                    unit.record_many([unit.event(action="media.read", object_type="media_item", object_id=i)
                                      for i in range(3)])
            else:
                audit_append_many(events=[
                    EventInput(action="media.read", actor_kind="service", actor_id=number,
                               subject_id=holders[(number + i) % len(holders)] if i % 4 else None,
                               object_type="media_item", object_id=i)
                    for i in range(12)
                ])
    except BaseException as exc:  # handed to the test thread
        errors.append(exc)
    finally:
        connections.close_all()


def _run_writers(holders: list[int]) -> None:
    barrier = threading.Barrier(THREADS)
    errors: list = []
    threads = [threading.Thread(target=_writer, args=(n, holders, barrier, errors)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors


def test_holder_logs_hold_exactly_their_events_under_concurrent_writers(sequencer, alice, bob, api):
    carol = make_user("carol")
    holders = [alice.pk, bob.pk, carol.pk]
    _run_writers(holders)
    drain_sequencer()
    audit_checkpoint_if_due()
    _run_writers(holders)  # a second round on top of the committed heads
    drain_sequencer()
    audit_checkpoint_if_due()
    drain_sequencer()
    key, name = signing.public_key("AUDIT_SIGNING_KEY"), settings.AUDIT_CHECKPOINT_ORIGIN
    for user in (alice, bob, carol):
        client = HolderClient(api(user), key, "")
        size, root = client.checkpoint()
        about = [bytes(body) for body in AuditEvent.unchecked.filter(subject_id=user.pk).order_by("seq")
                 .values_list("canonical", flat=True)]
        assert size == len(about) > 0 and HolderLog.objects.get(subject_id=user.pk).size == size
        assert client.all_entries(size) == about
        leaves = client.level_hashes(0, size)
        assert merkle.root_of(leaves) == root
        # Its first checkpoint is consistent with this one, from the tiles.
        first = HolderCheckpoint.objects.filter(subject_id=user.pk).order_by("tree_size").first()
        first_root = bytes.fromhex(first.root_hash)
        if first.tree_size < size:
            merkle.verify_consistency(first.tree_size, size, first_root, root,
                                      merkle.consistency_proof(first.tree_size, size, iter(leaves)))
        # And the head is committed into a signed global checkpoint.
        body = client.get("commitment/").json()
        trail = notes.open_checkpoint(body["global_checkpoint"], public_key=key, key_name=name)
        holder = notes.open_checkpoint(body["holder_checkpoint"], public_key=key, key_name=name)
        entry = base64.b64decode(body["entry"])
        assert (holder.tree_size, holder.root_hash) == (size, root)
        assert json.loads(entry)["details"]["size"] == size
        merkle.verify_inclusion(body["leaf_index"], trail.tree_size, canonical.leaf_hash(entry),
                                [base64.b64decode(node) for node in body["inclusion_proof"]], trail.root_hash)
