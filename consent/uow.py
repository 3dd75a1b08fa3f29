"""The one write path (invariant 10): every change to an account is one unit of work.

    with account_write(user_id=holder.pk, actor=Actor.holder(holder.pk)) as uow:
        ...write rows...
        uow.record(uow.event(action="media.deleted", object_type="media", object_id=pk))

In that order, always:

1. the account's lock row (``AccountLock``, not the auth user row, so logins and
   password changes never wait for it) is taken first;
2. the service writes its rows and records its audit events on the unit;
3. deferred handlers run in a fixed order (``HANDLERS``): what the end of a
   consent sets off in other apps (deleting outputs, scheduling a shred, dropping
   queued passes);
4. every recorded audit event is appended last, in one batch, so the trail's head
   lock is held only for the end of the transaction;
5. blob deletions run after commit (``uow.after_commit``), never before the rows
   that point at the blobs are gone for good.

Events that change no account (a refusal, a support case opening, a holder's
own read) go through ``events_write``: the same batch at the end, no account lock.
``tests/test_write_path.py`` fails where anything outside this module and
``audit/`` appends to the trail or locks an account row.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.db import transaction

from audit.services import EventInput, audit_append_many
from consent.models import AccountLock
from core import prepared


@dataclass(frozen=True)
class Actor:
    """Who does something: a holder, a support agent, a service of ours or the system itself."""

    kind: str  # holder | support | service | system (the audit trail's actor kinds)
    id: str

    @classmethod
    def holder(cls, user_id: int) -> Actor:
        return cls("holder", str(user_id))

    @classmethod
    def support(cls, agent_id: int) -> Actor:
        return cls("support", str(agent_id))

    @classmethod
    def service(cls, name: str) -> Actor:
        return cls("service", name)

    @classmethod
    def system(cls, name: str = "consentsvc") -> Actor:
        return cls("system", name)


@dataclass(frozen=True)
class ConsentEnded:
    """A consent ended inside this unit: withdrawn, lapsed or revoked by support."""

    user_id: int
    purpose: str
    entry: object  # consent.models.ConsentEntry
    actor: Actor

    @property
    def lapsed(self) -> bool:
        return getattr(self.entry, "event", "") == "lapsed"


Handler = Callable[["UnitOfWork", ConsentEnded], None]


@dataclass(order=True, frozen=True)
class _Registered:
    order: int
    name: str
    handler: Handler = field(compare=False)


_HANDLERS: list[_Registered] = []


def handler_register(*, name: str, order: int, on_consent_ended: Handler) -> None:
    """Run `on_consent_ended(uow, ended)` inside every unit in which a consent ends, by ascending order.

    Apps register in AppConfig.ready(); registering a name again replaces it.
    """
    handler_unregister(name=name)
    _HANDLERS.append(_Registered(order, name, on_consent_ended))
    _HANDLERS.sort()


def handler_unregister(*, name: str) -> None:
    _HANDLERS[:] = [h for h in _HANDLERS if h.name != name]


def handler_names() -> list[str]:
    return [h.name for h in _HANDLERS]


class UnitOfWork:
    def __init__(self, *, user_id: int | None, actor: Actor):
        self.user_id = user_id
        self.actor = actor
        self.events: list[EventInput] = []
        self.alarms: list[EventInput] = []
        self._ended: list[ConsentEnded] = []

    def event(self, *, action: str, actor: Actor | None = None, subject_id: int | None = None,
              **fields) -> EventInput:
        """An EventInput with this unit's actor and account filled in."""
        actor = actor or self.actor
        return EventInput(action=action, actor_kind=actor.kind, actor_id=actor.id,
                          subject_id=self.user_id if subject_id is None else subject_id, **fields)

    def record(self, event: EventInput) -> None:
        """Append `event` to the trail with the unit (last, in one batch)."""
        self.events.append(event)

    def record_many(self, events: list[EventInput]) -> None:
        self.events.extend(events)

    def alarm(self, event: EventInput) -> None:
        """Append `event` to the trail whether the unit commits or not: what a refusal found (a
        consent state the trail does not back) must be on record even though the refusal rolls
        the unit back."""
        self.alarms.append(event)

    def consent_ended(self, *, purpose: str, entry) -> None:
        """Run the registered handlers for this ending once the service's own writes are done."""
        self._ended.append(ConsentEnded(user_id=self.user_id, purpose=purpose, entry=entry, actor=self.actor))

    @staticmethod
    def after_commit(fn: Callable[[], None]) -> None:
        """Run `fn` (a blob deletion) after commit; dropped if the transaction rolls back."""
        transaction.on_commit(fn)

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested atomic block whose recorded events are dropped with it when it rolls back."""
        mark, ended = len(self.events), len(self._ended)
        try:
            with transaction.atomic():
                yield
        except BaseException:
            del self.events[mark:]
            del self._ended[ended:]
            raise

    def _finish(self) -> None:
        while self._ended:
            ended = self._ended.pop(0)
            for registered in list(_HANDLERS):
                registered.handler(self, ended)
        if self.events or self.alarms:
            events, self.events, self.alarms = [*self.events, *self.alarms], [], []
            audit_append_many(events=events)


_current: contextvars.ContextVar[UnitOfWork | None] = contextvars.ContextVar("account_write", default=None)


def current() -> UnitOfWork | None:
    return _current.get()


# Every account write takes it first (see core.prepared).
_LOCK_ROW = prepared.PreparedQuery(
    lambda *, user_id: AccountLock.objects.select_for_update().filter(pk=user_id).values("pk")[:1],
    user_id=AccountLock._meta.pk,
)


def _lock(user_id: int) -> None:
    """Take the account's lock row, creating it the first time the account is written."""
    if not _LOCK_ROW.rows(user_id=user_id):
        AccountLock.objects.bulk_create([AccountLock(user_id=user_id)], ignore_conflicts=True)
        _LOCK_ROW.rows(user_id=user_id)


