"""core.sqlite3: transactions on a database file queue on a file lock; readers do not."""

import fcntl
import os
import stat
import threading
import time

import pytest
from django.db import connections
from django.db.utils import ConnectionHandler

from core.sqlite3.base import DatabaseWrapper


def _wrapper(path, alias):
    settings = ConnectionHandler().configure_settings({"default": {
        "ENGINE": "core.sqlite3", "NAME": str(path),
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20,
                    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"},
    }})["default"]
    return DatabaseWrapper(settings, alias)


@pytest.fixture
def database(tmp_path, django_db_blocker):
    """Connections of their own to a database file (not the suite's in-memory database)."""
    made = []

    def connect(name="db"):
        wrapper = _wrapper(tmp_path / "db.sqlite3", name)
        wrapper.inc_thread_sharing()  # made here, used in the test's threads (one thread at a time)
        made.append(wrapper)
        return wrapper

    with django_db_blocker.unblock():
        first = connect("setup")
        with first.cursor() as cursor:
            cursor.execute("CREATE TABLE t (n INTEGER)")
        yield connect
        for wrapper in made:
            wrapper.close()


def _in_transaction(wrapper, work):
    """What django.db.transaction.atomic does on an outermost block, on this wrapper."""
    # As atomic() does: SQLite stays in autocommit and a BEGIN (IMMEDIATE here) starts the transaction.
    wrapper.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
    try:
        work()
        wrapper.commit()
    except BaseException:
        wrapper.rollback()
        raise
    finally:
        wrapper.set_autocommit(True)


def test_the_lock_file_is_the_owners_alone(database, tmp_path):
    writer = database("writer")
    _in_transaction(writer, lambda: writer.cursor().execute("INSERT INTO t VALUES (1)"))
    mode = stat.S_IMODE(os.stat(tmp_path / "db.sqlite3.writelock").st_mode)
    assert mode & 0o077 == 0


def _lock_taken(tmp_path) -> bool:
    fd = os.open(tmp_path / "db.sqlite3.writelock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_a_second_writer_waits_for_the_first_to_commit_and_readers_do_not(database, tmp_path):
    first, second, reader = database("first"), database("second"), database("reader")
    order = []
    inside = threading.Event()
    release = threading.Event()

    def hold():
        def work():
            first.cursor().execute("INSERT INTO t VALUES (1)")
            order.append("first wrote")
            inside.set()
            release.wait(10)
            order.append("first commits")
        _in_transaction(first, work)

    def queue():
        inside.wait(10)
        _in_transaction(second, lambda: (order.append("second began"),
                                         second.cursor().execute("INSERT INTO t VALUES (2)")))

    holder = threading.Thread(target=hold)
    waiter = threading.Thread(target=queue)
    holder.start()
    waiter.start()
    inside.wait(10)
    time.sleep(0.3)
    # Meanwhile a reader reads what was committed (nothing yet), without waiting.
    with reader.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM t")
        assert cursor.fetchone() == (0,)
    assert order == ["first wrote"]  # the second writer is still queued...
    assert _lock_taken(tmp_path)  # ...on the file lock, not in SQLite's busy handler
    release.set()
    holder.join(10)
    waiter.join(10)
    assert order == ["first wrote", "first commits", "second began"]
    assert not _lock_taken(tmp_path)
    with reader.cursor() as cursor:
        cursor.execute("SELECT n FROM t ORDER BY n")
        assert cursor.fetchall() == [(1,), (2,)]


def test_a_rolled_back_transaction_lets_the_next_one_in(database):
    first, second = database("first"), database("second")

    def fail():
        first.cursor().execute("INSERT INTO t VALUES (1)")
        raise RuntimeError("changed my mind")

    with pytest.raises(RuntimeError):
        _in_transaction(first, fail)
    done = threading.Event()

    def write():
        _in_transaction(second, lambda: second.cursor().execute("INSERT INTO t VALUES (2)"))
        done.set()

    threading.Thread(target=write).start()
    assert done.wait(5), "the lock was not let go at rollback"


def test_a_connection_closed_inside_a_transaction_lets_go(database):
    first, second = database("first"), database("second")
    first.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
    first.cursor().execute("INSERT INTO t VALUES (1)")
    assert first._write_lock_held
    first.close()
    done = threading.Event()

    def write():
        _in_transaction(second, lambda: second.cursor().execute("INSERT INTO t VALUES (2)"))
        done.set()

    threading.Thread(target=write).start()
    assert done.wait(5)


def test_the_test_databases_in_memory_take_no_lock(db):
    if connections["default"].vendor != "sqlite":
        pytest.skip("the suite's default database is PostgreSQL here")
    assert connections["default"].is_in_memory_db()
    assert connections["default"]._write_lock() is None
