#!/usr/bin/env python
"""Audit trail benchmark: appends/s (one per transaction and batched), verification rate,
export rows/s and the exporting process's peak memory, for 100k events.

    .venv/bin/python bench/audit_bench.py                    # SQLite (a throwaway file database)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/audit_bench.py
                                                             # PostgreSQL (a throwaway database bench_audit)

Options: --events N (default 100000), --repeat R (default 3; medians), --single N (default 3000),
--only verify (appends the events, then measures only verification: for iterating on audit_verify),
--db-name NAME (the throwaway PostgreSQL database; default bench_audit, so two people benchmarking
at once each pick their own).
Each repetition starts from an empty, freshly migrated database.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGETS = {
    "batched": 20_000,  # appends/s
    "verify": 100_000,  # events/s
    "export": 50_000,  # rows/s
    "memory_mb": 150,
}
BATCH = 1000


def _setup(var_dir: str, test_db: str | None):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "consentsvc.settings")
    os.environ["DJANGO_ENV"] = "test"
    os.environ["VAR_DIR"] = var_dir
    import django

    django.setup()
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        db["NAME"] = str(Path(var_dir) / "bench.sqlite3")
    else:
        db["NAME"] = test_db or "bench_audit"
    settings.AUDIT_CHECKPOINT_EVERY = 1000


def _events(n: int, start: int = 0):
    from audit.services import EventInput

    actions = ("media.read", "consent.given", "media.upload_refused", "suggestion.created")
    return [
        EventInput(
            action=actions[i % 4], actor_kind=("service", "holder", "holder", "service")[i % 4],
            actor_id=str(i % 97), subject_id=i % 1000 + 1, object_type="media_item", object_id=i,
            purpose="camera_roll_cloud_processing", outcome=("allowed", "allowed", "denied", "allowed")[i % 4],
            details={"count": i % 50, "variant": "original"}, request_id=f"req-{i // 10:08d}",
        )
        for i in range(start, start + n)
    ]


def _fresh_database():
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor == "sqlite":
        connection.close()
        path = Path(connection.settings_dict["NAME"])
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    else:
        import psycopg

        name = connection.settings_dict["NAME"]
        connection.close()
        params = connection.get_connection_params()
        params["dbname"] = "postgres"
        with psycopg.connect(**params, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            admin.execute(f'CREATE DATABASE "{name}"')
    call_command("migrate", verbosity=0)


def _drop_database():
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    import psycopg

    name = connection.settings_dict["NAME"]
    connection.close()
    params = connection.get_connection_params()
    params["dbname"] = "postgres"
    with psycopg.connect(**params, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


class Timer:
    """Wall-clock time, and how much of it this process spent on a CPU (low share: a busy machine,
    or waiting on the database server)."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu

    def rate(self, n: int) -> dict:
        return {"rate": n / self.wall, "cpu_share": self.cpu / self.wall}


def bench_single(n: int) -> dict:
    from django.db import transaction

    from audit.services import audit_append

    events = _events(n)
    with Timer() as timer:
        for e in events:
            with transaction.atomic():
                audit_append(action=e.action, actor_kind=e.actor_kind, actor_id=e.actor_id,
                             subject_id=e.subject_id, object_type=e.object_type, object_id=e.object_id,
                             purpose=e.purpose, outcome=e.outcome, details=e.details, request_id=e.request_id)
    return timer.rate(n)


def bench_batched(n: int, offset: int) -> dict:
    from audit.services import audit_append_many

    batches = [_events(min(BATCH, n - i), offset + i) for i in range(0, n, BATCH)]
    with Timer() as timer:
        for batch in batches:
            audit_append_many(events=batch)
    return timer.rate(n)


def bench_verify() -> dict:
    from audit.verification import audit_verify

    with Timer() as timer:
        report = audit_verify()
    if not report.ok:
        raise SystemExit(f"verification failed: {report.problem}")
    return timer.rate(report.events)


def _peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, because ru_maxrss survives exec and would
    report the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_export_child(fmt: str) -> None:
    """Runs in a fresh process: export everything to /dev/null, print rows/s and peak RSS as JSON."""
    from audit.export import export_stream
    from audit.services import audit_export_begin

    filters = {"since": None, "until": None, "subject_id": None, "actor": None, "action": None, "outcome": None}
    rss_before = _peak_rss_mb()
    size = 0
    with Timer() as timer, open(os.devnull, "wb") as sink:
        checkpoint = audit_export_begin(fmt=fmt, filters=filters, actor_kind="system", actor_id="bench")
        for chunk in export_stream(fmt=fmt, checkpoint=checkpoint, filters=filters):
            sink.write(chunk)
            size += len(chunk)
    peak = _peak_rss_mb()
    print(json.dumps({**timer.rate(checkpoint.tree_size), "rows": checkpoint.tree_size,
                      "peak_rss_mb": peak, "baseline_rss_mb": rss_before, "bytes": size}))


