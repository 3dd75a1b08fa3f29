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
