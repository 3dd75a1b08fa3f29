#!/usr/bin/env python
"""CPU time per audit append in several checkouts, each in its own process, in turn (SQLite; no target).

For comparing a version with another on a shared machine, where wall-clock rates say little: each
child process migrates a fresh database in a throwaway VAR_DIR, appends 200 events to warm up, then
times --single appends one per transaction and --batched appends 1,000 per transaction with
time.process_time (the benchmark's events: 1,000 holders). --frames counts instead the WAL frames
(pages) each append writes, with the automatic checkpoint off: exact, whatever the load.

    python bench/append_cpu.py --rounds 6 base=/path/to/other/checkout now=.
    python bench/append_cpu.py trail=.:--without-holder-logs holders=.

A checkout spec is LABEL=DIR, with :FLAGS for the child (--without-holder-logs leaves the holder
logs' step out, as bench/audit_bench.py does). The checkout's own code runs, with this interpreter.
"""

import argparse
import atexit
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WARM = 200
BATCH = 1000


def child(args) -> None:
    root = Path.cwd()
    sys.path.insert(0, str(root))
    var = tempfile.mkdtemp(prefix="append-cpu-")
    atexit.register(shutil.rmtree, var, ignore_errors=True)
    os.environ.pop("DATABASE_URL", None)
    os.environ.update(DJANGO_SETTINGS_MODULE="consentsvc.settings", DJANGO_ENV="test", VAR_DIR=var,
                      AUDIT_SEQUENCER_THREAD="false")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, transaction

    settings.DATABASES["default"]["NAME"] = str(Path(var) / "bench.sqlite3")
    settings.AUDIT_CHECKPOINT_EVERY = 1000
    call_command("migrate", verbosity=0)
    if args.without_holder_logs:
        from audit import outbox

        outbox.integrate_holder_logs = lambda cursor, events, leaves, key, *rest: []
    from audit.services import EventInput, audit_append, audit_append_many

    actions = ("media.read", "consent.given", "media.upload_refused", "output.stored")

    def events(n, start):
        return [EventInput(action=actions[i % 4], actor_kind=("service", "holder", "holder", "service")[i % 4],
                           actor_id=str(i % 97), subject_id=i % 1000 + 1, object_type="media_item", object_id=i,
                           purpose="camera_roll_cloud_processing",
                           outcome=("allowed", "allowed", "denied", "allowed")[i % 4],
                           details={"count": i % 50, "variant": "original"}, request_id=f"req-{i // 10:08d}")
                for i in range(start, start + n)]

    def single(batch):
        for e in batch:
            with transaction.atomic():
                audit_append(action=e.action, actor_kind=e.actor_kind, actor_id=e.actor_id, subject_id=e.subject_id,
                             object_type=e.object_type, object_id=e.object_id, purpose=e.purpose, outcome=e.outcome,
                             details=e.details, request_id=e.request_id)

    def wal_frames():
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")  # (busy, frames in the WAL, checkpointed)
            frames = cursor.fetchone()[1]
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return frames

    single(events(WARM, 0))
    if args.frames:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        wal_frames()
    out = {"load": os.getloadavg()[0]}
    todo = events(args.single, WARM)
    start = time.process_time()
    single(todo)
    out["single"] = (time.process_time() - start) / args.single * 1e6
    if args.frames:
        out["single_frames"] = wal_frames() / args.single
    if args.batched:
        todo = events(args.batched, WARM + args.single)
        start = time.process_time()
        for i in range(0, len(todo), BATCH):
            audit_append_many(events=todo[i : i + BATCH])
        out["batched"] = (time.process_time() - start) / args.batched * 1e6
        if args.frames:
            out["batched_frames"] = wal_frames() / args.batched
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkouts", nargs="*", help="LABEL=DIR[:FLAGS]")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--single", type=int, default=1000)
    parser.add_argument("--batched", type=int, default=3000)
    parser.add_argument("--frames", action="store_true", help="count the WAL frames each append writes")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--without-holder-logs", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    specs = []
    for spec in args.checkouts:
        label, rest = spec.split("=", 1)
        where, _, flags = rest.partition(":")
        specs.append((label, str(Path(where).resolve()), flags.split()))
    common = ["--single", str(args.single), "--batched", str(args.batched)] + (["--frames"] if args.frames else [])
    results: dict[str, list[dict]] = {label: [] for label, _, _ in specs}
    for run in range(args.rounds):
        for label, where, flags in specs:
            done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", *flags, *common],
                                  cwd=where, capture_output=True, text=True, check=False)
            if done.returncode:
                raise SystemExit(f"{label}: {done.stderr[-2000:]}")
            row = json.loads(done.stdout.strip().splitlines()[-1])
            results[label].append(row)
            print(f"round {run + 1} {label}: " + ", ".join(f"{k} {v:.2f}" for k, v in row.items()), flush=True)
    print("medians (µs of CPU per append; frames per append):")
    for label, rows in results.items():
        print(f"  {label}: " + ", ".join(f"{k} {statistics.median(r[k] for r in rows):.2f}" for k in rows[0]
                                          if k != "load"))


if __name__ == "__main__":
    main()
