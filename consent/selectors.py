"""Reads of consent state. The current state is always derived from the ledger."""

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db.models import OuterRef, QuerySet, Subquery

from audit import selectors as audit_selectors
from consent import alarms, binding, purposes
from consent.models import ConsentEntry, ConsentState, Notice
from core import prepared
from core.errors import ServiceError


def notice_current(*, purpose: str) -> Notice:
    notice = Notice.objects.filter(purpose=purpose).order_by("-published_at", "-id").first()
    if notice is None:
        raise ServiceError("unknown_purpose", f"There is no notice for {purpose!r}.")
    return notice


@dataclass(frozen=True)
class NoticeBook:
    """A purpose's notices as consent sees them: the current one, and the versions consent given to
    still stands under (the current one back to the newest material one; a wording fix keeps it)."""

    current: Notice
    standing: frozenset[int]
    notices: dict[int, Notice]


_STATE_FIELDS = ("pk", "entry_id", "event", "notice_id", "notice_version", "since", "event_id")


_NOTICE_FIELDS = prepared.field_names(Notice)


def _notices_query(*, purpose_names, user_id=None):
    notices = Notice.objects.filter(purpose__in=list(purpose_names)).order_by("purpose", "-published_at", "-id")
    if user_id is None:
        return notices.values(*_NOTICE_FIELDS)
    own = ConsentState.objects.filter(subject_id=user_id, purpose=OuterRef("purpose"))
    states = {f"state_{name}": Subquery(own.values(name)[:1]) for name in _STATE_FIELDS}
    # Where the trail's newest consent event for the holder and purpose is: the state row must
    # name that very event (binding.states_bound), so the row cannot be pointed back at an older one.
    for column in ("seq", "event_id"):
        states[f"trail_{column}"] = audit_selectors.audit_newest(
            subject_id=user_id, purpose=OuterRef("purpose"), actions=binding.CONSENT_ACTIONS,
            object_type=binding.OBJECT_TYPE, column=column)
    # And the newest one still waiting in the queue (PostgreSQL), newer than all of those while it waits.
    waiting = audit_selectors.audit_pending_newest(subject_id=user_id, purpose=OuterRef("purpose"),
                                                   actions=binding.CONSENT_ACTIONS, object_type=binding.OBJECT_TYPE)
    if waiting is not None:
        states["trail_pending"] = waiting
    return notices.annotate(**states).values(*_NOTICE_FIELDS, *states)


# On every consent read and write: compiled once per purpose list (see core.prepared).
_NOTICES = prepared.PreparedQuery(_notices_query)
_NOTICES_AND_STATES = prepared.PreparedQuery(_notices_query, user_id=ConsentState._meta.get_field("subject"))


def _notices_and_states(*, purpose_names, user_id: int | None):
    """Every notice of the purposes, newest first, each carrying the holder's state row for its purpose
    (correlated subqueries): the notices and the holder's states in one query."""
    purpose_names = tuple(purpose_names)
    if user_id is None:
        rows = _NOTICES.rows(purpose_names=purpose_names)
    else:
        rows = _NOTICES_AND_STATES.rows(purpose_names=purpose_names, user_id=user_id)
    books, states = {}, {}
    by_purpose: dict[str, list[Notice]] = {}
    for row in rows:
        notice = prepared.instance(Notice, row)
        by_purpose.setdefault(notice.purpose, []).append(notice)
        if user_id is not None and row["state_pk"] is not None and notice.purpose not in states:
            state = ConsentState(subject_id=user_id, purpose=notice.purpose,
                                 **{name: row[f"state_{name}"] for name in _STATE_FIELDS})
            state._state.adding, state._state.db = False, "default"
            state.trail_seq, state.trail_event_id = row["trail_seq"], row["trail_event_id"]
            state.trail_pending = row.get("trail_pending")
            states[notice.purpose] = state
    for purpose, group in by_purpose.items():
        standing = []
        for notice in group:
            standing.append(notice.pk)
            if notice.material:
                break
        books[purpose] = NoticeBook(current=group[0], standing=frozenset(standing), notices={n.pk: n for n in group})
    return books, states