def bench_export(fmt: str, var_dir: str, db_name: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--export-child", fmt, "--var-dir", var_dir, "--db-name", db_name],
        capture_output=True, text=True, check=True, env=os.environ.copy(),
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--single", type=int, default=3000, help="appends measured one per transaction")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=("verify",), help="measure only this (the appends still run, untimed)")
    parser.add_argument("--db-name", help="PostgreSQL database to create and drop (default bench_audit)")
    parser.add_argument("--export-child", choices=("csv", "jsonl"), help=argparse.SUPPRESS)
    parser.add_argument("--var-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.export_child:
        _setup(args.var_dir, args.db_name)
        bench_export_child(args.export_child)
        return

    var_dir = tempfile.mkdtemp(prefix="audit-bench-")
    _setup(var_dir, args.db_name)
    from django.db import connection

    db_name = str(connection.settings_dict["NAME"])
    vendor = connection.vendor
    results: dict[str, list] = {"single": [], "batched": [], "verify": [], "verify2": [], "jsonl": [], "csv": []}
    try:
        for run in range(args.repeat):
            _fresh_database()
            if args.only == "verify":  # the same number of events, all batched (faster to set up)
                bench_batched(args.single + args.events, 0)
            else:
                results["single"].append(bench_single(args.single))
                results["batched"].append(bench_batched(args.events, args.single))
            connection.close()
            results["verify"].append(bench_verify())
            results["verify2"].append(bench_verify())
            connection.close()
            if args.only != "verify":
                for fmt in ("jsonl", "csv"):
                    results[fmt].append(bench_export(fmt, var_dir, db_name))
            print(f"  run {run + 1}/{args.repeat} done", file=sys.stderr)
    finally:
        _drop_database()

    total = args.single + args.events
    med = statistics.median

    def rate(name):
        return med(r["rate"] for r in results[name])

    def share(name):
        return f"cpu {med(r['cpu_share'] for r in results[name]):.0%}"

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\naudit trail benchmark on {vendor} — {args.events:,} batched events (+{args.single:,} single), "
          f"median of {args.repeat} run(s), {os.cpu_count()} CPUs, load average now {load}")
    print(f"  {'measure':<40}{'result':>12}   {'target':<14}this process on a CPU")
    verify_rows = [
        (f"verification ({total:,} events)", f"{rate('verify'):,.0f}/s", f">= {TARGETS['verify']:,}/s",
         share("verify")),
        ("  the same, run again at once", f"{rate('verify2'):,.0f}/s", f">= {TARGETS['verify']:,}/s",
         share("verify2")),
    ]
    verify_met = min(rate("verify"), rate("verify2")) >= TARGETS["verify"]
    if args.only == "verify":
        for name, value, target, note in verify_rows:
            print(f"  {name:<40}{value:>12}   {target:<14}{note}")
        print("  verification target met" if verify_met else "  VERIFICATION TARGET MISSED")
        return
    rows = [
        ("appends, one per transaction", f"{rate('single'):,.0f}/s", "(none)", share("single")),
        (f"appends, batched ({BATCH} per transaction)", f"{rate('batched'):,.0f}/s",
         f">= {TARGETS['batched']:,}/s", share("batched")),
        *verify_rows,
    ]
    for fmt in ("jsonl", "csv"):
        peak = max(r["peak_rss_mb"] for r in results[fmt])
        before = max(r["baseline_rss_mb"] for r in results[fmt])
        rows.append((f"export {fmt}", f"{rate(fmt):,.0f}/s", f">= {TARGETS['export']:,}/s", share(fmt)))
        rows.append((f"export {fmt}: peak memory of the process", f"{peak:,.0f} MB", f"< {TARGETS['memory_mb']} MB",
                     f"({before:,.0f} MB before exporting)"))
    for name, value, target, note in rows:
        print(f"  {name:<40}{value:>12}   {target:<14}{note}")
    met = (rate("batched") >= TARGETS["batched"] and verify_met
           and all(rate(f) >= TARGETS["export"] for f in ("jsonl", "csv"))
           and all(r["peak_rss_mb"] < TARGETS["memory_mb"] for f in ("jsonl", "csv") for r in results[f]))
    print("  all targets met" if met else "  SOME TARGETS MISSED")


if __name__ == "__main__":
    main()
