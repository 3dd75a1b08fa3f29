"""gunicorn's settings for every way the site is served (bin/serve, the Procfile, the benchmarks):
`gunicorn --config python:consentsvc.gunicorn_conf consentsvc.wsgi ...`.

The access log keeps gunicorn's default format but never a share link's token: whoever reads
the log (an operator, a log shipper, a support tool) must not be able to open a holder's shared
suggestion. The token is in the request line, the path, the raw URI and, for the page's own
content request, the Referer; every field of a log line goes through the same redaction, so a
custom `access_log_format` cannot bring it back.

Before the workers fork, glibc's allocator is told to keep the memory a request frees (see
malloc_keep): a large upload streams its body through buffers of about a megabyte each, and with
glibc's defaults each of them is handed back to the kernel when freed and faulted in again, page
by page, for the next one.

While a request's body arrives, its worker tells the arbiter it is alive (pre_request): the sync
worker does so only between requests, and the arbiter kills a worker silent for `--timeout`, which
cut a tus PATCH of a phone's video (hundreds of megabytes, minutes) halfway. A client that stops
sending still has its worker killed after `--timeout`: that stays the guard against a hung request.
"""

import ctypes
import re

from gunicorn import glogging

from core import request_body

# /s/<token>/ and /s/<token>/content/ (suggestions/urls.py), in a path or a full URL.
SHARE_TOKEN = re.compile(r"(/s/)[^/?#\s\"]+")
REDACTED = r"\1[token]"

logger_class = "consentsvc.gunicorn_conf.AccessLogger"

# mallopt(3) parameters (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# Allocations below this come from the heap, not from pages of their own (glibc's largest value).
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
# Freed memory kept at the top of the heap for the next request, at most.
TRIM_THRESHOLD_BYTES = 64 * 1024 * 1024


def malloc_keep() -> bool:
    """Make glibc keep freed buffers for reuse; False where the C library has no mallopt (musl).

    With glibc's defaults a buffer of a megabyte or more gets an mmap of its own, returned to the
    kernel when freed, and the free top of the heap is trimmed above a few megabytes: streaming a
    tus PATCH's 8 MiB (the request body read a megabyte at a time, encrypted, written) then faults
    in every byte's pages again, several times over, which cost about as much CPU as the cipher
    and the write together (bench/README.md, "tus uploads"). Fixed thresholds keep those pages:
    the process holds, at most, what its busiest request used, plus TRIM_THRESHOLD_BYTES.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))


def on_starting(server) -> None:
    # In the master: the workers it forks inherit the allocator's settings.
    malloc_keep()


def heartbeat_every(timeout: float) -> float:
    """How often a worker receiving a body says it is alive: often enough that bytes arriving keep it
    well within `--timeout`, so a stalled client is killed after 3/4 of it at the earliest."""
    return min(request_body.HEARTBEAT_SECONDS, timeout / 4) if timeout else request_body.HEARTBEAT_SECONDS


def pre_request(worker, req) -> None:
    worker.log.debug("%s %s", req.method, req.path)  # gunicorn's own pre_request
    request_body.heartbeat_start(worker.notify, every=heartbeat_every(worker.cfg.timeout))


def post_request(worker, req, environ, resp) -> None:
    request_body.heartbeat_stop()


def redact(value: str) -> str:
    return SHARE_TOKEN.sub(REDACTED, value)


class AccessLogger(glogging.Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()}
