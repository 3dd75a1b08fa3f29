"""core.request_body: a body read from gunicorn's socket, past its reader's copies, leaves the
connection ready for the next request; anything else is read through wsgi.input."""

import contextlib
import hashlib
import http.client
import io
import logging
import os
import socket
import subprocess
import threading
import time

import pytest
from gunicorn.config import Config
from gunicorn.http.body import Body, LengthReader
from gunicorn.http.parser import RequestParser

from core import request_body
from tests.test_serving import BIN, ROOT, free_port


def _request(body: bytes, path: str = "/up") -> bytes:
    return b"PATCH %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (path.encode(), len(body), body)


def _send(client: socket.socket, *messages: bytes) -> threading.Thread:
    """Send in a thread: a body larger than the socket's buffer waits for the reader."""
    def send():
        with contextlib.suppress(OSError):  # the reader may stop early and close
            for message in messages:
                client.sendall(message)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    return sender


def _parsed(server: socket.socket):
    parser = RequestParser(Config(), server, ("127.0.0.1", 1))
    return parser, next(parser)


def _environ(request) -> dict:
    return {"wsgi.input": request.body, "gunicorn.socket": request.unreader.sock}


def _refuse(*args, **kwargs):
    raise AssertionError("read through gunicorn's reader")


def test_a_gunicorn_body_comes_from_the_socket_and_the_next_request_still_parses(monkeypatch):
    first, second = os.urandom(300_000), os.urandom(70_000)
    client, server = socket.socketpair()
    server.settimeout(30)
    with client, server:
        sender = _send(client, _request(first, "/one"), _request(second, "/two"))  # the second pipelined
        parser, request = _parsed(server)
        # The request's first body bytes arrived with its headers, into the unreader's buffer.
        assert request.unreader.buf.tell() > 0
        with monkeypatch.context() as patched:
            patched.setattr(LengthReader, "read", _refuse)
            patched.setattr(Body, "read", _refuse)
            chunks = list(request_body.body_chunks(_environ(request), started=False, read=_refuse,
                                                   chunk_bytes=64 * 1024))
        assert b"".join(chunks) == first
        assert all(len(chunk) <= 64 * 1024 for chunk in chunks)
        assert request.body.reader.length == 0 and not request.body.failed

        following = next(parser)  # gunicorn drains what it thinks is left of the first body, then parses
        assert following.path == "/two"
        assert b"".join(request_body.body_chunks(_environ(following), started=False, read=_refuse)) == second
        sender.join(30)


def test_bytes_received_past_a_small_body_stay_with_the_parser():
    client, server = socket.socketpair()
    with client, server:
        client.sendall(_request(b"abc", "/one") + _request(b"defgh", "/two"))  # both in the first recv
        parser, request = _parsed(server)
        assert b"".join(request_body.body_chunks(_environ(request), started=False, read=_refuse)) == b"abc"
        following = next(parser)
        assert following.path == "/two"
        assert b"".join(request_body.body_chunks(_environ(following), started=False, read=_refuse)) == b"defgh"


def test_a_client_gone_before_content_length_ends_the_body_and_the_connection():
    client, server = socket.socketpair()
    server.settimeout(30)

    def send_and_go():
        with client:
            client.sendall(_request(b"x" * 200_000)[:-50_000])

    threading.Thread(target=send_and_go, daemon=True).start()
    with server:
        parser, request = _parsed(server)
        received = b"".join(request_body.body_chunks(_environ(request), started=False, read=_refuse))
        assert received == b"x" * 150_000
        assert request.body.failed  # gunicorn closes the connection instead of parsing on
        assert not parser.finish_body()


def test_a_consumer_stopping_early_closes_the_connection():
    client, server = socket.socketpair()
    server.settimeout(30)
    with client, server:
        _send(client, _request(b"y" * 300_000))
        _, request = _parsed(server)
        chunks = request_body.body_chunks(_environ(request), started=False, read=_refuse, chunk_bytes=64 * 1024)
        next(chunks)
        chunks.close()
        assert request.body.failed


