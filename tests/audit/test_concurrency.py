"""Concurrent appenders in real transactions on PostgreSQL never fork the chain or leave a gap."""

import threading
import time

import pytest
from django.db import connection, connections, transaction

from audit.models import AuditEvent, AuditHead
from audit.services import EventInput, audit_append, audit_append_many
from audit.verification import audit_verify
from tests.threads import drain_sequencer, sequencer

_ = sequencer  # inline, and as production runs it (the queue and the sequencer thread)

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks between threads need PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]

THREADS = 6
ROUNDS = 8


def _worker(number: int, barrier: threading.Barrier, errors: list):
    try:
        barrier.wait(timeout=10)
        for round_ in range(ROUNDS):
            if round_ % 4 == 3:  # an action that fails: its event must leave no gap
                try:
                    with transaction.atomic():
                        audit_append(action="media.read", actor_kind="service", actor_id=number, subject_id=1)
                        raise RuntimeError("the action failed")
                except RuntimeError:
                    pass
            elif round_ % 2:
                audit_append_many(events=[
                    EventInput(action="media.read", actor_kind="service", actor_id=number, subject_id=1,
                               object_type="media_item", object_id=i)
                    for i in range(5)
                ])
            else:
                with transaction.atomic():
                    audit_append(action="consent.given", actor_kind="holder", actor_id=number, subject_id=number)
                    time.sleep(0.005)  # hold the head while the others queue behind it
    except BaseException as exc:  # handed to the test thread
        errors.append(exc)
    finally:
        connections.close_all()


def test_it_never_forks_or_gaps_with_concurrent_appenders(settings, sequencer):
    settings.AUDIT_CHECKPOINT_EVERY = 10
    barrier = threading.Barrier(THREADS)
    errors: list = []
    threads = [threading.Thread(target=_worker, args=(n, barrier, errors)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    drain_sequencer()

    per_thread = (ROUNDS // 2) * 1 + (ROUNDS // 4) * 5  # single appends on even rounds, batches on rounds 1 and 5
    total = THREADS * per_thread
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, total + 1))
    assert AuditEvent.objects.values("prev_hash").distinct().count() == total  # no two events share a parent
    assert AuditHead.objects.get(pk=1).size == total
    report = audit_verify()
    assert report.ok, report.problem
    assert report.checkpoints == total // 10


def test_it_does_not_fork_an_empty_chain_when_two_writers_start_together(sequencer):
    barrier = threading.Barrier(2)
    errors: list = []

    def first_writer(number):
        try:
            barrier.wait(timeout=10)
            audit_append(action="consent.given", actor_kind="holder", actor_id=number, subject_id=number)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first_writer, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    drain_sequencer()
    events = list(AuditEvent.objects.order_by("seq"))
    assert [e.seq for e in events] == [1, 2]
    assert events[1].prev_hash == events[0].hash
    assert audit_verify().ok
