"""The sync client on its own: no server, no database, no Django."""

import io
import os
import stat
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from email.utils import format_datetime
from pathlib import Path

import pytest
from PIL import Image

from camera_roll_sync import cli, config, media
from camera_roll_sync.api import Api, ApiError, Backoff, _multipart, _retry_after, with_retries
from camera_roll_sync.state import State
from camera_roll_sync.sync import Options, Syncer
from tests.sync.conftest import PHOTOS, copy_photo, make_photo

REPO = Path(__file__).resolve().parent.parent.parent


# config ------------------------------------------------------------------------------------
def test_it_keeps_the_token_in_a_file_only_its_owner_can_read(tmp_path):
    path = tmp_path / "new" / "config.json"
    config.save(path, config.Config(server="http://x", username="alice", token="t0k", device="phone"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert config.load(path).token == "t0k"

    path.chmod(0o644)  # loosened by someone: the next save tightens it again
    config.save(path, config.Config(server="http://x", username="alice", token="t1k", device="phone"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert config.state_path(path) == tmp_path / "new" / "config.state.sqlite3"


def test_it_finds_its_config_from_the_flag_then_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(config.ENV_CONFIG, str(tmp_path / "env.json"))
    assert config.config_path(None) == tmp_path / "env.json"
    assert config.config_path(str(tmp_path / "flag.json")) == tmp_path / "flag.json"
    monkeypatch.delenv(config.ENV_CONFIG)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config.config_path(None) == tmp_path / "xdg" / "consentsvc-sync" / "config.json"


def test_it_says_how_to_log_in_when_there_is_no_config(tmp_path, capsys):
    assert cli.main(["status", "--config", str(tmp_path / "none.json")]) == cli.EXIT_ERROR
    assert "consentsvc-sync login" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(config.ConfigError, match="Cannot read"):
        config.load(tmp_path / "bad.json")


# what the phone reads from a photo -----------------------------------------------------------
def test_it_reads_xmp_keywords_and_the_capture_time(tmp_path):
    taken = datetime(2026, 11, 20, 10, 15, 0)
    photo = make_photo(tmp_path / "IMG_1.jpg", taken=taken, keywords=["beach", "Beach", " dog ", "x" * 80])
    info = media.read_info(photo)
    assert info.captured_at == taken and not info.from_file_time
    assert info.labels == ["beach", "dog", "x" * 64]  # deduplicated, trimmed, cut to the server's limit
    assert not info.screenshot


def test_it_reads_iptc_keywords(tmp_path):
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "red").save(buffer, "JPEG")
    jpeg = buffer.getvalue()
    datasets = b"".join(b"\x1c\x02\x19" + len(w).to_bytes(2, "big") + w for w in (b"harbour", b"boat"))
    resource = b"8BIM\x04\x04\x00\x00" + len(datasets).to_bytes(4, "big") + datasets
    resource += b"\x00" * (len(datasets) % 2)
    app13 = b"Photoshop 3.0\x00" + resource
    photo = tmp_path / "iptc.jpg"
    photo.write_bytes(jpeg[:2] + b"\xff\xed" + (len(app13) + 2).to_bytes(2, "big") + app13 + jpeg[2:])
    assert media.read_info(photo).labels == ["harbour", "boat"]


def test_it_reads_a_real_cameras_capture_time_and_falls_back_to_the_file_time(tmp_path):
    nikon = media.read_info(PHOTOS / "gps" / "DSCN0010.jpg")
    assert nikon.captured_at == datetime(2008, 10, 22, 16, 28, 39) and not nikon.from_file_time

    plain = copy_photo(PHOTOS / "orientation" / "landscape_2.jpg", tmp_path / "plain.jpg", mtime=1_700_000_000)
    info = media.read_info(plain)
    assert info.from_file_time and info.captured_at == datetime.fromtimestamp(1_700_000_000)

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a photo")
    assert media.read_info(broken).from_file_time  # never raises on a damaged file


def test_it_reads_the_offset_of_a_phone_photo():
    heic = media.read_info(PHOTOS / "phones" / "IMG_5195.HEIC")
    assert not heic.from_file_time
    assert heic.captured_at.tzinfo is not None


def test_it_knows_screenshots_by_name_folder_and_the_phones_own_mark(tmp_path):
    assert media.read_info(make_photo(tmp_path / "Screenshot_2026-11-20.jpg")).screenshot
    assert media.read_info(make_photo(tmp_path / "Screen Shot 2026-11-20.jpg", seed=1)).screenshot
    marked = tmp_path / "IMG_9.jpg"
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = "Screenshot"  # what iOS writes in UserComment
    Image.new("RGB", (16, 16)).save(marked, "JPEG", exif=exif.tobytes())
    assert media.read_info(marked).screenshot
    assert not media.read_info(make_photo(tmp_path / "IMG_10.jpg", seed=2)).screenshot

    excludes = (*media.DEFAULT_EXCLUDES, "WhatsApp*")
    assert media.folder_skip_reason(Path("Screenshots/a.jpg"), excludes) == "screenshot"
    assert media.folder_skip_reason(Path("Camera/.trashed-123/a.jpg"), excludes) == "excluded_folder"
    assert media.folder_skip_reason(Path("whatsapp images/a.jpg"), excludes) == "excluded_folder"
    assert media.folder_skip_reason(Path("Camera/a.jpg"), excludes) is None


def test_it_measures_recent_against_the_capture_time():
    now = datetime(2026, 11, 29, 12, 0)
    assert media.is_recent(datetime(2026, 10, 31, 12, 0), days=30, now=now)
    assert not media.is_recent(datetime(2026, 10, 30, 11, 59), days=30, now=now)
    # An aware capture time is compared in local time: an hour before `now` is recent, two days is not.
    aware = datetime(2026, 11, 29, 11, 0, tzinfo=UTC)
    local_now = aware.astimezone().replace(tzinfo=None) + timedelta(hours=1)
    assert media.is_recent(aware, days=1, now=local_now)
    assert not media.is_recent(aware, days=1, now=local_now + timedelta(days=2))


# HTTP without a server ---------------------------------------------------------------------
def test_it_sends_a_well_formed_multipart_body():
    body, content_type = _multipart({"labels": '["a"]'}, "file", 'evil"\r\nname.jpg', b"\xff\xd8bytes\r\n--")
    message = BytesParser().parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    parts = {part.get_param("name", header="content-disposition"): part for part in message.get_payload()}
    assert parts["labels"].get_payload(decode=True) == b'["a"]'
    assert parts["file"].get_payload(decode=True) == b"\xff\xd8bytes\r\n--"
    assert "\r" not in parts["file"].get_filename() and '"' not in parts["file"].get_filename()


def test_it_reads_retry_after_in_seconds_or_as_a_date():
    assert _retry_after("7") == 7.0
    assert _retry_after(None) is None and _retry_after("soon") is None
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert _retry_after(later, now=now.timestamp()) == 30.0
    assert _retry_after(later, now=(now + timedelta(minutes=1)).timestamp()) == 0.0  # passed: at once


def test_it_retries_what_is_transient_and_nothing_else():
    waits = []
    answers = [ApiError(429, "throttled", "", retry_after=3), ApiError(503, "http_503", ""), ApiError(0, "x", ""),
               "ok"]

    def call():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    backoff = Backoff(base=1, cap=4)
    assert with_retries(call, backoff=backoff, sleep=waits.append) == "ok"
    assert waits[0] == 3  # what the server asked
    assert 0.5 <= waits[1] <= 2 and 0.5 <= waits[2] <= 4  # full jitter, doubling, never over the cap

    calls = []

    def refused():
        calls.append(1)
        raise ApiError(403, "consent_required", "off")

    with pytest.raises(ApiError, match="consent_required"):
        with_retries(refused, backoff=backoff, sleep=waits.append)
    assert len(calls) == 1

    def down():
        calls.append(1)
        raise ApiError(502, "http_502", "")

    calls.clear()
    with pytest.raises(ApiError):
        with_retries(down, backoff=Backoff(base=0.01, cap=0.01, max_attempts=4), sleep=lambda s: None)
    assert len(calls) == 4


def test_a_stop_cuts_a_long_wait_short():
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()

    def throttled():
        raise ApiError(429, "throttled", "", retry_after=30)

    started = time.monotonic()  # elapsed time, not the wall clock (which jumps at a DST change)
    with pytest.raises(ApiError):
        with_retries(throttled, backoff=Backoff(), stop=stop)
    assert time.monotonic() - started < 5


def test_it_refuses_a_server_that_is_not_http():
    with pytest.raises(ValueError, match="http"):
        Api("file:///etc/passwd")


def test_it_loses_nothing_when_the_server_is_away(tmp_path, capsys):
    path = tmp_path / "config.json"
    config.save(path, config.Config(server="http://127.0.0.1:9", username="alice", token="t", device="phone"))
    make_photo(tmp_path / "roll" / "IMG_1.jpg")
    code = cli.main(["run", "--once", "--no-progress", "--retries", "1", "--config", str(path),
                     str(tmp_path / "roll")])
    assert code == cli.EXIT_UNREACHABLE
    assert "did not answer" in capsys.readouterr().err
    state = State(config.state_path(path))
    assert state.counts() == {"waiting": 1}
    state.close()


def test_a_file_still_being_written_waits_for_the_next_pass(tmp_path):
    roll = tmp_path / "roll"
    written = datetime(2026, 12, 31, 23, 59, 59)  # the phone's clock, passed in: a slow run cannot settle the file
    make_photo(roll / "IMG_1.jpg", taken=written - timedelta(hours=1), mtime=written.timestamp())
    state = State(tmp_path / "state.sqlite3")
    syncer = Syncer(api=Api("http://127.0.0.1:9"), state=state, root=roll, options=Options(progress=False))
    assert syncer.scan(now=written + timedelta(seconds=1)) == []
    assert [Path(r.path).name for r in syncer.scan(now=written + timedelta(seconds=5))] == ["IMG_1.jpg"]
    state.close()


def test_the_client_runs_without_django():
    code = ("import sys, camera_roll_sync.cli, camera_roll_sync.sync;"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'rest_framework'));"
            "sys.exit(str(bad) if bad else 0)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO")}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    help_text = subprocess.run([sys.executable, "-m", "camera_roll_sync", "--help"], cwd=REPO, env=env,
                               capture_output=True, text=True, check=True).stdout
    assert all(command in help_text for command in ("login", "logout", "run", "status"))


def test_the_console_command_is_installed_beside_python():
    # bin/_venv installs the client (requirements-dev.txt); CI would catch a broken install here.
    command = Path(sys.executable).parent / "consentsvc-sync"
    assert command.exists(), "pip install -e ./camera_roll_sync (bin/_venv does it)"
    done = subprocess.run([str(command), "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("consentsvc-sync ")
