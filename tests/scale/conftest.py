"""The scale-out profile as real processes: the Procfile's web processes and workers,
each with its own empty VAR_DIR, sharing only PostgreSQL, Redis, the S3 server and the secrets."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("SCALE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def procfile() -> dict[str, str]:
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if match := re.match(r"^([a-z0-9]+):\s*(.+)$", line):
            entries[match[1]] = match[2]
    return entries


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@dataclass
class Process:
    name: str
    command: str
    env: dict
    log: Path
    popen: subprocess.Popen | None = None

    def start(self) -> Process:
        handle = self.log.open("ab")
        # The Procfile line as written, through the shell as any Procfile runner does.
        self.popen = subprocess.Popen(self.command, shell=True, cwd=ROOT, env=self.env, stdout=handle,  # noqa: S602
                                      stderr=subprocess.STDOUT, start_new_session=True)
        handle.close()
        return self

    def signal_group(self, sig: int) -> None:
        """Signal the process group and every descendant (a job runner may fork into its own session)."""
        if self.popen is not None and self.popen.poll() is None:
            for pid in _descendants(self.popen.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            os.killpg(self.popen.pid, sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        if self.popen is None:
            return
        family = _descendants(self.popen.pid)
        try:
            self.signal_group(sig)
            self.popen.wait(timeout=timeout)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)  # whatever of the group is left
        for pid in family:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.popen.wait(timeout=10)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Cluster:
    env: dict
    urls: dict[str, str]
    bucket: str
    s3: object
    processes: dict[str, Process] = field(default_factory=dict)

    def wait_until(self, what: str, check, timeout: float = 60, every: float = 0.3):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(every)
        logs = "\n".join(f"--- {name}\n{p.output()[-3000:]}" for name, p in self.processes.items())
        raise AssertionError(f"timed out waiting for {what}\n{logs}")

    def web_up(self, name: str) -> bool:
        try:
            return requests.get(f"{self.urls[name]}/api/v1/consent/", timeout=10).status_code == 401
        except requests.RequestException:
            return False

    def manage(self, *args: str, var_dir: Path, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**self.env, "VAR_DIR": str(var_dir)},
                              capture_output=True, text=True, timeout=timeout)


def _redis_flush() -> None:
    import redis

    redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).flushdb()


@pytest.fixture
def cluster(transactional_db, s3_server, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("the scale-out profile runs on PostgreSQL")
    _redis_flush()  # no job or lock left by an earlier run
    keys = subprocess.run([sys.executable, "tools/scale_keys.py", str(tmp_path / "keys")], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout
    bucket = f"scale-{uuid.uuid4().hex[:12]}"
    s3_server.client().create_bucket(Bucket=bucket)
    ports = {"web1": free_port(), "web2": free_port()}
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("VAULT_", "DJANGO_", "TASKS_", "SUGGESTIONS_", "SUPPORT_"))
            and k not in {"DATABASE_URL", "VAR_DIR", "REDIS_URL", "CACHE_URL", "PYTEST_CURRENT_TEST"}}
    env = {
        **base,
        **dict(line.split("=", 1) for line in keys.split()),
        **s3_server.env(bucket, prefix="blobs"),
        "DJANGO_ENV": "production", "DEBUG": "0", "ALLOWED_HOSTS": "127.0.0.1,localhost", "SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": database_url(), "TASKS_BACKEND": "redis", "REDIS_URL": REDIS_URL,
        "WEB1_PORT": str(ports["web1"]), "WEB2_PORT": str(ports["web2"]),
        "WITHDRAWAL_GRACE_DAYS": "0",
        "SUGGESTIONS_DEBOUNCE_SECONDS": "3600",  # passes in this test are asked for, not debounced
    }
    made = Cluster(env=env, urls={n: f"http://127.0.0.1:{p}" for n, p in ports.items()}, bucket=bucket, s3=s3_server)
    for name, command in procfile().items():
        own = {**env, "VAR_DIR": str(tmp_path / f"var-{name}")}  # no folder on disk is shared
        made.processes[name] = Process(name, command, own, tmp_path / f"{name}.log").start()
    try:
        for name in ("web1", "web2"):
            made.wait_until(f"{name} to answer", lambda n=name: made.web_up(n), timeout=90)
        for name in ("worker1", "worker2"):
            made.wait_until(f"{name} to be ready", lambda n=name: "Listening on" in made.processes[n].output(),
                            timeout=90)
        yield made
    finally:
        for process in made.processes.values():
            process.stop()
