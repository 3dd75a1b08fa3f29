"""The audit outbox and its sequencer (PostgreSQL, AUDIT_SEQUENCER=outbox), as Trillian and Tessera do.

A request's transaction writes its events to the outbox: each with its event id, its time and
every field, in a canonical body with no seq and no link yet, and a MAC of that body under the audit
MAC key. No shared lock is taken, so requests do not queue behind each other's transactions; the
events still commit or roll back with the action they record.

After the commit, the committing request runs the sequencer if no other process is running it
(a session advisory lock): it takes the chain head's lock, moves the committed outbox rows, oldest
first, into the trail in batches (seq, link, leaf hash, event MAC, tiles, checkpoints every N) and
deletes them from the outbox, in one transaction per batch; then it looks again, so a row committed
while it worked is never left behind. The lag is one batch's work. `audit_checkpoint --loop`
integrates too, as a backstop. A row whose MAC does not verify (written without the key) is never
integrated: it is dropped and counted in an `audit.outbox_rejected` event.

Pending events are genuine once their MAC verifies: audit_event_by_id finds them before they have a
seq. What the outbox does not protect against: someone with the database deleting a pending row in
the instant before it is integrated (the lag); the trail's protections start at integration.
"""

import json
import logging
import threading
import time
from hmac import compare_digest
from hmac import digest as hmac_digest

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from audit import canonical
from audit.keys import labelled_macs, mac_key
from audit.models import AuditEvent, built_event

logger = logging.getLogger(__name__)

PENDING_MAC_LABEL = b"consentsvc-audit-pending-mac/v1\n"
_ADVISORY_KEY = 0x61756469  # "audi": one sequencer at a time, across processes
BATCH = 5000
GATHER_SECONDS = 0.005
KEEP_CONNECTION_SECONDS = 1.0
_SEQ_PLACEHOLDER = 0
_PREV_PLACEHOLDER = "pending"


def enabled() -> bool:
    return settings.AUDIT_SEQUENCER == "outbox" and connection.vendor == "postgresql"


def _pending_body(valid: canonical.ValidEvent, time_text: str) -> bytes:
    return canonical.encode(valid, seq=_SEQ_PLACEHOLDER, time=time_text, prev_hash=_PREV_PLACEHOLDER)


def _pending_mac(body: bytes, key: bytes) -> str:
    return hmac_digest(key, PENDING_MAC_LABEL + body, "sha256").hex()


def _pending_macs(bodies: list[bytes], key: bytes) -> list[str]:
    """_pending_mac of each body, with the key set up once."""
    return labelled_macs(bodies, key, PENDING_MAC_LABEL)