def test_other_servers_and_started_bodies_go_through_the_framework_reader():
    stream = io.BytesIO(b"z" * 10)
    assert list(request_body.body_chunks({"wsgi.input": stream}, started=False, read=stream.read,
                                         chunk_bytes=4)) == [b"zzzz", b"zzzz", b"zz"]
    client, server = socket.socketpair()
    with client, server:
        client.sendall(_request(b"abcdef"))
        _, request = _parsed(server)
        assert request.body.read(2) == b"ab"  # the framework began reading
        assert b"".join(request_body.body_chunks(_environ(request), started=True,
                                                 read=request.body.read)) == b"cdef"


def _trickled(length: int, chunk_bytes: int, clock: list) -> bytes:
    """A body of ``length`` bytes read while it arrives a byte a second (on ``clock``)."""
    client, server = socket.socketpair()
    with client, server:
        client.sendall(_request(b"t" * length)[:-length])  # the headers only
        _, request = _parsed(server)
        chunks = request_body.body_chunks(_environ(request), started=False, read=_refuse, chunk_bytes=chunk_bytes)
        received = b""
        for _ in range(length):
            client.sendall(b"t")
            clock[0] += 1.0
            received += next(chunks)
        assert next(chunks, None) is None
        return received


def test_bytes_arriving_beat_the_heartbeat_at_most_as_often_as_asked(monkeypatch):
    """gunicorn's sync worker is killed after --timeout in a long body unless it says it is alive
    (consentsvc.gunicorn_conf installs its notify for each request): bytes arriving beat, at most
    every ``every`` seconds; once the request is over, nothing beats."""
    clock = [100.0]
    monkeypatch.setattr(request_body.time, "monotonic", lambda: clock[0])
    beats = []
    request_body.heartbeat_start(lambda: beats.append(clock[0]), every=2.0)
    try:
        assert _trickled(5, 1, clock) == b"ttttt"
    finally:
        request_body.heartbeat_stop()
    assert beats == [101.0, 103.0, 105.0]
    assert _trickled(3, 1, clock) == b"ttt"
    assert beats == [101.0, 103.0, 105.0]


def test_gunicorns_worker_beats_while_its_request_lasts():
    from consentsvc import gunicorn_conf

    class Worker:
        notified = 0
        cfg = Config()
        log = logging.getLogger("gunicorn.error")

        def notify(self):
            self.notified += 1

    worker = Worker()
    worker.cfg.set("timeout", 2)
    gunicorn_conf.pre_request(worker, type("Req", (), {"method": "PATCH", "path": "/up"})())
    assert request_body._heartbeat.notify == worker.notify and request_body._heartbeat.every == 0.5
    request_body._heartbeat()
    assert worker.notified == 1
    gunicorn_conf.post_request(worker, None, {}, None)
    assert request_body._heartbeat is None
    worker.cfg.set("timeout", 120)
    gunicorn_conf.pre_request(worker, type("Req", (), {"method": "PATCH", "path": "/up"})())
    assert request_body._heartbeat.every == request_body.HEARTBEAT_SECONDS
    gunicorn_conf.post_request(worker, None, {}, None)


@pytest.mark.parametrize("worker", ["sync", "gthread"])
def test_two_patches_on_one_connection_of_a_live_gunicorn(worker):
    """gthread keeps the connection alive between the two: the second request parses after the
    first body was read from the socket; sync closes it after each, and the client reconnects."""
    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "tests.core.request_body_app", "--bind", f"127.0.0.1:{port}", "--workers", "1",
         "--worker-class", worker, "--threads", "2", "--keep-alive", "30"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"gunicorn did not start: {server.stderr.read()[-2000:]}")
                time.sleep(0.2)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        sockets, kept = [], []
        for body in (os.urandom(3 * 1024 * 1024 + 7), os.urandom(100_000)):
            connection.request("PATCH", "/upload", body=body,
                               headers={"Content-Type": "application/offset+octet-stream"})
            sockets.append(connection.sock)
            response = connection.getresponse()
            assert response.status == 200
            assert response.read().decode() == f"{len(body)} {hashlib.sha256(body).hexdigest()} socket"
            kept.append(response.getheader("Connection", "keep-alive").lower() != "close")
        connection.close()
        if worker == "gthread":
            assert kept == [True, True] and sockets[0] is sockets[1]
    finally:
        server.terminate()
        server.wait(timeout=30)
