"""Database connections are kept between requests only where threads persist (gunicorn), checked
before reuse, and never under the development server (a red-team finding: `bin/serve --dev` on
PostgreSQL left a connection open for every request, and a long session ran out of connections)."""

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from django.db import connection

from tests.test_serving import ROOT, environment, free_port

PRINT_DATABASE = (
    "import sys; sys.argv = {argv!r}; from django.conf import settings; d = settings.DATABASES['default']; "
    "print(d['ENGINE'], d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS'])"
)


def database_settings(tmp_path, argv: list[str], **extra) -> list[str]:
    env = environment(tmp_path, DJANGO_ENV="development", DJANGO_SETTINGS_MODULE="consentsvc.settings", **extra)
    printed = subprocess.run([sys.executable, "-c", PRINT_DATABASE.format(argv=argv)], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120, check=True)
    return printed.stdout.split()


POSTGRES = {"DATABASE_URL": "postgres://someone@db.invalid:5432/consentsvc"}  # parsed only, never opened


@pytest.mark.parametrize(("database", "engine", "kept"), [
    ({}, "core.sqlite3", "600"), (POSTGRES, "django.db.backends.postgresql", "60"),
])
def test_a_gunicorn_worker_keeps_its_connection_and_checks_it(tmp_path, database, engine, kept):
    argv = [str(ROOT / ".venv/bin/gunicorn"), "consentsvc.wsgi"]
    assert database_settings(tmp_path, argv, **database) == [engine, kept, "True"]


@pytest.mark.parametrize(("database", "engine"), [({}, "core.sqlite3"),
                                                  (POSTGRES, "django.db.backends.postgresql")])
def test_the_development_server_closes_each_requests_connection(tmp_path, database, engine):
    for argv in (["manage.py", "runserver"], ["manage.py", "runserver", "127.0.0.1:8000"]):
        assert database_settings(tmp_path, argv, **database) == [engine, "0", "True"]
        # Even when DB_CONN_MAX_AGE asks for more: no thread would ever reuse the connection.
        assert database_settings(tmp_path, argv, DB_CONN_MAX_AGE="60", **database) == [engine, "0", "True"]


def _token_request(url: str, username: str) -> int:
    """A request that reads the database (the username) and writes it (django-axes' failure)."""
    body = json.dumps({"username": username, "password": "wrong-password"}).encode()
    request = urllib.request.Request(url, data=body, method="POST",  # noqa: S310 - http only
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _open_connections(application: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [application])
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_runserver_on_postgresql_leaves_no_connection_per_request(tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("counts PostgreSQL's connections")
    application = f"consentsvc-runserver-probe-{free_port()}"
    database = connection.settings_dict
    host, db_port = database["HOST"] or "127.0.0.1", database["PORT"] or 5432
    url = f"postgres://{database['USER']}@{host}:{db_port}/{database['NAME']}"
    port = free_port()
    env = environment(tmp_path, DJANGO_ENV="test", DATABASE_URL=url, PGAPPNAME=application)
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--skip-checks"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}/api/v1/auth/token/"
        deadline = time.monotonic() + 120
        while True:
            try:
                assert _token_request(base, "nobody") == 400
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"runserver did not start: {server.stderr.read()[-2000:]}")
                time.sleep(0.3)
        for n in range(9):
            assert _token_request(base, f"nobody{n}") == 400
        # Each thread closes its connection as its response finishes; a kept one would stay a minute.
        deadline = time.monotonic() + 10
        while (still_open := _open_connections(application)) > 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert still_open <= 1, f"{still_open} connections still open after 10 requests"
    finally:
        server.terminate()
        server.wait(timeout=30)
