#!/usr/bin/env python
"""What an INSERT guard costs on SQLite, for the audit trail's row shape.

    .venv/bin/python bench/sqlite_guard_bench.py [--batches 25]

Builds a scratch database (WAL, synchronous=FULL, foreign keys on, as the service runs SQLite)
per variant, with the audit events table's columns and indexes (copied from a migrated database),
and times executemany of 1,000 chained rows per transaction. Variants:

- none: no guard;
- the row trigger that guarded the trail before migration 0010: it checks the next seq and the link;
- a row trigger whose WHEN is never true, which shows what invoking any row trigger costs;
- the service's guard since migration 0010 (audit.triggers): the link key, a foreign key from
  (seq - 1, prev_hash) to (seq, hash) through a virtual generated column, with a CHECK that seq 1
  links to the genesis hash. It refuses the same rows (a row must link to the existing row before
  it; seq is unique), through SQLite's foreign key check instead of a trigger.

Prints the median microseconds per row after 3 warm-up batches, and each variant's cost over none.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BATCH = 1000


def _schema(var_dir: str) -> list[str]:
    """The events table and its indexes, as migrations create them (no triggers)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "consentsvc.settings")
    os.environ["DJANGO_ENV"] = "test"
    os.environ["VAR_DIR"] = var_dir
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    settings.DATABASES["default"]["NAME"] = str(Path(var_dir) / "schema.sqlite3")
    call_command("migrate", "audit", verbosity=0)
    from audit.triggers import SQLITE_LINK_INDEX, without_link_key

    with connection.cursor() as cursor:
        cursor.execute("SELECT sql FROM sqlite_master WHERE tbl_name = 'audit_auditevent' AND type IN ('table', "
                       "'index') AND sql IS NOT NULL AND name != %s ORDER BY type DESC", [SQLITE_LINK_INDEX])
        return [without_link_key(row[0]) for row in cursor.fetchall()]


def _guard_sql() -> str:
    from audit.triggers import SQLITE_ROW_GUARD

    return SQLITE_ROW_GUARD


def _rows(first: int, count: int, prev: str) -> tuple[list[tuple], str]:
    rows = []
    for seq in range(first, first + count):
        body = (b'{"action":"media.read","actor_id":"%d","actor_kind":"service","details":{"count":%d,'
                b'"variant":"original"},"event_id":"%d","object_id":"%d","object_type":"media_item"}' % (
                    seq % 97, seq % 50, seq, seq)) * 2
        leaf = hashlib.sha256(b"\x00" + body).hexdigest()
        row = (seq, "2026-11-30 01:00:00.000000", "service", str(seq % 97), "media.read", seq % 1000 + 1,
               "media_item", str(seq), "camera_roll_cloud_processing", "allowed", f"req-{seq // 10:08d}",
               '{"count": 1, "variant": "original"}', body, prev, leaf, f"00000000-0000-4000-8000-{seq:012d}",
               "m" * 64)
        rows.append(row)
        prev = leaf
    return rows, prev


def run(schema: list[str], extra: list[str], foreign_key: bool, batches: int, var_dir: str) -> float:
    path = str(Path(tempfile.mkdtemp(dir=var_dir)) / "guard.sqlite3")
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        table, *indexes = schema
        if foreign_key:  # the service's link key (audit.triggers), as migration 0010 builds it
            from audit.triggers import SQLITE_LINK_INDEX, SQLITE_LINK_KEY

            table = table.rstrip().removesuffix(")") + SQLITE_LINK_KEY + ")"
            indexes = [*indexes, f'CREATE UNIQUE INDEX "{SQLITE_LINK_INDEX}" ON "audit_auditevent" ("seq", "hash")']
        for sql in (table, *indexes, *extra):
            db.execute(sql)
        insert = f"INSERT INTO audit_auditevent VALUES ({', '.join('?' * 17)})"  # noqa: S608 (constants)
        prev, seq, times = "0" * 64, 1, []
        for _ in range(batches):
            rows, last = _rows(seq, BATCH, prev)
            started = time.perf_counter()
            db.execute("BEGIN IMMEDIATE")
            db.executemany(insert, rows)
            db.execute("COMMIT")
            times.append((time.perf_counter() - started) / BATCH * 1e6)
            seq, prev = seq + BATCH, last
        return statistics.median(times[3:])
    finally:
        db.close()
        shutil.rmtree(Path(path).parent, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=25)
    args = parser.parse_args()
    var_dir = tempfile.mkdtemp(prefix="guard-bench-")
    schema = _schema(var_dir)
    guard = _guard_sql()
    variants = {
        "no guard": ([], False),
        "the row trigger (before migration 0010)": ([guard], False),
        "a row trigger that never fires": ([
            "CREATE TRIGGER never BEFORE INSERT ON audit_auditevent WHEN NEW.seq < 0 "
            "BEGIN SELECT RAISE(ABORT, 'never'); END"
        ], False),
        "the link key (the service's guard)": ([], True),
    }
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"SQLite {sqlite3.sqlite_version}, {BATCH} rows per transaction, {args.batches} batches, "
          f"load average {load}")
    results = {name: run(schema, extra, fk, args.batches, var_dir) for name, (extra, fk) in variants.items()}
    base = results["no guard"]
    for name, value in results.items():
        print(f"  {name:<42}{value:7.2f} us/row  (+{value - base:5.2f} over no guard)")


if __name__ == "__main__":
    main()
