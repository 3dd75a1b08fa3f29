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


def _matches(event, *, entry_pk: int, subject_id: int, kind: str) -> bool:
    return (
        event is not None
        and event.action == f"consent.{kind}"
        and event.object_type == "consent_entry"
        and event.object_id == str(entry_pk)
        and event.subject_id == subject_id
    )


def entries_bound(entries: Iterable[ConsentEntry]) -> set[int]:
    """Ids of the entries whose genuine audit event names them and commits to their digest (one query)."""
    entries = [e for e in entries if e.event_id]
    events = audit_selectors.audit_events_by_ids(event_ids=[e.event_id for e in entries])
    bound = set()
    for entry in entries:
        event = events.get(str(entry.event_id))
        if (_matches(event, entry_pk=entry.pk, subject_id=entry.subject_id, kind=entry.event)
                and (event.details or {}).get("entry_sha256") == entry_digest(entry)):
            bound.add(entry.pk)
    return bound


def states_bound(states: Iterable[ConsentState]) -> set[int]:
    """Ids of the entries the state rows point at whose genuine event names them as the state says.

    The cheap check of the read path (one query, no entry rows): the event is genuine, names
    the entry and its kind. The entry's digest is checked where consent authorises
    processing (consent_active_entry) and by audit_verify.
    """
    states = [s for s in states if s.event_id]
    events = audit_selectors.audit_events_by_ids(event_ids=[s.event_id for s in states])
    return {
        s.entry_id for s in states
        if _matches(events.get(str(s.event_id)), entry_pk=s.entry_id, subject_id=s.subject_id, kind=s.event)
        and (events[str(s.event_id)].details or {}).get("notice_version") == s.notice_version
    }


def ledger_trail_check() -> Iterator[str]:
    """For audit_verify: every entry bound to a genuine event that commits to it; every state row
    on its holder's newest entry for the purpose."""
    last = 0
    newest: dict[tuple[int, str], int] = {}
    while True:
        chunk = list(ConsentEntry.objects.filter(pk__gt=last).order_by("pk")[:_CHUNK])
        if not chunk:
            break
        last = chunk[-1].pk
        bound = entries_bound(chunk)
        for entry in chunk:
            newest[(entry.subject_id, entry.purpose)] = entry.pk
            if entry.pk not in bound:
                why = "names no audit event" if not entry.event_id else "has no genuine audit event that commits to it"
                yield f"consent entry {entry.record_id} ({entry.event} {entry.purpose}) {why}"
    if not newest:
        return  # an empty ledger: nothing to check, not even state rows (they only follow entries)
    for state in ConsentState.objects.all().order_by("pk"):
        if newest.get((state.subject_id, state.purpose)) != state.entry_id:
            yield (f"consent state of account {state.subject_id} for {state.purpose} is not on its newest "
                   "ledger entry")
