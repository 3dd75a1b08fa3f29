"""A signed checkpoint within AUDIT_CHECKPOINT_SECONDS of any new event: the workers' periodic job
(audit.jobs.checkpoint in JOBS_SCHEDULE) signs the head whenever it moved, and does nothing when it did not."""

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.core.management import call_command

from audit.models import AuditCheckpoint
from audit.selectors import audit_head
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


def test_the_workers_schedule_signs_a_new_event_within_the_promised_seconds(settings):
    """A worker looks at the schedule every jobs.look_seconds() (settings.JOBS_SCHEDULE queues the
    checkpoint job once per interval); whenever in an interval an event is added, a look signs
    it within AUDIT_CHECKPOINT_SECONDS. Worker time is passed in, not waited for."""
    from core import jobs

    every = settings.JOBS_SCHEDULE["audit.jobs.checkpoint"]
    settings.JOBS_SCHEDULE = {"audit.jobs.checkpoint": every}  # the other periodic jobs are not under test
    look = timedelta(seconds=jobs.look_seconds())
    cache.clear()
    start = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)  # an interval starts here
    for offset in (0.0, 0.01, every / 2, every - 0.01):  # the event lands early, mid or late in an interval
        start += timedelta(hours=1)
        added_at, worker = start + timedelta(seconds=offset), start
        while worker <= added_at:  # the worker's looks before the event
            jobs.periodic_due(now=worker)
            worker += look
        audit_append(action="media.read", actor_kind="service")
        size = audit_head().size
        while True:
            jobs.periodic_due(now=worker)  # the immediate backend runs a queued job at once
            if AuditCheckpoint.objects.filter(tree_size=size).exists():
                break
            worker += look
            assert worker - added_at <= timedelta(seconds=settings.AUDIT_CHECKPOINT_SECONDS), (offset, every)
