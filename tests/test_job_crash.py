"""A worker killed in the middle of a suggestion pass: another worker takes the pass back and
finishes it within a minute (real processes, the embedded default's database backend)."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SET_UP = """
import io
from PIL import Image, ImageDraw
from accounts.services import user_create
from consent import purposes, selectors, services
from suggestions import jobs
from vault.services import media_upload

holder = user_create(username="crash", password="crash-test-password-1")
notice = selectors.notice_current(purpose=purposes.CAMERA_ROLL)
services.consent_give(user=holder, purpose=purposes.CAMERA_ROLL, notice_version=notice.version, method="api")
for n in range(8):
    image = Image.new("RGB", (1200, 900), ((n * 40) % 255, (n * 90) % 255, (n * 150) % 255))
    ImageDraw.Draw(image).ellipse([100 + n * 50, 100, 600 + n * 50, 700], fill=(255 - n * 20, 30 * n, 90))
    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = "2024:07:06 %02d:00:00" % (9 + n)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, exif=exif.tobytes())
    media_upload(user_id=holder.pk, data=buffer.getvalue())
print(jobs.suggestion_job_request(user_id=holder.pk).pk)
"""


def _env(var_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "CACHE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "TASKS_BACKEND"}}
    env.update(DJANGO_ENV="development", DEBUG="0", VAR_DIR=str(var_dir), TASKS_BACKEND="database",
               SUGGESTIONS_DEBOUNCE_SECONDS="3600")
    return env


def _row(database: Path, sql: str, *args):
    with sqlite3.connect(database, timeout=30) as db:
        return db.execute(sql, args).fetchone()


def _worker(env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "manage.py", "jobs_worker", "--interval", "0.2"], cwd=ROOT, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def test_a_pass_whose_worker_is_killed_is_finished_by_another_within_a_minute(tmp_path):
    env = _env(tmp_path / "var")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True,
                   timeout=300)
    made = subprocess.run([sys.executable, "manage.py", "shell", "-v0", "-c", SET_UP], cwd=ROOT, env=env,
                          check=True, capture_output=True, text=True, timeout=300)
    job_id = int(made.stdout.strip().splitlines()[-1])
    database = tmp_path / "var" / "db.sqlite3"

    first = _worker(env, tmp_path / "first.log")
    try:
        deadline = time.monotonic() + 180
        # Caught mid-run: the pass claimed (running), its lease held.
        while _row(database, "SELECT 1 FROM consentsvc_job_lease l JOIN suggestions_suggestionjob j "
                             "ON l.object_id = CAST(j.id AS TEXT) WHERE l.kind = ? AND j.id = ? AND j.status = ?",
                   "suggestions.jobs.run_job", job_id, "running") is None:
            assert first.poll() is None and time.monotonic() < deadline, (tmp_path / "first.log").read_text()[-2000:]
            time.sleep(0.05)
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the worker dies mid-pass, holding the lease
        first.wait(timeout=30)
    killed_at = datetime.utcnow()
    status = _row(database, "SELECT status FROM suggestions_suggestionjob WHERE id = ?", job_id)[0]
    assert status == "running", "the pass was not caught mid-run"

    second = _worker(env, tmp_path / "second.log")
    try:
        deadline = time.monotonic() + 150
        while True:
            status, started_at = _row(database, "SELECT status, started_at FROM suggestions_suggestionjob WHERE id = ?",
                                      job_id)
            if status not in ("running", "queued"):
                break
            assert second.poll() is None and time.monotonic() < deadline, (tmp_path / "second.log").read_text()[-2000:]
            time.sleep(0.5)
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(timeout=60)
    assert status == "done"
    retried_at = datetime.fromisoformat(str(started_at)[:26])
    assert (retried_at - killed_at).total_seconds() <= 60, (killed_at, retried_at)
    created = _row(database, "SELECT created_count FROM suggestions_suggestionjob WHERE id = ?", job_id)[0]
    assert created >= 1
