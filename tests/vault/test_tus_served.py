"""tus PATCHes against a live gunicorn served with the project's config and a tiny --timeout: a body
that keeps arriving keeps its worker alive however long it takes, a client that stops sending still
has its worker killed, and a withdrawal during a PATCH reaches the client as consent_required."""

import contextlib
import http.client
import json
import socket
import subprocess
import sys
import time

import pytest
import requests

from consent import purposes
from tests.test_serving import BIN, ROOT, environment, free_port
from vault import partials

TIMEOUT = 2  # gunicorn's --timeout, in seconds
TUS = {"Tus-Resumable": "1.0.0"}
MIB = 1024 * 1024
SEGMENT = partials.SEGMENT_BYTES  # in the served process too (not patched there)

# Run in the served project's environment: alice, her consent to camera-roll processing, a token.
ALICE = """
import django
django.setup()
from accounts import services, tokens
from consent import purposes, selectors, services as consent_services
user = services.user_create(username="alice", password="correct horse battery staple", role="holder")
notice = selectors.notice_current(purpose=purposes.CAMERA_ROLL)
consent_services.consent_give(user=user, purpose=purposes.CAMERA_ROLL, notice_version=notice.version, method="api")
print(tokens.token_create(user=user, name="phone")[1])
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The embedded default (SQLite) under gunicorn with the project's config, two workers (one may be
    busy with a PATCH while the other answers) and --timeout 2; yields (port, alice's token, VAR_DIR)."""
    var_dir = tmp_path_factory.mktemp("served")
    env = environment(var_dir, DJANGO_ENV="development", DEBUG="0", DJANGO_SETTINGS_MODULE="consentsvc.settings")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True,
                   timeout=300)
    token = subprocess.run([sys.executable, "-c", ALICE], cwd=ROOT, env=env, check=True, timeout=120,
                           capture_output=True, text=True).stdout.split()[-1]
    port = free_port()
    log = (var_dir / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "--config", "python:consentsvc.gunicorn_conf", "consentsvc.wsgi",
         "--bind", f"127.0.0.1:{port}", "--workers", "2", "--timeout", str(TIMEOUT)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log,
    )
    deadline = time.monotonic() + 120
    while True:
        try:
            if request(port, token, "OPTIONS", "/api/v1/media/uploads/")[0] == 204:
                break
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail(f"gunicorn did not start: {(var_dir / 'gunicorn.log').read_text()[-2000:]}")
        time.sleep(0.2)
    yield port, token, var_dir
    server.terminate()
    server.wait(timeout=30)
    log.close()


def request(port: int, token: str, method: str, path: str, headers: dict | None = None, body=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers={"Authorization": f"Token {token}", **TUS,
                                                              **(headers or {})})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def create(port: int, token: str, length: int) -> str:
    status, headers, _ = request(port, token, "POST", "/api/v1/media/uploads/", {"Upload-Length": str(length)})
    assert status == 201
    return headers["Location"].split(f":{port}", 1)[1]


def offset(port: int, token: str, path: str) -> int:
    status, headers, _ = request(port, token, "HEAD", path)
    assert status == 200
    return int(headers["Upload-Offset"])


