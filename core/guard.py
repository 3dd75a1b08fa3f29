"""The write guard: a write to an account's rows outside that account's unit of work fails.

Zulip enforces its single write path with lint rules; ours is enforced at run time, in the
test suite (tests/conftest.py keeps it on for every test): every save, delete, queryset
update/delete, bulk write and many-to-many change of an account-owned model must happen
inside ``core.uow.account_write`` for that account. ``events_write`` does not count: it takes
no account lock.

Account-owned is worked out, not listed: a model of one of our apps with a foreign key to the
user model, or to another account-owned model (transitively); the user row itself is the
account's identity (sign-up, login stamps), and the audit trail is written by the unit itself.
A model may name fields whose writes are bookkeeping rather than account data
(``UNIT_EXEMPT_FIELDS``: a token's last-used stamp written on every request): an update of
only those passes.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import sys
from collections.abc import Iterator

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


def _check(model: type[models.Model], what: str, fields: set[str] | None = None) -> None:
    if not _active or _paused.get():
        return
    model = model._meta.concrete_model
    if model not in account_owned():
        return
    if fields is not None and fields <= set(getattr(model, "UNIT_EXEMPT_FIELDS", ())):
        return
    if uow.current() is None:
        raise WriteOutsideUnit(
            f"{what} of {model._meta.label} outside a unit of work: write account data inside "
            "core.uow.account_write (events_write takes no account lock)"
        )


def _pre_save(sender, instance, update_fields=None, raw=False, **kwargs):
    if not raw:
        _check(sender, "save", set(update_fields) if update_fields is not None else None)


def _pre_delete(sender, instance, **kwargs):
    _check(sender, "delete")


def _m2m_changed(sender, instance, action, **kwargs):
    if action in ("pre_add", "pre_remove", "pre_clear"):
        _check(sender, f"{action[4:]} of a many-to-many link")


_ORIGINAL: dict[str, object] = {}


def _wrap(name: str, what: str):
    original = getattr(models.QuerySet, name)
    _ORIGINAL[name] = original

    @functools.wraps(original)
    def guarded(self, *args, **kwargs):
        fields = set(kwargs) if name == "update" else None
        _check(self.model, what, fields)
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
