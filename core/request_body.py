"""A large request body read straight from gunicorn's socket, for the endpoints that stream one.

gunicorn's `wsgi.input` (`gunicorn.http.body.Body` over a `LengthReader` over a
`SocketUnreader`) passes every received megabyte through two or three `BytesIO` buffers and
slices it twice more on the way (the unreader's read-ahead, the reader's, the body's own), so a
tus PATCH of 8 MiB spent more time being copied than being encrypted (bench/README.md, "tus
uploads"). When the request came through exactly those types, `body_chunks` takes the bytes the
parser already holds from the unreader, then `recv_into`s the rest of Content-Length into a
buffer of its own, and leaves the parser as if the body had been read through it (the reader's
remaining length 0, anything received past the body handed back to the unreader), so a kept-alive
connection parses its next request. Any other server, a chunked or unsized body, or a body
something already read from, goes through `wsgi.input` as before.

While a body arrives, the server may be told now and then that the process is alive (`heartbeat`):
gunicorn's sync worker tells its arbiter so only between requests, and the arbiter kills a worker
silent for `--timeout`, so a tus PATCH of a few hundred megabytes from a phone (minutes) was
killed halfway. consentsvc.gunicorn_conf installs the worker's `notify` for each request; a client
that stops sending stops the heartbeat, and its worker is still killed after `--timeout`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

CHUNK_BYTES = 1024 * 1024
# At most this often, the heartbeat says the process is alive while bytes arrive (each call costs
# about 1.5 us of CPU: gunicorn's notify is one utime of a file).
HEARTBEAT_SECONDS = 5.0


class Heartbeat:
    """``notify`` called when bytes arrive, at most once every ``every`` seconds."""

    def __init__(self, notify: Callable[[], None], *, every: float):
        self.notify, self.every, self.due = notify, every, 0.0

    def __call__(self) -> None:
        now = time.monotonic()
        if now >= self.due:
            self.due = now + self.every
            self.notify()


_heartbeat: Heartbeat | None = None


def heartbeat_start(notify: Callable[[], None], *, every: float = HEARTBEAT_SECONDS) -> None:
    """From now until heartbeat_stop, a body's bytes arriving call ``notify`` (this process's
    current request; gunicorn's sync worker serves one at a time)."""
    global _heartbeat
    _heartbeat = Heartbeat(notify, every=every)


def heartbeat_stop() -> None:
    global _heartbeat
    _heartbeat = None


def _no_heartbeat() -> None:
    pass


def _gunicorn_parts(environ: dict):
    """(body, reader, unreader, socket) when wsgi.input is gunicorn's Body over a LengthReader over a
    SocketUnreader on environ's socket, nothing read from it yet; else None."""
    try:
        from gunicorn.http.body import Body, LengthReader
        from gunicorn.http.unreader import SocketUnreader
    except ImportError:
        return None
    body = environ.get("wsgi.input")
    sock = environ.get("gunicorn.socket")
    if type(body) is not Body or sock is None or body.failed or body.buf.tell():
        return None
    reader = body.reader
    if type(reader) is not LengthReader or type(reader.unreader) is not SocketUnreader:
        return None
    if reader.unreader.sock is not sock:
        return None
    return body, reader, reader.unreader, sock


def body_chunks(environ: dict, *, started: bool, read, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """The request body in pieces of ``chunk_bytes`` (the last one shorter), each a buffer of its own.

    ``read(size)`` is the framework's reader (Django's request.read), used when the socket cannot be
    read directly or when ``started`` says the framework already read some of the body. A client
    that disconnects or times out ends the body where it stopped, as the framework's reader does
    (that OSError is the caller's to catch); the connection is then not reused.
    """
    beat = _heartbeat or _no_heartbeat
    parts = None if started else _gunicorn_parts(environ)
    if parts is None:
        # The framework's reader returns only once it has chunk_bytes (or the end): the heartbeat
        # comes once a chunk, so a link slower than a chunk a --timeout is still cut there.
        while chunk := read(chunk_bytes):
            beat()
            yield chunk
        return
    body, reader, unreader, sock = parts
    left = reader.length
    # The request's first body bytes usually came with its headers, into the unreader's buffer.
    held = unreader.take_buffered()
    if len(held) > left:
        unreader.unread(held[left:])
        held = held[:left]
    reader.length = left = left - len(held)
    try:
        while held:
            yield held[:chunk_bytes]
            held = held[chunk_bytes:]
        while left:
            chunk = bytearray(min(left, chunk_bytes))
            with memoryview(chunk) as view:
                filled = 0
                while filled < len(chunk):
                    received = sock.recv_into(view[filled:])
                    if not received:
                        break
                    filled += received
                    beat()  # whatever the link's speed: every recv that brought bytes
            left -= filled
            reader.length = left
            if filled < len(chunk):
                # The client went away before Content-Length: what came is the body.
                body.failed = True
                del chunk[filled:]
                if chunk:
                    yield chunk
                return
            yield chunk
    except BaseException:
        # A socket error, or the consumer stopping early (GeneratorExit): where the next request
        # starts is unknown, so gunicorn closes the connection instead of reading on.
        if reader.length or held:
            body.failed = True
        raise