def patch_head(path: str, token: str, length: int) -> bytes:
    return (f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token {token}\r\n"
            f"Tus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()


def answer_of(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_a_patch_trickling_for_longer_than_the_timeout_is_stored(served):
    port, token, _ = served
    piece, pieces = b"v" * 1000, int(2.5 * TIMEOUT / 0.2)  # a piece every 0.2 s, for 2.5 timeouts
    length = len(piece) * pieces + 1  # one byte short of the whole: no video to finish, only storing
    path = create(port, token, length)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(patch_head(path, token, len(piece) * pieces))
        for _ in range(pieces):
            sock.sendall(piece)
            time.sleep(0.2)
        answer = answer_of(sock)
    assert answer.startswith(b"HTTP/1.1 204 "), answer[:300]
    assert f"Upload-Offset: {len(piece) * pieces}\r\n".encode() in answer
    assert offset(port, token, path) == len(piece) * pieces


def test_a_client_that_stops_sending_has_its_worker_killed_with_nothing_counted(served):
    port, token, var_dir = served
    path = create(port, token, 100_000)
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(patch_head(path, token, 100_000) + b"s" * 50_000)  # half, then nothing
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            answer = answer_of(sock)  # until the aborted worker's socket closes
    # The aborted worker answers gunicorn's 500 on its way out (or nothing), and the connection closes.
    assert answer == b"" or answer.startswith(b"HTTP/1.1 500 "), answer[:300]
    assert TIMEOUT * 0.75 <= time.monotonic() - started < TIMEOUT * 5
    assert "WORKER TIMEOUT" in (var_dir / "gunicorn.log").read_text()
    # The segment that was arriving is not counted: the client resumes from 0.
    assert offset(port, token, path) == 0


class _Withdrawing:
    """A PATCH body of ``length`` bytes sent a MiB at a time (requests streams an iterable with a
    length under Content-Length); once the first segment is counted, the holder turns the feature
    off from another device, and the phone goes on sending."""

    def __init__(self, port: int, token: str, path: str, length: int):
        self.port, self.token, self.path, self.length = port, token, path, length
        self.withdrawn_at = None

    def __len__(self) -> int:
        return self.length

    def __iter__(self):
        piece, sent = b"w" * MIB, 0
        while sent < self.length:
            yield piece[: self.length - sent]
            sent += min(len(piece), self.length - sent)
            if self.withdrawn_at is None and sent > SEGMENT:
                deadline = time.monotonic() + 30
                while offset(self.port, self.token, self.path) < SEGMENT and time.monotonic() < deadline:
                    time.sleep(0.05)
                status, _, _ = request(self.port, self.token, "PUT", f"/api/v1/consent/{purposes.CAMERA_ROLL}/",
                                       {"Content-Type": "application/json"}, json.dumps({"granted": False}))
                assert status == 200
                self.withdrawn_at = sent



def test_a_withdrawal_during_a_long_patch_reaches_the_phone_as_consent_required(served):
    """The server answers 403 at the next segment, without reading the rest of the body, and closes
    (gunicorn's close_graceful: write side shut, 64 KiB drained, then a reset for the unread rest).
    The phone still reads the refusal, not a reset: urllib3 2.x swallows the EPIPE / ECONNRESET of
    its send and then reads the answer that arrived before the reset."""
    port, token, _ = served
    length = SEGMENT + 32 * MIB  # the first segment, then as much again that the phone goes on sending
    path = create(port, token, length)
    body = _Withdrawing(port, token, path, length)
    answer = requests.patch(f"http://127.0.0.1:{port}{path}", data=body, timeout=60, headers={
        "Authorization": f"Token {token}", **TUS, "Content-Type": "application/offset+octet-stream",
        "Upload-Offset": "0"})
    assert body.withdrawn_at is not None and body.withdrawn_at < length
    assert answer.status_code == 403, answer.text[:300]
    assert answer.json()["error"]["code"] == "consent_required"
    assert request(port, token, "HEAD", path)[0] == 404  # the withdrawal took the upload with it


class _Trickling:
    """A PATCH body of ``length`` bytes at about 2 MiB a second (a phone's link); after 2 MiB the holder
    turns the feature off from another device, and the phone goes on sending until it is answered."""

    def __init__(self, port: int, token: str, length: int):
        self.port, self.token, self.length = port, token, length
        self.withdrawn_at = None

    def __len__(self) -> int:
        return self.length

    def __iter__(self):
        piece, sent = b"t" * (MIB // 4), 0
        while sent < self.length:
            yield piece[: self.length - sent]
            sent += min(len(piece), self.length - sent)
            time.sleep(0.125)
            if self.withdrawn_at is None and sent >= 2 * MIB:
                status, _, _ = request(self.port, self.token, "PUT", f"/api/v1/consent/{purposes.CAMERA_ROLL}/",
                                       {"Content-Type": "application/json"}, json.dumps({"granted": False}))
                assert status == 200
                self.withdrawn_at = time.monotonic()


def test_a_withdrawal_reaches_a_phone_on_a_slow_link_within_seconds_not_at_the_segments_end(served):
    """At 2 MiB a second a 32 MiB segment takes 16 s to arrive: the server looks at consent again while
    it does, and the phone reads consent_required a second or two after the withdrawal."""
    port, token, _ = served
    status, _, raw = request(port, token, "GET", "/api/v1/consent/")
    (row,) = [row for row in json.loads(raw)["purposes"] if row["purpose"] == purposes.CAMERA_ROLL]
    status, _, _ = request(port, token, "PUT", f"/api/v1/consent/{purposes.CAMERA_ROLL}/",
                           {"Content-Type": "application/json"},
                           json.dumps({"granted": True, "notice_version": row["current_notice_version"]}))
    assert status == 200
    length = SEGMENT + MIB
    path = create(port, token, length)
    body = _Trickling(port, token, length)
    answer = requests.patch(f"http://127.0.0.1:{port}{path}", data=body, timeout=60, headers={
        "Authorization": f"Token {token}", **TUS, "Content-Type": "application/offset+octet-stream",
        "Upload-Offset": "0"})
    answered_after = time.monotonic() - body.withdrawn_at
    assert answer.status_code == 403, answer.text[:300]
    assert answer.json()["error"]["code"] == "consent_required"
    assert answered_after < 5, answered_after  # not the 15 s left of the segment
    assert request(port, token, "HEAD", path)[0] == 404
