"""Served as in production: gunicorn refuses to start in production without keys (with the
check's message), and its workers share one throttle (red-team findings: the checks ran only
through manage.py; the throttle lived in each worker's memory and trusted X-Forwarded-For)."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment(var_dir: Path, **extra) -> dict:
    env = {key: value for key, value in os.environ.items()
           if key not in {"DATABASE_URL", "CACHE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
           and not key.endswith(("_KEY", "_KEYS", "_KEY_FILE", "_KEYS_FILE"))}
    env.update(VAR_DIR=str(var_dir), **extra)
    return env


PRODUCTION_WITHOUT_KEYS = {"DJANGO_ENV": "production", "SECRET_KEY": "x", "ALLOWED_HOSTS": "127.0.0.1"}


def test_gunicorn_refuses_to_start_in_production_without_keys(tmp_path):
    started = subprocess.run(
        [str(BIN / "gunicorn"), "consentsvc.wsgi", "--bind", f"127.0.0.1:{free_port()}", "--workers", "2"],
        cwd=ROOT, env=environment(tmp_path, **PRODUCTION_WITHOUT_KEYS), capture_output=True, text=True, timeout=120,
    )
    assert started.returncode != 0
    assert "consentsvc refuses to start in production" in started.stderr
    for check in ("vault.E001", "consentsvc.E002", "consentsvc.E001"):
        assert check in started.stderr, check
    assert "VAULT_MASTER_KEYS" in started.stderr


def test_the_asgi_application_refuses_to_load_in_production_without_keys(tmp_path):
    loaded = subprocess.run(
        [sys.executable, "-c", "import consentsvc.asgi"],
        cwd=ROOT, env=environment(tmp_path, **PRODUCTION_WITHOUT_KEYS), capture_output=True, text=True, timeout=120,
    )
    assert loaded.returncode != 0
    assert "consentsvc refuses to start in production" in loaded.stderr and "vault.E001" in loaded.stderr


def _post(url: str, body: dict, headers: dict) -> int:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",  # noqa: S310 - http only
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture
def served(tmp_path):
    """The embedded default (SQLite, database cache) under gunicorn with three workers."""
    env = environment(tmp_path, DJANGO_ENV="development", DEBUG="0")
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):  # as bin/serve does
        subprocess.run([sys.executable, "manage.py", *command, "-v0"], cwd=ROOT, env=env, check=True, timeout=300)
    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "consentsvc.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "3"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            urllib.request.urlopen(f"{base}/accounts/login/", timeout=30).close()  # noqa: S310
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"gunicorn did not start: {server.stderr.read()[-2000:]}")
            time.sleep(0.5)
    yield base
    server.terminate()
    server.wait(timeout=30)


@pytest.mark.child_clock  # the throttle's minutes are gunicorn's
def test_workers_share_one_throttle_that_ignores_x_forwarded_for(served):
    started = time.time()
    answers = [
        _post(f"{served}/api/v1/auth/token/", {"username": f"user{n}", "password": "wrong"},
              {"X-Forwarded-For": f"198.51.100.{n}"})
        for n in range(40)
    ]
    # Minute boundaries may fall in the run (more than one on a slow machine): every window it touched.
    windows = int(time.time() // 60) - int(started // 60) + 1
    passed = sum(1 for status in answers if status != 429)
    assert set(answers) <= {400, 429}
    assert passed <= 10 * windows, answers
    assert answers.count(429) >= 40 - 10 * windows


@pytest.mark.django_db
def test_healthz_answers_without_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz/")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.parametrize(("given", "kept"), [(None, 600), ("0", 0), ("30", 30)])
def test_the_embedded_default_keeps_its_database_connection_between_requests(tmp_path, given, kept):
    """Opening a SQLite connection (and its PRAGMAs) cost more than a whole consent read; a worker keeps one."""
    extra = {"DJANGO_ENV": "development", "DJANGO_SETTINGS_MODULE": "consentsvc.settings"}
    if given is not None:
        extra["DB_CONN_MAX_AGE"] = given
    printed = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; d = settings.DATABASES['default']; "
                               "print(d['ENGINE'], d['CONN_MAX_AGE'])"],
        cwd=ROOT, env=environment(tmp_path, **extra), capture_output=True, text=True, timeout=120, check=True,
    )
    assert printed.stdout.split() == ["core.sqlite3", str(kept)]
