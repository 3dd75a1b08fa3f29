"""Real concurrent transactions for race tests: threads with their own PostgreSQL sessions."""

import threading
import time

import pytest
from django.db import connection, connections

# Row locks between sessions are what these tests are about; SQLite serialises whole transactions.
POSTGRES_THREADS = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks between threads need PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]


def run(target, results: dict, key: str) -> threading.Thread:
    """Start target() in a thread with its own database connection; its result or exception lands in results[key]."""

    def body():
        try:
            results[key] = target()
        except BaseException as exc:  # handed to the test thread
            results[key] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=body)
    thread.start()
    return thread


def someone_waits_for_a_lock(cursor) -> bool:
    # Inside a transaction PostgreSQL keeps one snapshot of the activity view: drop it each time.
    cursor.execute("SELECT pg_stat_clear_snapshot()")
    cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()")
    return bool(cursor.fetchone()[0])


def wait_for_lock_waiter(timeout: float = 10.0) -> None:
    """Return once another session is blocked on a lock; fail the test if none ever is."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            if someone_waits_for_a_lock(cursor):
                return
            time.sleep(0.02)
    raise AssertionError("nobody ever waited for the lock")


@pytest.fixture(params=["inline", "outbox"])
def sequencer(request, settings):
    """The audit trail's sequencer both ways: inline, in the writer's transaction, and as production
    runs it on PostgreSQL (writers leave their entries in the queue; this process's sequencer thread,
    woken by each commit, integrates them). Call drain_sequencer() before reading the trail."""
    settings.AUDIT_SEQUENCER = request.param
    settings.AUDIT_SEQUENCER_THREAD = request.param == "outbox"
    yield request.param
    if request.param == "outbox":
        drain_sequencer()
        time.sleep(1.2)  # the thread lets its connection go after a moment idle (before the tables are flushed)


def drain_sequencer(timeout: float = 20.0) -> None:
    """Waits until the queue is empty and the sequencer thread idle: every committed entry integrated."""
    from audit import outbox
    from audit.models import AuditOutbox

    deadline = time.monotonic() + timeout
    while AuditOutbox.objects.exists() or (outbox._thread is not None and outbox._thread._wanted.is_set()):
        assert time.monotonic() < deadline, "the sequencer did not integrate the queue in time"
        time.sleep(0.02)
    outbox.integrate_when_free()  # anything a commit left without a wake-up (there should be none)