@contextlib.contextmanager
def account_write(*, user_id: int, actor: Actor) -> Iterator[UnitOfWork]:
    """One account's unit of work (see the module docstring). Nested use on the same account joins it."""
    outer = _current.get()
    if outer is not None:
        if outer.user_id != int(user_id):
            raise RuntimeError("one unit of work writes one account; finish the other account's first")
        with outer.savepoint():
            yield outer
        return
    uow = UnitOfWork(user_id=int(user_id), actor=actor)
    try:
        with transaction.atomic():
            _lock(int(user_id))
            token = _current.set(uow)
            try:
                yield uow
                uow._finish()
            finally:
                _current.reset(token)
    except BaseException:
        _alarms_after_rollback(uow)
        raise


def _alarms_after_rollback(uow: UnitOfWork) -> None:
    """The alarms of a unit that rolled back, in a transaction of their own."""
    if uow.alarms:
        alarms, uow.alarms = uow.alarms, []
        with transaction.atomic():
            audit_append_many(events=alarms)


@contextlib.contextmanager
def events_write(*, actor: Actor, user_id: int | None = None) -> Iterator[UnitOfWork]:
    """Audit events of something that changes no account (a refusal, a read, a case opening).

    Inside an account's unit the events join it; otherwise they are appended in one
    batch at the end of their own transaction. No account lock is taken.
    """
    outer = _current.get()
    if outer is not None:
        view = UnitOfWork(user_id=user_id if user_id is not None else outer.user_id, actor=actor)
        view.events = outer.events  # shares the outer batch
        view.alarms = outer.alarms
        view._ended = outer._ended
        yield view
        return
    uow = UnitOfWork(user_id=user_id, actor=actor)
    try:
        with transaction.atomic():
            yield uow
            uow._finish()
    except BaseException:
        _alarms_after_rollback(uow)
        raise