def outbox_write(prepared: list[canonical.ValidEvent], now) -> list[AuditEvent]:
    """Writes the events to the outbox in the caller's transaction, and asks for integration at commit."""
    time_text = canonical.format_time(now)
    bodies = [_pending_body(valid, time_text) for valid in prepared]
    rows = zip([valid.fields["event_id"] for valid in prepared], bodies, _pending_macs(bodies, mac_key()),
               strict=True)
    out = [_unsequenced(valid, now) for valid in prepared]
    with connection.cursor() as cursor:
        if len(bodies) == 1:  # one round trip; COPY takes three
            cursor.execute("INSERT INTO audit_auditoutbox (event_id, body, mac) VALUES (%s, %s, %s)", next(rows))
        else:
            with cursor.cursor.copy("COPY audit_auditoutbox (event_id, body, mac) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
    # Once per transaction (Django forgets the hook with a rollback).
    if not any(func is _after_commit for _, func, _ in connection.run_on_commit):
        transaction.on_commit(_after_commit)
    return out


def _after_commit() -> None:
    if settings.AUDIT_SEQUENCER_THREAD:
        _sequencer().wake()
        return
    try:
        integrate_when_free()
    except Exception:  # the request has committed; a later run (or the checkpoint loop) integrates
        logger.exception("audit outbox integration failed; it will be retried")


class _SequencerThread:
    """One per process: integrates the outbox when woken by a commit, so a request's commit is its
    only round trip. While commits keep coming it works in batches, one after the other; the lag is
    the batch in hand plus this one."""

    def __init__(self):
        self._wanted = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-sequencer", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wanted.set()

    def _run(self) -> None:
        from django.db import close_old_connections

        while True:
            woken = self._wanted.wait(settings.AUDIT_CHECKPOINT_SECONDS)
            self._wanted.clear()
            if not woken:  # an idle look, only while this process still sequences in the background
                if not (enabled() and settings.AUDIT_SEQUENCER_THREAD):
                    continue
            else:
                # Let the commits right behind this one land first: one integration (and one commit
                # of the trail) for several requests' events, for a few milliseconds of lag.
                time.sleep(GATHER_SECONDS)
            try:
                integrate_when_free()
            except Exception:  # noqa: BLE001 (keep the thread; the next wake or the checkpoint loop retries)
                logger.exception("audit outbox integration failed; it will be retried")
                close_old_connections()
                connection.close()
            # No commit within a moment: idle, hold no connection. (While commits keep waking the
            # thread it keeps its connection: opening one per commit costs more than integrating.)
            if not woken or not self._wanted.wait(KEEP_CONNECTION_SECONDS):
                connection.close()


_thread_lock = threading.Lock()
_thread: _SequencerThread | None = None


def _sequencer() -> _SequencerThread:
    global _thread
    with _thread_lock:
        if _thread is None or not _thread._thread.is_alive():
            _thread = _SequencerThread()
        return _thread


def _unsequenced(valid: canonical.ValidEvent, moment) -> AuditEvent:
    """The event as it will be once integrated, without what integration gives it (seq, link, hashes, MAC)."""
    f = valid.fields
    return built_event([None, moment, f["actor_kind"], f["actor_id"], f["action"], f["subject_id"], f["object_type"],
                        f["object_id"], f["purpose"], f["outcome"], f["request_id"], f["details"], b"", "", "",
                        f["event_id"], None])


_FIELD_NAMES = ("action", "actor_kind", "actor_id", "subject_id", "object_type", "object_id", "purpose", "outcome",
                "request_id", "event_id")


def _valid_from_event(event: dict) -> canonical.ValidEvent:
    fields = {name: event[name] for name in _FIELD_NAMES}
    details = fields["details"] = event["details"]
    return canonical.ValidEvent(fields, canonical.dumps(details))


def _valid_from_body(body: bytes) -> tuple[canonical.ValidEvent, object]:
    event = json.loads(body)
    return _valid_from_event(event), parse_datetime(event["time"])


def _genuine_pending(body: bytes, mac: str, key: bytes,
                     expected_mac: str | None = None) -> tuple[canonical.ValidEvent, str] | None:
    """The pending event and its time (as written) when its MAC verifies and its body is the
    canonical pending body of its fields, else None."""
    if not mac or not compare_digest(expected_mac or _pending_mac(body, key), mac):
        return None
    try:
        event = json.loads(body)
        if not (isinstance(event, dict) and event.get("seq") == _SEQ_PLACEHOLDER
                and event.get("prev_hash") == _PREV_PLACEHOLDER and event.get("v") == canonical.CANONICAL_VERSION):
            return None
        valid = _valid_from_event(event)
    except (ValueError, KeyError, TypeError):
        return None
    return (valid, event["time"]) if _pending_body(valid, event["time"]) == body else None


def integrate_pending(limit: int = BATCH) -> tuple[list[AuditEvent], int]:
    """Moves up to `limit` committed outbox rows (and the caller's own) into the trail, in one
    transaction, under the head's lock. Returns the integrated events and how many were refused."""
    from audit.services import _integrate, _lock_head

    key = mac_key()
    with transaction.atomic():
        _lock_head()  # one integrator at a time, and in line with inline appends and checkpoints
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, body, mac FROM audit_auditoutbox ORDER BY id LIMIT %s", [limit])
            rows = cursor.fetchall()
        if not rows:
            return [], 0
        items, refused = [], 0
        bodies = [bytes(body) for _, body, _ in rows]
        times: dict[str, object] = {}  # a batch's events share a few times: parse each once
        for body, (_, _, mac), expected in zip(bodies, rows, _pending_macs(bodies, key), strict=True):
            genuine = _genuine_pending(body, mac, key, expected)
            if genuine is None:
                refused += 1
                continue
            valid, text = genuine
            moment = times.get(text)
            if moment is None:
                moment = times[text] = parse_datetime(text)
            items.append((valid, moment))
        events = _integrate(items) if items else []
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM audit_auditoutbox WHERE id = ANY(%s)", [[row[0] for row in rows]])
        if refused:
            logger.error("audit outbox: %d row(s) without a valid MAC were refused", refused)
            events += _integrate_rejection(refused)
    return events, refused


def _integrate_rejection(count: int) -> list[AuditEvent]:
    from audit.services import EventInput, _integrate, _validated

    note = EventInput(action="audit.outbox_rejected", actor_kind="system", actor_id="consentsvc",
                      outcome="denied", details={"count": count})
    return _integrate([(_validated(note), timezone.now())])


def integrate_when_free() -> int:
    """Integrates everything pending unless another process is already doing it. Returns how many."""
    done = 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_ADVISORY_KEY])
        got = cursor.fetchone()[0]
    while got:
        try:
            while True:
                events, _ = integrate_pending()
                done += len(events)
                if not events:
                    break
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [_ADVISORY_KEY])
        # A row committed by a request that found the lock taken just before we let it go: look again.
        with connection.cursor() as cursor:
            cursor.execute("SELECT EXISTS (SELECT 1 FROM audit_auditoutbox)")
            if not cursor.fetchone()[0]:
                break
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [_ADVISORY_KEY])
            got = cursor.fetchone()[0]
    return done


def pending_by_ids(event_ids: set[str]) -> dict[str, AuditEvent]:
    """Genuine (MAC-valid) events still in the outbox, by id, without a seq."""
    if connection.vendor != "postgresql" or not event_ids:
        return {}
    key = mac_key()
    with connection.cursor() as cursor:
        cursor.execute("SELECT event_id, body, mac FROM audit_auditoutbox WHERE event_id = ANY(%s)",
                       [list(event_ids)])
        rows = cursor.fetchall()
    found = {}
    for event_id, body, mac in rows:
        body = bytes(body)
        if _genuine_pending(body, mac, key) is not None:
            valid, moment = _valid_from_body(body)
            if valid.fields["event_id"] == event_id:
                found[event_id] = _unsequenced(valid, moment)
    return found
