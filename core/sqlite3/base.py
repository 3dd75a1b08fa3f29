"""SQLite for the embedded default, with writers queueing on a file lock instead of SQLite's sleeps.

Every transaction starts with BEGIN IMMEDIATE (see settings), so a writer takes SQLite's write
lock at once and never fails on upgrade. While one holds it, SQLite's busy handler makes the
others sleep and retry on a fixed schedule (1, 2, 5, 10, 15, 20, 25 ... 100 ms): with a few
concurrent writers most of their time goes to sleeping past the moment the lock came free, and
the slowest ones wait hundreds of milliseconds for a transaction that takes one or two.

Here a transaction first takes an exclusive flock(2) on ``<database file>.writelock`` (mode 0600
beside the database), and lets it go when it commits or rolls back: the kernel wakes the next
writer the moment the lock is free. It is taken per connection, so threads and processes
(gunicorn workers, the job worker, management commands) all queue on it. Writes outside a
transaction (autocommit statements: the cache table, a token's last-used stamp) do not take it
and meet SQLite's busy handler as before; readers never wait (WAL). A process that dies holding
it releases it with its file descriptors. An in-memory database (the test suite's) has no file
and takes no lock.

Measured with bench/http_bench.py (toggle PUT, same period, 3 pairs): at 8 clients 0.40-0.45x
the floor against 0.38-0.43x, p99 61-73 ms against 159-164 ms; it also removes the collapse
where every waiter sits in a 100 ms sleep while the lock is free (one run fell to 0.10x).

The wait has no deadline of its own (SQLite's `timeout` only bounds the BEGIN that follows):
a writer waits for as long as the transaction before it runs. Under gunicorn a request stuck
that long is ended by the worker timeout, which frees whatever it held.
"""

import fcntl
import os

from django.db.backends.sqlite3 import base


class DatabaseWrapper(base.DatabaseWrapper):
    _write_lock_fd: int | None = None
    _write_lock_held = False

    def _write_lock(self) -> int | None:
        if self.is_in_memory_db():
            return None
        if self._write_lock_fd is None:
            path = f"{self.settings_dict['NAME']}.writelock"
            self._write_lock_fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return self._write_lock_fd

    def _write_lock_release(self) -> None:
        if self._write_lock_held:
            self._write_lock_held = False
            fcntl.flock(self._write_lock_fd, fcntl.LOCK_UN)

    def _start_transaction_under_autocommit(self):
        fd = self._write_lock()
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._write_lock_held = True
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._write_lock_release()
            raise

    def _commit(self):
        try:
            return super()._commit()
        finally:
            self._write_lock_release()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self._write_lock_release()

    def _close(self):
        try:
            return super()._close()
        finally:
            self._write_lock_release()
