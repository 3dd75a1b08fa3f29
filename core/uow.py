"""The one write path (invariant 10): every change to an account is one unit of work.

    with account_write(user_id=holder.pk, actor=Actor.holder(holder.pk)) as uow:
        ...write rows...
        uow.record(uow.event(action="media.deleted", object_type="media", object_id=pk))

In that order, always:

1. the account's lock row (``AccountLock``, not the auth user row, so logins and
   password changes never wait for it) is taken first;
2. the service writes its rows, records its audit events and publishes what other
   apps must hear (``uow.publish(message)``);
3. the subscribers of the ``IN_UNIT`` phase run ("before commit, in the unit"): what
   the end of a consent or a move to the trash sets off in other apps;
4. every recorded audit event is appended last, in one batch, through the writer the
   audit app registers at start (core imports no app), so the trail's head lock is held
   only for the end of the transaction;
5. after commit: blob deletions (``uow.after_commit``) and the subscribers of the
   ``AFTER_COMMIT`` phase, never before the rows that point at the blobs are gone for good.

``account_write`` opens its own transaction: it refuses to start inside someone else's
(``atomic()`` around it would hold its locks, the audit head's included, before the
account lock). Events that change no account (a refusal, a support case opening, a
holder's own read) go through ``events_write``: the same batch at the end, no account
lock. An alarm (``uow.alarm(event)``, or a denial recorded with ``events_write(...,
durable=True)`` inside a unit) is appended even when the unit rolls back, in a transaction of
its own once the unit's is gone.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.db import transaction

from core import prepared
from core.models import AccountLock


@dataclass(frozen=True)
class Actor:
    """Who does something: a holder, an auditor, a support agent, a service of ours or the system.

    The one way services are told who acts (``actor: Actor``, keyword-only); build it with the
    constructor for its kind, never from a user object or a (kind, id) pair.
    """

    kind: str  # holder | auditor | support | service | system (the audit trail's actor kinds)
    id: str

    @classmethod
    def holder(cls, user_id: int) -> Actor:
        """The holder acting on their own account."""
        return cls("holder", str(user_id))

    @classmethod
    def auditor(cls, user_id: int) -> Actor:
        """An auditor reading or exporting the trail."""
        return cls("auditor", str(user_id))

    @classmethod
    def support(cls, agent_id: int) -> Actor:
        """A support agent, acting within an open case."""
        return cls("support", str(agent_id))

    @classmethod
    def service(cls, name: str) -> Actor:
        return cls("service", name)

    @classmethod
    def system(cls, name: str = "consentsvc") -> Actor:
        return cls("system", name)


# -- the audit trail's writer, registered by the audit app (AuditConfig.ready) -------------------


@dataclass(frozen=True)
class _AuditWriter:
    event: Callable[..., object]  # builds one event: audit.services.EventInput
    append_many: Callable[..., object]  # audit.services.audit_append_many(events=[...])


_writer: _AuditWriter | None = None


def audit_writer_register(*, event: Callable[..., object], append_many: Callable[..., object]) -> None:
    """The audit app hands its event type and batch writer to the unit of work, once, at start."""
    global _writer
    _writer = _AuditWriter(event=event, append_many=append_many)


def _audit() -> _AuditWriter:
    if _writer is None:
        raise RuntimeError("no audit writer registered: the audit app must be installed")
    return _writer


# -- the one channel between apps -----------------------------------------------------------------


class Phase(enum.Enum):
    IN_UNIT = "before commit, in the unit"
    AFTER_COMMIT = "after commit"


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


@dataclass(frozen=True)
class _Subscriber:
    name: str
    message: type
    phase: Phase
    handler: Callable[..., None]
    before: tuple[str, ...] = ()


_SUBSCRIBERS: list[_Subscriber] = []


def subscribe(*, name: str, message: type, phase: Phase, handler: Callable[..., None],
              before: tuple[str, ...] = ()) -> None:
    """Run `handler` for every `message` a unit publishes: ``handler(uow, message)`` in the unit
    (``Phase.IN_UNIT``) or ``handler(message)`` once it committed (``Phase.AFTER_COMMIT``).

    Apps subscribe in AppConfig.ready(), so subscribers run in the order of INSTALLED_APPS, except
    that one runs before those it names in `before`. Subscribing a name again replaces it.
    """
    unsubscribe(name=name)
    _SUBSCRIBERS.append(_Subscriber(name, message, phase, handler, tuple(before)))


def unsubscribe(*, name: str) -> None:
    _SUBSCRIBERS[:] = [s for s in _SUBSCRIBERS if s.name != name]


def subscribers(*, message: type, phase: Phase) -> list[_Subscriber]:
    """In the order they run: registration order, each moved ahead of the ones it names in `before`."""
    pending = [s for s in _SUBSCRIBERS if s.message is message and s.phase is phase]
    ordered: list[_Subscriber] = []
    while pending:
        # the first one that no other pending subscriber must precede
        ready = next(s for s in pending if not any(s.name in other.before for other in pending if other is not s))
        ordered.append(ready)
        pending.remove(ready)
    return ordered


def subscriber_names(*, message: type, phase: Phase = Phase.IN_UNIT) -> list[str]:
    return [s.name for s in subscribers(message=message, phase=phase)]


# -- the unit -------------------------------------------------------------------------------------


class UnitOfWork:
    def __init__(self, *, user_id: int | None, actor: Actor):
        self.user_id = user_id
        self.actor = actor
        self.events: list[object] = []
        self.alarms: list[object] = []
        self._published: list[object] = []

    def event(self, *, action: str, actor: Actor | None = None, subject_id: int | None = None, **fields) -> object:
        """An audit event with this unit's actor and account filled in."""
        actor = actor or self.actor
        return _audit().event(action=action, actor_kind=actor.kind, actor_id=actor.id,
                              subject_id=self.user_id if subject_id is None else subject_id, **fields)

    def record(self, event: object) -> None:
        """Append `event` to the trail with the unit (last, in one batch)."""
        self.events.append(event)

    def record_many(self, events: list) -> None:
        self.events.extend(events)

    def alarm(self, event: object) -> None:
        """Append `event` to the trail whether the unit commits or not: what a refusal found (a
        consent state the trail does not back, a denied read) must be on record even though the
        refusal rolls the unit back."""
        self.alarms.append(event)

    def publish(self, message: object) -> None:
        """Tell the subscribers of `message`'s type: in the unit once the service's own writes are
        done, and after commit (dropped if the unit rolls back)."""
        self._published.append(message)
        for subscriber in subscribers(message=type(message), phase=Phase.AFTER_COMMIT):
            self.after_commit(lambda handler=subscriber.handler: handler(message))

    @staticmethod
    def after_commit(fn: Callable[[], None]) -> None:
        """Run `fn` (a blob deletion) after commit; dropped if the transaction rolls back."""
        after_commit(fn)

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested atomic block whose recorded events are dropped with it when it rolls back
        (alarms stay)."""
        mark, published = len(self.events), len(self._published)
        try:
            with transaction.atomic():
                yield
        except BaseException:
            del self.events[mark:]
            del self._published[published:]
            raise

    def _finish(self) -> None:
        while self._published:
            message = self._published.pop(0)
            for subscriber in subscribers(message=type(message), phase=Phase.IN_UNIT):
                subscriber.handler(self, message)
        if self.events or self.alarms:
            events, self.events, self.alarms = [*self.events, *self.alarms], [], []
            _audit().append_many(events=events)


def after_commit(fn: Callable[[], None]) -> None:
    """The one way to run something after commit (a blob deletion, a job's dispatch): dropped if
    the transaction rolls back. core.guard refuses transaction.on_commit called anywhere else."""
    transaction.on_commit(fn)


_current: contextvars.ContextVar[UnitOfWork | None] = contextvars.ContextVar("account_write", default=None)


def current() -> UnitOfWork | None:
    return _current.get()


def in_unit() -> bool:
    """Whether code runs inside an open unit of work (account_write or events_write)."""
    return _current.get() is not None or _events_depth.get() > 0


_events_depth: contextvars.ContextVar[int] = contextvars.ContextVar("events_write", default=0)
# The outermost events_write open in this context: a durable event inside it is its alarm.
_events_unit: contextvars.ContextVar[UnitOfWork | None] = contextvars.ContextVar("events_unit", default=None)


def _foreign_transaction() -> bool:
    """An atomic block is open that is not a unit's (a test case's own blocks do not count)."""
    connection = transaction.get_connection()
    return any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)


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
    if _foreign_transaction():
        raise RuntimeError("account_write opens its own transaction: it cannot start inside another atomic block")
    uow = UnitOfWork(user_id=int(user_id), actor=actor)
    try:
        with transaction.atomic():
            # Open until the batch is appended, closed before commit: what runs after commit
            # (a job started inline) opens units of its own.
            token = _current.set(uow)
            try:
                _lock(int(user_id))
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
            _audit().append_many(events=alarms)


@contextlib.contextmanager
def events_write(*, actor: Actor, user_id: int | None = None, durable: bool = False) -> Iterator[UnitOfWork]:
    """Audit events of something that changes no account (a refusal, a read, a case opening).

    Inside an account's unit the events join it; otherwise they are appended in one batch at
    the end of their own transaction. No account lock is taken. `durable` events (a denial)
    are alarms: appended even if the unit they joined rolls back.
    """
    outer = _current.get()
    if outer is not None:
        view = UnitOfWork(user_id=user_id if user_id is not None else outer.user_id, actor=actor)
        view.events = outer.alarms if durable else outer.events  # shares the outer batch
        view.alarms = outer.alarms
        view._published = outer._published
        yield view
        return
    enclosing = _events_unit.get()
    if durable and enclosing is not None:
        # Inside another events_write: its transaction may still roll back, so the denial is its
        # alarm, appended either way (with its batch, or on its own once it rolled back).
        view = UnitOfWork(user_id=user_id, actor=actor)
        view.events = view.alarms = enclosing.alarms
        yield view
        return
    if durable and _foreign_transaction():
        raise RuntimeError("a durable event is appended in a transaction of its own: it cannot be recorded inside "
                           "an atomic block that is no unit of work (it would roll back with it)")
    uow = UnitOfWork(user_id=user_id, actor=actor)
    try:
        with transaction.atomic():
            depth = _events_depth.set(_events_depth.get() + 1)
            unit = _events_unit.set(uow) if enclosing is None else None
            try:
                yield uow
                uow._finish()
            finally:
                if unit is not None:
                    _events_unit.reset(unit)
                _events_depth.reset(depth)
    except BaseException:
        _alarms_after_rollback(uow)
        raise
