"""A video's resumable upload from the sync client: what remains goes in one PATCH whose body is read and
sent a piece at a time, dropped mid-way when the client is told to stop or the file shrinks."""

import os
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from types import SimpleNamespace

import pytest
import urllib3.connection
from django.core.signals import request_finished, request_started

from audit.models import AuditEvent
from camera_roll_sync import api as sync_api
from camera_roll_sync import config
from camera_roll_sync.api import FILE_CHANGED, ApiError, UploadUrls, upload_resumable
from camera_roll_sync.state import State
from camera_roll_sync.sync import Options, Syncer
from tests.sync.conftest import device_api
from tests.sync.loopback import LoopbackServer
from vault import exports, partials
from vault.models import MediaItem, PartialUpload

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def clip() -> bytes:
    """A real clip larger than the client's old 8 MiB PATCHes (tests that need several of the server's
    segments make them smaller)."""
    from tests.vault.clips import clip_bytes

    data = clip_bytes(frames=56, size=(640, 480), noise=11)
    assert len(data) > 8 * MIB
    return data


# A fixed time for the files, and passes that take anything from the last DAYS as recent: nothing here
# depends on the day the tests run.
TAKEN = datetime(2026, 11, 20, 10, 15).timestamp()
DAYS = 100000


def _video(path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (TAKEN, TAKEN))
    return path


@pytest.fixture
def served():
    """What the live server was asked (method, path) and how many requests it finished: its own signals."""
    log = SimpleNamespace(started=[], finished=0)

    def started(sender, environ, **kwargs):
        log.started.append((environ["REQUEST_METHOD"], environ["PATH_INFO"]))

    def finished(sender, **kwargs):
        log.finished += 1

    request_started.connect(started, weak=False)
    request_finished.connect(finished, weak=False)
    yield log
    request_started.disconnect(started)
    request_finished.disconnect(finished)


def _patches(log) -> int:
    return sum(1 for method, _ in log.started if method == "PATCH")


@pytest.fixture
def body(monkeypatch):
    """Every piece of a PATCH body as the client hands it to the socket, and a hook run after each one
    (with the body bytes sent so far), for both a body of bytes and one that streams."""
    spy = SimpleNamespace(pieces=[], after_piece=None)
    request = urllib3.connection.HTTPConnection.request

    def watched(pieces):
        sent = 0
        for piece in pieces:
            spy.pieces.append(piece)
            yield piece
            sent += len(piece)  # asked for the next one: this one is on the socket
            if spy.after_piece is not None:
                spy.after_piece(sent)

    def spying(conn, method, url, body=None, headers=None, **kwargs):
        if method == "PATCH" and body is not None:
            body = watched([body] if isinstance(body, bytes | bytearray | memoryview) else body)
        return request(conn, method, url, body=body, headers=headers, **kwargs)

    monkeypatch.setattr(urllib3.connection.HTTPConnection, "request", spying)
    return spy


def _exported(user, item) -> bytes:
    return b"".join(exports.export_source_open(user_id=user.pk, item_id=item.pk).chunks)


def _upload_once(device, video):
    """One upload_resumable of the file by the device, with its own state (closed after)."""
    state = State(config.state_path(device))
    try:
        return upload_resumable(device_api(device), path=video, urls=UploadUrls(state))
    finally:
        state.close()


