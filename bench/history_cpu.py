#!/usr/bin/env python
"""CPU time per request, in process, for the holder's access history and a few other reads, in one or
more checkouts side by side (a shared machine's wall-clock rates cannot tell a few per cent apart).

    .venv/bin/python bench/history_cpu.py . ../other-checkout            # this checkout beside another
    .venv/bin/python bench/history_cpu.py . --steps access_page --profile 20

Each checkout gets its own process, its own throwaway VAR_DIR and SQLite database, seeded with that
checkout's bench/http_bench.py (a holder with 10,000 events about them, 200 a day, an auditor, one
more holder), and serves the requests through Django's test Client (the whole middleware stack, no
socket). The processes then take turns, a block of requests each, for every step, so load from
elsewhere falls on all of them alike. Prints, per step and checkout, the median and mean CPU time
(time.process_time) per request, the queries of one request, and the load average. `--profile N`
also prints each checkout's cProfile (CPU time) of N requests of each step.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEPS = ("access_log", "access_page", "audit_events", "consent_get", "consent_put")


def serve(root: Path, steps: list[str], profile: int) -> None:
    """The child: seed, answer one line of JSON per "<step> <n>" read from stdin."""
    os.chdir(root)
    sys.path[:0] = [str(root), str(root / "bench")]
    import http_bench

    var_dir = tempfile.mkdtemp(prefix="history-cpu-")
    http_bench.django_setup(var_dir)
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections
    from django.test import Client

    call_command("migrate", "--noinput", verbosity=0)
    call_command("collectstatic", "--noinput", verbosity=0)
    people = http_bench.make_people(1)
    holder = people.holders[0][1]
    client = Client()
    granted = [False]

    def access_log():
        return client.get("/api/v1/me/access-log/", HTTP_AUTHORIZATION=f"Token {people.history_token}")

    def access_page():
        client.cookies[settings.SESSION_COOKIE_NAME] = people.history_session
        return client.get("/me/access/")

    def audit_events():
        return client.get("/api/v1/audit/events/", HTTP_AUTHORIZATION=f"Token {people.auditor_token}")

    def consent_get():
        return client.get("/api/v1/consent/", HTTP_AUTHORIZATION=f"Token {holder}")

    def consent_put():  # flipped each time: every PUT is a real change with its ledger entry
        granted[0] = not granted[0]
        return client.put("/api/v1/consent/suggestion_prompts/", content_type="application/json",
                          data=json.dumps({"granted": granted[0], "notice_version": "1"}),
                          HTTP_AUTHORIZATION=f"Token {holder}")

    requests = {name: fn for name, fn in locals().items() if name in STEPS}
    queries = {}
    for name in steps:
        for _ in range(3):  # warm: templates, the verified tail, connections
            response = requests[name]()
            if response.status_code != 200:
                raise SystemExit(f"{root.name} {name}: {response.status_code} {response.content[:200]!r}")
        seen: list[str] = []

        def count(execute, sql, params, many, context, seen=seen):
            seen.append(sql)
            return execute(sql, params, many, context)

        with connections["default"].execute_wrapper(count):
            requests[name]()
        queries[name] = len(seen)
    print(json.dumps({"ready": queries}), flush=True)
    for line in sys.stdin:
        name, count = line.split()
        times = []
        for _ in range(int(count)):
            started = time.process_time()
            requests[name]()
            times.append(time.process_time() - started)
        print(json.dumps(times), flush=True)
    if profile:
        import cProfile
        import pstats

        for name in steps:
            profiler = cProfile.Profile(time.process_time)
            request = requests[name]
            profiler.enable()
            for _ in range(profile):
                request()
            profiler.disable()
            print(f"\n===== {root.name} {name}: cProfile of {profile} requests (CPU time)", file=sys.stderr)
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(30)


def _commit(root: Path) -> str:
    git = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return git.stdout.strip() or "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkouts", nargs="+", help="project roots (each with its own bench/http_bench.py)")
    parser.add_argument("--steps", default=",".join(STEPS[:3]), help=f"comma-separated, of {', '.join(STEPS)}")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--block", type=int, default=10, help="requests a process serves in one turn")
    parser.add_argument("--profile", type=int, default=0, help="then profile this many requests of each step")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    if unknown := set(steps) - set(STEPS):
        parser.error(f"unknown steps: {', '.join(sorted(unknown))}")
    if args.serve:
        serve(Path(args.serve), steps, args.profile)
        return

    roots = [Path(c).resolve() for c in args.checkouts]
    names = [f"{r.name}@{_commit(r)}" for r in roots]
    children = [subprocess.Popen([sys.executable, __file__, str(r), "--serve", str(r), "--steps", ",".join(steps),
                                  "--profile", str(args.profile)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 text=True) for r in roots]
    queries = [json.loads(child.stdout.readline() or '{"ready": null}')["ready"] for child in children]
    if None in queries:
        raise SystemExit("a checkout did not start")
    load_before = os.getloadavg()
    times = {(i, s): [] for i in range(len(roots)) for s in steps}
    for turn in range(args.rounds):
        order = list(range(len(roots)))
        order = order[turn % len(order):] + order[:turn % len(order)]
        for step in steps:
            for i in order:
                children[i].stdin.write(f"{step} {args.block}\n")
                children[i].stdin.flush()
                times[(i, step)] += json.loads(children[i].stdout.readline())
    load_after = os.getloadavg()
    for child in children:
        child.stdin.close()
    for child in children:
        child.wait()
    print(f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after; {args.rounds} turns of "
          f"{args.block} requests")
    width = max(len(n) for n in names)
    for step in steps:
        for i, name in enumerate(names):
            t = times[(i, step)]
            print(f"{step:13s} {name:{width}s}  CPU/request median {statistics.median(t) * 1000:6.2f} ms, "
                  f"mean {statistics.mean(t) * 1000:6.2f} ms  ({len(t)} requests, {queries[i][step]} queries)")


if __name__ == "__main__":
    main()
