"""The sync client against a live test server: camera rolls built from real photos, a logged-in device."""

import base64
import io
import os
import shutil
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.servers.basehttp import WSGIServer
from PIL import Image

from camera_roll_sync import config
from camera_roll_sync.api import Api
from consent import purposes, selectors
from consent import services as consent_services

PHOTOS = Path(__file__).resolve().parent.parent / "fixtures" / "photos"
HOUR_AGO = time.time() - 3600


class _OneRequestAtATime(WSGIServer):
    """Django's test WSGI server without threads (see tests/browser/conftest.py: SQLite in memory)."""

    def __init__(self, *args, connections_override=None, **kwargs):
        super().__init__(*args, **kwargs)


@pytest.fixture(scope="session")
def live_server(request, django_db_setup):
    """pytest-django's live server: one request at a time on SQLite (the test's own connection), threaded on
    PostgreSQL."""
    from pytest_django.live_server_helper import LiveServer

    server = LiveServer("127.0.0.1", start=False)
    if server.thread.connections_override:
        server.thread.server_class = _OneRequestAtATime
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _server_settings(settings):
    settings.VAULT_MASTER_KEYS = f"k1:{base64.b64encode(os.urandom(32)).decode()}"
    settings.WITHDRAWAL_GRACE_DAYS = 0


def grant(user, purpose=purposes.CAMERA_ROLL):
    notice = selectors.notice_current(purpose=purpose)
    consent_services.consent_give(user=user, purpose=purpose, notice_version=notice.version, method="api")


@pytest.fixture
def consenting_alice(transactional_db, alice):
    grant(alice)
    return alice


@pytest.fixture
def device(live_server, consenting_alice, tmp_path, monkeypatch):
    """alice's device, logged in through the client's own login (config file and state in tmp_path)."""
    from camera_roll_sync import cli
    from tests.conftest import PASSWORD

    cache.clear()  # the token endpoint's rate limit counts every login the session made from 127.0.0.1
    path = tmp_path / "device" / "config.json"
    monkeypatch.setenv(config.ENV_PASSWORD, PASSWORD)
    assert cli.main(["login", "--server", live_server.url, "--username", "alice", "--device", "alice-phone",
                     "--config", str(path)]) == 0
    return path


def device_api(config_path: Path) -> Api:
    cfg = config.load(config_path)
    return Api(cfg.server, cfg.token)


def copy_photo(source: Path, target: Path, *, mtime: float = HOUR_AGO) -> Path:
    """A corpus photo, byte for byte, written an hour ago (not "still being written")."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    os.utime(target, (mtime, mtime))
    return target


def make_photo(target: Path, *, taken: datetime | None = None, seed: int = 0, keywords: list[str] | None = None,
               mtime: float = HOUR_AGO) -> Path:
    """A distinct real JPEG (noise from `seed`) with a capture time in its EXIF and XMP keywords."""
    import random

    rng = random.Random(seed)
    image = Image.new("RGB", (320, 240), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    image.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(320 * 240)])
    exif = Image.Exif()
    taken = taken or datetime.now() - timedelta(days=1)
    exif.get_ifd(0x8769)[0x9003] = taken.strftime("%Y:%m:%d %H:%M:%S")
    kwargs = {"exif": exif.tobytes()}
    if keywords:
        items = "".join(f"<rdf:li>{word}</rdf:li>" for word in keywords)
        kwargs["xmp"] = (
            '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:subject><rdf:Bag>'
            f"{items}</rdf:Bag></dc:subject></rdf:Description></rdf:RDF></x:xmpmeta>"
        ).encode()
    target.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=80, **kwargs)
    target.write_bytes(buffer.getvalue())
    os.utime(target, (mtime, mtime))
    return target
