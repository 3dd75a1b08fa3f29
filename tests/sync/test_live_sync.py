"""The sync client against a live test server, as a phone would use it."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from audit.models import AuditEvent
from camera_roll_sync import cli, config
from camera_roll_sync.api import Api, ApiError, Backoff
from camera_roll_sync.state import State
from camera_roll_sync.sync import Options, Syncer
from consent import purposes
from tests.sync.conftest import PHOTOS, copy_photo, device_api, make_photo
from vault import selectors as vault_selectors
from vault.models import MediaItem

REPO = Path(__file__).resolve().parent.parent.parent
CAMERA = f"consent/{purposes.CAMERA_ROLL}/"


def run_once(config_path: Path, folder: Path, *extra: str) -> int:
    return cli.main(["run", "--once", "--no-progress", "--config", str(config_path), *extra, str(folder)])


def uploads_of(user) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(subject_id=user.pk, action="media.uploaded").order_by("seq"))


def sent_of(user) -> list[AuditEvent]:
    """Every upload the server received: stored, duplicate or refused."""
    return list(AuditEvent.objects.filter(
        subject_id=user.pk, action__in=["media.uploaded", "media.upload_duplicate", "media.upload_refused"]))


def test_it_uploads_a_folder_of_corpus_photos_once(device, consenting_alice, tmp_path, capsys):
    roll = tmp_path / "DCIM" / "100CAMERA"
    photos = sorted((PHOTOS / "orientation").glob("*.jpg"))[:10]  # no capture time inside: the file's time counts
    for photo in photos:
        copy_photo(photo, roll / photo.name)
    make_photo(roll / "IMG_0001.jpg", seed=1, keywords=["beach", "dog"])

    assert run_once(device, tmp_path / "DCIM") == 0
    assert MediaItem.objects.filter(owner=consenting_alice).count() == 11
    assert len(uploads_of(consenting_alice)) == 11
    labelled = [m for m in vault_selectors.media_metas(items=list(MediaItem.objects.filter(owner=consenting_alice)))
                if m.labels]
    assert [sorted(m.labels) for m in labelled] == [["beach", "dog"]]
    assert "11 uploaded" in capsys.readouterr().out

    sent = len(sent_of(consenting_alice))
    assert run_once(device, tmp_path / "DCIM") == 0
    assert len(sent_of(consenting_alice)) == sent  # the second run sends nothing at all
    assert MediaItem.objects.filter(owner=consenting_alice).count() == 11
    assert "0 uploaded" in capsys.readouterr().out

    # A copy under another name is the same content: not sent either.
    copy_photo(photos[0], roll / "copy_of_first.jpg")
    assert run_once(device, tmp_path / "DCIM") == 0
    assert len(sent_of(consenting_alice)) == sent

    assert cli.main(["status", "--config", str(device)]) == 0
    out = capsys.readouterr().out
    assert "Camera Roll Sharing Suggestions: on" in out
    assert "Uploaded: 12" in out and "Waiting:  0" in out


def test_it_respects_the_servers_duplicate_answer(device, consenting_alice, tmp_path):
    roll = tmp_path / "roll"
    photo = make_photo(roll / "IMG_0001.jpg", seed=7)
    device_api(device).upload(filename="IMG_0001.jpg", data=photo.read_bytes(), labels=[], captured_at=None)

    assert run_once(device, roll) == 0
    assert MediaItem.objects.filter(owner=consenting_alice).count() == 1
    state = State(config.state_path(device))
    assert state.counts() == {"uploaded": 1}
    assert state.get(str(photo.resolve())).reason == "already_on_server"
    state.close()


def test_it_skips_old_photos_screenshots_and_excluded_folders(device, consenting_alice, tmp_path, capsys):
    roll = tmp_path / "DCIM"
    recent = make_photo(roll / "Camera" / "IMG_0002.jpg", seed=2)
    copy_photo(PHOTOS / "gps" / "DSCN0010.jpg", roll / "Camera" / "DSCN0010.jpg")  # taken in 2008
    make_photo(roll / "Camera" / "IMG_0003.jpg", seed=3, taken=datetime.now() - timedelta(days=45))
    make_photo(roll / "Screenshots" / "IMG_0004.jpg", seed=4)
    make_photo(roll / "Camera" / "Screenshot_20261120-101500.jpg", seed=5)
    make_photo(roll / "WhatsApp" / "IMG_0006.jpg", seed=6)
    make_photo(roll / ".thumbnails" / "IMG_0007.jpg", seed=7)

    assert run_once(device, roll, "--exclude", "WhatsApp") == 0
    items = list(MediaItem.objects.filter(owner=consenting_alice))
    assert [m.sha256 for m in vault_selectors.media_metas(items=items)] == [_sha(recent)]

    capsys.readouterr()
    cli.main(["status", "--config", str(device)])
    out = capsys.readouterr().out
    assert "Uploaded: 1" in out
    assert "Skipped:  6 (2 excluded folder, 2 old, 2 screenshot)" in out

    # A wider window takes the 45-day-old photo, still not the 2008 one.
    assert run_once(device, roll, "--exclude", "WhatsApp", "--days", "60") == 0
    assert MediaItem.objects.filter(owner=consenting_alice).count() == 2


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(("batch", "refused_at_most"), [(3, 0), (4, 1)], ids=["seen-on-next-check", "403-mid-batch"])
def test_it_stops_within_one_batch_of_a_withdrawal(device, consenting_alice, tmp_path, batch, refused_at_most):
    roll = tmp_path / "roll"
    for seed in range(12):
        make_photo(roll / f"IMG_{seed:04d}.jpg", seed=100 + seed)
    api = device_api(device)
    uploaded = []

    def withdraw_after_three(row, answer):
        # alice turns the toggle off from her browser while the phone is uploading.
        uploaded.append(answer.media_id)
        if len(uploaded) == 3:
            api._request("PUT", CAMERA, body=b'{"granted": false}', content_type="application/json")

    state = State(config.state_path(device))
    syncer = Syncer(api=api, state=state, root=roll, options=Options(batch_size=batch, jobs=1, progress=False),
                    on_uploaded=withdraw_after_three, say=lambda message: None)
    result = syncer.sync_once()

    assert result.stopped == "consent_off"
    assert result.uploaded == 3
    assert result.dropped == 12 - 3
    withdrawn = AuditEvent.objects.get(subject_id=consenting_alice.pk, action="consent.withdrawn")
    assert all(e.seq < withdrawn.seq for e in uploads_of(consenting_alice))
    assert len(uploads_of(consenting_alice)) == 3
    refused = AuditEvent.objects.filter(subject_id=consenting_alice.pk, action="media.upload_refused").count()
    assert refused <= refused_at_most
    assert state.counts() == {"uploaded": 3, "waiting": 9}

    # The next pass asks first, sends nothing, and says consent is off.
    again = syncer.sync_once()
    assert again.stopped == "consent_off" and again.uploaded == 0
    assert AuditEvent.objects.filter(subject_id=consenting_alice.pk, action="media.upload_refused").count() == refused
    assert run_once(device, roll) == cli.EXIT_CONSENT_OFF
    state.close()


@pytest.mark.child_clock  # the client runs as a process of its own
def test_it_resumes_after_a_sigkill_without_duplicates(device, consenting_alice, tmp_path):
    roll = tmp_path / "roll"
    total = 24
    for seed in range(total):
        make_photo(roll / f"IMG_{seed:04d}.jpg", seed=200 + seed)
    command = [sys.executable, "-m", "camera_roll_sync", "run", "--once", "--no-progress", "--jobs", "2",
               "--batch", "4", "--config", str(device), str(roll)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    state_file = config.state_path(device)
    done_at_kill = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        done_at_kill = _uploads_recorded(state_file)
        if done_at_kill >= 5:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()
    assert 5 <= done_at_kill < total

    assert run_once(device, roll) == 0
    assert MediaItem.objects.filter(owner=consenting_alice).count() == total
    assert len(uploads_of(consenting_alice)) == total  # each photo stored once
    metas = vault_selectors.media_metas(items=list(MediaItem.objects.filter(owner=consenting_alice)))
    assert len({m.sha256 for m in metas}) == total
    assert _uploads_recorded(state_file) == total


@pytest.mark.child_clock  # the client runs as a process of its own
def test_the_watching_client_stops_cleanly_on_sigterm(device, consenting_alice, tmp_path):
    roll = tmp_path / "roll"
    for seed in range(12):
        make_photo(roll / f"IMG_{seed:04d}.jpg", seed=500 + seed)
    command = [sys.executable, "-m", "camera_roll_sync", "run", "--no-progress", "--jobs", "1", "--batch", "2",
               "--config", str(device), str(roll)]
    process = subprocess.Popen(command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    state_file = config.state_path(device)
    assert _wait_for(lambda: _uploads_recorded(state_file) >= 1 or process.poll() is not None, timeout=60)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err.decode()
    assert b"Watching" in out
    recorded = _uploads_recorded(state_file)
    assert 1 <= recorded < 12
    assert len(uploads_of(consenting_alice)) == recorded  # everything the server stored is remembered


def _uploads_recorded(state_file: Path) -> int:
    if not state_file.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{state_file}?mode=ro", uri=True, timeout=1) as db:
            return db.execute("SELECT COUNT(*) FROM uploads").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_it_backs_off_on_429_and_5xx(device, consenting_alice, tmp_path, live_server):
    from tests.sync.faults import FaultyProxy

    roll = tmp_path / "roll"
    for seed in range(3):
        make_photo(roll / f"IMG_{seed:04d}.jpg", seed=300 + seed)
    cfg = config.load(device)
    waits: list[float] = []
    # Two uploads throttled (Retry-After: 2), then one 503, then the real server answers.
    faults = [(429, {"Retry-After": "2"}), (429, {"Retry-After": "2"}), (503, {})]
    with FaultyProxy(live_server.url, path="/api/v1/media/", method="POST", faults=faults) as proxy:
        state = State(config.state_path(device))
        syncer = Syncer(api=Api(proxy.url, cfg.token), state=state, root=roll,
                        options=Options(jobs=1, progress=False, backoff=Backoff(base=0.05, cap=0.2, max_attempts=8)),
                        sleep=waits.append, say=lambda message: None)
        result = syncer.sync_once()
        state.close()
        assert proxy.faulted == 3

    assert result.uploaded == 3 and result.stopped is None
    assert waits[:2] == [2.0, 2.0]  # Retry-After, as the server said
    assert len(waits) == 3 and 0 < waits[2] <= 0.2  # then backoff for the 503
    assert len(uploads_of(consenting_alice)) == 3  # each photo stored once despite the retries


def test_logout_revokes_the_devices_token_on_the_server(device, capsys):
    cfg = config.load(device)
    assert device_api(device).consent().granted
    assert cli.main(["logout", "--config", str(device)]) == 0
    assert not device.exists()
    assert "revoked" in capsys.readouterr().out
    with pytest.raises(ApiError) as refused:
        Api(cfg.server, cfg.token).consent()
    assert refused.value.status == 401
    # Logging out twice, or after the server forgot the token, is not an error.
    config.save(device, cfg)
    assert cli.main(["logout", "--config", str(device)]) == 0


def test_a_refused_token_says_log_in_again(device, tmp_path, capsys):
    cfg = config.load(device)
    Api(cfg.server, cfg.token).logout()  # signed out from elsewhere (the devices page, a password change)
    make_photo(tmp_path / "roll" / "IMG_1.jpg")
    assert run_once(device, tmp_path / "roll") == cli.EXIT_AUTH
    assert "log in again" in capsys.readouterr().err


def test_the_access_history_names_the_device(device, consenting_alice, live_server, tmp_path, monkeypatch):
    from django.core.cache import cache

    from tests.conftest import PASSWORD

    cache.clear()
    tablet = tmp_path / "tablet" / "config.json"
    monkeypatch.setenv(config.ENV_PASSWORD, PASSWORD)
    assert cli.main(["login", "--server", live_server.url, "--username", "alice", "--device", "alice-tablet",
                     "--config", str(tablet)]) == 0
    for seed in range(3):
        make_photo(tmp_path / "phone-roll" / f"IMG_{seed}.jpg", seed=700 + seed)
    make_photo(tmp_path / "tablet-roll" / "IMG_9.jpg", seed=709)
    copy_photo(tmp_path / "phone-roll" / "IMG_0.jpg", tmp_path / "tablet-roll" / "IMG_0.jpg")
    assert run_once(device, tmp_path / "phone-roll") == 0
    assert run_once(tablet, tmp_path / "tablet-roll") == 0

    def history() -> list[str]:
        return [line["summary"] for line in device_api(tablet)._request("GET", "me/access-log/")[1]["results"]]

    lines = history()
    assert "You uploaded 3 photos from the phone app on alice-phone" in lines
    assert "You uploaded a photo from the phone app on alice-tablet" in lines
    assert "The phone app on alice-tablet sent a photo already held; nothing new was kept" in lines
    events = AuditEvent.objects.filter(subject_id=consenting_alice.pk, action="media.uploaded")
    assert all(isinstance(e.details["device"], int) for e in events)
    assert not any("alice-" in json.dumps(e.details) for e in events)  # the trail holds the id, never the name

    assert cli.main(["logout", "--config", str(device)]) == 0
    assert "You uploaded 3 photos from the phone app on a device since signed out" in history()


def _wait_for(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_the_watching_client_stops_when_consent_goes_and_starts_again_when_it_comes_back(
        device, consenting_alice, tmp_path):
    roll = tmp_path / "roll"
    for seed in range(2):
        make_photo(roll / f"IMG_{seed:04d}.jpg", seed=400 + seed)
    api = device_api(device)
    said: list[str] = []
    sent: list[int] = []
    state = State(config.state_path(device))
    syncer = Syncer(api=api, state=state, root=roll, options=Options(jobs=1, progress=False), say=said.append,
                    on_uploaded=lambda row, answer: sent.append(answer.media_id))
    watcher = threading.Thread(target=syncer.run_forever, kwargs={"interval": 0.1}, daemon=True)
    watcher.start()
    try:
        assert _wait_for(lambda: len(sent) == 2)
        api._request("PUT", CAMERA, body=b'{"granted": false}', content_type="application/json")
        assert _wait_for(lambda: any("is off: uploading stopped" in m for m in said)), said

        for seed in range(2, 4):  # new photos while it is off: they wait
            make_photo(roll / f"IMG_{seed:04d}.jpg", seed=400 + seed)
        time.sleep(1.0)  # ten passes
        assert len(sent) == 2

        notice = api._request("GET", f"consent/notices/{purposes.CAMERA_ROLL}/")[1]
        api._request("PUT", CAMERA, body=json.dumps({"granted": True, "notice_version": notice["version"]}).encode(),
                     content_type="application/json")
        # The withdrawal shredded the first two: all four recent photos go (once each).
        assert _wait_for(lambda: len(sent) == 6), (sent, said)
    finally:
        syncer.stop()
        watcher.join(timeout=30)
    state.close()
    assert any("turned off and on again" in m for m in said)
    withdrawn = AuditEvent.objects.get(subject_id=consenting_alice.pk, action="consent.withdrawn")
    given_again = AuditEvent.objects.filter(subject_id=consenting_alice.pk, action="consent.given").last()
    uploads = uploads_of(consenting_alice)
    assert [e.seq < withdrawn.seq for e in uploads] == [True] * 2 + [False] * 4
    assert all(e.seq > given_again.seq for e in uploads[2:])
    assert not AuditEvent.objects.filter(subject_id=consenting_alice.pk, action="media.upload_refused").exists()
    assert MediaItem.objects.filter(owner=consenting_alice).count() == 4


def test_it_keeps_to_its_concurrency_bound(device, consenting_alice, tmp_path, live_server):
    from tests.sync.faults import FaultyProxy

    roll = tmp_path / "roll"
    for seed in range(9):
        make_photo(roll / f"IMG_{seed:04d}.jpg", seed=600 + seed)
    cfg = config.load(device)
    with FaultyProxy(live_server.url, path="/api/v1/media/", method="POST", faults=[]) as proxy:
        state = State(config.state_path(device))
        result = Syncer(api=Api(proxy.url, cfg.token), state=state, root=roll,
                        options=Options(jobs=3, batch_size=9, progress=False), say=lambda message: None).sync_once()
        state.close()
    assert result.uploaded == 9
    assert 2 <= proxy.most_in_flight <= 3


def _make_video(path: Path, *, frames: int = 150, seed: int = 0) -> Path:
    from tests.vault.clips import clip_bytes

    path.parent.mkdir(parents=True, exist_ok=True)
    # Noise compresses badly: a clip of a few hundred kB, several tus pieces of 64 kB.
    path.write_bytes(clip_bytes(frames=frames, size=(160, 120), noise=seed + 1))
    os.utime(path, (time.time() - 3600, time.time() - 3600))
    return path


def _killed_once_stored(command: list[str], env: dict, *, at_least: int) -> int:
    """Runs the client and SIGKILLs it as soon as the server has counted ``at_least`` bytes of its
    upload; the offset the server stood at then."""
    from vault.models import PartialUpload

    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    offset_at_kill = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        partial = PartialUpload.objects.first()
        if partial is not None and partial.offset >= at_least:
            process.send_signal(signal.SIGKILL)
            offset_at_kill = partial.offset
            break
        time.sleep(0.01)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()
    return offset_at_kill


@pytest.mark.child_clock  # the client runs as a process of its own
def test_it_uploads_a_video_through_tus_resuming_after_a_sigkill(device, consenting_alice, tmp_path):
    from vault import exports
    from vault.models import PartialUpload

    roll = tmp_path / "roll"
    video = _make_video(roll / "IMG_0100.MOV")
    make_photo(roll / "IMG_0001.jpg", seed=300)
    command = [sys.executable, "-m", "camera_roll_sync", "run", "--once", "--no-progress", "--jobs", "1",
               "--config", str(device), str(roll)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "CONSENTSVC_SYNC_TUS_CHUNK": str(64 * 1024)}
    offset_at_kill = _killed_once_stored(command, env, at_least=2 * 64 * 1024)
    assert 0 < offset_at_kill < video.stat().st_size

    assert run_once(device, roll) == 0
    (item,) = MediaItem.objects.filter(owner=consenting_alice, duration_ms__isnull=False)
    opened = exports.export_source_open(user_id=consenting_alice.pk, item_id=item.pk)
    assert b"".join(opened.chunks) == video.read_bytes()  # byte for byte
    started = AuditEvent.objects.filter(subject_id=consenting_alice.pk, action="media.upload_started")
    assert started.count() == 1  # resumed, not started again
    assert not PartialUpload.objects.exists()
    assert MediaItem.objects.filter(owner=consenting_alice).count() == 2


def test_a_withdrawal_stops_a_video_upload_before_its_next_piece(device, consenting_alice, tmp_path, monkeypatch):
    from camera_roll_sync import api as sync_api
    from vault.models import PartialUpload

    roll = tmp_path / "roll"
    _make_video(roll / "IMG_0200.MOV", seed=5)
    api = device_api(device)
    monkeypatch.setattr(sync_api, "TUS_CHUNK_BYTES", 64 * 1024)
    sent = []
    original = sync_api.upload_resumable

    def withdraw_after_the_first_piece(*args, **kwargs):
        halt = kwargs["halt"]

        class Watch:
            def is_set(self):
                partial = PartialUpload.objects.first()
                if partial is not None and partial.offset and not sent:
                    sent.append(partial.offset)
                    api._request("PUT", CAMERA, body=b'{"granted": false}', content_type="application/json")
                return halt.is_set()

        kwargs["halt"] = Watch()
        return original(*args, **kwargs)

    monkeypatch.setattr("camera_roll_sync.sync.upload_resumable", withdraw_after_the_first_piece)
    state = State(config.state_path(device))
    syncer = Syncer(api=api, state=state, root=roll, options=Options(jobs=1, progress=False), say=lambda m: None)
    result = syncer.sync_once()
    assert result.stopped == "consent_off" and result.uploaded == 0
    assert sent and not PartialUpload.objects.exists()  # shredded with the withdrawal
    assert not MediaItem.objects.filter(owner=consenting_alice).exists()
    refused = AuditEvent.objects.filter(subject_id=consenting_alice.pk, action="media.upload_refused")
    assert refused.count() <= 1
    state.close()


# The large videos' fixed time, and the window their runs take as recent: no dependence on the day.
TAKEN = datetime(2026, 11, 20, 10, 15).timestamp()
DAYS = 100000

def _large_video(path: Path, *, seed: int, megabytes: int = 6) -> Path:
    """A clip followed by a `free` atom of ``megabytes`` (a player skips it): a video of several
    megabytes, which one PATCH sends in several pieces of the client's and the server's."""
    import struct

    _make_video(path, frames=30, seed=seed)
    pad = megabytes * 1024 * 1024
    with path.open("ab") as out:
        out.write(struct.pack(">I4s", pad + 8, b"free") + os.urandom(pad))
    os.utime(path, (TAKEN, TAKEN))  # a fixed day; the runs take the last DAYS as recent
    return path


def _slow_segments(monkeypatch, *, every=None):
    """The server counts what arrives 256 KiB at a time, each segment a little slow to store (a phone's
    link, seen from the server): the one PATCH is still arriving when the test acts. ``every`` runs
    before each segment is stored, with the segment's number, in the server's own thread."""
    from vault import content, partials

    monkeypatch.setattr(partials, "SEGMENT_BYTES", 256 * 1024)
    write = content.content_write
    stored = []

    def slow(**kwargs):
        if kwargs.get("variant") == "partial":
            stored.append(1)
            if every is not None:
                every(len(stored))
            time.sleep(0.03)
        return write(**kwargs)

    monkeypatch.setattr(content, "content_write", slow)


def _settled_offset() -> int:
    from vault.models import PartialUpload

    last, steady = -1, 0
    while steady < 20:
        offset = PartialUpload.objects.get().offset
        steady, last = (steady + 1, last) if offset == last else (0, offset)
        time.sleep(0.05)
    return last


@pytest.mark.child_clock  # the client runs as a process of its own
def test_a_video_sent_in_one_patch_resumes_after_a_sigkill(device, consenting_alice, tmp_path, monkeypatch):
    """The default client (no CONSENTSVC_SYNC_TUS_CHUNK: what remains in one PATCH) is killed mid-body;
    the next run resumes from where the server stands, and the stored source is the file byte for byte."""
    from vault import exports
    from vault.models import PartialUpload

    _slow_segments(monkeypatch)
    roll = tmp_path / "roll"
    # Larger than what the kernel's socket buffers hold over loopback: the kill cuts the body.
    video = _large_video(roll / "IMG_0300.MOV", seed=7, megabytes=24)
    command = [sys.executable, "-m", "camera_roll_sync", "run", "--once", "--no-progress", "--jobs", "1",
               "--days", str(DAYS), "--config", str(device), str(roll)]
    env = {k: v for k, v in os.environ.items() if k != "CONSENTSVC_SYNC_TUS_CHUNK"} | {"PYTHONPATH": str(REPO)}
    offset_at_kill = _killed_once_stored(command, env, at_least=1024 * 1024)
    assert 0 < offset_at_kill < video.stat().st_size
    settled = _settled_offset()  # the server stores what was in flight and counts it
    assert offset_at_kill <= settled < video.stat().st_size

    assert run_once(device, roll, "--days", str(DAYS)) == 0
    (item,) = MediaItem.objects.filter(owner=consenting_alice)
    opened = exports.export_source_open(user_id=consenting_alice.pk, item_id=item.pk)
    assert b"".join(opened.chunks) == video.read_bytes()  # byte for byte
    started = AuditEvent.objects.filter(subject_id=consenting_alice.pk, action="media.upload_started")
    assert started.count() == 1  # resumed, not started again
    assert not PartialUpload.objects.exists()


@pytest.mark.child_clock  # the client runs as a process of its own
def test_a_withdrawal_while_one_patch_streams_stops_the_real_client_at_once(device, consenting_alice, tmp_path,
                                                                           monkeypatch):
    """The holder turns the feature off from another device while the client's one PATCH streams a
    video: the pass ends consent_off (exit 3) without trying again, and nothing of the video is left."""
    from tests.vault.conftest import withdraw
    from vault.models import PartialUpload

    withdrawn_at = []

    def withdraw_at_the_fourth(n):
        if n == 4 and not withdrawn_at:
            withdraw(consenting_alice)
            withdrawn_at.append(time.monotonic())

    _slow_segments(monkeypatch, every=withdraw_at_the_fourth)
    roll = tmp_path / "roll"
    _large_video(roll / "IMG_0301.MOV", seed=8)
    command = [sys.executable, "-m", "camera_roll_sync", "run", "--once", "--no-progress", "--jobs", "1",
               "--days", str(DAYS), "--config", str(device), str(roll)]
    env = {k: v for k, v in os.environ.items() if k != "CONSENTSVC_SYNC_TUS_CHUNK"} | {"PYTHONPATH": str(REPO)}
    process = subprocess.run(command, cwd=REPO, env=env, capture_output=True, timeout=120)
    ended = time.monotonic()
    assert process.returncode == cli.EXIT_CONSENT_OFF, process.stderr.decode() + process.stdout.decode()
    assert withdrawn_at and ended - withdrawn_at[0] < 5  # not after a retry's back-off
    assert b"trying again" not in process.stdout + process.stderr, process.stdout.decode()
    assert not PartialUpload.objects.exists() and not MediaItem.objects.filter(owner=consenting_alice).exists()
    started = AuditEvent.objects.filter(subject_id=consenting_alice.pk, action="media.upload_started")
    assert started.count() == 1  # not started again after the refusal
