"""A WSGI app for tests/core/test_request_body.py's gunicorn: it reads the body with
core.request_body.body_chunks and answers how it was read, its length and its SHA-256."""

import hashlib

from core import request_body


def application(environ, start_response):
    body = environ["wsgi.input"]
    calls = []
    read = body.read

    def counted(size):
        calls.append(size)
        return read(size)

    digest, length = hashlib.sha256(), 0
    for chunk in request_body.body_chunks(environ, started=False, read=counted, chunk_bytes=64 * 1024):
        digest.update(chunk)
        length += len(chunk)
    answer = f"{length} {digest.hexdigest()} {'wsgi.input' if calls else 'socket'}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(answer)))])
    return [answer]
