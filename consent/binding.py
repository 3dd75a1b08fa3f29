"""Ledger entries bound to their audit events (invariant 10).

Each consent entry names the event that records it (``event_id``), and that event commits
to the entry's digest (``details["entry_sha256"]``). Events carry a MAC under a key the
database never holds, so a ledger row written or changed straight in the database has no
genuine event that matches it: it never authorises anything, and ``audit_verify`` names it
(the cross-check registered in ConsentConfig.ready).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator

from audit import selectors as audit_selectors
from audit.models import AuditEvent
from consent.models import ConsentEntry, ConsentState

_CHUNK = 1000


def entry_digest(entry: ConsentEntry) -> str:
    """SHA-256 over every field of the entry but its row id (which the event names separately)."""
    fields = {
        "record_id": str(entry.record_id),
        "subject_id": entry.subject_id,
        "purpose": entry.purpose,
        "notice_version": entry.notice_version,
        "notice_sha256": entry.notice_sha256,
        "event": entry.event,
        "created_at": entry.created_at.isoformat(timespec="microseconds"),
        "method": entry.method,
        "actor_kind": entry.actor_kind,
        "actor_id": entry.actor_id,
        "jurisdiction": entry.jurisdiction,
        "retention": entry.retention,
        "case_id": entry.case_id,
        "event_id": str(entry.event_id) if entry.event_id else None,
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# A consent event: one of these actions on a ledger entry (consent.services._append writes them).
CONSENT_ACTIONS = tuple(f"consent.{kind}" for kind in ConsentEntry.Event.values)
OBJECT_TYPE = "consent_entry"
_UNKNOWN = object()


def _matches(event, *, entry_pk: int, subject_id: int, purpose: str, kind: str) -> bool:
    return (
        event is not None
        and event.action == f"consent.{kind}"
        and event.object_type == OBJECT_TYPE
        and event.object_id == str(entry_pk)
        and event.subject_id == subject_id
        and event.purpose == purpose
    )


def _newest(event, trail_seq, trail_pending: str | None = None) -> bool:
    """The event is the trail's newest consent event for its holder and purpose: it sits at the
    seq the trail's newest one has (read with the state, see audit_newest), or it is still
    pending (its seq comes later, so it is newer than every integrated one: a holder's consent
    events are written one at a time, under the account's lock). Or it was pending when the trail
    was read and the sequencer integrated it before it was fetched: then its seq is past the newest
    the trail had (none, or an older one). An older event (a state pointed back) never is.)

    `trail_pending`: the newest consent entry for the holder and purpose still waiting in the queue,
    read with the state (audit_pending_newest). While the sequencer lags it is newer than every
    integrated one, so it decides: the event must be that entry, and an entry there that is not
    genuine grants nothing (a withdrawal waiting in the queue is never missed)."""
    if trail_pending:
        waiting = audit_selectors.pending_entry(trail_pending)
        return bool(waiting) and str(waiting.event_id) == str(event.event_id)
    return trail_seq is not _UNKNOWN and (event.seq is None or trail_seq is None or event.seq >= trail_seq)


def integrated(state: ConsentState) -> bool:
    """The state names the event the trail's newest consent event for it had, in the same read: that
    event is integrated (it never leaves the trail), so the outbox need not be read for it."""
    newest = getattr(state, "trail_event_id", None)
    return newest is not None and state.event_id is not None and str(state.event_id) == str(newest)


def entries_bound(entries: Iterable[ConsentEntry], *, trail_seqs: dict[int, int | None] | None = None,
                  trail_pending: dict[int, str | None] | None = None, pending: bool = True) -> set[int]:
    """Ids of the entries whose genuine audit event names them and commits to their digest (one query).

    With `trail_seqs` (entry id -> the seq of the trail's newest consent event for the entry's
    holder and purpose), an entry named there counts only when its event is that newest one (and,
    with `trail_pending`, the newest still waiting in the queue, see _newest).
    `pending=False`: the events are known to be integrated (see integrated())."""
    entries = [e for e in entries if e.event_id]
    events = audit_selectors.audit_events_by_ids(event_ids=[e.event_id for e in entries], pending=pending)
    bound = set()
    for entry in entries:
        event = events.get(str(entry.event_id))
        if not (_matches(event, entry_pk=entry.pk, subject_id=entry.subject_id, purpose=entry.purpose,
                         kind=entry.event)
                and (event.details or {}).get("entry_sha256") == entry_digest(entry)):
            continue
        if trail_seqs is not None and entry.pk in trail_seqs and not _newest(
                event, trail_seqs[entry.pk], (trail_pending or {}).get(entry.pk)):
            continue
        bound.add(entry.pk)
    return bound


def states_bound(states: Iterable[ConsentState]) -> set[int]:
    """Ids of the entries the state rows point at whose genuine event names them as the state says
    and is the trail's newest consent event for the holder and purpose.

    The cheap check of the read path (one query, no entry rows): the event is genuine, names
    the entry, its kind and notice version, and nothing newer about the purpose is in the trail
    (the state's `trail_seq`, read with it; a state without it counts for nothing). The entry's
    digest is checked where consent authorises processing (consent_active_entry) and by audit_verify.
    """
    states = [s for s in states if s.event_id]
    events = audit_selectors.audit_events_by_ids(event_ids=[s.event_id for s in states],
                                                 pending=not all(integrated(s) for s in states))
    bound = set()
    for s in states:
        event = events.get(str(s.event_id))
        if (_matches(event, entry_pk=s.entry_id, subject_id=s.subject_id, purpose=s.purpose, kind=s.event)
                and (event.details or {}).get("notice_version") == s.notice_version
                and _newest(event, getattr(s, "trail_seq", _UNKNOWN), getattr(s, "trail_pending", None))):
            bound.add(s.entry_id)
    return bound


def ledger_trail_check() -> Iterator[str]:
    """For audit_verify: every entry bound to a genuine event that commits to it; every genuine
    consent event's entry still in the ledger; every state row on its holder's newest entry for the
    purpose, and naming the trail's newest genuine consent event for it (a pending one counts)."""
    last = 0
    newest: dict[tuple[int, str], ConsentEntry] = {}
    entry_ids: set[int] = set()
    while True:
        chunk = list(ConsentEntry.objects.filter(pk__gt=last).order_by("pk")[:_CHUNK])
        if not chunk:
            break
        last = chunk[-1].pk
        bound = entries_bound(chunk)
        for entry in chunk:
            entry_ids.add(entry.pk)
            newest[(entry.subject_id, entry.purpose)] = entry
            if entry.pk not in bound:
                why = "names no audit event" if not entry.event_id else "has no genuine audit event that commits to it"
                yield f"consent entry {entry.record_id} ({entry.event} {entry.purpose}) {why}"
    # The trail is the record: its genuine consent events (AuditEvent.objects yields no other).
    trail_newest: dict[tuple[int, str], object] = {}
    events = AuditEvent.objects.filter(action__in=CONSENT_ACTIONS, object_type=OBJECT_TYPE).order_by("seq")
    for event in events.iterator(chunk_size=_CHUNK):
        trail_newest[(event.subject_id, event.purpose)] = event
        if not (event.object_id.isdigit() and int(event.object_id) in entry_ids):
            yield (f"audit event {event.event_id} ({event.action} {event.purpose}, account {event.subject_id}) "
                   f"names consent entry {event.object_id}, which the ledger no longer holds")
    states = {(state.subject_id, state.purpose): state for state in ConsentState.objects.all().order_by("pk")}
    for key, state in states.items():
        where = f"consent state of account {state.subject_id} for {state.purpose}"
        entry = newest.get(key)
        if entry is None or entry.pk != state.entry_id:
            yield f"{where} is not on its newest ledger entry"
        elif (state.event, state.notice_id, state.notice_version, state.since, state.event_id) != (
                entry.event, entry.notice_id, entry.notice_version, entry.created_at, entry.event_id):
            yield f"{where} does not say what its ledger entry says"
        event = trail_newest.get(key)
        if event is not None and str(state.event_id or "") == event.event_id:
            continue
        named = audit_selectors.audit_event_by_id(event_id=state.event_id) if state.event_id else None
        if named is not None and named.seq is None:
            continue  # written, still pending: newer than every integrated event
        yield f"{where} does not name the newest consent event of the audit trail for it"
    for subject_id, purpose in trail_newest.keys() - states.keys():
        yield f"consent state of account {subject_id} for {purpose} is missing: the audit trail has its events"