def _wait_for(condition, timeout=20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_it_sends_a_video_in_one_patch_by_default(device, consenting_alice, tmp_path, clip, served):
    roll = tmp_path / "roll"
    video = _video(roll / "IMG_0300.MOV", clip)
    state = State(config.state_path(device))
    result = Syncer(api=device_api(device), state=state, root=roll, options=Options(jobs=1, progress=False, days=DAYS),
                    say=lambda message: None).sync_once()
    state.close()

    assert result.uploaded == 1 and result.stopped is None
    assert _patches(served) == 1  # all of its bytes, in one request
    (item,) = MediaItem.objects.filter(owner=consenting_alice)
    assert _exported(consenting_alice, item) == video.read_bytes()  # byte for byte


def test_the_client_holds_one_piece_of_the_file_at_a_time(device, consenting_alice, tmp_path, clip, body):
    video = _video(tmp_path / "roll" / "IMG_0301.MOV", clip)
    answer = _upload_once(device, video)

    assert answer is not None and answer.media_id
    assert sum(len(piece) for piece in body.pieces) == len(clip)
    assert max(len(piece) for piece in body.pieces) <= sync_api.TUS_PIECE_BYTES
    # Each piece is a view of the same buffer of one piece: no other copy of the file is read.
    buffers = {id(piece.obj) for piece in body.pieces if isinstance(piece, memoryview)}
    assert len(buffers) == 1 and len(body.pieces[0].obj) <= sync_api.TUS_PIECE_BYTES


def test_a_halt_drops_the_patch_mid_body_and_the_next_run_resumes(device, consenting_alice, tmp_path, clip, body,
                                                                   served, monkeypatch):
    # Smaller segments on the server: the dropped request leaves whole segments and a part of one.
    monkeypatch.setattr(partials, "SEGMENT_BYTES", 768 * 1024)
    video = _video(tmp_path / "roll" / "IMG_0302.MOV", clip)
    halt = threading.Event()
    halted_at = []

    def halt_after_two_mib(sent):
        if sent >= 2 * MIB and not halt.is_set():
            halted_at.append(sent)
            halt.set()  # as a withdrawal seen by another upload, or Ctrl-C, would

    body.after_piece = halt_after_two_mib
    api = device_api(device)
    state = State(config.state_path(device))
    assert upload_resumable(api, path=video, urls=UploadUrls(state), halt=halt) is None

    # The server may not have begun on the PATCH when the client dropped it: wait until it is done with it.
    assert _wait_for(lambda: _patches(served) == 1 and served.finished == len(served.started))
    partial = PartialUpload.objects.get()
    # The body stopped at the first piece after the halt, and what arrived was kept.
    assert 0 < partial.offset <= halted_at[0] <= 2 * MIB + sync_api.TUS_PIECE_BYTES
    assert partial.segments >= 2

    halt.clear()
    body.after_piece = None
    answer = upload_resumable(api, path=video, urls=UploadUrls(state), halt=halt)
    state.close()
    assert answer is not None and answer.media_id
    assert _patches(served) == 2  # the dropped one, then the rest in one
    started = AuditEvent.objects.filter(subject_id=consenting_alice.pk, action="media.upload_started")
    assert started.count() == 1  # resumed, not started again
    assert not PartialUpload.objects.exists()
    assert _exported(consenting_alice, MediaItem.objects.get(pk=answer.media_id)) == clip


def test_a_file_that_shrinks_mid_upload_ends_it_with_file_changed(device, consenting_alice, tmp_path, clip, body):
    video = _video(tmp_path / "roll" / "IMG_0303.MOV", clip)

    def truncate_after_the_first_piece(sent):
        if video.stat().st_size == len(clip):
            os.truncate(video, 3 * MIB // 2)  # the camera app rewrote it

    body.after_piece = truncate_after_the_first_piece
    state = State(config.state_path(device))
    outcome = []

    def upload():
        try:
            outcome.append(upload_resumable(device_api(device), path=video, urls=UploadUrls(state)))
        except ApiError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=upload, daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "the upload hung waiting for bytes the file no longer has"
    (error,) = outcome
    assert isinstance(error, ApiError) and error.code == FILE_CHANGED and not error.transient
    assert not MediaItem.objects.filter(owner=consenting_alice).exists()
    assert not state._run("SELECT key FROM meta WHERE key LIKE 'tus:%'")  # that upload is not resumed
    state.close()


def test_a_file_that_changed_on_the_way_waits_for_the_next_scan_without_retries(device, consenting_alice,
                                                                                  tmp_path, clip, monkeypatch):
    roll = tmp_path / "roll"
    video = _video(roll / "IMG_0304.MOV", clip)
    calls = []

    def shrank(api, *, path, urls, halt=None):
        calls.append(path)
        raise ApiError(0, FILE_CHANGED, f"{path.name} shrank while it was being sent.")

    monkeypatch.setattr("camera_roll_sync.sync.upload_resumable", shrank)
    waits: list[float] = []
    state = State(config.state_path(device))
    result = Syncer(api=device_api(device), state=state, root=roll, options=Options(jobs=1, progress=False, days=DAYS),
                    sleep=waits.append, say=lambda message: None).sync_once()

    assert len(calls) == 1 and not waits  # not retried: the same bytes are not there to send
    assert result.stopped is None and result.uploaded == 0
    row = state.get(str(video.resolve()))
    assert (row.status, row.reason) == ("waiting", "changed")
    state.close()


def test_the_patch_cap_is_optional_and_a_positive_number_of_bytes():
    assert sync_api._tus_cap(None) is None and sync_api._tus_cap("") is None
    assert sync_api._tus_cap("65536") == 65536
    for wrong in ("0", "-1", "lots"):
        with pytest.raises(ValueError, match="CONSENTSVC_SYNC_TUS_CHUNK|invalid literal"):
            sync_api._tus_cap(wrong)


class _StuckTusServer(LoopbackServer):
    """A loopback tus server whose PATCH answers 204 without moving the upload's offset."""

    def __init__(self):
        self.patches = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _answer(self, status, headers):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(status)
                for name, value in {**headers, "Tus-Resumable": "1.0.0", "Content-Length": "0"}.items():
                    self.send_header(name, value)
                self.end_headers()

            def do_POST(self):  # noqa: N802 - http.server's names
                self._answer(201, {"Location": "/api/v1/media/uploads/stuck/"})

            def do_PATCH(self):  # noqa: N802
                server.patches += 1
                self._answer(204, {"Upload-Offset": self.headers["Upload-Offset"]})

        self._serve(Handler)


def test_an_answer_that_does_not_move_the_upload_is_malformed_not_a_loop(tmp_path):
    video = _video(tmp_path / "roll" / "IMG_0305.MOV", os.urandom(200_000))
    state = State(tmp_path / "state.sqlite3")
    outcome = []
    with _StuckTusServer() as server:
        def upload():
            try:
                outcome.append(upload_resumable(sync_api.Api(server.url, "t"), path=video, urls=UploadUrls(state),
                                                chunk_size=64 * 1024))
            except ApiError as exc:
                outcome.append(exc)

        worker = threading.Thread(target=upload, daemon=True)
        worker.start()
        worker.join(timeout=30)
        assert not worker.is_alive(), f"still sending after {server.patches} PATCHes"
    state.close()
    (error,) = outcome
    assert isinstance(error, ApiError) and error.malformed
    assert server.patches == 1


def test_an_upload_ended_on_the_server_under_its_patch_goes_again_from_the_start(device, consenting_alice,
                                                                                  tmp_path, clip, body, monkeypatch):
    # The upload is ended from elsewhere (expiry, or a DELETE) while its PATCH streams: the server answers
    # upload_expired at its next segment, and the client sends the file again instead of giving up the pass.
    monkeypatch.setattr(partials, "SEGMENT_BYTES", 2 * MIB)  # the server answers mid-body, at its next segment
    video = _video(tmp_path / "roll" / "IMG_0305.MOV", clip)
    ended = []

    def end_it_after_the_first_piece(sent):
        if not ended:
            upload = PartialUpload.objects.get()
            partials.partial_delete(user_id=consenting_alice.pk, uid=upload.uid)
            ended.append(upload.uid)

    body.after_piece = end_it_after_the_first_piece
    answer = _upload_once(device, video)

    assert ended and answer is not None and answer.media_id
    started = AuditEvent.objects.filter(subject_id=consenting_alice.pk, action="media.upload_started")
    assert started.count() == 2  # the ended upload, then a new one
    assert not PartialUpload.objects.exists()
    assert _exported(consenting_alice, MediaItem.objects.get(pk=answer.media_id)) == clip


def test_a_segment_counted_first_by_a_stale_patch_is_resumed_from_where_the_server_stands(
        device, consenting_alice, tmp_path, clip, body, monkeypatch):
    # A PATCH of the same upload from before (a client killed, or a link that dropped, whose request the
    # server is still storing) counts its segment while this PATCH streams: the server answers 409
    # upload_offset_mismatch ("HEAD it and resume"), and the client does that instead of ending the pass.
    monkeypatch.setattr(partials, "SEGMENT_BYTES", 2 * MIB)
    video = _video(tmp_path / "roll" / "IMG_0306.MOV", clip)
    raced = []

    def a_stale_patch_counts_first(sent):
        if not raced:
            upload = PartialUpload.objects.get()
            partials.partial_append(user_id=consenting_alice.pk, uid=upload.uid, offset=0, body=[clip[:MIB // 2]])
            raced.append(upload.uid)

    body.after_piece = a_stale_patch_counts_first
    answer = _upload_once(device, video)

    assert raced and answer is not None and answer.media_id
    started = AuditEvent.objects.filter(subject_id=consenting_alice.pk, action="media.upload_started")
    assert started.count() == 1  # resumed, not started again
    assert _exported(consenting_alice, MediaItem.objects.get(pk=answer.media_id)) == clip


class _OddOffsetServer(_StuckTusServer):
    """A loopback tus server whose HEAD and PATCH answer an Upload-Offset of digits int() refuses."""

    def __init__(self, odd: str):
        super().__init__()
        handler = self.httpd.RequestHandlerClass

        def do_patch(request):
            request._answer(204, {"Upload-Offset": odd})

        def do_head(request):
            request._answer(200, {"Upload-Offset": odd, "Upload-Length": "200000"})

        handler.do_PATCH = do_patch
        handler.do_HEAD = do_head


@pytest.mark.parametrize("answered", ["PATCH", "HEAD"])
def test_an_upload_offset_of_digits_int_refuses_is_a_malformed_answer(tmp_path, answered):
    # "²" is a digit to str.isdigit(), not to int(): read as a number, it crashed the client with a ValueError.
    video = _video(tmp_path / "roll" / "IMG_0307.MOV", os.urandom(200_000))
    state = State(tmp_path / "state.sqlite3")
    with _OddOffsetServer("\u00b2") as server:
        urls = UploadUrls(state)
        if answered == "HEAD":  # an upload this client started before: it asks where it stands
            with video.open("rb") as stream:
                urls.set_item(sync_api.upload_fingerprint(stream), f"{server.url}/api/v1/media/uploads/odd/")
        with pytest.raises(ApiError) as refused:
            upload_resumable(sync_api.Api(server.url, "t"), path=video, urls=urls)
    state.close()
    assert refused.value.malformed


class _NoItemServer(_StuckTusServer):
    """A loopback tus server whose PATCH takes the whole file but names no item (or one that is no number)."""

    def __init__(self, item: str | None):
        super().__init__()
        handler = self.httpd.RequestHandlerClass

        def do_patch(request):
            length = int(request.headers["Content-Length"]) + int(request.headers["Upload-Offset"])
            named = {"Media-Item-Id": item} if item is not None else {}
            request._answer(204, {"Upload-Offset": str(length), **named})

        handler.do_PATCH = do_patch


@pytest.mark.parametrize("item", [None, "abc", "0", "\u00b2"])
def test_a_finished_upload_that_names_no_item_is_a_malformed_answer(tmp_path, item):
    # The photo path refuses an answer without a numeric id; a video's last PATCH recorded media id 0
    # (no header) or crashed with a ValueError (not a number).
    video = _video(tmp_path / "roll" / "IMG_0308.MOV", os.urandom(200_000))
    state = State(tmp_path / "state.sqlite3")
    with _NoItemServer(item) as server, pytest.raises(ApiError) as refused:
        upload_resumable(sync_api.Api(server.url, "t"), path=video, urls=UploadUrls(state))
    state.close()
    assert refused.value.malformed


def test_an_upload_whose_every_byte_is_on_the_server_already_is_asked_again_later(tmp_path):
    # Killed during its last PATCH, the client comes back while the server finishes the upload (the
    # box takes seconds for a long clip): HEAD says every byte is in, and no PATCH is sent. That is
    # no upload with media id 0, but a transient answer: asked again, the server says 404 (done) and
    # the file goes again, answered as a duplicate with its id.
    video = _video(tmp_path / "roll" / "IMG_0309.MOV", os.urandom(200_000))
    state = State(tmp_path / "state.sqlite3")
    with _OddOffsetServer("200000") as server:
        urls = UploadUrls(state)
        with video.open("rb") as stream:
            key = sync_api.upload_fingerprint(stream)
        urls.set_item(key, f"{server.url}/api/v1/media/uploads/finishing/")
        with pytest.raises(ApiError) as told:
            upload_resumable(sync_api.Api(server.url, "t"), path=video, urls=urls)
    assert told.value.transient and not told.value.malformed and server.patches == 0
    assert urls.get_item(key)  # kept: the next attempt asks the same upload
    state.close()
