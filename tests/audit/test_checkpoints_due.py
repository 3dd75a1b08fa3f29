"""A signed checkpoint within AUDIT_CHECKPOINT_SECONDS of any new event: the periodic job signs the head
whenever it moved, and does nothing when it did not."""

import io
import threading
import time

import pytest
from django.core.management import call_command

from audit.models import AuditCheckpoint
from audit.services import audit_append, audit_checkpoint_if_due

pytestmark = pytest.mark.django_db


def test_it_does_nothing_on_an_empty_trail():
    assert audit_checkpoint_if_due() is None
    out = io.StringIO()
    call_command("audit_checkpoint", "--if-new", stdout=out)
    assert out.getvalue() == "" and not AuditCheckpoint.objects.exists()


def test_it_signs_the_head_once_after_new_events(settings):
    settings.AUDIT_CHECKPOINT_EVERY = 1000
    for _ in range(3):
        audit_append(action="media.read", actor_kind="service")
    checkpoint = audit_checkpoint_if_due()
    assert checkpoint.tree_size == 3
    assert audit_checkpoint_if_due() is None  # nothing new: no new signature
    audit_append(action="media.read", actor_kind="service")
    out = io.StringIO()
    call_command("audit_checkpoint", "--if-new", stdout=out)
    assert "\n4\n" in out.getvalue()
    assert list(AuditCheckpoint.objects.values_list("tree_size", flat=True)) == [3, 4]


@pytest.mark.django_db(transaction=True)
def test_the_loop_signs_a_new_event_within_the_promised_seconds(settings, monkeypatch):
    settings.AUDIT_CHECKPOINT_SECONDS = 1
    from audit.management.commands import audit_checkpoint as command

    stop = threading.Event()
    real_sleep = time.sleep

    def sleep(seconds):
        if stop.is_set():
            raise SystemExit
        real_sleep(seconds)

    monkeypatch.setattr(command.time, "sleep", sleep)
    from django.db import connection

    def run():
        try:
            call_command("audit_checkpoint", "--loop")
        except SystemExit:
            pass
        finally:
            connection.close()

    loop = threading.Thread(target=run)
    loop.start()
    try:
        audit_append(action="media.read", actor_kind="service")
        appended = time.monotonic()
        while not AuditCheckpoint.objects.filter(tree_size=1).exists():
            assert time.monotonic() - appended < 5, "no checkpoint within the promised time (plus slack)"
            real_sleep(0.05)
    finally:
        stop.set()
        loop.join(5)