def notice_books(*, purpose_names=purposes.GRANTABLE) -> dict[str, NoticeBook]:
    """One query for every purpose's notices (there are a handful)."""
    return _notices_and_states(purpose_names=purpose_names, user_id=None)[0]


def _book(purpose: str) -> NoticeBook:
    book = notice_books(purpose_names=[purpose]).get(purpose)
    if book is None:
        raise ServiceError("unknown_purpose", f"There is no notice for {purpose!r}.")
    return book


def _standing(state: ConsentState | None, book: NoticeBook) -> bool:
    return (state is not None and state.event == ConsentEntry.Event.GIVEN and state.notice_id in book.standing
            and book.notices[state.notice_id].version == state.notice_version)


# Each upload and each release of media asks for the entry that authorises it (see core.prepared).
_ENTRY = prepared.PreparedQuery(
    lambda *, pk: ConsentEntry.objects.filter(pk=pk).values(*prepared.field_names(ConsentEntry)),
    pk=ConsentEntry._meta.get_field("id"),
)


def consent_active_entry(*, user_id: int, purpose: str) -> ConsentEntry | None:
    """The 'given' entry that authorises `purpose` now, or None.

    Active means: the newest ledger entry for the purpose is 'given', to the current
    notice or to one that only wording fixes (non-material versions) have followed.
    """
    if purpose not in purposes.GRANTABLE:
        return None
    view = consent_view(user_id=user_id, purpose_names=[purpose])
    if purpose not in view.books:
        raise ServiceError("unknown_purpose", f"There is no notice for {purpose!r}.")
    if not view.active(purpose):
        return None
    state = view.states[purpose]
    rows = _ENTRY.rows(pk=state.entry_id)
    entry = prepared.instance(ConsentEntry, rows[0]) if rows else None
    # Only an entry bound to the genuine audit event that commits to it, the trail's newest
    # consent event for the holder and purpose, and named as such by the state, authorises anything.
    if (entry is None or entry.subject_id != user_id or entry.purpose != purpose
            or entry.event != ConsentEntry.Event.GIVEN or entry.notice_id not in view.books[purpose].standing
            or entry.event_id != state.event_id
            or entry.pk not in binding.entries_bound([entry], trail_seqs={entry.pk: state.trail_seq},
                                                     trail_pending={entry.pk: state.trail_pending},
                                                     pending=not binding.integrated(state))):
        alarms.consent_state_unverified(user_id=user_id, purpose=purpose, state=state)
        return None
    entry.notice = view.books[purpose].notices[entry.notice_id]  # a standing notice, read with the view
    return entry


def consent_latest_entry(*, user_id: int, purpose: str) -> ConsentEntry | None:
    state = ConsentState.objects.filter(subject_id=user_id, purpose=purpose).select_related("entry__notice").first()
    return state.entry if state is not None else None


@dataclass(frozen=True)
class PurposeState:
    purpose: str
    label: str
    summary: str
    granted: bool
    notice_version: str | None  # the version consented to, when granted
    since: datetime | None  # when the current state began
    current_notice: Notice
    lapsed: bool  # granted to an older notice that has since changed materially


@dataclass(frozen=True)
class ConsentView:
    """What a consent change needs to decide, read in two queries: the notices and the holder's states."""

    books: dict[str, NoticeBook]
    states: dict[str, ConsentState]

    def active(self, purpose: str) -> bool:
        """The newest entry is 'given' under a notice that still stands (its binding not checked)."""
        return _standing(self.states.get(purpose), self.books[purpose])

    def bound_active(self, purpose: str) -> bool:
        """active(), and the entry is bound to a genuine audit event (one query)."""
        return self.active(purpose) and self.states[purpose].entry_id in binding.states_bound([self.states[purpose]])


