"""Reading big result sets while working on them."""

import queue
import threading
from collections.abc import Callable
from contextlib import suppress


def prefetched(fetch: Callable[[], list]):
    """Yields fetch() results until one is empty, fetching the next chunk in a thread meanwhile,
    so PostgreSQL's work on a chunk overlaps Python's hashing of the one before (2 cores, 2 jobs).
    The thread only reads from the already open server-side cursor; nothing else touches it."""
    chunks: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()

    def run():
        try:
            while not stop.is_set():
                chunk = fetch()
                chunks.put(chunk)
                if not chunk:
                    return
        except BaseException as exc:  # handed to the consumer
            chunks.put(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    try:
        while True:
            chunk = chunks.get()
            if isinstance(chunk, BaseException):
                raise chunk
            if not chunk:
                return
            yield chunk
    finally:
        stop.set()
        while worker.is_alive():  # unblock a worker waiting on a full queue, then let it finish
            with suppress(queue.Empty):
                chunks.get(timeout=0.05)
        worker.join()
