"""The write guard: a write to an account's rows outside that account's unit of work fails.

Zulip enforces its single write path with lint rules; ours is enforced at run time, in the
test suite (tests/conftest.py keeps it on for every test): every save, delete, queryset
update/delete, bulk write and many-to-many change of an account-owned model must happen
inside ``core.uow.account_write`` for THAT account: a row of account B written in A's unit
fails as surely as one written in no unit. ``events_write`` does not count: it takes no
account lock.

Account-owned is worked out, not listed: a model of one of our apps with a foreign key to the
user model, or to another account-owned model (transitively); the user row itself is the
account's identity (sign-up, login stamps), and the audit trail is written by the unit itself.
The row's account is found the same way (``account_path``): its one foreign key to the user
model, or the account of the account-owned row it points at. A model whose rows name two users
(a support case: its agent and its subject) says which one is the account in ``ACCOUNT_FIELD``
(a lookup, ``"case__subject"``). A row's account is read from the row itself (a foreign key's id:
no query); a queryset's, and a row's through another row, with one query the guard keeps out of
the connection's query log, so query budgets count the product's statements only.

A model may name fields whose writes are bookkeeping rather than account data
(``UNIT_EXEMPT_FIELDS``: a token's last-used stamp written on every request): an update of
only those passes. No write to another account's rows is allowed from inside a unit: the
writes that touch two accounts (a support case's rows, written in its subject's unit by the
agent) belong to the subject by their ``ACCOUNT_FIELD``, not to the agent.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import sys
from collections.abc import Callable, Iterator

from django.apps import apps
from django.conf import settings
from django.db import models, transaction
from django.db.models import signals

from core import uow

# Our apps: their models are the ones the guard looks at (third-party apps keep their own rules).
OUR_APPS = ("core", "accounts", "consent", "vault", "suggestions", "support")

# Modules that may call transaction.on_commit: the unit's own hook (core.uow.after_commit) and the
# audit trail's sequencer, which schedules itself. Anything else uses core.uow.after_commit.
ON_COMMIT_CALLERS = ("core.", "audit.", "django.")


class WriteOutsideUnit(AssertionError):
    """A write to an account-owned row with no unit of work open for it."""


class WriteInOtherUnit(WriteOutsideUnit):
    """A write to an account-owned row inside the unit of work of another account."""


_active = False
_paused: contextvars.ContextVar[bool] = contextvars.ContextVar("guard_paused", default=False)


@functools.cache
def account_owned() -> frozenset[type[models.Model]]:
    user_model = apps.get_model(settings.AUTH_USER_MODEL)
    ours = [m for m in apps.get_models(include_auto_created=True) if m._meta.app_label in OUR_APPS]
    owned: set[type[models.Model]] = set()
    changed = True
    while changed:
        changed = False
        for model in ours:
            if model in owned or model is user_model:
                continue
            targets = {f.related_model for f in model._meta.concrete_fields if f.is_relation and f.many_to_one
                       or f.is_relation and f.one_to_one}
            if user_model in targets or targets & owned:
                owned.add(model)
                changed = True
    return frozenset(owned)


@functools.cache
def account_path(model: type[models.Model]) -> str:
    """The lookup from a row of `model` (account-owned) to its account's id: ``owner``,
    ``case__subject``. Declared by ``ACCOUNT_FIELD``, else its one foreign key to the user model,
    else through the first account-owned row it points at."""
    model = model._meta.concrete_model
    declared = getattr(model, "ACCOUNT_FIELD", None)
    if declared:
        return declared
    user_model = apps.get_model(settings.AUTH_USER_MODEL)
    keys = [f for f in model._meta.concrete_fields if f.is_relation and (f.many_to_one or f.one_to_one)]
    direct = [f for f in keys if f.related_model is user_model]
    if len(direct) == 1:
        return direct[0].name
    if len(direct) > 1:
        raise LookupError(f"{model._meta.label} names {len(direct)} users: say which is its account "
                          "in ACCOUNT_FIELD")
    through = next(f for f in keys if f.related_model in account_owned())
    return f"{through.name}__{account_path(through.related_model)}"


@contextlib.contextmanager
def _unlogged() -> Iterator[None]:
    """The guard's own reads stay out of the query log (tests count the product's statements)."""
    connection = transaction.get_connection()
    forced, connection.force_debug_cursor = connection.force_debug_cursor, False
    token = _paused.set(True)
    try:
        yield
    finally:
        _paused.reset(token)
        connection.force_debug_cursor = forced


def _account_of_row(instance: models.Model) -> int | None:
    user_model = apps.get_model(settings.AUTH_USER_MODEL)
    if isinstance(instance, user_model):
        return instance.pk
    head, _, rest = account_path(type(instance)).partition("__")
    field = instance._meta.get_field(head)
    if not rest:
        return getattr(instance, field.attname)
    if field.is_cached(instance):
        return _account_of_row(getattr(instance, head))
    related_id = getattr(instance, field.attname)
    if related_id is None:
        return None
    with _unlogged():
        return field.related_model._base_manager.filter(pk=related_id).values_list(rest, flat=True).first()


def _accounts_of_queryset(queryset: models.QuerySet) -> set[int]:
    rows = queryset._chain() if queryset.query.is_sliced else queryset.order_by()
    rows.query.select_for_update = False  # PostgreSQL refuses FOR UPDATE with DISTINCT; the write locks
    with _unlogged():
        return set(rows.values_list(account_path(queryset.model), flat=True).distinct())


def _accounts_of_link(sender, instance: models.Model, model, pk_set) -> set[int]:
    """The accounts a many-to-many change touches, from whichever side it is made."""
    user_model = apps.get_model(settings.AUTH_USER_MODEL)
    if isinstance(instance, user_model) or type(instance)._meta.concrete_model in account_owned():
        return {_account_of_row(instance)}
    if model is user_model and pk_set is not None:
        return set(pk_set)
    side = next(f for f in sender._meta.concrete_fields
                if f.is_relation and f.related_model is type(instance)._meta.concrete_model)
    return _accounts_of_queryset(sender._base_manager.filter(**{side.name: instance.pk}))


def _check(model: type[models.Model], what: str, fields: set[str] | None = None, *,
           accounts: Callable[[], set] = set) -> None:
    """`accounts()` gives the accounts of the rows written (asked only once a unit is open)."""
    if not _active or _paused.get():
        return
    model = model._meta.concrete_model
    if model not in account_owned():
        return
    if fields is not None and fields <= set(getattr(model, "UNIT_EXEMPT_FIELDS", ())):
        return
    unit = uow.current()
    if unit is None:
        raise WriteOutsideUnit(
            f"{what} of {model._meta.label} outside a unit of work: write account data inside "
            "core.uow.account_write (events_write takes no account lock)"
        )
    foreign = {a for a in accounts() if a is not None and int(a) != unit.user_id}
    if foreign:
        raise WriteInOtherUnit(
            f"{what} of {model._meta.label} rows of account(s) {sorted(foreign)} inside the unit of work of "
            f"account {unit.user_id}: each account's rows are written in that account's own unit"
        )


def _pre_save(sender, instance, update_fields=None, raw=False, **kwargs):
    if not raw:
        _check(sender, "save", set(update_fields) if update_fields is not None else None,
               accounts=lambda: {_account_of_row(instance)})


def _pre_delete(sender, instance, **kwargs):
    _check(sender, "delete", accounts=lambda: {_account_of_row(instance)})


def _m2m_changed(sender, instance, action, model=None, pk_set=None, **kwargs):
    if action in ("pre_add", "pre_remove", "pre_clear"):
        _check(sender, f"{action[4:]} of a many-to-many link",
               accounts=lambda: _accounts_of_link(sender, instance, model, pk_set))


_ORIGINAL: dict[str, object] = {}


def _wrap(name: str, what: str):
    original = getattr(models.QuerySet, name)
    _ORIGINAL[name] = original

    @functools.wraps(original)
    def guarded(self, *args, **kwargs):
        fields = set(kwargs) if name == "update" else None
        if name in ("bulk_create", "bulk_update"):
            objs = list(args[0] if args else kwargs["objs"])
            args = (objs, *args[1:]) if args else args
            kwargs = kwargs if args else {**kwargs, "objs": objs}
            _check(self.model, what, fields, accounts=lambda: {_account_of_row(obj) for obj in objs})
        else:
            _check(self.model, what, fields, accounts=lambda: _accounts_of_queryset(self))
        return original(self, *args, **kwargs)

    setattr(models.QuerySet, name, guarded)


def _guarded_on_commit(func, using=None, robust=False):
    caller = sys._getframe(1).f_globals.get("__name__", "")
    if _active and not _paused.get() and not caller.startswith(ON_COMMIT_CALLERS):
        raise WriteOutsideUnit(f"transaction.on_commit called from {caller}: use core.uow.after_commit")
    return _ORIGINAL["on_commit"](func, using=using, robust=robust)


def install() -> None:
    """Turn the guard on for this process (tests only: it costs a check on every write)."""
    global _active
    if _active:
        return
    _ORIGINAL["on_commit"] = transaction.on_commit
    transaction.on_commit = _guarded_on_commit
    signals.pre_save.connect(_pre_save, dispatch_uid="core.guard.pre_save")
    signals.pre_delete.connect(_pre_delete, dispatch_uid="core.guard.pre_delete")
    signals.m2m_changed.connect(_m2m_changed, dispatch_uid="core.guard.m2m")
    for name, what in (("update", "queryset update"), ("delete", "queryset delete"),
                       ("bulk_create", "bulk create"), ("bulk_update", "bulk update"),
                       ("_raw_delete", "raw delete")):
        _wrap(name, what)
    _active = True


def uninstall() -> None:
    global _active
    if not _active:
        return
    signals.pre_save.disconnect(dispatch_uid="core.guard.pre_save")
    signals.pre_delete.disconnect(dispatch_uid="core.guard.pre_delete")
    signals.m2m_changed.disconnect(dispatch_uid="core.guard.m2m")
    transaction.on_commit = _ORIGINAL.pop("on_commit")
    for name, original in _ORIGINAL.items():
        setattr(models.QuerySet, name, original)
    _ORIGINAL.clear()
    _active = False


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """For a test's own setup that writes rows directly (a tampered row, an old-format record)."""
    token = _paused.set(True)
    try:
        yield
    finally:
        _paused.reset(token)