def consent_view(*, user_id: int, purpose_names=purposes.GRANTABLE) -> ConsentView:
    """The notices and the holder's state rows, in one query."""
    books, states = _notices_and_states(purpose_names=purpose_names, user_id=user_id)
    return ConsentView(books=books, states=states)


def consent_state(*, user_id: int, view: ConsentView | None = None,
                  written: frozenset[int] = frozenset()) -> list[PurposeState]:
    """Every grantable purpose's state for the holder: one query for notices and state rows, one more
    to check the audit bindings of what is granted."""
    view = view or consent_view(user_id=user_id)
    # `written`: entries the caller's own unit of work just made, whose events it appends last.
    standing = [view.states[p] for p in purposes.GRANTABLE
                if p in view.books and view.active(p) and view.states[p].entry_id not in written]
    bound = (binding.states_bound(standing) if standing else set()) | written
    for state in standing:
        if state.entry_id not in bound:  # says granted, and the trail does not back it
            alarms.consent_state_unverified(user_id=user_id, purpose=state.purpose, state=state)
    result = []
    for purpose in purposes.GRANTABLE:
        book = view.books.get(purpose)
        if book is None:
            raise ServiceError("unknown_purpose", f"There is no notice for {purpose!r}.")
        state = view.states.get(purpose)
        given = state is not None and state.event == ConsentEntry.Event.GIVEN
        granted = _standing(state, book) and state.entry_id in bound
        result.append(
            PurposeState(
                purpose=purpose,
                label=purposes.PURPOSE_LABELS[purpose],
                summary=purposes.PURPOSE_SUMMARIES[purpose],
                granted=granted,
                notice_version=state.notice_version if granted else None,
                since=state.since if state else None,
                current_notice=book.current,
                lapsed=(given and not granted) or (state is not None and state.event == ConsentEntry.Event.LAPSED),
            )
        )
    return result


def consent_history(*, user_id: int) -> QuerySet[ConsentEntry]:
    return ConsentEntry.objects.filter(subject_id=user_id).order_by("-id")


def consent_entry_get(*, user_id: int, record_id) -> ConsentEntry:
    """One of the holder's own entries; another holder's is indistinguishable from a missing one."""
    try:
        return ConsentEntry.objects.select_related("subject").get(subject_id=user_id, record_id=record_id)
    except (ConsentEntry.DoesNotExist, ValidationError, ValueError, TypeError) as exc:
        raise ServiceError("not_found", "No such consent entry.") from exc


def consent_entries_genuine(*, entries) -> set[int]:
    """Ids of the entries bound to a genuine (MAC-verified) audit event that commits to them: the
    ones the service wrote. History marks the others; no receipt is signed for them (one query)."""
    return binding.entries_bound(entries)


def consent_entry_verified(*, user_id: int, record_id) -> ConsentEntry:
    """One of the holder's own entries, bound to its genuine audit event; else entry_unverified."""
    entry = consent_entry_get(user_id=user_id, record_id=record_id)
    if entry.pk not in binding.entries_bound([entry]):
        raise ServiceError("entry_unverified", "This ledger entry is not backed by a genuine audit event; "
                                               "no receipt is signed for it.")
    return entry


def subjects_given_before(*, purpose: str) -> list[int]:
    """Holders whose consent to `purpose` was given to a notice a material version has replaced since."""
    book = _book(purpose)
    return list(
        ConsentState.objects.filter(purpose=purpose, event=ConsentEntry.Event.GIVEN)
        .exclude(notice_id__in=book.standing)
        .order_by("subject_id")
        .values_list("subject_id", flat=True)
    )


def subjects_with_active_consent(*, purpose: str, notice: Notice | None = None) -> list[int]:
    """Holders whose consent to `purpose` stands now (`notice` is accepted for older callers and unused)."""
    book = _book(purpose)
    return list(
        ConsentState.objects.filter(purpose=purpose, event=ConsentEntry.Event.GIVEN, notice_id__in=book.standing)
        .order_by("subject_id")
        .values_list("subject_id", flat=True)
    )
