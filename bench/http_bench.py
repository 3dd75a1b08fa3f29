#!/usr/bin/env python
"""HTTP load benchmark: the app served as bin/serve serves it, measured from outside.

    .venv/bin/python bench/http_bench.py                    # SQLite (the embedded default), throwaway VAR_DIR
    .venv/bin/python bench/http_bench.py --seconds 20       # longer runs per step (the calm, final figures)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_http .venv/bin/python bench/http_bench.py

Starts gunicorn (workers from the core count, or --workers) on a free loopback port, with a
fresh database, and drives it with a bounded asyncio client (httpx, one connection per
client) at 1, 8 and 32 concurrent clients. Each scenario runs right after the no-database
floor (GET /healthz/, the same middleware, no query) at the same concurrency, so the ratio is
measured under the same conditions:

- GET  /api/v1/consent/                  target: throughput >= 0.5x the floor's
- PUT  /api/v1/consent/suggestion_prompts/ (each client its own holder, turning it on and off)
                                         target: throughput >= 0.3x the floor's
- POST /api/v1/media/ with a 3-megapixel JPEG (each client its own holder; distinct bytes)
                                         target: p50 at 1 client <= 1.5x decoding, validating and
                                         encrypting the same photo in this process
- GET  /api/v1/audit/events/ (an auditor)
- GET  /api/v1/me/access-log/ and /me/access/ for a holder with 10,000 events about them (200 a day)
                                         target: p50 at 1 client < 150 ms

--megapixels N uploads an N-megapixel photo instead (the target is set for 3); --breakdown also
prints where a 1-client upload's time goes inside the server (see bench/upload_timeline.py).

Every run must have 0 errors, and after the run every successful write is matched by exactly
one ledger entry (and one consent audit event), and every stored upload by exactly one media
row and one media.uploaded event. Prints throughput, p50 and p99 per step; exits 1 when a
check fails. Figures from a busy machine are not final.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONCURRENCY = (1, 8, 32)
PASSWORD = "bench-password-123456"  # noqa: S105 - throwaway accounts in a throwaway database
TARGET_GET = 0.5
TARGET_PUT = 0.3
TARGET_UPLOAD = 1.5
TARGET_HISTORY_MS = 150
HISTORY_EVENTS = 10_000
HISTORY = ("access log GET", "access page GET")
UPLOAD = "upload 3MP"  # the step's name (main() renames it for --megapixels)


@dataclass
class Step:
    name: str
    clients: int
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    writes: int = 0

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def line(self) -> str:
        return (f"{self.name:<24} c={self.clients:<3} {self.throughput:8.1f} req/s  p50 {self.pct(0.5):7.1f} ms  "
                f"p99 {self.pct(0.99):7.1f} ms  n={len(self.latencies)} errors={len(self.errors)}")


# --------------------------------------------------------------------------- the served app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(var_dir: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "CACHE_URL", "REDIS_URL"}}
    env.update(DJANGO_ENV="development", DEBUG="0", VAR_DIR=var_dir, TASKS_BACKEND="database", LOG_LEVEL="ERROR")
    return env


def start_server(var_dir: str, workers: int, breakdown: bool = False) -> tuple[subprocess.Popen, str]:
    env = server_env(var_dir)
    app = ["consentsvc.wsgi"]
    if breakdown:  # the same service, with a timeline of each upload (bench/upload_timeline.py)
        app = ["upload_timeline:application", "--pythonpath", str(ROOT / "bench")]
        env["TIMELINE_FILE"] = str(Path(var_dir) / "timeline.jsonl")
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
        subprocess.run([sys.executable, "manage.py", *command, "-v0"], cwd=ROOT, env=env, check=True)
    port = free_port()
    gunicorn = Path(sys.executable).parent / "gunicorn"
    server = subprocess.Popen(
        # As bin/serve and the Procfile serve it: the same gunicorn settings (consentsvc/gunicorn_conf.py).
        [str(gunicorn), "--config", "python:consentsvc.gunicorn_conf", *app, "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers), "--timeout", "120", "--log-level", "warning"],
        cwd=ROOT, env=env,
    )
    base = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{base}/healthz/", timeout=5).status_code == 200:
                return server, base
        except httpx.HTTPError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise SystemExit("gunicorn did not start")
        time.sleep(0.5)


def django_setup(var_dir: str) -> None:
    os.environ.update({k: v for k, v in server_env(var_dir).items() if k in {"DJANGO_ENV", "DEBUG", "VAR_DIR",
                                                                             "TASKS_BACKEND"}})
    os.environ["DJANGO_SETTINGS_MODULE"] = "consentsvc.settings"
    import django

    django.setup()


# --------------------------------------------------------------------------- people and photos


@dataclass
class People:
    holders: list = field(default_factory=list)  # (user, token)
    auditor_token: str = ""
    history_token: str = ""  # a holder with HISTORY_EVENTS events about them
    history_session: str = ""  # the same holder signed in on the web (session cookie)


def make_people(count: int) -> People:
    from accounts import services as account_services
    from accounts.roles import AUDITOR
    from accounts.tokens import token_create
    from consent import purposes, selectors
    from consent import services as consent_services

    people = People()
    notice = selectors.notice_current(purpose=purposes.CAMERA_ROLL)
    for n in range(count):
        user = account_services.user_create(username=f"bench{n}", password=PASSWORD)
        consent_services.consent_give(user=user, purpose=purposes.CAMERA_ROLL, notice_version=notice.version,
                                      method="api")
        people.holders.append((user, token_create(user=user, name=f"bench client {n}")[1]))
    auditor = account_services.user_create(username="bench-auditor", password=PASSWORD, role=AUDITOR)
    people.auditor_token = token_create(user=auditor, name="bench auditor")[1]
    people.history_token, people.history_session = make_history(HISTORY_EVENTS)
    return people


def make_history(events: int, per_day: int = 200) -> tuple[str, str]:
    """A holder with `events` audit events about them, `per_day` a day up to today, as an active
    holder's phone and the suggestions engine write them; returns an API token and a session key."""
    from datetime import timedelta
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.utils import timezone

    from accounts import services as account_services
    from accounts.tokens import token_create
    from audit.services import EventInput, audit_append_many

    user = account_services.user_create(username="bench-history", password=PASSWORD)
    days = events // per_day
    real_now = timezone.now
    try:
        for day in range(days):
            moment = real_now() - timedelta(days=days - 1 - day)
            timezone.now = lambda moment=moment: moment  # the events' time; the trail stamps them with now()
            batch = []
            for n in range(per_day // 4):
                common = {"actor_kind": "service", "actor_id": "suggestions", "subject_id": user.pk,
                          "object_type": "media", "object_id": n}
                batch += [
                    EventInput(action="media.uploaded", actor_kind="holder", actor_id=user.pk, subject_id=user.pk,
                               object_type="media", object_id=n, details={"method": "api"}),
                    EventInput(action="media.read", purpose="sharing_suggestions",
                               request_id=f"bench-{day}-{n // 10}", **common),
                    EventInput(action="media.read", purpose="face_grouping", request_id=f"bench-{day}-f{n // 10}",
                               **common),
                    EventInput(action="faces.analysed", purpose="face_grouping", details={"items": 1, "faces": 1},
                               **{**common, "object_id": ""}),
                ]
            audit_append_many(events=batch)
    finally:
        timezone.now = real_now
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return token_create(user=user, name="bench history")[1], session.session_key


def photo(megapixels: float = 3.0) -> bytes:
    """A 4:3 JPEG (2048x1536 at 3 MP) that compresses like a photo (gradients, shapes, sensor noise), with EXIF."""
    from PIL import ExifTags, Image, ImageDraw, ImageFilter

    width = 2048 if megapixels == 3 else round((megapixels * 1e6 * 4 / 3) ** 0.5)
    height = width * 3 // 4
    small = Image.new("RGB", (256, 192))
    draw = ImageDraw.Draw(small)
    for y in range(192):
        draw.line([(0, y), (256, y)], fill=(90 + y // 2, 140 + y // 4, 200 - y // 2))
    for i in range(40):
        x, y = (i * 61) % 256, (i * 37) % 192
        draw.ellipse([x, y, x + 12 + i % 30, y + 10 + i % 20], fill=((i * 40) % 255, (i * 80) % 255, (i * 20) % 255))
    image = small.resize((width, height), Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(2))
    image = Image.blend(image, Image.effect_noise((width, height), 24).convert("RGB"), 0.3)
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "BenchPhone"
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = "2024:07:01 09:30:00"
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, exif=exif.tobytes())
    return buffer.getvalue()


def in_process_floor(photo: bytes, repeat: int = 5) -> float:
    """Median seconds to decode, validate, strip, thumbnail (vault.images) and AES-256-GCM the photo here."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from vault.images import image_process

    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        processed = image_process(data=photo)
        aead.encrypt(os.urandom(12), processed.data, None)
        aead.encrypt(os.urandom(12), processed.thumbnail, None)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


# --------------------------------------------------------------------------- the load


async def drive(step: Step, seconds: float, request) -> None:
    """`step.clients` clients, each sending one request after another until the time is up."""
    import httpx

    deadline = time.monotonic() + seconds

    async def client(index: int) -> None:
        async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=1)) as http:
            sequence = 0
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    ok, wrote = await request(http, index, sequence)
                except httpx.HTTPError as exc:
                    ok, wrote = f"{type(exc).__name__}", False
                elapsed = time.perf_counter() - started
                if ok is True:
                    step.latencies.append(elapsed)
                    step.writes += int(bool(wrote))
                else:
                    step.errors.append(str(ok))
                sequence += 1

    started = time.monotonic()
    await asyncio.gather(*(client(i) for i in range(step.clients)))
    step.seconds = time.monotonic() - started


def scenarios(base: str, people: People, photo: bytes):
    def auth(token: str) -> dict:
        return {"Authorization": f"Token {token}"}

    async def floor(http, index, sequence):
        response = await http.get(f"{base}/healthz/")
        return (response.status_code == 200) or f"healthz {response.status_code}", False

    async def consent_get(http, index, sequence):
        response = await http.get(f"{base}/api/v1/consent/", headers=auth(people.holders[index][1]))
        return (response.status_code == 200) or f"GET {response.status_code}", False

    granted_now: dict[int, bool] = {}

    async def consent_put(http, index, sequence):
        # Each client its own holder, always flipped from the state it was left in (also across
        # steps), so every successful PUT is a real change with one ledger entry.
        granted = not granted_now.get(index, False)
        response = await http.put(
            f"{base}/api/v1/consent/suggestion_prompts/", json={"granted": granted, "notice_version": "1"},
            headers=auth(people.holders[index][1]),
        )
        if response.status_code != 200:
            return f"PUT {response.status_code} {response.text[:120]}", False
        granted_now[index] = granted
        return True, response.json().get("entry") is not None

    async def upload(http, index, sequence):
        unique = photo + f"bench {index} {sequence} {time.time_ns()}".encode()  # after EOI: same pixels
        response = await http.post(
            f"{base}/api/v1/media/", files={"file": ("bench.jpg", unique, "image/jpeg")},
            headers=auth(people.holders[index][1]),
        )
        return (response.status_code == 201) or f"POST {response.status_code} {response.text[:120]}", True

    async def transfer(http, index, sequence):
        # The same request, answered by bench/upload_timeline.py as soon as the body is parsed.
        unique = photo + f"bench {index} {sequence} {time.time_ns()}".encode()
        response = await http.post(
            f"{base}/api/v1/media/", files={"file": ("bench.jpg", unique, "image/jpeg")},
            headers={**auth(people.holders[index][1]), "X-Bench-Transfer-Only": "1"},
        )
        return (response.status_code == 201) or f"transfer {response.status_code}", False

    async def audit_events(http, index, sequence):
        response = await http.get(f"{base}/api/v1/audit/events/", headers=auth(people.auditor_token))
        return (response.status_code == 200) or f"audit {response.status_code}", False

    async def access_log(http, index, sequence):
        response = await http.get(f"{base}/api/v1/me/access-log/", headers=auth(people.history_token))
        return (response.status_code == 200) or f"access log {response.status_code}", False

    async def access_page(http, index, sequence):
        from django.conf import settings

        response = await http.get(f"{base}/me/access/", cookies={settings.SESSION_COOKIE_NAME: people.history_session})
        ok = response.status_code == 200 and 'id="access-log"' in response.text
        return ok or f"access page {response.status_code}", False

    return floor, {"consent GET": consent_get, "consent PUT": consent_put, UPLOAD: upload,
                   "audit events GET": audit_events, HISTORY[0]: access_log, HISTORY[1]: access_page}, transfer


def breakdown(var_dir: str, seconds: float, floor, upload, transfer, floor_seconds: float) -> tuple[int, list[str]]:
    """One client: uploads timed phase by phase inside the server, then the transfer floor, then the
    no-database floor. Prints the medians; returns how many uploads were stored, and the errors."""
    import json

    timeline = Path(var_dir) / "timeline.jsonl"
    timeline.write_text("")
    steps = [Step(f"{UPLOAD} (timed inside)", 1), Step("transfer floor", 1), Step("floor (healthz)", 1)]
    for step, request in zip(steps, (upload, transfer, floor), strict=True):
        asyncio.run(drive(step, seconds, request))
    lines = [json.loads(line) for line in timeline.read_text().splitlines() if line]
    print(f"\nupload at 1 client, inside the server (medians of {len(lines)}; ms since the request reached the app):")
    labels = sorted({label for line in lines for label in line},
                    key=lambda label: statistics.median(line[label] for line in lines if label in line))
    previous = 0.0
    for label in labels:
        value = statistics.median(line[label] for line in lines if label in line)
        print(f"  {value:8.2f}  (+{value - previous:5.2f})  {label}")
        previous = value
    print(f"  client side: upload p50 {steps[0].pct(0.5):.1f} ms; the same request only parsed (transfer floor) "
          f"p50 {steps[1].pct(0.5):.1f} ms; GET /healthz/ p50 {steps[2].pct(0.5):.1f} ms; in process "
          f"{floor_seconds * 1000:.1f} ms")
    return len(steps[0].latencies), [error for step in steps for error in step.errors]


def check_writes(people: People, put_writes: int, uploads: int) -> list[str]:
    from audit.models import AuditEvent
    from consent.models import ConsentEntry
    from vault.models import MediaItem

    ids = [user.pk for user, _ in people.holders]
    problems = []
    entries = ConsentEntry.objects.filter(subject_id__in=ids, purpose="suggestion_prompts").count()
    events = AuditEvent.objects.filter(subject_id__in=ids, purpose="suggestion_prompts",
                                       action__in=["consent.given", "consent.withdrawn"]).count()
    if entries != put_writes or events != put_writes:
        problems.append(f"{put_writes} successful consent writes, {entries} ledger entries, {events} audit events")
    items = MediaItem.objects.filter(owner_id__in=ids).count()
    uploaded = AuditEvent.objects.filter(subject_id__in=ids, action="media.uploaded").count()
    if items != uploads or uploaded != uploads:
        problems.append(f"{uploads} uploads answered 201, {items} media rows, {uploaded} media.uploaded events")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each measured step")
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1)
    parser.add_argument("--concurrency", default=",".join(map(str, CONCURRENCY)))
    parser.add_argument("--megapixels", type=float, default=3.0,
                        help="size of the uploaded photo (the upload target is set for 3)")
    parser.add_argument("--steps", default="",
                        help="only these steps, comma-separated (e.g. 'access log GET,access page GET')")
    parser.add_argument("--breakdown", action="store_true",
                        help="serve through bench/upload_timeline.py and print where a 1-client upload's time goes, "
                             "beside the transfer floor (the same request, only parsed)")
    args = parser.parse_args()
    global UPLOAD
    UPLOAD = f"upload {args.megapixels:g}MP"
    levels = [int(c) for c in args.concurrency.split(",")]

    var_dir = tempfile.mkdtemp(prefix="http-bench-")
    server = None
    try:
        server, base = start_server(var_dir, args.workers, breakdown=args.breakdown)
        django_setup(var_dir)
        from django.conf import settings

        print(f"database {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, gunicorn {args.workers} "
              f"workers, {args.seconds:g} s per step, cores {os.cpu_count()}")
        people = make_people(max(levels))
        picture = photo(args.megapixels)
        floor_seconds = in_process_floor(picture)
        print(f"{args.megapixels:g} MP photo {len(picture) / 1e6:.1f} MB; in-process decode+validate+thumbnail+encrypt "
              f"{floor_seconds * 1000:.1f} ms")
        floor, named, transfer = scenarios(base, people, picture)
        results: list[tuple[Step, Step]] = []
        wanted = {name.strip() for name in args.steps.split(",") if name.strip()}
        for name, request in named.items():
            if wanted and name not in wanted:
                continue
            for clients in levels:
                base_step = Step("floor (healthz)", clients)
                asyncio.run(drive(base_step, args.seconds, floor))
                step = Step(name, clients)
                asyncio.run(drive(step, args.seconds, request))
                results.append((base_step, step))
                ratio = step.throughput / base_step.throughput if base_step.throughput else 0
                print(base_step.line())
                print(step.line() + f"  = {ratio:.2f}x floor")

        extra_uploads, extra_errors = 0, []
        if args.breakdown:
            extra_uploads, extra_errors = breakdown(var_dir, args.seconds, floor, named[UPLOAD], transfer,
                                                    floor_seconds)

        failures = []
        errors = [e for pair in results for s in pair for e in s.errors] + extra_errors
        if errors:
            failures.append(f"{len(errors)} errors, e.g. {errors[:3]}")
        put_writes = sum(s.writes for _, s in results if s.name == "consent PUT")
        uploads = sum(len(s.latencies) for _, s in results if s.name == UPLOAD) + extra_uploads
        failures += check_writes(people, put_writes, uploads)
        print(f"\nwrites: {put_writes} consent changes, {uploads} uploads: "
              + ("each matched by one ledger entry / media row and one audit event" if not failures else "MISMATCH"))

        print("\ntargets:")
        for base_step, step in results:
            ratio = step.throughput / base_step.throughput if base_step.throughput else 0
            if step.name in ("consent GET", "consent PUT"):
                target = TARGET_GET if step.name == "consent GET" else TARGET_PUT
                print(f"  {step.name} c={step.clients}: {ratio:.2f}x floor (>= {target}) "
                      + ("ok" if ratio >= target else "MISSED"))
            elif step.name in HISTORY and step.clients == 1:
                print(f"  {step.name} c=1 ({HISTORY_EVENTS} events): p50 {step.pct(0.5):.1f} ms "
                      f"(< {TARGET_HISTORY_MS}), {ratio:.2f}x floor's throughput "
                      + ("ok" if step.pct(0.5) < TARGET_HISTORY_MS else "MISSED"))
            elif step.name == UPLOAD and step.clients == 1:
                factor = step.pct(0.5) / 1000 / floor_seconds
                print(f"  {UPLOAD} c=1: p50 {factor:.2f}x in-process (<= {TARGET_UPLOAD}, set for 3 MP) "
                      + ("ok" if factor <= TARGET_UPLOAD else "MISSED"))
        if failures:
            print("\nFAILED: " + "; ".join(failures))
            sys.exit(1)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
