#!/usr/bin/env python
"""Scale-out benchmark: the Procfile's processes on PostgreSQL, Redis and an S3 server over HTTP.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/scale_bench.py \\
        [--redis redis://127.0.0.1:6379/14] [--seconds 20] [--clients 4] [--holders 6]

Creates a throwaway database bench_scale (dropped at the end; --db-name to change), flushes
the given Redis database, starts moto's S3 server, and prints, from one run:
- uploads per second (a 640x480 JPEG with EXIF, POST /api/v1/media/, --clients threads for
  --seconds) through web1 alone, then spread over web1 and web2 (one gunicorn worker each);
  target: 2 web processes >= 1.6x one, on a machine with at least 2 free cores;
- suggestion passes per minute: --holders holders each with a day of 6 photos ask for a pass at
  once; the time until every pass is done with worker1 alone, then (other holders, same
  photos) with worker1 and worker2; target: 2 workers >= 1.6x one, same caveat.
The ratio is the figure to read; the absolute numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "a-long-bench-password-42"  # noqa: S105  (throwaway accounts in a throwaway database)
API = "/api/v1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def jpeg(seed: int, *, when: dt.datetime, where=(38.7223, -9.1393), size=(640, 480)) -> bytes:
    from PIL import ExifTags, Image, ImageDraw
    from PIL.TiffImagePlugin import IFDRational

    image = Image.new("RGB", size, ((seed * 53) % 256, (seed * 97) % 256, (seed * 193) % 256))
    ImageDraw.Draw(image).rectangle(((seed * 37) % 600, (seed * 23) % 440, (seed * 37) % 600 + 30,
                                     (seed * 23) % 440 + 30), fill=(20, 20, 20))
    exif = Image.Exif()
    stamp = when.strftime("%Y:%m:%d %H:%M:%S")
    exif[ExifTags.Base.DateTime] = stamp
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = stamp

    def dms(value):
        value = abs(value)
        d, m = int(value), int((value - int(value)) * 60)
        s = round(((value - d) * 60 - m) * 60 * 100)
        return (IFDRational(d, 1), IFDRational(m, 1), IFDRational(s, 100))

    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef], gps[ExifTags.GPS.GPSLatitude] = "N", dms(where[0])
    gps[ExifTags.GPS.GPSLongitudeRef], gps[ExifTags.GPS.GPSLongitude] = "W", dms(where[1])
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, exif=exif.tobytes())
    return buffer.getvalue()


class Profile:
    def __init__(self, env: dict, tmp: Path):
        self.env, self.tmp, self.running = env, tmp, {}
        self.lines = {m[1]: m[2] for line in (ROOT / "Procfile").read_text().splitlines()
                      if (m := re.match(r"^([a-z0-9]+):\s*(.+)$", line))}

    def start(self, name: str) -> None:
        log = (self.tmp / f"{name}.log").open("ab")
        env = {**self.env, "VAR_DIR": str(self.tmp / f"var-{name}")}
        self.running[name] = subprocess.Popen(self.lines[name], shell=True, cwd=ROOT, env=env,  # noqa: S602
                                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self, name: str) -> None:
        process = self.running.pop(name)
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")


def wait_for(what: str, check, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise SystemExit(f"timed out waiting for {what}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--db-name", default="bench_scale")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--holders", type=int, default=6)
    args = parser.parse_args()
    admin_url = os.environ.get("DATABASE_URL", "")
    if not admin_url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("DATABASE_URL=postgres://... is required (a database to connect to for CREATE DATABASE)")
    import psycopg
    import redis
    import requests

    parts = urlsplit(admin_url)
    bench_url = urlunsplit(parts._replace(path=f"/{args.db_name}"))
    with psycopg.connect(admin_url.replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.db_name}"')
        conn.execute(f'CREATE DATABASE "{args.db_name}"')
    redis.Redis.from_url(args.redis).flushdb()
    tmp = Path(tempfile.mkdtemp(prefix="scale-bench-"))
    s3 = subprocess.Popen([sys.executable, str(ROOT / "tools" / "s3_server.py"), "--bucket", "bench-blobs",
                           "--exit-with-parent"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    port = s3.stdout.readline().strip().removeprefix("port=")
    keys = subprocess.run([sys.executable, "tools/scale_keys.py", str(tmp / "keys")], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout
    web_ports = {"web1": free_port(), "web2": free_port()}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "DJANGO_", "TASKS_"))}
    env.update(dict(line.split("=", 1) for line in keys.split()))
    env.update({
        "DJANGO_ENV": "production", "DEBUG": "0", "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": bench_url, "TASKS_BACKEND": "redis", "REDIS_URL": args.redis,
        "VAULT_S3_BUCKET": "bench-blobs", "VAULT_S3_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "VAULT_S3_REGION": "us-east-1", "VAULT_S3_ACCESS_KEY_ID": "bench", "VAULT_S3_SECRET_ACCESS_KEY": "bench",
        "WEB1_PORT": str(web_ports["web1"]), "WEB2_PORT": str(web_ports["web2"]), "WEB_CONCURRENCY": "1",
        "SUGGESTIONS_DEBOUNCE_SECONDS": "3600",
        "AUTH_TOKEN_RATE": "10000/minute", "AXES_ENABLED": "0",
    })
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], cwd=ROOT, env={**env, "VAR_DIR": str(tmp / "var")},
                   check=True)
    # Holders made in one go by a management shell (the same settings as the processes).
    total = args.clients * 2 + args.holders * 2
    make = ("from accounts.services import user_create\n"
            f"[user_create(username=f'bench{{n}}', password={PASSWORD!r}) for n in range({total})]")
    subprocess.run([*manage, "shell", "-c", make], cwd=ROOT, env={**env, "VAR_DIR": str(tmp / "var")}, check=True)

    profile = Profile(env, tmp)
    urls = {name: f"http://127.0.0.1:{p}" for name, p in web_ports.items()}

    def web_up(name):
        try:
            return requests.get(f"{urls[name]}{API}/consent/", timeout=5).status_code == 401
        except requests.RequestException:
            return False

    def holder(n: int) -> requests.Session:
        session = requests.Session()
        token = session.post(f"{urls['web1']}{API}/auth/token/",
                             json={"username": f"bench{n}", "password": PASSWORD}, timeout=60).json()["token"]
        session.headers["Authorization"] = f"Token {token}"
        purpose = "camera_roll_cloud_processing"
        version = session.get(f"{urls['web1']}{API}/consent/notices/{purpose}/", timeout=60).json()["version"]
        answer = session.put(f"{urls['web1']}{API}/consent/{purpose}/",
                             json={"granted": True, "notice_version": version}, timeout=60)
        answer.raise_for_status()
        return session

    def uploads_per_second(webs: list[str], sessions: list[requests.Session], first_seed: int) -> float:
        stop_at = time.monotonic() + args.seconds
        counts = [0] * len(sessions)
        errors = []

        def client(i: int) -> None:
            seed = first_seed + i * 100_000
            while time.monotonic() < stop_at:
                seed += 1
                web = webs[(i + seed) % len(webs)]
                data = jpeg(seed, when=dt.datetime(2024, 5, 1, 9) + dt.timedelta(minutes=seed % 5000))
                response = sessions[i].post(f"{urls[web]}{API}/media/", files={"file": ("p.jpg", data, "image/jpeg")},
                                            data={"labels": "[]"}, timeout=120)
                if response.status_code == 201:
                    counts[i] += 1
                else:
                    errors.append(response.status_code)

        started = time.monotonic()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(len(sessions))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            print(f"  ({len(errors)} uploads refused: {sorted(set(errors))})")
        return sum(counts) / (time.monotonic() - started)

    def passes_per_minute(first_holder: int) -> float:
        sessions = [holder(first_holder + n) for n in range(args.holders)]
        day = dt.datetime(2025, 6, 14, 10)
        for n, session in enumerate(sessions):
            for k in range(6):
                data = jpeg(first_holder * 1000 + n * 10 + k, when=day + dt.timedelta(minutes=20 * k))
                session.post(f"{urls['web1']}{API}/media/", files={"file": ("p.jpg", data, "image/jpeg")},
                             data={"labels": "[]"}, timeout=120).raise_for_status()
        started = time.monotonic()
        jobs = [s.post(f"{urls['web1']}{API}/suggestions/generate/", timeout=60).json()["job"] for s in sessions]

        def all_done():
            return all(s.get(f"{urls['web1']}{API}/suggestions/jobs/{j}/", timeout=60).json()["status"]
                       not in ("queued", "running") for s, j in zip(sessions, jobs, strict=True))

        wait_for("the suggestion passes", all_done, timeout=900)
        return len(jobs) / ((time.monotonic() - started) / 60)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a timeout still stops every process
    try:
        for name in ("web1", "web2"):
            profile.start(name)
        for name in ("web1", "web2"):
            wait_for(name, lambda n=name: web_up(n))
        sessions = [holder(n) for n in range(args.clients * 2)]
        one_web = uploads_per_second(["web1"], sessions[: args.clients], 0)
        two_webs = uploads_per_second(["web1", "web2"], sessions[args.clients:], 10_000_000)
        print(f"uploads/s, {args.clients} clients for {args.seconds:.0f} s: 1 web process {one_web:.1f}, "
              f"2 web processes {two_webs:.1f} ({two_webs / one_web:.2f}x; target >= 1.6x with 2 free cores)")

        profile.start("worker1")
        wait_for("worker1", lambda: "Listening on" in profile.log("worker1"))
        one_worker = passes_per_minute(args.clients * 2)
        profile.start("worker2")
        wait_for("worker2", lambda: "Listening on" in profile.log("worker2"))
        two_workers = passes_per_minute(args.clients * 2 + args.holders)
        print(f"suggestion passes/min, {args.holders} holders of 6 photos: 1 worker {one_worker:.1f}, "
              f"2 workers {two_workers:.1f} ({two_workers / one_worker:.2f}x; target >= 1.6x with 2 free cores)")
        print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
              f"(command: {' '.join(shlex.quote(a) for a in sys.argv)})")
    finally:
        profile.stop_all()
        s3.terminate()
        with psycopg.connect(admin_url.replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
