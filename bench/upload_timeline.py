"""The WSGI app bench/http_bench.py serves with --breakdown: consentsvc.wsgi, with a timeline of each upload.

Not part of the service. It wraps the functions an upload passes through (vault.services and
vault.images) so that each upload writes one JSON line of milliseconds since the request reached
the app to TIMELINE_FILE; the wrappers cost a few microseconds each. A request carrying the header
X-Bench-Transfer-Only never reaches the service: its multipart body is read and parsed by Django's
own parser and answered 201 at once, which is what the same HTTP exchange costs with no
authentication, no consent check, no image work and no write (the transfer floor).
"""

import contextlib
import json
import os
import threading
import time

from django.core.handlers.wsgi import WSGIRequest

from consentsvc.wsgi import application as service  # sets Django up: first

# isort: split
from core import uow
from vault import images, services

_marks: list[tuple[str, float]] = []
_lock = threading.Lock()


def _mark(label: str) -> None:
    with _lock:
        _marks.append((label, time.perf_counter()))


def _timed(owner, name: str, before: str, after: str) -> None:
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        _mark(before)
        try:
            return original(*args, **kwargs)
        finally:
            _mark(after)

    setattr(owner, name, wrapper)


_prepare = images.image_prepare


def _prepare_marked(**kwargs):
    _mark("prepare")
    prepared = _prepare(**kwargs)
    _mark("prepared")
    decode = prepared._decode

    def decode_marked():
        _mark("decode")
        try:
            return decode()
        finally:
            _mark("decoded")

    object.__setattr__(prepared, "_decode", decode_marked)
    return prepared


images.image_prepare = _prepare_marked
_timed(services, "media_upload", "service", "service done")
_timed(services, "_original_write", "original write", "original written")
_timed(services, "_store", "store", "stored")
_account_write = uow.account_write


@contextlib.contextmanager
def _account_write_marked(**kwargs):
    _mark("transaction")
    with _account_write(**kwargs) as unit:
        yield unit
        _mark("commit")
    _mark("committed (and on-commit hooks run)")


services.account_write = _account_write_marked


class _Body:
    """The response body, passed on; the timeline is written once the server has sent it."""

    def __init__(self, body, path: str):
        self.body, self.path = body, path

    def __iter__(self):
        yield from self.body
        _mark("response sent")

    def close(self):
        if hasattr(self.body, "close"):
            self.body.close()
        with _lock:
            marks = list(_marks)
        if self.path == "/api/v1/media/" and marks:
            start = marks[0][1]
            line = {label: round((moment - start) * 1000, 3) for label, moment in marks}
            with open(os.environ["TIMELINE_FILE"], "a") as out:
                out.write(json.dumps(line) + "\n")


def application(environ, start_response):
    if environ.get("HTTP_X_BENCH_TRANSFER_ONLY"):
        WSGIRequest(environ).FILES["file"].read()
        start_response("201 Created", [("Content-Type", "application/json"), ("Content-Length", "2")])
        return [b"{}"]
    with _lock:
        _marks.clear()
    _mark("request")
    return _Body(service(environ, start_response), environ.get("PATH_INFO", ""))
