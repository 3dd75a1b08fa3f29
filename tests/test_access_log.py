"""gunicorn's access log never holds a share link's token (a red-team finding: every request to
/s/<token>/ wrote the token in full, and the page's content request wrote it again in the Referer)."""

import datetime
import importlib
import logging
import re
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from tests.test_serving import BIN, ROOT, environment, free_port

TOKEN = "Zx9-secretShareToken_0123456789abcdefABCDEF"
CONFIG = "python:consentsvc.gunicorn_conf"


def configured(access_log: Path, **settings) -> Config:
    """gunicorn's Config loaded from our config module as `--config python:...` loads it."""
    cfg = Config()
    module = importlib.import_module(CONFIG.removeprefix("python:"))
    for name, value in vars(module).items():
        if name in cfg.settings:
            cfg.set(name, value)
    cfg.set("accesslog", str(access_log))
    for name, value in settings.items():
        cfg.set(name, value)
    return cfg


def log_line(cfg: Config, path: str, *, referer: str = "-") -> str:
    logger = cfg.logger_class(cfg)
    environ = {
        "REQUEST_METHOD": "GET", "RAW_URI": path, "PATH_INFO": path.split("?")[0], "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "203.0.113.7", "HTTP_REFERER": referer,
        "HTTP_USER_AGENT": "phone",
    }
    response = SimpleNamespace(status="200 OK", headers=[("Content-Type", "text/html")], sent=1234)
    request = SimpleNamespace(headers=[("REFERER", referer), ("USER-AGENT", "phone")])
    logger.access(response, request, environ, datetime.timedelta(milliseconds=12))
    for handler in logger.access_log.handlers:
        handler.flush()
    line = Path(cfg.accesslog).read_text()
    logging.getLogger("gunicorn.access").handlers.clear()
    return line


@pytest.mark.parametrize("path", [f"/s/{TOKEN}/", f"/s/{TOKEN}/content/", f"/s/{TOKEN}/content/?format=mp4"])
def test_a_formatted_access_log_line_leaves_the_share_token_out(tmp_path, path):
    line = log_line(configured(tmp_path / "access.log"), path, referer=f"https://photos.example/s/{TOKEN}/")
    assert TOKEN not in line
    assert '"GET /s/[token]/' in line  # the request is still there, and its status, size and agent
    assert " 200 1234 " in line and "phone" in line
    assert '"https://photos.example/s/[token]/"' in line


def test_a_custom_format_cannot_bring_the_token_back(tmp_path):
    fields = '%(r)s %(U)s %(f)s %({referer}i)s %({raw_uri}e)s %({path_info}e)s'
    cfg = configured(tmp_path / "access.log", access_log_format=fields)
    line = log_line(cfg, f"/s/{TOKEN}/", referer=f"https://photos.example/s/{TOKEN}/")
    assert TOKEN not in line
    assert line.count("[token]") == 6


def test_other_paths_are_logged_as_they_are(tmp_path):
    line = log_line(configured(tmp_path / "access.log"), "/api/v1/suggestions/12/share-links/")
    assert '"GET /api/v1/suggestions/12/share-links/ HTTP/1.1"' in line


def test_every_gunicorn_command_uses_the_config():
    for launcher in ("bin/serve", "Procfile"):
        commands = [line for line in (ROOT / launcher).read_text().splitlines()
                    if re.search(r"\bgunicorn consentsvc|gunicorn .*consentsvc\.wsgi", line)]
        assert commands, launcher
        for command in commands:
            assert f"--config {CONFIG}" in command, (launcher, command)


def test_served_by_gunicorn_the_access_log_has_no_token(tmp_path):
    access_log = tmp_path / "access.log"
    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "--config", CONFIG, "consentsvc.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--access-logfile", str(access_log)],
        cwd=ROOT, env=environment(tmp_path, DJANGO_ENV="development", DEBUG="0"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/s/{TOKEN}/",  # noqa: S310 - http only
                                             headers={"Referer": f"http://127.0.0.1:{port}/s/{TOKEN}/"})
            try:
                urllib.request.urlopen(request, timeout=30).close()  # noqa: S310
                break
            except urllib.error.HTTPError:
                break  # answered (the link does not exist): logged either way
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.3)
        deadline = time.monotonic() + 30
        while "/s/" not in access_log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(timeout=30)
    logged = access_log.read_text()
    assert "GET /s/[token]/ HTTP/1.1" in logged
    assert TOKEN not in logged
